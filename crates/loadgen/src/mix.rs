//! The three runs: `prepare` (fill mailboxes), `run` (the measured session mix) and `idle`
//! (memory per idle connection).
//!
//! One session of the mix, every command counted as one operation:
//! LOGIN, LIST "" "*", STATUS INBOX (MESSAGES UIDNEXT UNSEEN), SELECT INBOX,
//! FETCH 1:* (UID FLAGS), UID FETCH <recent> (BODY.PEEK[]),
//! UID FETCH <recent> (ENVELOPE BODYSTRUCTURE), UID STORE <one> +FLAGS (\Seen),
//! UID STORE <one> +FLAGS (\Deleted), EXPUNGE, APPEND (one ~10 KB message), LOGOUT.
//! Each session deletes one message and appends one, so mailbox sizes stay near the prepared N.
//! `UID` is fetched with FLAGS because the later commands address messages by UID.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::sleep;

use crate::Args;
use crate::client::{self, Client, Reply, ensure_ok};
use crate::message::{self, Rng};
use crate::proc::{self, Memory, Target};

/// The command kinds of a session, in session order; the names appear in the report.
pub const KINDS: [&str; 12] = [
    "LOGIN",
    "LIST",
    "STATUS",
    "SELECT",
    "FETCH FLAGS",
    "UID FETCH BODY[]",
    "UID FETCH ENVELOPE",
    "STORE \\Seen",
    "STORE \\Deleted",
    "EXPUNGE",
    "APPEND",
    "LOGOUT",
];

/// Latencies and failures of one client (merged at the end).
#[derive(Debug, Default)]
struct Tally {
    /// Per kind: latencies in microseconds of every completed command (OK or not).
    latencies: BTreeMap<&'static str, Vec<u32>>,
    /// Per kind: commands that got NO/BAD or died on I/O.
    failures: BTreeMap<&'static str, u64>,
    sessions: u64,
    /// First few failure descriptions, for the operator.
    samples: Vec<String>,
}

impl Tally {
    fn fail(&mut self, kind: &'static str, why: String) {
        *self.failures.entry(kind).or_default() += 1;
        if self.samples.len() < 5 {
            self.samples.push(format!("{kind}: {why}"));
        }
    }

    fn merge(&mut self, other: Tally) {
        for (k, mut v) in other.latencies {
            self.latencies.entry(k).or_default().append(&mut v);
        }
        for (k, n) in other.failures {
            *self.failures.entry(k).or_default() += n;
        }
        self.sessions += other.sessions;
        for s in other.samples {
            if self.samples.len() < 10 {
                self.samples.push(s);
            }
        }
    }
}

/// A session died mid-way (I/O error, timeout, or a refused LOGIN/SELECT).
struct Abort;

/// Runs one command, timing it and recording the outcome. `Err(Abort)` on I/O failure.
async fn timed<F, Fut>(tally: &mut Tally, kind: &'static str, f: F) -> Result<Reply, Abort>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Reply>>,
{
    let start = Instant::now();
    let result = f().await;
    let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
    match result {
        Ok(reply) => {
            tally.latencies.entry(kind).or_default().push(us);
            if !reply.is_ok() {
                tally.fail(kind, reply.text.clone());
            }
            Ok(reply)
        }
        Err(e) => {
            tally.latencies.entry(kind).or_default().push(us);
            tally.fail(kind, format!("{e:#}"));
            Err(Abort)
        }
    }
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

struct SessionCtx<'a> {
    addr: &'a str,
    user: &'a str,
    password: &'a str,
    fetch_recent: usize,
    message_size: usize,
    io_timeout: Duration,
}

async fn session(ctx: &SessionCtx<'_>, rng: &mut Rng, tally: &mut Tally) -> Result<(), Abort> {
    let mut c = match Client::connect(ctx.addr, ctx.io_timeout).await {
        Ok(c) => c,
        Err(e) => {
            tally.fail("CONNECT", format!("{e:#}"));
            return Err(Abort);
        }
    };
    if !timed(tally, "LOGIN", || c.login(ctx.user, ctx.password))
        .await?
        .is_ok()
    {
        return Err(Abort);
    }
    timed(tally, "LIST", || c.command("LIST \"\" \"*\"")).await?;
    timed(tally, "STATUS", || {
        c.command("STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
    })
    .await?;
    let select = timed(tally, "SELECT", || c.command("SELECT INBOX")).await?;
    if !select.is_ok() {
        return Err(Abort);
    }
    if client::exists(&select.untagged).unwrap_or(0) > 0 {
        let flags = timed(tally, "FETCH FLAGS", || c.command("FETCH 1:* (UID FLAGS)")).await?;
        let uids = client::fetched_uids(&flags.untagged);
        if !uids.is_empty() {
            let recent = uid_set(&uids[uids.len().saturating_sub(ctx.fetch_recent)..]);
            let body = format!("UID FETCH {recent} (BODY.PEEK[])");
            timed(tally, "UID FETCH BODY[]", || c.command(&body)).await?;
            let env = format!("UID FETCH {recent} (ENVELOPE BODYSTRUCTURE)");
            timed(tally, "UID FETCH ENVELOPE", || c.command(&env)).await?;
            let victim = uids[rng.below(uids.len())];
            let seen = format!("UID STORE {victim} +FLAGS (\\Seen)");
            timed(tally, "STORE \\Seen", || c.command(&seen)).await?;
            let deleted = format!("UID STORE {victim} +FLAGS (\\Deleted)");
            timed(tally, "STORE \\Deleted", || c.command(&deleted)).await?;
            timed(tally, "EXPUNGE", || c.command("EXPUNGE")).await?;
        }
    }
    let msg = message::generate(rng, ctx.user, ctx.message_size);
    timed(tally, "APPEND", || c.append("INBOX", "", &msg)).await?;
    timed(tally, "LOGOUT", || c.command("LOGOUT")).await?;
    tally.sessions += 1;
    Ok(())
}

/// Summary of a measured mix run (printed as JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct MixSummary {
    pub mode: String,
    pub label: String,
    pub addr: String,
    pub clients: usize,
    pub users: usize,
    pub seed: u64,
    pub sessions: u64,
    pub ops: u64,
    pub failures: u64,
    pub wall_s: f64,
    pub server_cpu_s: f64,
    pub ops_per_server_cpu_s: f64,
    pub ops_per_s: f64,
    pub loadgen_cpu_s: f64,
    /// The drain after the run (see [`drain`]): its length, the server's CPU in it, and the
    /// run's operations per server CPU-second with that CPU included (the figure `--compare`
    /// uses; older JSON files without it fall back to `ops_per_server_cpu_s`).
    #[serde(default)]
    pub drain_s: f64,
    #[serde(default)]
    pub drain_server_cpu_s: f64,
    #[serde(default)]
    pub drain_timed_out: bool,
    #[serde(default)]
    pub ops_per_server_cpu_s_drained: Option<f64>,
    pub commands: BTreeMap<String, CommandStats>,
    pub failure_samples: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CommandStats {
    pub count: u64,
    pub failures: u64,
    pub p50_us: u32,
    pub p99_us: u32,
}

impl MixSummary {
    pub fn ok(&self) -> bool {
        self.failures == 0 && self.ops > 0
    }

    /// Operations per server CPU-second with the drain's CPU (the run's alone for a summary
    /// written before drains were measured).
    pub fn ops_per_cpu_s_with_drain(&self) -> f64 {
        self.ops_per_server_cpu_s_drained
            .unwrap_or(self.ops_per_server_cpu_s)
    }
}

/// The server is idle once it used less than this much CPU in each of [`IDLE_WINDOWS`]
/// consecutive windows of [`DRAIN_WINDOW`].
pub const IDLE_CPU_S: f64 = 0.02;
pub const IDLE_WINDOWS: usize = 2;
pub const DRAIN_WINDOW: Duration = Duration::from_secs(1);

/// Counts consecutive idle windows.
#[derive(Debug, Default)]
pub struct IdleWindows {
    quiet: usize,
}

impl IdleWindows {
    /// The server's CPU seconds in one more window; true once it has been idle long enough.
    pub fn push(&mut self, cpu_s: f64) -> bool {
        if cpu_s < IDLE_CPU_S {
            self.quiet += 1;
        } else {
            self.quiet = 0;
        }
        self.quiet >= IDLE_WINDOWS
    }
}

/// What the drain measured.
#[derive(Debug, Default)]
pub struct Drained {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub timed_out: bool,
}

/// After the run: work the server deferred (a search index that lets new mail settle, merges,
/// a process reaped late) is the run's too. Waits `settle` (plus a second), then reads the
/// server's CPU every [`DRAIN_WINDOW`] until [`IDLE_WINDOWS`] windows in a row used under
/// [`IDLE_CPU_S`], or until `settle + max` has passed; the server CPU used since `cpu_at_end`.
pub async fn drain(
    target: &Target,
    ticks: u64,
    cpu_at_end: f64,
    settle: Duration,
    max: Duration,
) -> Result<Drained> {
    let start = Instant::now();
    if !settle.is_zero() {
        sleep(settle + Duration::from_secs(1)).await;
    }
    let mut idle = IdleWindows::default();
    let mut last = proc::cpu_seconds(target, ticks)?;
    let mut timed_out = false;
    loop {
        if start.elapsed() >= settle + max {
            timed_out = true;
            break;
        }
        sleep(DRAIN_WINDOW).await;
        let now = proc::cpu_seconds(target, ticks)?;
        let quiet = idle.push(now - last);
        last = now;
        if quiet {
            break;
        }
    }
    Ok(Drained {
        wall_s: start.elapsed().as_secs_f64(),
        cpu_s: (last - cpu_at_end).max(0.0),
        timed_out,
    })
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The measured session mix.
pub async fn run(args: &Args, addr: &str, target: &Target) -> Result<MixSummary> {
    let ticks = proc::clock_ticks();
    let users: Arc<Vec<String>> = Arc::new(args.users.clone());
    let cpu_before = proc::cpu_seconds(target, ticks)?;
    let own_before = proc::own_cpu_seconds(ticks);
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let users = Arc::clone(&users);
        let addr = addr.to_owned();
        let password = args.password.clone();
        let (fetch_recent, message_size, io_timeout) =
            (args.fetch_recent, args.message_size, args.io_timeout);
        let seed = args
            .seed
            .wrapping_mul(0x100_0000_01B3)
            .wrapping_add(i as u64);
        tasks.push(tokio::spawn(async move {
            let ctx = SessionCtx {
                addr: &addr,
                user: &users[i % users.len()],
                password: &password,
                fetch_recent,
                message_size,
                io_timeout,
            };
            let mut rng = Rng::new(seed);
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                if session(&ctx, &mut rng, &mut tally).await.is_err() {
                    // Do not spin against a server that refuses us.
                    sleep(Duration::from_millis(50)).await;
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.context("client task panicked")?);
    }
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_after = proc::cpu_seconds(target, ticks)?;
    let server_cpu_s = cpu_after - cpu_before;
    let loadgen_cpu_s = proc::own_cpu_seconds(ticks) - own_before;
    let drained = drain(target, ticks, cpu_after, args.drain_settle, args.drain_max).await?;
    let drain_server_cpu_s = drained.cpu_s;

    let mut commands = BTreeMap::new();
    let mut ops = 0;
    let mut kinds: Vec<&str> = KINDS.to_vec();
    kinds.extend(tally.failures.keys().filter(|k| !KINDS.contains(k)));
    for kind in kinds {
        let mut lat = tally.latencies.remove(kind).unwrap_or_default();
        lat.sort_unstable();
        ops += lat.len() as u64;
        commands.insert(
            kind.to_owned(),
            CommandStats {
                count: lat.len() as u64,
                failures: tally.failures.get(kind).copied().unwrap_or(0),
                p50_us: percentile(&lat, 50.0),
                p99_us: percentile(&lat, 99.0),
            },
        );
    }
    let failures = tally.failures.values().sum();
    Ok(MixSummary {
        mode: "mix".into(),
        label: args.label.clone(),
        addr: addr.to_owned(),
        clients: args.clients,
        users: args.users.len(),
        seed: args.seed,
        sessions: tally.sessions,
        ops,
        failures,
        wall_s,
        server_cpu_s,
        ops_per_server_cpu_s: if server_cpu_s > 0.0 {
            ops as f64 / server_cpu_s
        } else {
            0.0
        },
        ops_per_s: ops as f64 / wall_s,
        loadgen_cpu_s,
        drain_s: drained.wall_s,
        drain_server_cpu_s,
        drain_timed_out: drained.timed_out,
        ops_per_server_cpu_s_drained: (server_cpu_s + drain_server_cpu_s > 0.0)
            .then(|| ops as f64 / (server_cpu_s + drain_server_cpu_s)),
        commands,
        failure_samples: tally.samples,
    })
}

/// Fills every user's INBOX up to `n` messages (idempotent: counts what is there first).
pub async fn prepare(args: &Args, addr: &str, n: u32) -> Result<()> {
    let limit = Arc::new(Semaphore::new(args.clients.max(1)));
    let mut tasks = Vec::new();
    for (i, user) in args.users.iter().enumerate() {
        let (addr, user, password) = (addr.to_owned(), user.clone(), args.password.clone());
        let (size, io_timeout, limit) = (args.message_size, args.io_timeout, Arc::clone(&limit));
        let seed = args.seed ^ 0x5EED_0000_0000 ^ i as u64;
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let mut c = Client::connect(&addr, io_timeout).await?;
            ensure_ok(&format!("LOGIN {user}"), &c.login(&user, &password).await?)?;
            let select = c.command("SELECT INBOX").await?;
            ensure_ok("SELECT INBOX", &select)?;
            let have = client::exists(&select.untagged).unwrap_or(0);
            let mut rng = Rng::new(seed);
            for _ in have..n {
                let msg = message::generate(&mut rng, &user, size);
                ensure_ok("APPEND", &c.append("INBOX", "", &msg).await?)?;
            }
            ensure_ok("LOGOUT", &c.command("LOGOUT").await?)?;
            anyhow::Ok((user, have))
        }));
    }
    for t in tasks {
        let (user, have) = t.await.context("prepare task panicked")??;
        println!("prepared {user}: had {have}, now {}", have.max(n));
    }
    Ok(())
}

/// Summary of an idle-memory run (printed as JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct IdleSummary {
    pub mode: String,
    pub label: String,
    pub addr: String,
    pub connections: usize,
    pub established: usize,
    pub before: Memory,
    pub after: Memory,
    pub pss_bytes_per_connection: f64,
    pub rss_bytes_per_connection: f64,
    pub failure_samples: Vec<String>,
}

impl IdleSummary {
    /// Every connection held, and memory grew: a server that absorbs new connections into
    /// memory it already holds (allocator reuse after earlier load) shows ~0 or less, which
    /// measures nothing; run the idle mode against a freshly started server.
    pub fn ok(&self) -> bool {
        self.established == self.connections
            && self.connections > 0
            && self.pss_bytes_per_connection > 0.0
    }
}

/// Opens `n` logged-in connections with INBOX selected, lets them sit, and reports the growth
/// of the server's memory per connection.
pub async fn idle(args: &Args, addr: &str, target: &Target, n: usize) -> Result<IdleSummary> {
    // Warm the server up (first login, first SELECT) so lazy one-time allocations are in the
    // baseline rather than charged to the idle connections.
    for user in &args.users {
        let mut c = Client::connect(addr, args.io_timeout).await?;
        ensure_ok("LOGIN", &c.login(user, &args.password).await?)?;
        ensure_ok("SELECT", &c.command("SELECT INBOX").await?)?;
        ensure_ok("LOGOUT", &c.command("LOGOUT").await?)?;
    }
    sleep(args.idle_settle).await;
    let before = proc::memory(target)?;

    let limit = Arc::new(Semaphore::new(args.clients.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let addr = addr.to_owned();
        let user = args.users[i % args.users.len()].clone();
        let (password, io_timeout) = (args.password.clone(), args.io_timeout);
        let limit = Arc::clone(&limit);
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let mut c = Client::connect(&addr, io_timeout).await?;
            ensure_ok("LOGIN", &c.login(&user, &password).await?)?;
            ensure_ok("SELECT", &c.command("SELECT INBOX").await?)?;
            anyhow::Ok(c)
        }));
    }
    let mut conns = Vec::with_capacity(n);
    let mut samples = Vec::new();
    for t in tasks {
        match t.await.context("idle task panicked")? {
            Ok(c) => conns.push(c),
            Err(e) if samples.len() < 5 => samples.push(format!("{e:#}")),
            Err(_) => {}
        }
    }
    sleep(args.idle_settle).await;
    let after = proc::memory(target)?;
    let established = conns.len();

    // Check the connections are still alive, then close them politely.
    let mut alive = 0;
    for mut c in conns {
        if let Ok(r) = c.command("NOOP").await
            && r.is_ok()
        {
            alive += 1;
            let _ = c.command("LOGOUT").await;
        }
    }
    if alive < established {
        samples.push(format!(
            "{} of {established} idle connections died",
            established - alive
        ));
    }
    let per = |a: u64, b: u64| {
        // Divide by what was open when `after` was taken.
        (a as f64 - b as f64) / established as f64
    };
    if established == 0 {
        bail!("no idle connection could be established: {samples:?}");
    }
    if after.pss <= before.pss {
        samples.push(
            "server memory did not grow (allocator reuse?): restart the server before --idle"
                .into(),
        );
    }
    Ok(IdleSummary {
        mode: "idle".into(),
        label: args.label.clone(),
        addr: addr.to_owned(),
        connections: n,
        established: alive,
        pss_bytes_per_connection: per(after.pss, before.pss),
        rss_bytes_per_connection: per(after.rss, before.rss),
        before,
        after,
        failure_samples: samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_counts_the_drain_and_old_summaries_still_load() {
        let old = r#"{"mode":"mix","label":"p","addr":"a","clients":1,"users":1,"seed":1,
            "sessions":1,"ops":100,"failures":0,"wall_s":1.0,"server_cpu_s":0.5,
            "ops_per_server_cpu_s":200.0,"ops_per_s":100.0,"loadgen_cpu_s":0.1,
            "commands":{},"failure_samples":[]}"#;
        let mut m: MixSummary = serde_json::from_str(old).unwrap();
        assert_eq!(m.ops_per_cpu_s_with_drain(), 200.0);
        m.drain_server_cpu_s = 0.5;
        m.ops_per_server_cpu_s_drained = Some(100.0);
        let again: MixSummary = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(again.ops_per_cpu_s_with_drain(), 100.0);
    }

    #[test]
    fn idle_needs_two_quiet_windows_in_a_row() {
        let mut w = IdleWindows::default();
        assert!(!w.push(0.5));
        assert!(!w.push(0.01));
        assert!(!w.push(0.03), "a busy window starts the count again");
        assert!(!w.push(0.0));
        assert!(w.push(0.019));
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[5], 99.0), 5);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
