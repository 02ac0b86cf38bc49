//! `kill -9` of a replica under load: two replicas on one PostgreSQL, clients on both signing in
//! and refreshing; halfway through, one replica is killed (SIGKILL). Its clients fail over to the
//! survivor and retry what got no answer (a refresh whose answer was lost gets the same new pair
//! back). Afterwards every session whose sign-in or refresh was answered must refresh on the
//! survivor: a committed session that cannot is lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use serde_json::{json, Value};
use tenantgate_testkit::issuer::Issuer;

use super::{Args, Load, Stats, REFRESHES_PER_SESSION};

/// One client's view: its target until the kill, then the survivor.
struct Client<'a> {
    load: &'a Load,
    index: usize,
    addr: &'a str,
    survivor: &'a str,
    failovers: usize,
    stats: Stats,
}

type Answer = Result<(u16, Option<String>), String>;

impl Client<'_> {
    /// Sends a request; without an answer from the killed replica, fails over and retries once.
    fn send(&mut self, op: impl Fn(&str) -> Answer) -> Answer {
        let t = Instant::now();
        let mut answer = op(self.addr);
        if answer.is_err() && self.addr != self.survivor {
            self.failovers += 1;
            self.addr = self.survivor;
            answer = op(self.addr);
        }
        self.stats.record(t, answer.as_ref().ok().map(|a| a.0));
        answer
    }

    /// Sign in, refresh a few times, again; returns the last answered refresh token of each
    /// session.
    fn run(&mut self, deadline: Instant) -> Vec<String> {
        let (load, i) = (self.load, self.index);
        let mut sessions = Vec::new();
        while Instant::now() < deadline {
            let Ok((200, Some(mut token))) = self.send(|a| load.sign_in(a, i)) else {
                continue;
            };
            for _ in 0..REFRESHES_PER_SESSION {
                if Instant::now() >= deadline {
                    break;
                }
                match self.send(|a| load.refresh(a, &token)) {
                    Ok((200, Some(next))) => token = next,
                    _ => break,
                }
            }
            sessions.push(token);
        }
        sessions
    }
}

pub fn run(survivor: Issuer, args: &Args) -> Value {
    let mut victim = survivor.replica();
    let load = Load::create(&survivor, args.clients);
    let addrs = [survivor.addr.clone(), victim.addr.clone()];
    let sessions = Mutex::new(Vec::new());
    let stats = Mutex::new(Stats::default());
    let failovers = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + args.duration;
    thread::scope(|s| {
        for index in 0..args.clients {
            let (load, addrs, sessions, stats, failovers) =
                (&load, &addrs, &sessions, &stats, &failovers);
            s.spawn(move || {
                let mut client = Client {
                    load,
                    index,
                    addr: &addrs[index % 2],
                    survivor: &addrs[0],
                    failovers: 0,
                    stats: Stats::default(),
                };
                let mine = client.run(deadline);
                failovers.fetch_add(client.failovers, Ordering::SeqCst);
                if let (Ok(mut all), Ok(mut total)) = (sessions.lock(), stats.lock()) {
                    all.extend(mine);
                    total.merge(client.stats);
                }
            });
        }
        thread::sleep(args.duration / 2);
        victim.stop(); // SIGKILL
    });
    let elapsed = started.elapsed();
    let sessions = sessions.into_inner().unwrap_or_default();
    let stats = stats.into_inner().unwrap_or_default();
    let mut lost = Vec::new();
    for token in &sessions {
        match load.refresh(&addrs[0], token) {
            Ok((200, _)) => {}
            other => lost.push(format!("{:?}", other.map(|a| a.0))),
        }
    }
    let mut report = stats.report("kill -9 of 1 of 2", "mixed", elapsed);
    let failovers = failovers.load(Ordering::SeqCst);
    println!(
        "  kill -9 halfway: {} answered sessions checked on the survivor, {} lost; {failovers} \
         request(s) failed over",
        sessions.len(),
        lost.len()
    );
    if !lost.is_empty() {
        println!(
            "  lost sessions answered: {:?}",
            &lost[..lost.len().min(10)]
        );
    }
    report["sessions_checked"] = json!(sessions.len());
    report["lost"] = json!(lost.len());
    report["failovers"] = json!(failovers);
    report
}
