//! The signed tenant directory: entries set through the admin API and the CLI, `GET
//! /v1/directory` verified against the served JWKS (by the filter core's RS256 verifier and by
//! PyJWT), refusals naming the field, and a directory of ten thousand tenants.

use super::*;

mod scale;

on_both_backends!(
    directory_carries_every_enabled_tenant_signed,
    entry_mistakes_are_refused_naming_the_field,
    directory_of_ten_thousand_tenants,
);

/// The IdP of a tenant (Okta-like, keys through OIDC discovery).
fn okta(host: &str) -> Value {
    json!({
        "issuer": format!("https://{host}/oauth2/default"),
        "audiences": ["api://gateway"],
        "jwks": { "discovery": { "cluster": "egress" } }
    })
}

/// Fetches the directory: checks the status and headers; returns the compact JWS.
fn fetch(issuer: &Issuer) -> String {
    let r = issuer.get("/v1/directory");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/jwt"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.text()
}

fn b64(seg: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .expect("base64url")
}

/// Verifies `doc` with the filter core's RS256 verifier against the key of the served JWKS its
/// `kid` names; returns the payload.
fn verify(issuer: &Issuer, doc: &str) -> Value {
    let h = header(doc);
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["typ"], "tenantgate-directory+jwt");
    let jwks = issuer.get("/.well-known/jwks.json").json();
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == h["kid"])
        .unwrap_or_else(|| panic!("kid {} is not in the JWKS {jwks}", h["kid"]))
        .clone();
    let (signed, sig) = doc.rsplit_once('.').expect("three parts");
    let (n, e) = (
        b64(key["n"].as_str().expect("n")),
        b64(key["e"].as_str().expect("e")),
    );
    assert!(
        tenantgate_core::verify::rs256::verify_components(&n, &e, signed.as_bytes(), &b64(sig)),
        "the directory's signature verifies with the published key"
    );
    let mut tampered = payload(doc);
    tampered["iat"] = 0.into();
    let forged = format!(
        "{}.{}",
        signed.split('.').next().expect("header"),
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            tampered.to_string()
        )
    );
    assert!(!tenantgate_core::verify::rs256::verify_components(
        &n,
        &e,
        forged.as_bytes(),
        &b64(sig)
    ));
    payload(doc)
}

const PYJWT_DIRECTORY: &str = r#"
import json, sys
import jwt

jwks_url, issuer, audience = sys.argv[1:4]
token = sys.stdin.read().strip()
client = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False)
key = client.get_signing_key_from_jwt(token).key
claims = jwt.decode(token, key, algorithms=["RS256"], issuer=issuer,
                    options={"require": ["iss", "iat"], "verify_aud": False})
try:
    jwt.decode(token, key, algorithms=["RS256"], issuer=issuer, audience=audience)
    as_access_token = "accepted"
except jwt.InvalidTokenError as e:
    as_access_token = type(e).__name__
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims,
                  "as_access_token": as_access_token}))
"#;

/// PyJWT's view of the directory (the token goes through stdin: it may exceed an argument).
fn pyjwt_directory(issuer: &Issuer, doc: &str) -> Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python())
        .args(["-c", PYJWT_DIRECTORY])
        .arg(issuer.url("/.well-known/jwks.json"))
        .args([ISSUER, AUDIENCE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("write token");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "PyJWT refuses the directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python output")
}

fn put(issuer: &Issuer, path: &str, body: Value) -> Resp {
    issuer.admin("PUT", path, Some(&body))
}

/// Three tenants: `a` with hosts and a tenant value, `b` with its own IdP, `off` disabled.
struct Onboarded {
    a: String,
    b: String,
    off: String,
    a_hosts: Value,
    guid: String,
    idp: Value,
}

fn onboard(issuer: &Issuer) -> Onboarded {
    let (a, b, off) = (tenant_id("acme"), tenant_id("globex"), tenant_id("off"));
    for t in [&a, &b, &off] {
        issuer.tenant(t, json!({}));
    }
    let host = format!("{a}.example.com");
    let r = put(
        issuer,
        &format!("/admin/tenants/{a}/hosts"),
        json!({"hosts": ["Portal.Acme.IO", host.to_uppercase()]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let a_hosts = json!([host, "portal.acme.io"]);
    assert_eq!(r.json()["hosts"], a_hosts, "lower-cased and sorted");
    let guid = format!("72f988bf-86f1-41af-91ab-{a}");
    let r = put(
        issuer,
        &format!("/admin/tenants/{a}/tenant-values"),
        json!({"tenant_values": {"entra": [guid]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let idp = okta(&format!("{b}.okta.com"));
    let r = put(issuer, &format!("/admin/tenants/{b}/idp"), idp.clone());
    assert_eq!((r.status, &r.json()["idp"]), (200, &idp), "{}", r.text());
    let r = put(
        issuer,
        &format!("/admin/tenants/{off}/hosts"),
        json!({"hosts": [format!("{off}.example.com")]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    issuer.admin("POST", &format!("/admin/tenants/{off}/disable"), None);
    Onboarded {
        a,
        b,
        off,
        a_hosts,
        guid,
        idp,
    }
}

fn directory_carries_every_enabled_tenant_signed(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let o = onboard(&issuer);
    let before = tenantgate_issuer::time::now();
    let doc = fetch(&issuer);
    let claims = verify(&issuer, &doc);
    assert_eq!(claims["iss"], ISSUER);
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(
        iat >= before && iat <= tenantgate_issuer::time::now(),
        "{iat}"
    );
    assert!(claims.get("aud").is_none() && claims.get("exp").is_none());
    assert_eq!(
        claims["tenants"],
        json!({
            o.a.clone(): {"hosts": o.a_hosts, "tenant_values": {"entra": [o.guid]}},
            o.b.clone(): {"idp": o.idp},
        }),
        "every enabled tenant, the disabled one left out"
    );
    let py = pyjwt_directory(&issuer, &doc);
    assert_eq!(py["claims"], claims, "PyJWT reads the same payload");
    assert_eq!(py["header"]["typ"], "tenantgate-directory+jwt");
    assert_eq!(
        py["as_access_token"], "MissingRequiredClaimError",
        "no aud: the directory never passes for an access token"
    );
    let shown = issuer.admin("GET", &format!("/admin/tenants/{}", o.a), None);
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert_eq!(shown.json()["hosts"], o.a_hosts);
    assert_eq!(shown.json()["tenant_values"], json!({"entra": [o.guid]}));
    assert_eq!(shown.json()["idp"], Value::Null);
    changes_are_audited(&issuer, &o);

    // Removing the IdP and re-enabling a tenant show in the next document.
    let r = issuer.admin("DELETE", &format!("/admin/tenants/{}/idp", o.b), None);
    assert_eq!((r.status, &r.json()["removed"]), (200, &json!(true)));
    issuer.admin("POST", &format!("/admin/tenants/{}/enable", o.off), None);
    let claims = verify(&issuer, &fetch(&issuer));
    assert_eq!(claims["tenants"][&o.b], json!({}));
    assert_eq!(
        claims["tenants"][&o.off],
        json!({"hosts": [format!("{}.example.com", o.off)]})
    );
    let line = issuer
        .audit()
        .into_iter()
        .find(|e| e["action"] == "tenant_idp_remove")
        .expect("removal audited");
    assert_eq!((&line["before"], &line["after"]), (&o.idp, &Value::Null));
}

/// Each change has one audit line with the actor and the value before and after.
fn changes_are_audited(issuer: &Issuer, o: &Onboarded) {
    let audit = issuer.audit();
    let line = |action: &str, tenant: &str| {
        audit
            .iter()
            .find(|e| e["action"] == action && e["tenantId"] == tenant)
            .unwrap_or_else(|| panic!("{action} of {tenant} is audited"))
            .clone()
    };
    let hosts = line("tenant_hosts_set", &o.a);
    assert_eq!(hosts["actor"], "admin");
    assert_eq!(
        (&hosts["before"], &hosts["after"]),
        (&json!([]), &o.a_hosts)
    );
    let values = line("tenant_values_set", &o.a);
    assert_eq!(
        (&values["before"], &values["after"]),
        (&json!({}), &json!({"entra": [o.guid]}))
    );
    let idp = line("tenant_idp_set", &o.b);
    assert_eq!((&idp["before"], &idp["after"]), (&Value::Null, &o.idp));
}

/// Writes to tenant `b` that must be refused while tenant `a` holds `a_host`, the IdP
/// `a_idp` and the Entra value `guid-a`: (path, body, status, what the message names).
fn refusals(a_host: &str, a_idp: &Value, b: &str) -> Vec<(String, Value, u16, &'static str)> {
    let path = |what: &str| format!("/admin/tenants/{b}/{what}");
    let b_idp = okta(&format!("{b}.okta.com"));
    let with = |pointer: &str, v: Value| {
        let mut idp = b_idp.clone();
        *idp.pointer_mut(pointer).expect("member") = v;
        idp
    };
    let mut mapped = b_idp.clone();
    mapped["tenant_map"] = json!({"x": b});
    let no_path = json!({"remote": {"cluster": "egress", "uri": "https://b.okta.com"}});
    vec![
        (
            path("hosts"),
            json!({"hosts": [a_host.to_uppercase()]}),
            409,
            "hosts:",
        ),
        (
            path("tenant-values"),
            json!({"tenant_values": {"entra": ["guid-a"]}}),
            409,
            "tenant_values.entra:",
        ),
        (path("idp"), a_idp.clone(), 409, "idp.issuer:"),
        (
            path("idp"),
            with("/jwks/discovery/cluster", json!("internal")),
            400,
            "idp.jwks.discovery.cluster:",
        ),
        (
            path("idp"),
            with("/issuer", json!("https://login.example.com/{tenant}/v2.0")),
            400,
            "idp.issuer:",
        ),
        (path("idp"), mapped, 400, "idp.tenant_map:"),
        (
            path("idp"),
            with("/jwks", no_path),
            400,
            "idp.jwks.remote.uri:",
        ),
        (
            path("idp"),
            with("/audiences", json!([])),
            400,
            "idp.audiences",
        ),
        (
            path("hosts"),
            json!({"hosts": ["b.example.com:443"]}),
            400,
            "hosts[0]:",
        ),
        (
            path("hosts"),
            json!({"hosts": ["b.io", "B.io"]}),
            400,
            "hosts[1]:",
        ),
        (
            path("tenant-values"),
            json!({"tenant_values": {"Entra": ["x"]}}),
            400,
            "tenant_values:",
        ),
        (
            "/admin/tenants/nobody/hosts".into(),
            json!({"hosts": ["n.example.com"]}),
            404,
            "nobody",
        ),
    ]
}

/// A refused write names the field (and, for a conflict, the tenant holding the value) and
/// changes nothing.
fn entry_mistakes_are_refused_naming_the_field(backend: Backend) {
    let mut opts = Options::new(backend);
    opts.extra = "[directory]\nidp_clusters = [\"egress\"]\n".into();
    let issuer = Issuer::start(opts);
    let (a, b) = (tenant_id("a"), tenant_id("b"));
    issuer.tenant(&a, json!({}));
    issuer.tenant(&b, json!({}));
    let host = format!("{a}.example.com");
    let a_idp = okta(&format!("{a}.okta.com"));
    let path = |t: &str, what: &str| format!("/admin/tenants/{t}/{what}");
    for (what, body) in [
        ("hosts", json!({"hosts": [host]})),
        (
            "tenant-values",
            json!({"tenant_values": {"entra": ["guid-a"]}}),
        ),
        ("idp", a_idp.clone()),
    ] {
        let r = put(&issuer, &path(&a, what), body);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let before = verify(&issuer, &fetch(&issuer))["tenants"].clone();
    for (p, body, status, needle) in refusals(&host, &a_idp, &b) {
        let r = put(&issuer, &p, body.clone());
        assert_eq!(r.status, status, "{p} {body}: {}", r.text());
        let message = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(needle), "{p} {body}: {message}");
        if status == 409 {
            assert_eq!(r.error(), "conflict");
            assert!(
                message.contains(&a),
                "names the tenant holding it: {message}"
            );
        }
    }
    assert_eq!(
        verify(&issuer, &fetch(&issuer))["tenants"],
        before,
        "nothing refused reached the directory"
    );
    // A host moves once its owner lets it go.
    let r = put(&issuer, &path(&a, "hosts"), json!({"hosts": []}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(&issuer, &path(&b, "hosts"), json!({"hosts": [host]}));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn directory_of_ten_thousand_tenants(backend: Backend) {
    scale::ten_thousand(backend);
}

#[test]
fn directory_can_be_turned_off() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.extra = "[directory]\nenabled = false\n".into();
    let issuer = Issuer::start(opts);
    let r = issuer.get("/v1/directory");
    assert_eq!((r.status, r.error().as_str()), (404, "not_found"));
}

#[test]
fn cli_sets_what_the_directory_says() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("cli");
    issuer.tenant(&t, json!({}));
    let run = |args: &[&str]| {
        let out = issuer.cli(args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let out = issuer.cli(&["tenant", "hosts", &t], None);
    assert!(!out.status.success(), "no hosts without --clear");
    run(&["tenant", "hosts", &t, "App.Example.com"]);
    run(&["tenant", "values", &t, r#"{"entra": ["g1"]}"#]);
    let idp_file = issuer.dir.path().join("idp.json");
    let idp = okta("cli.okta.com");
    std::fs::write(&idp_file, idp.to_string()).expect("write idp");
    run(&["tenant", "idp", &t, &format!("@{}", idp_file.display())]);
    let shown: Value = serde_json::from_str(&run(&["tenant", "show", &t])).expect("json");
    assert_eq!(shown["hosts"], json!(["app.example.com"]));
    assert_eq!(shown["tenant_values"], json!({"entra": ["g1"]}));
    assert_eq!(shown["idp"], idp);
    let claims = verify(&issuer, &fetch(&issuer));
    assert_eq!(claims["tenants"][&t]["idp"], idp);
    assert!(run(&["tenant", "remove-idp", &t]).contains("removed"));
    let out = issuer.cli(&["tenant", "idp", &t, r#"{"issuer": "x"}"#], None);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && err.contains("audiences"), "{err}");
    let actions: Vec<String> = issuer
        .audit()
        .iter()
        .filter(|e| e["actor"] == "cli" && e["tenantId"] == t.as_str())
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant_hosts_set",
            "tenant_values_set",
            "tenant_idp_set",
            "tenant_idp_remove"
        ]
    );
}
