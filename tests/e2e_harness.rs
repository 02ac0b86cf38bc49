//! The end-to-end harness itself: Envoy without the filter routes to the echo upstream, the echo
//! upstream reports what it received, the JWKS server answers as told and counts, and the test
//! keys sign tokens that verify against their JWKs.

use tenantgate_testkit as support;

use std::time::Duration;

use serde_json::json;
use support::{keys, EchoUpstream, EnvoyBuilder, JwksMode, JwksServer, Req, TestKey};

#[test]
fn plain_envoy_routes_to_the_echo_upstream() {
    let Some(envoy_bin) = support::envoy_binary() else {
        return;
    };
    let echo = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&envoy_bin).upstream(echo.port()).start();

    let id = support::request_id();
    let resp = envoy.send(
        &Req::new("POST", "acme.example.test", "/some/path?q=1")
            .header("x-request-id", &id)
            .header("x-custom", "one")
            .header("x-custom", "two")
            .body(b"hello"),
    );
    assert_eq!(resp.status, 200, "{}", resp.summary());
    let body = resp.json();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/some/path?q=1");

    let seen = echo.find(&id).expect("the upstream received the request");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/some/path?q=1");
    assert_eq!(seen.header("host"), Some("acme.example.test"));
    assert_eq!(seen.header_all("x-custom").join(","), "one,two");
    assert_eq!(seen.body, b"hello");
    // The echoed JSON lists the same headers the upstream recorded.
    let echoed: Vec<(String, String)> =
        serde_json::from_value(body["headers"].clone()).expect("header pairs");
    assert_eq!(echoed, seen.headers);

    // Envoy's own normalization (on by default in the harness) applies before the upstream.
    let id = support::request_id();
    let resp = envoy.send(&Req::get("acme.example.test", "/a/../b//c").header("x-request-id", &id));
    assert_eq!(resp.status, 200, "{}", resp.summary());
    assert_eq!(echo.find(&id).expect("forwarded").path, "/b/c");

    // And the stats of the admin interface are readable.
    let stats = envoy.stats();
    assert!(
        stats.get("http.gateway.downstream_rq_2xx").copied() >= Some(2),
        "downstream_rq_2xx in {stats:?}"
    );
}

#[test]
fn plain_envoy_passes_paths_unchanged_with_normalization_off() {
    let Some(envoy_bin) = support::envoy_binary() else {
        return;
    };
    let echo = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&envoy_bin)
        .upstream(echo.port())
        .envoy_normalization(false)
        .start();
    let id = support::request_id();
    let resp = envoy.send(&Req::get("h.test", "/a/../b//c%2Fd").header("x-request-id", &id));
    assert_eq!(resp.status, 200, "{}", resp.summary());
    assert_eq!(echo.find(&id).expect("forwarded").path, "/a/../b//c%2Fd");
}

#[test]
fn jwks_server_answers_as_told_and_counts_fetches() {
    let key = TestKey::a("k1");
    let set = keys::jwks(&[&key]);
    let jwks = JwksServer::serving(&set, 42);
    let addr = format!("127.0.0.1:{}", jwks.port()).parse().expect("addr");

    let resp = Req::get("jwks.test", "/.well-known/jwks.json").send(addr);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("cache-control"), Some("max-age=42"));
    assert_eq!(resp.json(), set);

    jwks.set(JwksMode::Unavailable);
    assert_eq!(Req::get("jwks.test", "/x").send(addr).status, 503);

    jwks.set(JwksMode::Close);
    assert!(
        Req::get("jwks.test", "/x").try_send(addr).is_err(),
        "a closing server gives no response"
    );

    jwks.set(JwksMode::Serve {
        status: 200,
        body: "not json".into(),
        cache_control: None,
    });
    let resp = Req::get("jwks.test", "/y").send(addr);
    assert_eq!((resp.status, resp.text().as_str()), (200, "not json"));
    assert_eq!(resp.header("cache-control"), None);

    assert_eq!(jwks.fetches(), 4);
    assert!(jwks.wait_for_fetches(4, Duration::from_millis(10)));
    assert_eq!(
        jwks.paths(),
        ["/.well-known/jwks.json", "/x", "/x", "/y"].map(String::from)
    );
}

#[test]
fn jwks_server_goes_down_and_comes_back_on_its_port() {
    let key = TestKey::a("k1");
    let jwks = JwksServer::serving(&keys::jwks(&[&key]), 60);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", jwks.port()).parse().expect("addr");

    // A keep-alive connection opened while up is closed when the server goes down.
    let mut open = std::net::TcpStream::connect(addr).expect("connect while up");
    jwks.go_down();
    let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "a down server refuses connections"
    );
    open.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut buf = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut open, &mut buf).expect("the server closed it"),
        0,
        "an open connection is closed when the server goes down"
    );
    assert!(Req::get("jwks.test", "/x").try_send(addr).is_err());
    assert_eq!(jwks.fetches(), 0, "refused connections are no fetches");

    jwks.come_up();
    let resp = Req::get("jwks.test", "/.well-known/jwks.json").send(addr);
    assert_eq!(resp.status, 200, "up again on the same port");
    assert_eq!(resp.json(), keys::jwks(&[&key]));
    assert_eq!(jwks.fetches(), 1);
}

#[test]
fn test_tokens_verify_against_their_jwk() {
    use base64::Engine as _;
    let key = TestKey::a("k1");
    let claims = keys::claims("https://iss.test", "api", "acme", "u1", &["admin"]);
    let token = key.sign(&claims);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url")
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).expect("header");
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
    let jwk = key.jwk();
    let n = decode(jwk["n"].as_str().expect("n"));
    let e = decode(jwk["e"].as_str().expect("e"));
    assert_eq!(n.len(), 256, "a 2048-bit modulus");
    let public = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let input = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &decode(parts[2]),
        )
        .expect("the signature verifies with the JWK");
    // Another key's JWK does not verify it.
    let other = TestKey::b("k2").jwk();
    let n2 = decode(other["n"].as_str().expect("n"));
    let wrong = ring::signature::RsaPublicKeyComponents { n: &n2, e: &e };
    assert!(wrong
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &decode(parts[2]),
        )
        .is_err());
}
