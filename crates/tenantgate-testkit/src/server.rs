//! Loopback HTTP/1.1 servers for the end-to-end tests, on std::net and threads: a generic server
//! with a handler, the echo upstream, and a JWKS server whose answers the test changes at run
//! time. Each listens on 127.0.0.1 on a port the OS picks, can go down (refusing connections) and
//! come back on the same port, and stops when dropped.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A request as a server received it. Header names lower-cased, in order; a name may repeat.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ServerRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What a handler wants done with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Close,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

type Handler = Arc<dyn Fn(&ServerRequest) -> Reply + Send + Sync>;

/// A threaded HTTP/1.1 server (keep-alive, Content-Length and chunked request bodies). It can
/// go down (its port refuses connections) and come back up on the same port.
pub struct HttpServer {
    addr: SocketAddr,
    handler: Handler,
    /// Bumped to stop: the accept loop and every connection of an older generation end.
    generation: Arc<AtomicU64>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

/// The generation that means "stopped for good".
const STOPPED: u64 = u64::MAX;

impl HttpServer {
    pub fn start(handler: impl Fn(&ServerRequest) -> Reply + Send + Sync + 'static) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let server = HttpServer {
            addr,
            handler: Arc::new(handler),
            generation: Arc::new(AtomicU64::new(0)),
            accept: Mutex::new(None),
        };
        server.spawn_accept(listener);
        server
    }

    fn spawn_accept(&self, listener: TcpListener) {
        let handler = Arc::clone(&self.handler);
        let generation = Arc::clone(&self.generation);
        let mine = generation.load(Ordering::SeqCst);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if generation.load(Ordering::SeqCst) != mine {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let generation = Arc::clone(&generation);
                std::thread::spawn(move || serve_connection(stream, &handler, &generation, mine));
            }
            // The listener is dropped here: the port refuses connections from now on.
        });
        *self.accept.lock().expect("accept handle") = Some(accept);
    }

    /// Ends the accept loop and the open connections of the current generation; `next` is the
    /// generation from now on.
    fn halt(&self, next: u64) {
        self.generation.store(next, Ordering::SeqCst);
        // Wake the accept loop so it sees the change; connection threads see it within a poll.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.lock().expect("accept handle").take() {
            let _ = accept.join();
        }
    }

    /// Goes down: the listening socket is closed (connections to the port are refused) and open
    /// connections are closed once their current request is answered. Idempotent.
    pub fn go_down(&self) {
        if self.accept.lock().expect("accept handle").is_none() {
            return;
        }
        let next = self.generation.load(Ordering::SeqCst) + 1;
        self.halt(next);
        // Let idle keep-alive connections notice and close.
        std::thread::sleep(POLL + Duration::from_millis(50));
    }

    /// Comes back up on the same port. Idempotent.
    pub fn come_up(&self) {
        if self.accept.lock().expect("accept handle").is_some() {
            return;
        }
        // The port was ours a moment ago; a connection of another program may hold it briefly.
        let mut last = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr) {
                Ok(listener) => return self.spawn_accept(listener),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("rebinding {}: {last:?}", self.addr);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.halt(STOPPED);
    }
}

const POLL: Duration = Duration::from_millis(200);

fn serve_connection(stream: TcpStream, handler: &Handler, generation: &AtomicU64, mine: u64) {
    let stopped = || generation.load(Ordering::SeqCst) != mine;
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        // Wait for the next request in short polls, so a stopped server lets go of keep-alive
        // connections.
        let _ = reader.get_ref().set_read_timeout(Some(POLL));
        match reader.fill_buf() {
            Ok([]) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stopped() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)));
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let keep_alive = !request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match handler(&request) {
            Reply::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!("content-length: {}\r\n", body.len()));
                if !keep_alive {
                    head.push_str("connection: close\r\n");
                }
                head.push_str("\r\n");
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(&body);
                if writer.write_all(&bytes).is_err() || !keep_alive || stopped() {
                    return;
                }
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<ServerRequest> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut request = ServerRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).ok()?;
            request.body.extend_from_slice(&chunk);
            read_line(reader)?;
        }
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len.parse().ok()?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    }
    Some(request)
}

/// The upstream behind Envoy: answers every request 200 with a JSON body of what it received
/// (`{"method", "path", "headers": [[name, value], ...]}`) and records it.
pub struct EchoUpstream {
    server: HttpServer,
    received: Arc<Mutex<Vec<ServerRequest>>>,
}

impl EchoUpstream {
    pub fn start() -> EchoUpstream {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let server = HttpServer::start(move |req| {
            log.lock().expect("echo log").push(req.clone());
            Reply::json(
                200,
                &json!({ "method": req.method, "path": req.path, "headers": req.headers }),
            )
        });
        EchoUpstream { server, received }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<ServerRequest> {
        self.received.lock().expect("echo log").clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("echo log").len()
    }

    /// The request the upstream received with this `x-request-id` (Envoy sets one on each
    /// request it forwards; tests send their own to find theirs).
    pub fn find(&self, request_id: &str) -> Option<ServerRequest> {
        self.received
            .lock()
            .expect("echo log")
            .iter()
            .find(|r| r.header("x-request-id") == Some(request_id))
            .cloned()
    }
}

/// How the JWKS server answers.
#[derive(Debug, Clone)]
pub enum JwksMode {
    Serve {
        status: u16,
        body: String,
        cache_control: Option<String>,
    },
    /// 503 with an empty body.
    Unavailable,
    /// Accept the connection and close it without answering.
    Close,
}

/// A JWKS endpoint whose answer the test sets at run time (status, body, `Cache-Control`, a
/// delay, a closed connection, or down altogether); it counts the fetches it answers.
///
/// It can also serve an OIDC discovery document ([`JwksServer::serve_discovery`]) at every path
/// ending in `/.well-known/openid-configuration`; those requests are counted apart
/// ([`JwksServer::discovery_fetches`]), not in [`JwksServer::fetches`].
pub struct JwksServer {
    server: HttpServer,
    mode: Arc<Mutex<JwksMode>>,
    delay: Arc<Mutex<Duration>>,
    fetches: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
    discovery: Arc<Mutex<Option<String>>>,
    discovery_fetches: Arc<AtomicUsize>,
    directory: Arc<Mutex<Option<Arc<Vec<u8>>>>>,
    directory_fetches: Arc<AtomicUsize>,
}

/// The path of an OIDC discovery document, after the issuer's own path.
const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";
/// The path of the signed tenant directory, as the issuer serves it.
pub const DIRECTORY_PATH: &str = "/v1/directory";

impl JwksServer {
    pub fn start(mode: JwksMode) -> JwksServer {
        let mode = Arc::new(Mutex::new(mode));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let fetches = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let discovery: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let discovery_fetches = Arc::new(AtomicUsize::new(0));
        let directory: Arc<Mutex<Option<Arc<Vec<u8>>>>> = Arc::new(Mutex::new(None));
        let directory_fetches = Arc::new(AtomicUsize::new(0));
        let server = {
            let mode = Arc::clone(&mode);
            let delay = Arc::clone(&delay);
            let fetches = Arc::clone(&fetches);
            let paths = Arc::clone(&paths);
            let discovery = Arc::clone(&discovery);
            let discovery_fetches = Arc::clone(&discovery_fetches);
            let directory = Arc::clone(&directory);
            let directory_fetches = Arc::clone(&directory_fetches);
            HttpServer::start(move |req| {
                paths.lock().expect("jwks paths").push(req.path.clone());
                let signed = directory.lock().expect("directory document").clone();
                if let Some(signed) = signed.filter(|_| req.path == DIRECTORY_PATH) {
                    directory_fetches.fetch_add(1, Ordering::SeqCst);
                    return Reply::Respond {
                        status: 200,
                        headers: vec![
                            ("content-type".into(), "application/jwt".into()),
                            ("cache-control".into(), "no-store".into()),
                        ],
                        body: signed.to_vec(),
                    };
                }
                let document = discovery.lock().expect("discovery document").clone();
                if let Some(document) = document.filter(|_| req.path.ends_with(DISCOVERY_SUFFIX)) {
                    discovery_fetches.fetch_add(1, Ordering::SeqCst);
                    return Reply::Respond {
                        status: 200,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: document.into_bytes(),
                    };
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                let wait = *delay.lock().expect("jwks delay");
                std::thread::sleep(wait);
                match mode.lock().expect("jwks mode").clone() {
                    JwksMode::Serve {
                        status,
                        body,
                        cache_control,
                    } => {
                        let mut headers =
                            vec![("content-type".to_string(), "application/json".to_string())];
                        if let Some(cc) = cache_control {
                            headers.push(("cache-control".into(), cc));
                        }
                        Reply::Respond {
                            status,
                            headers,
                            body: body.into_bytes(),
                        }
                    }
                    JwksMode::Unavailable => Reply::Respond {
                        status: 503,
                        headers: Vec::new(),
                        body: Vec::new(),
                    },
                    JwksMode::Close => Reply::Close,
                }
            })
        };
        JwksServer {
            server,
            mode,
            delay,
            fetches,
            paths,
            discovery,
            discovery_fetches,
            directory,
            directory_fetches,
        }
    }

    /// Serves `signed` (a signed tenant directory) at [`DIRECTORY_PATH`] from now on, as
    /// `application/jwt`; those requests are counted apart ([`JwksServer::directory_fetches`]).
    pub fn serve_directory(&self, signed: Vec<u8>) {
        *self.directory.lock().expect("directory document") = Some(Arc::new(signed));
    }

    /// Directory documents served so far.
    pub fn directory_fetches(&self) -> usize {
        self.directory_fetches.load(Ordering::SeqCst)
    }

    /// Serves `document` as the OIDC discovery document from now on.
    pub fn serve_discovery(&self, document: &Value) {
        *self.discovery.lock().expect("discovery document") = Some(document.to_string());
    }

    /// Discovery documents served so far.
    pub fn discovery_fetches(&self) -> usize {
        self.discovery_fetches.load(Ordering::SeqCst)
    }

    /// A server answering 200 with this key set and `Cache-Control: max-age=<max_age>`.
    pub fn serving(keys: &Value, max_age: u64) -> JwksServer {
        JwksServer::start(JwksMode::Serve {
            status: 200,
            body: keys.to_string(),
            cache_control: Some(format!("max-age={max_age}")),
        })
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The JWKS host is down: connections to its port are refused (no fetch is counted) until
    /// [`JwksServer::come_up`].
    pub fn go_down(&self) {
        self.server.go_down();
    }

    /// Listens again on the same port, answering as the mode says.
    pub fn come_up(&self) {
        self.server.come_up();
    }

    pub fn set(&self, mode: JwksMode) {
        *self.mode.lock().expect("jwks mode") = mode;
    }

    /// Answers each fetch only after `delay` (a slow issuer).
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().expect("jwks delay") = delay;
    }

    pub fn serve_keys(&self, keys: &Value, max_age: u64) {
        self.set(JwksMode::Serve {
            status: 200,
            body: keys.to_string(),
            cache_control: Some(format!("max-age={max_age}")),
        });
    }

    /// Requests answered (or closed) so far, discovery documents aside.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The request paths seen so far.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("jwks paths").clone()
    }

    /// Waits until at least `n` fetches were seen; whether they were.
    pub fn wait_for_fetches(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.fetches() >= n)
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `cond` until it has held on every poll for `hold` (the workers of an Envoy each take a
/// change in on their own tick), or `timeout` passes. Whether it held.
pub fn wait_until_steady(
    timeout: Duration,
    hold: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if cond() {
            let start = *since.get_or_insert(now);
            if now.duration_since(start) >= hold {
                return true;
            }
        } else {
            since = None;
        }
        if now >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
