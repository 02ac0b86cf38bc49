//! The issuer benchmark behind `scripts/bench-issuer`: sign-in and refresh throughput and
//! latency of the release binary on SQLite, on PostgreSQL, and with two replicas sharing
//! PostgreSQL; then a `kill -9` of one replica under load, after which every session whose
//! sign-in or refresh was answered must still refresh on the survivor.
//!
//! Loopback only, bounded: at most 60 s per phase and 32 clients; each client sends one request
//! at a time on a fresh connection. PostgreSQL cells need `TENANTGATE_PG_URL` (the script starts a
//! throwaway server) and are skipped without it.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tenantgate_testkit::issuer::{unique, Backend, Issuer, Options};
use tenantgate_testkit::issuer_http::try_request;

const PASSWORD: &str = "correct horse battery";
/// Refreshes per session in the kill cell before the client signs in again.
const REFRESHES_PER_SESSION: usize = 5;

struct Args {
    duration: Duration,
    clients: usize,
    cells: Vec<String>,
    out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: Duration::from_secs(10),
        clients: 8,
        cells: ["sqlite", "postgres", "replicas", "kill"]
            .map(String::from)
            .to_vec(),
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => {
                let secs: u64 = value()?.parse().map_err(|_| "--duration: seconds")?;
                if !(1..=60).contains(&secs) {
                    return Err("--duration: 1 to 60 seconds per phase".into());
                }
                args.duration = Duration::from_secs(secs);
            }
            "--clients" => {
                let n: usize = value()?.parse().map_err(|_| "--clients: a number")?;
                if !(1..=32).contains(&n) {
                    return Err("--clients: 1 to 32".into());
                }
                args.clients = n;
            }
            "--cells" => args.cells = value()?.split(',').map(String::from).collect(),
            "--out" => args.out = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(bad) = args
        .cells
        .iter()
        .find(|c| !["sqlite", "postgres", "replicas", "kill"].contains(&c.as_str()))
    {
        return Err(format!("--cells: unknown cell {bad}"));
    }
    Ok(args)
}

/// Outcomes of one phase.
#[derive(Default)]
struct Stats {
    ok: usize,
    shed: usize,
    failed: usize,
    latencies_ms: Vec<f64>,
}

impl Stats {
    fn record(&mut self, started: Instant, status: Option<u16>) {
        match status {
            Some(200) => {
                self.ok += 1;
                self.latencies_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Some(503) => self.shed += 1,
            _ => self.failed += 1,
        }
    }

    fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.shed += other.shed;
        self.failed += other.failed;
        self.latencies_ms.extend(other.latencies_ms);
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
        v.get(rank - 1).copied().unwrap_or(f64::NAN)
    }

    fn report(&self, cell: &str, phase: &str, elapsed: Duration) -> Value {
        let rate = self.ok as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (self.percentile(0.50), self.percentile(0.99));
        println!(
            "{cell:<22} {phase:<8} {rate:>8.1} {p50:>8.1} {p99:>8.1} {:>7} {:>6} {:>6}",
            self.ok, self.shed, self.failed
        );
        json!({"cell": cell, "phase": phase, "ok_per_s": rate, "p50_ms": p50, "p99_ms": p99,
               "ok": self.ok, "shed_503": self.shed, "failed": self.failed,
               "seconds": elapsed.as_secs_f64()})
    }
}

/// A tenant with one member per client (created through the admin API).
struct Load {
    tenant: String,
    users: Vec<String>,
}

impl Load {
    fn create(issuer: &Issuer, clients: usize) -> Load {
        let tenant = format!("bench-{}", unique());
        issuer.tenant(&tenant, json!({}));
        let users: Vec<String> = (0..clients)
            .map(|i| format!("user{i}-{}@bench.test", unique()))
            .collect();
        for user in &users {
            issuer.member(&tenant, user, Some(PASSWORD), &[]);
        }
        Load { tenant, users }
    }

    fn sign_in(&self, addr: &str, client: usize) -> Result<(u16, Option<String>), String> {
        let body = json!({"email": self.users[client], "password": PASSWORD,
                          "refresh_token_delivery": "body"});
        let path = format!("/v1/tenants/{}/sign-in", self.tenant);
        post(addr, &path, &body)
    }

    fn refresh(&self, addr: &str, token: &str) -> Result<(u16, Option<String>), String> {
        let path = format!("/v1/tenants/{}/refresh", self.tenant);
        post(addr, &path, &json!({ "refresh_token": token }))
    }
}

/// Status and, on 200, the refresh token of the answer.
fn post(addr: &str, path: &str, body: &Value) -> Result<(u16, Option<String>), String> {
    let headers = [("content-type", "application/json")];
    let r = try_request(
        addr,
        "POST",
        path,
        &headers,
        Some(body.to_string().as_bytes()),
    )?;
    let token = (r.status == 200)
        .then(|| r.json()["refresh_token"].as_str().map(str::to_string))
        .flatten();
    Ok((r.status, token))
}

/// `clients` threads, client `i` on `addrs[i % len]`, each running `body` until the deadline.
fn run_clients(
    addrs: &[String],
    clients: usize,
    duration: Duration,
    body: impl Fn(&str, usize, Instant) -> Stats + Sync,
) -> (Stats, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut total = Stats::default();
    thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let addr = addrs[i % addrs.len()].as_str();
                let body = &body;
                s.spawn(move || body(addr, i, deadline))
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(stats) => total.merge(stats),
                Err(_) => {
                    eprintln!("bench_issuer: a client failed; its requests are not counted");
                    total.failed += 1;
                }
            }
        }
    });
    (total, started.elapsed())
}

fn sign_in_phase(load: &Load, addrs: &[String], args: &Args) -> (Stats, Duration) {
    run_clients(addrs, args.clients, args.duration, |addr, i, deadline| {
        let mut stats = Stats::default();
        while Instant::now() < deadline {
            let t = Instant::now();
            stats.record(t, load.sign_in(addr, i).ok().map(|r| r.0));
        }
        stats
    })
}

fn refresh_phase(load: &Load, addrs: &[String], args: &Args) -> (Stats, Duration) {
    // Sessions first (not timed), so that the phase measures refreshes alone.
    let tokens: Vec<Mutex<Option<String>>> = (0..args.clients)
        .map(|i| {
            let addr = &addrs[i % addrs.len()];
            let token = (0..20).find_map(|_| match load.sign_in(addr, i) {
                Ok((200, token)) => token,
                _ => {
                    thread::sleep(Duration::from_millis(100));
                    None
                }
            });
            Mutex::new(token)
        })
        .collect();
    run_clients(addrs, args.clients, args.duration, |addr, i, deadline| {
        let mut stats = Stats::default();
        let mut token = tokens[i].lock().ok().and_then(|mut t| t.take());
        while let (Some(current), true) = (token.clone(), Instant::now() < deadline) {
            let t = Instant::now();
            match load.refresh(addr, &current) {
                Ok((200, next)) => {
                    stats.record(t, Some(200));
                    token = next;
                }
                Ok((status, _)) => stats.record(t, Some(status)),
                Err(_) => stats.record(t, None),
            }
        }
        stats
    })
}

fn options(backend: Backend) -> Options {
    let mut opts = Options::new(backend);
    // The benchmark measures the work, not the throttles: one address sends everything.
    opts.per_user_per_minute = 1_000_000;
    opts.per_ip_per_minute = 1_000_000;
    opts.overall_per_minute = 1_000_000;
    opts
}

fn postgres(pg: &Option<String>) -> Option<Backend> {
    pg.as_ref().map(|url| Backend::Postgres {
        url: url.clone(),
        schema: format!("bench_{}", unique()),
    })
}

fn throughput_cell(cell: &str, issuers: &[&Issuer], args: &Args, out: &mut Vec<Value>) {
    let addrs: Vec<String> = issuers.iter().map(|i| i.addr.clone()).collect();
    let load = Load::create(issuers[0], args.clients);
    let (s, t) = sign_in_phase(&load, &addrs, args);
    out.push(s.report(cell, "sign-in", t));
    let (s, t) = refresh_phase(&load, &addrs, args);
    out.push(s.report(cell, "refresh", t));
}

mod kill;

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_issuer: {e}");
            std::process::exit(2);
        }
    };
    let pg = std::env::var("TENANTGATE_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cpus} CPUs, load average at start {}; {} clients, {} s per phase",
        load_avg.split(' ').take(3).collect::<Vec<_>>().join(" "),
        args.clients,
        args.duration.as_secs()
    );
    println!(
        "{:<22} {:<8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6}",
        "cell", "phase", "ok/s", "p50 ms", "p99 ms", "ok", "503", "failed"
    );
    let mut results = Vec::new();
    for cell in &args.cells {
        let backend = match cell.as_str() {
            "sqlite" => Some(Backend::Sqlite),
            _ => postgres(&pg),
        };
        let Some(backend) = backend else {
            println!("{cell:<22} skipped: TENANTGATE_PG_URL is not set");
            continue;
        };
        let issuer = Issuer::start(options(backend));
        match cell.as_str() {
            "sqlite" | "postgres" => throughput_cell(cell, &[&issuer], &args, &mut results),
            "replicas" => {
                let replica = issuer.replica();
                throughput_cell(
                    "postgres, 2 replicas",
                    &[&issuer, &replica],
                    &args,
                    &mut results,
                );
            }
            _ => results.push(kill::run(issuer, &args)),
        }
    }
    let report = json!({"cpus": cpus, "load_average_at_start": load_avg.trim(),
                        "clients": args.clients, "seconds_per_phase": args.duration.as_secs(),
                        "results": results});
    if let Some(path) = &args.out {
        if let Err(e) = std::fs::write(path, format!("{report:#}\n")) {
            eprintln!("bench_issuer: cannot write {path}: {e}");
        }
    }
    let lost = results
        .iter()
        .filter_map(|r| r["lost"].as_u64())
        .sum::<u64>();
    if lost > 0 {
        std::process::exit(1);
    }
}
