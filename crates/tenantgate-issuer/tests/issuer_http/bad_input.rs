//! Every malformed request gets a JSON error of the 400 family with a stable code.

use super::*;

#[test]
fn every_bad_input_gets_a_json_400_family_error() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("bad");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let paths = TenantPaths {
        sign_in: format!("/v1/tenants/{t}/sign-in"),
        refresh: format!("/v1/tenants/{t}/refresh"),
        sign_out: format!("/v1/tenants/{t}/sign-out"),
    };
    let big = vec![b'x'; 64 * 1024];
    for (method, path, headers, body, status, code) in session_cases(&paths, &big) {
        let r = issuer.request(method, path, &headers, body.as_deref());
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{method} {path} {:?}: {}",
            body.as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(80)]).to_string()),
            r.text()
        );
        assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    for (method, path, body, status, code) in admin_cases(&t, &user) {
        let r = issuer.admin(method, &path, body.as_ref());
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{method} {path} {body:?}: {}",
            r.text()
        );
    }
    assert_eq!(
        issuer.get("/healthz").status,
        200,
        "still healthy after all that"
    );
    assert!(!issuer.stderr().contains("panicked"), "{}", issuer.stderr());
}

/// The session endpoints of the test tenant.
struct TenantPaths {
    sign_in: String,
    refresh: String,
    sign_out: String,
}

/// (method, path, headers, body, expected status, expected code)
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<Vec<u8>>,
    u16,
    &'a str,
);

/// Malformed requests to the session endpoints and the router (a table: one case per entry).
fn session_cases<'a>(p: &'a TenantPaths, big: &[u8]) -> Vec<Case<'a>> {
    let json_ct = [("content-type", "application/json")];
    vec![
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(b"{".to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(b"[]".to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":1,"password":"x"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p","admin":true}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p","refresh_token_delivery":"pigeon"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"not-an-email","password":"secret12"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":""}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "p".repeat(300)).into_bytes()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(vec![0xff, 0xfe, b'{']),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            None,
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.sign_in,
            vec![("content-type", "text/plain")],
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            &p.sign_in,
            json_ct.to_vec(),
            Some(big.to_vec()),
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/tenants/UPPER/sign-in",
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tenants/%ff%fe/sign-in",
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":5}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":""}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.refresh,
            json_ct.to_vec(),
            Some(format!(r#"{{"refresh_token":"{}"}}"#, "t".repeat(300)).into_bytes()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &p.refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":"x","extra":1}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &p.sign_out,
            vec![("authorization", "Basic abc")],
            None,
            400,
            "invalid_request",
        ),
        ("GET", &p.sign_in, vec![], None, 405, "method_not_allowed"),
        ("GET", "/nope", vec![], None, 404, "not_found"),
    ]
}

/// Malformed admin API input for tenant `t` with member `user` (a table: one case per entry).
fn admin_cases(
    t: &str,
    user: &str,
) -> Vec<(&'static str, String, Option<Value>, u16, &'static str)> {
    vec![
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "Bad Id"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "access_ttl": "forever"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "access_ttl": "48h"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "refresh_idle": -5})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "colour": "red"})),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": t})),
            409,
            "conflict",
        ),
        (
            "POST",
            format!("/admin/tenants/{t}/users"),
            Some(json!({"email": "x@y.z", "password": "short"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            format!("/admin/tenants/{t}/users"),
            Some(json!({"email": "new@y.z"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants/missing/users".into(),
            Some(json!({"email": "x@y.z", "password": "long enough"})),
            404,
            "not_found",
        ),
        (
            "PUT",
            "/admin/roles/bad,role".into(),
            Some(json!({})),
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/admin/roles/ok".into(),
            Some(json!({"permissions": ["has space"]})),
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/admin/roles/ok".into(),
            Some(json!({"permissions": "a"})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            format!("/admin/tenants/{t}/users/{user}/roles/undefined-role"),
            None,
            404,
            "not_found",
        ),
        (
            "PUT",
            format!("/admin/tenants/{t}/users/not-an-email/roles/x"),
            None,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/users/nobody@x.io/revoke-sessions".into(),
            None,
            404,
            "not_found",
        ),
        ("GET", "/admin/sessions/none".into(), None, 404, "not_found"),
    ]
}

/// Sends `raw` bytes on a fresh connection and returns the status line and the JSON body.
fn raw_exchange(issuer: &Issuer, raw: &[u8]) -> (String, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&issuer.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(raw).expect("write");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn a_malformed_chunked_body_is_a_400_and_an_oversized_one_a_413() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("chunk");
    issuer.tenant(&t, json!({}));
    let head = format!(
        "POST /v1/tenants/{t}/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let (status, body) = raw_exchange(&issuer, format!("{head}zz\r\n{{}}\r\n0\r\n\r\n").as_bytes());
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    let big = "x".repeat(32 * 1024);
    let (status, body) = raw_exchange(
        &issuer,
        format!("{head}{:x}\r\n{big}\r\n0\r\n\r\n", big.len()).as_bytes(),
    );
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert_eq!(body["error"], "body_too_large", "{body}");
}

#[test]
fn an_overlong_refresh_cookie_is_refused_like_an_overlong_body_token() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("cookie");
    issuer.tenant(&t, json!({}));
    let cookie = format!("tg_refresh={}", "t".repeat(300));
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{t}/refresh"),
        &[("cookie", &cookie), ("x-csrf-token", "x")],
        None,
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
}

#[test]
fn malformed_http_gets_a_json_400() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n",
        b"GET /he lthz HTTP/1.1\r\nhost: x\r\n\r\n",
    ] {
        let (status, body) = raw_exchange(&issuer, raw);
        assert!(status.starts_with("HTTP/1.1 400"), "{status}");
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    // More headers than the server parses (100): small enough to be read whole.
    let many: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    let (status, body) = raw_exchange(&issuer, long.as_bytes());
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(issuer.get("/healthz").status, 200);
}
