//! `pochta-loadgen`: drives an IMAP server with a fixed session mix and reports operations per
//! server CPU-second, latency per command, and server memory per idle connection; or, with
//! `--smtp`, drives an SMTP server with concurrent senders and reports acknowledged messages
//! per second and per server CPU-second.
//!
//! Implementation notes:
//! - The figures are meant to be compared as ratios against a reference server (Dovecot) measured
//!   in the same run on the same machine; absolute numbers depend on the machine.
//! - Every tagged command is one operation; every tagged reply must be OK. A run with any failure
//!   says so in its summary (`"ok": false`) and the comparison marks it.
//! - Server CPU is read from `/proc` before and after the measured window (see [`proc`]); the
//!   window opens before the first client connects and closes after the last session finished,
//!   so no session is cut in half.
//! - The same `--seed` gives the same message contents and per-client random choices against
//!   every server; the exact interleaving still depends on timing.

#![forbid(unsafe_code)]

mod client;
mod message;
mod mix;
mod proc;
mod report;
mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;

use crate::proc::Target;

/// IMAP and SMTP benchmark load generator (see bench/README.md).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Server address, host:port.
    #[arg(long)]
    pub addr: Option<String>,
    /// Comma-separated user names; client i logs in as user i mod len.
    #[arg(long, value_delimiter = ',')]
    pub users: Vec<String>,
    /// Password shared by all users.
    #[arg(long, default_value = "bench")]
    pub password: String,
    /// Concurrent clients, each looping whole sessions (SMTP: senders, each one connection).
    #[arg(long, visible_alias = "senders", default_value_t = 10)]
    pub clients: usize,
    /// Length of the measured window (e.g. 20s, 500ms, 1m); sessions running at its end finish.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// PID of the server's root process (its live descendants are included).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// cgroup v2 directory holding the server (alternative to --server-pid).
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// Seed for message contents and per-client choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fill each user's INBOX up to N messages, then exit.
    #[arg(long, value_name = "N")]
    pub prepare: Option<u32>,
    /// Idle-memory mode: hold N logged-in connections with INBOX selected, report memory each.
    #[arg(long, value_name = "N")]
    pub idle: Option<usize>,
    /// How long idle connections sit before memory is measured.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub idle_settle: Duration,
    /// Size of appended (SMTP: sent) messages, bytes.
    #[arg(long, visible_alias = "size", default_value_t = 10_240)]
    pub message_size: usize,
    /// How many of the most recent messages each session fetches whole.
    #[arg(long, default_value_t = 3)]
    pub fetch_recent: usize,
    /// Per-read/write timeout; a timeout counts as a failure.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub io_timeout: Duration,
    /// Name of the server in the summary (e.g. dovecot, pochta).
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// SMTP mode: each sender keeps a connection and loops MAIL/RCPT/DATA (see bench/README.md).
    #[arg(long)]
    pub smtp: bool,
    /// SMTP recipient of every message.
    #[arg(long)]
    pub rcpt: Option<String>,
    /// SMTP envelope sender.
    #[arg(long, default_value = "loadgen@bench.test")]
    pub mail_from: String,
    /// After the mix, the server's deferred work is measured too: wait this long (e.g. the
    /// server's search-index settle time), then until it is idle (see bench/README.md).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub drain_settle: Duration,
    /// Longest the drain waits for an idle server after `--drain-settle`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub drain_max: Duration,
    /// Compare two result directories (each with mix.json and idle.json): REFERENCE OTHER.
    #[arg(long, num_args = 2, value_names = ["REFERENCE", "OTHER"])]
    pub compare: Vec<PathBuf>,
}

impl Args {
    fn addr(&self) -> Result<&str> {
        match &self.addr {
            Some(a) => Ok(a),
            None => bail!("--addr is required"),
        }
    }

    fn target(&self) -> Result<Option<Target>> {
        match (self.server_pid, &self.cgroup) {
            (Some(_), Some(_)) => bail!("give --server-pid or --cgroup, not both"),
            (Some(pid), None) => Ok(Some(Target::Pid(pid))),
            (None, Some(dir)) => Ok(Some(Target::Cgroup(dir.clone()))),
            (None, None) => Ok(None),
        }
    }
}

/// `20s`, `500ms`, `1m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.compare.is_empty() {
        return report::compare(&args.compare[0], &args.compare[1]);
    }
    let addr = args.addr()?.to_owned();
    if args.smtp {
        let Some(target) = args.target()? else {
            bail!("give --server-pid or --cgroup so server resources can be measured");
        };
        let summary = smtp::run(&args, &addr, &target).await?;
        return report::emit(&args, "SMTP", &summary, summary.ok());
    }
    if args.users.is_empty() {
        bail!("--users is required");
    }
    let target = args.target()?;
    if args.prepare.is_some() && args.idle.is_some() {
        bail!("--prepare and --idle are separate runs");
    }
    if let Some(n) = args.prepare {
        return mix::prepare(&args, &addr, n).await;
    }
    let Some(target) = target else {
        bail!("give --server-pid or --cgroup so server resources can be measured");
    };
    if let Some(n) = args.idle {
        let summary = mix::idle(&args, &addr, &target, n).await?;
        return report::emit(&args, "IDLE", &summary, summary.ok());
    }
    let summary = mix::run(&args, &addr, &target).await?;
    report::emit(&args, "RESULT", &summary, summary.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
