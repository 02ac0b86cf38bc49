//! Slow and idle clients: timeouts and connection caps keep one client from starving the others.

use super::*;

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `source` (another loopback address: another client) to the issuer.
async fn connect_from(source: &str, issuer: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse::<SocketAddr>().expect("source"))?;
    socket
        .connect(issuer.parse::<SocketAddr>().expect("issuer address"))
        .await
}

/// Whether the server has closed `stream` (EOF or reset) within `within`, reading away whatever
/// it answered first.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_do_not_starve_other_clients() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.extra =
        "[http]\nheader_timeout = \"2s\"\nbody_timeout = \"2s\"\nmax_connections_per_client = 60"
            .into();
    let issuer = Issuer::start(opts);
    let t = tenant_id("slow");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // One client (127.0.0.2) opens 1,100 connections: idle, half a header, half a body.
    let half_header = format!("POST /v1/tenants/{t}/sign-in HTTP/1.1\r\nhost: x\r\n");
    let half_body = format!(
        "POST /v1/tenants/{t}/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"email\":"
    );
    let mut held = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..1100 {
            let Ok(mut s) = connect_from("127.0.0.2", &issuer.addr).await else {
                continue;
            };
            let prefix = match i % 3 {
                0 => "",
                1 => half_header.as_str(),
                _ => half_body.as_str(),
            };
            let _ = s.write_all(prefix.as_bytes()).await;
            held.push(s);
        }
        held
    });

    // Everyone else is still served, promptly.
    let started = Instant::now();
    assert_eq!(issuer.get("/healthz").status, 200);
    assert_eq!(issuer.sign_in(&t, &user, PW, "body").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Within the timeouts the server has closed every one of them.
    let open = rt.block_on(async {
        let mut open = 0;
        for s in &mut held {
            if !closed_by_server(s, Duration::from_secs(6)).await {
                open += 1;
            }
        }
        open
    });
    assert_eq!(
        open, 0,
        "connections the server kept open past its timeouts"
    );
    assert_eq!(issuer.get("/healthz").status, 200);
}

#[test]
fn a_slow_body_gets_408_and_a_kept_alive_idle_connection_is_closed() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.extra = "[http]\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"".into();
    let issuer = Issuer::start(opts);
    let t = tenant_id("slowbody");
    issuer.tenant(&t, json!({}));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = TcpStream::connect(&issuer.addr).await.expect("connect");
        let head = format!(
            "POST /v1/tenants/{t}/sign-in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: 50\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"error\":\"request_timeout\""), "{text}");

        // A kept-alive connection idle after its answer is closed after the header timeout.
        let mut s = TcpStream::connect(&issuer.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        assert!(closed_by_server(&mut s, Duration::from_secs(4)).await);
    });
}
