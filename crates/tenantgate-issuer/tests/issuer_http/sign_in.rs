//! Sign-in: tenant-scoped roles in the token, and the rate limits per account and per address.

use super::*;

on_both_backends!(
    sign_in_per_tenant_carries_only_that_tenants_roles,
    tokens_carry_role_permissions_when_configured,
);

/// `[tokens] permissions = true`: the catalog permissions of the token's roles, as the filter's
/// `permissions_claim` reads them; a catalog change shows at the next sign-in.
fn tokens_carry_role_permissions_when_configured(backend: Backend) {
    let mut options = Options::new(backend);
    options.extra = "[tokens]\npermissions = true\n".into();
    let issuer = Issuer::start(options);
    let t = tenant_id("p");
    issuer.tenant(&t, json!({}));
    let user = email();
    // `member` defines each role in the catalog with the permission `<role>:*`.
    issuer.member(&t, &user, Some(PW), &["ops", "billing"]);
    let jwks = issuer.url("/.well-known/jwks.json");
    let permissions = || {
        let r = issuer.sign_in(&t, &user, PW, "cookie");
        assert_eq!(r.status, 200, "{}", r.text());
        let token = r.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        pyjwt_verify(&jwks, &token).expect("PyJWT verifies")["permissions"].clone()
    };
    assert_eq!(permissions(), json!(["billing:*", "ops:*"]));
    let r = issuer.admin(
        "PUT",
        "/admin/roles/billing",
        Some(&json!({"permissions": ["write:billing", "read:billing", "ops:*"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        permissions(),
        json!(["ops:*", "read:billing", "write:billing"]),
        "sorted, without duplicates"
    );
}

fn sign_in_per_tenant_carries_only_that_tenants_roles(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let (a, b, c) = (tenant_id("a"), tenant_id("b"), tenant_id("c"));
    for t in [&a, &b, &c] {
        issuer.tenant(t, json!({}));
    }
    let user = email();
    issuer.member(&a, &user, Some(PW), &["admin", "billing"]);
    issuer.member(&b, &user, None, &["viewer"]);

    let jwks = issuer.url("/.well-known/jwks.json");
    let ra = issuer.sign_in(&a, &user, PW, "cookie");
    assert_eq!(ra.status, 200, "{}", ra.text());
    let ta = ra.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let claims_a = pyjwt_verify(&jwks, &ta).expect("PyJWT verifies the tenant-a token");
    assert_eq!(claims_a["tenantId"], a.as_str());
    assert_eq!(claims_a["roles"], json!(["admin", "billing"]));
    assert_eq!(claims_a["iss"], ISSUER);
    assert_eq!(claims_a["aud"], AUDIENCE);
    assert_eq!(
        claims_a["exp"].as_i64().expect("exp") - claims_a["iat"].as_i64().expect("iat"),
        600,
        "default lifetime 10 min"
    );
    assert_eq!(claims_a["sid"], ra.json()["session_id"]);
    assert_eq!(claims_a.get("permissions"), None, "permissions are opt-in");

    let rb = issuer.sign_in(&b, &user, PW, "cookie");
    assert_eq!(rb.status, 200, "{}", rb.text());
    let claims_b =
        pyjwt_verify(&jwks, rb.json()["access_token"].as_str().expect("token")).expect("verifies");
    assert_eq!(claims_b["tenantId"], b.as_str());
    assert_eq!(
        claims_b["roles"],
        json!(["viewer"]),
        "never the roles of another tenant"
    );
    assert_eq!(
        claims_a["sub"], claims_b["sub"],
        "one identity in both tenants"
    );

    // Sign-in response: cookie scoped to the refresh path, HttpOnly, Secure, SameSite=Strict.
    let set_cookie = ra.header("set-cookie").expect("cookie");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        &format!("Path=/v1/tenants/{a}/refresh"),
    ] {
        assert!(set_cookie.contains(attr), "{attr} missing in {set_cookie}");
    }
    assert_eq!(ra.header("cache-control"), Some("no-store"));
    assert!(ra.json()["csrf_token"].is_string());
    assert!(
        ra.json().get("refresh_token").is_none(),
        "cookie delivery keeps the token out of the body"
    );

    // Not a member of c, wrong password, unknown user, unknown tenant.
    assert_eq!(
        issuer.sign_in(&c, &user, PW, "cookie").error(),
        "invalid_credentials"
    );
    assert_eq!(
        issuer
            .sign_in(&a, &user, "wrong password!", "cookie")
            .error(),
        "invalid_credentials"
    );
    assert_eq!(
        issuer.sign_in(&a, &email(), PW, "cookie").error(),
        "invalid_credentials"
    );
    let r = issuer.sign_in("no-such-tenant", &user, PW, "cookie");
    assert_eq!((r.status, r.error().as_str()), (404, "tenant_not_found"));

    // Audit and metrics saw it.
    let audit = issuer.audit();
    let ok = audit
        .iter()
        .find(|e| e["action"] == "sign_in" && e["tenantId"] == a.as_str())
        .expect("sign_in audit");
    assert_eq!(ok["roles"], json!(["admin", "billing"]));
    assert_eq!(ok["ip"], "127.0.0.1");
    assert!(ok["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "sign_in_failure" && e["reason"] == "wrong_password"));
    let metrics = issuer.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "tenantgate_issuer_sign_in_total{{tenant=\"{a}\",result=\"success\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "tenantgate_issuer_sign_in_total{{tenant=\"{a}\",result=\"failure\"}} 2"
        )),
        "{metrics}"
    );
}

#[test]
fn sign_in_attempts_are_rate_limited_per_user() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_user_per_minute = 3;
    let issuer = Issuer::start(opts);
    let t = tenant_id("rl");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    for _ in 0..3 {
        assert_eq!(
            issuer.sign_in(&t, &user, "wrong password", "body").error(),
            "invalid_credentials"
        );
    }
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!((r.status, r.error().as_str()), (429, "rate_limited"));
    assert!(r
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    // Another account from the same address is not affected by this account's limit.
    let other = email();
    issuer.member(&t, &other, Some(PW), &[]);
    assert_eq!(issuer.sign_in(&t, &other, PW, "body").status, 200);
    assert!(issuer.get("/metrics").text().contains(&format!(
        "tenantgate_issuer_sign_in_total{{tenant=\"{t}\",result=\"rate_limited\"}} 1"
    )));
}

#[test]
fn sign_in_attempts_are_rate_limited_per_address() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_ip_per_minute = 2;
    let issuer = Issuer::start(opts);
    let t = tenant_id("rlip");
    issuer.tenant(&t, json!({}));
    for _ in 0..2 {
        assert_eq!(
            issuer.sign_in(&t, &email(), PW, "body").error(),
            "invalid_credentials"
        );
    }
    assert_eq!(
        issuer.sign_in(&t, &email(), PW, "body").error(),
        "rate_limited"
    );
}

/// Wrong guesses answered 401 (the rest must be 429): the password was really tried only then.
fn guesses_tried(responses: &[Resp]) -> usize {
    for r in responses {
        assert!(
            r.status == 401 || r.status == 429,
            "{} {}",
            r.status,
            r.text()
        );
    }
    responses.iter().filter(|r| r.status == 401).count()
}

#[test]
fn an_account_in_four_tenants_gets_no_more_guesses_than_in_one() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_user_per_minute = 3;
    let issuer = Issuer::start(opts);
    let user = email();
    let tenants: Vec<String> = (0..4).map(|_| tenant_id("acct")).collect();
    for (i, t) in tenants.iter().enumerate() {
        issuer.tenant(t, json!({}));
        issuer.member(t, &user, (i == 0).then_some(PW), &[]);
    }
    let mut answers = Vec::new();
    for t in &tenants {
        for _ in 0..4 {
            answers.push(issuer.sign_in(t, &user, "wrong password", "body"));
        }
    }
    assert_eq!(guesses_tried(&answers), 3, "the budget of one account");
    // The email is normalized before it keys the budget.
    let r = issuer.sign_in(&tenants[3], &user.to_uppercase(), PW, "body");
    assert_eq!((r.status, r.error().as_str()), (429, "rate_limited"));
    let tripped: Vec<Value> = issuer
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "sign_in_throttled")
        .collect();
    assert_eq!(tripped.len(), 1, "one audit line when the limit trips");
    assert_eq!(tripped[0]["scope"], "account");
    assert_eq!(tripped[0]["email"], user.as_str());
}

#[test]
fn all_attempts_together_are_limited() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.overall_per_minute = 2;
    let issuer = Issuer::start(opts);
    let t = tenant_id("rlall");
    issuer.tenant(&t, json!({}));
    let answers: Vec<Resp> = (0..4)
        .map(|_| issuer.sign_in(&t, &email(), PW, "body"))
        .collect();
    assert_eq!(guesses_tried(&answers), 2);
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "sign_in_throttled" && e["scope"] == "overall"));
}

#[test]
fn replicas_on_one_postgres_share_the_account_budget() {
    let Some(backend) = backend("postgres") else {
        return;
    };
    let mut opts = Options::new(backend);
    opts.per_user_per_minute = 4;
    let a = Issuer::start(opts);
    let b = a.replica();
    let t = tenant_id("repl");
    a.tenant(&t, json!({}));
    let user = email();
    a.member(&t, &user, Some(PW), &[]);
    let answers: Vec<Resp> = (0..6)
        .flat_map(|_| [&a, &b].map(|i| i.sign_in(&t, &user, "wrong password", "body")))
        .collect();
    assert_eq!(
        guesses_tried(&answers),
        4,
        "two replicas must not give twice the guesses"
    );
}

/// A `/proc/<pid>/status` field in KiB (peak resident memory `VmHWM`, current `VmRSS`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .expect("field")
}

#[test]
fn a_burst_of_sign_ins_beyond_the_hashing_budget_gets_503_not_memory() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.extra = "[http]\npassword_hash_memory_mib = 38".into(); // two hashes at once
    let issuer = Issuer::start(opts);
    let t = tenant_id("burst");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let pid = issuer.pid().expect("pid");
    let before = proc_kib(pid, "VmHWM:");
    let n = 40;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                let (issuer, t, user) = (&issuer, &t, &user);
                s.spawn(move || {
                    barrier.wait();
                    issuer.sign_in(t, user, "wrong password", "body")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    // Without the budget the same burst took the peak from about 33 MiB to about 760 MiB.
    let peak = proc_kib(pid, "VmHWM:");
    assert!(
        peak < before + 120 * 1024,
        "peak memory grew from {before} KiB to {peak} KiB"
    );
    let busy: Vec<&Resp> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(!busy.is_empty(), "a burst of {n} must exceed two places");
    assert!(answers.iter().all(|r| r.status == 503 || r.status == 401));
    assert_eq!(busy[0].error(), "unavailable");
    assert_eq!(busy[0].header("retry-after"), Some("1"));
    // The places are given back: sign-in works after the burst.
    assert_eq!(issuer.sign_in(&t, &user, PW, "body").status, 200);
}
