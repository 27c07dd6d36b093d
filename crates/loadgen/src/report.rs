//! Human-readable and machine-readable output, and the comparison table of two servers.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::Args;
use crate::mix::{CommandStats, IdleSummary, KINDS, MixSummary};
use crate::smtp::SmtpSummary;

/// Prints the human summary, then one line `PREFIX {json}`; writes the JSON to `--json-out`.
/// Exits non-zero (after printing) when the run had failures, so scripts notice.
pub fn emit<T: Serialize + Human>(args: &Args, prefix: &str, summary: &T, ok: bool) -> Result<()> {
    print!("{}", summary.human());
    let json = serde_json::to_string(summary)?;
    println!("{prefix} {json}");
    if let Some(path) = &args.json_out {
        fs::write(path, format!("{json}\n"))
            .with_context(|| format!("write {}", path.display()))?;
    }
    if !ok {
        anyhow::bail!("run had failures (see above); its figures are not valid");
    }
    Ok(())
}

pub trait Human {
    fn human(&self) -> String;
}

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

/// What follows a run's counts when it had failures.
fn failures_mark(ok: bool) -> &'static str {
    if ok { "" } else { "  ** RUN HAD FAILURES **" }
}

/// The line of wall time and CPU times.
fn cpu_line(s: &mut String, wall_s: f64, server_cpu_s: f64, loadgen_cpu_s: f64) {
    let _ = writeln!(
        s,
        "wall {wall_s:.2} s  server CPU {server_cpu_s:.2} s  loadgen CPU {loadgen_cpu_s:.2} s"
    );
}

/// One line per failure sample.
fn failure_lines(s: &mut String, samples: &[String]) {
    for f in samples {
        let _ = writeln!(s, "failure: {f}");
    }
}

impl Human for MixSummary {
    fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {} mix @ {}: {} clients, {} users, seed {} ==",
            self.label, self.addr, self.clients, self.users, self.seed
        );
        let _ = writeln!(
            s,
            "operations {}  sessions {}  failures {}{}",
            self.ops,
            self.sessions,
            self.failures,
            failures_mark(self.ok())
        );
        cpu_line(&mut s, self.wall_s, self.server_cpu_s, self.loadgen_cpu_s);
        let _ = writeln!(
            s,
            "ops per server CPU-second {:.1}  ops/s {:.1}",
            self.ops_per_server_cpu_s, self.ops_per_s
        );
        let _ = writeln!(
            s,
            "drain {:.2} s{}  server CPU in it {:.2} s  ops per server CPU-second with it {:.1}",
            self.drain_s,
            if self.drain_timed_out {
                " (NOT idle at its end)"
            } else {
                ""
            },
            self.drain_server_cpu_s,
            self.ops_per_cpu_s_with_drain()
        );
        let _ = writeln!(
            s,
            "{:<20} {:>8} {:>6} {:>9} {:>9}",
            "command", "count", "fail", "p50 ms", "p99 ms"
        );
        for (name, c) in &self.commands {
            let _ = writeln!(
                s,
                "{:<20} {:>8} {:>6} {:>9} {:>9}",
                name,
                c.count,
                c.failures,
                ms(c.p50_us),
                ms(c.p99_us)
            );
        }
        failure_lines(&mut s, &self.failure_samples);
        s
    }
}

impl Human for SmtpSummary {
    fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {} smtp @ {}: {} senders, {} byte messages, pipelining {} ==",
            self.label,
            self.addr,
            self.senders,
            self.message_size,
            if self.pipelining { "on" } else { "off" }
        );
        let _ = writeln!(
            s,
            "acknowledged {}  failures {}{}",
            self.messages,
            self.failures,
            failures_mark(self.ok())
        );
        cpu_line(&mut s, self.wall_s, self.server_cpu_s, self.loadgen_cpu_s);
        let _ = writeln!(
            s,
            "msgs/s {:.1}  msgs per server CPU-second {:.1}  latency p50 {} ms  p99 {} ms",
            self.msgs_per_s,
            self.msgs_per_server_cpu_s,
            ms(self.latency.p50_us),
            ms(self.latency.p99_us)
        );
        failure_lines(&mut s, &self.failure_samples);
        s
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

impl Human for IdleSummary {
    fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "== {} idle @ {}: {} of {} connections held ==",
            self.label, self.addr, self.established, self.connections
        );
        let _ = writeln!(
            s,
            "server PSS {} -> {} ({} -> {} processes)  RSS {} -> {}",
            kib(self.before.pss as f64),
            kib(self.after.pss as f64),
            self.before.processes,
            self.after.processes,
            kib(self.before.rss as f64),
            kib(self.after.rss as f64)
        );
        let _ = writeln!(
            s,
            "per idle connection: PSS {}  RSS {}",
            kib(self.pss_bytes_per_connection),
            kib(self.rss_bytes_per_connection)
        );
        failure_lines(&mut s, &self.failure_samples);
        s
    }
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Prints a side-by-side table of two result directories and the ratio OTHER / REFERENCE.
pub fn compare(reference: &Path, other: &Path) -> Result<()> {
    let name = |p: &Path| {
        p.file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
    };
    let (rn, on) = (name(reference), name(other));
    let rm: Option<MixSummary> = load(&reference.join("mix.json"));
    let om: Option<MixSummary> = load(&other.join("mix.json"));
    let ri: Option<IdleSummary> = load(&reference.join("idle.json"));
    let rs: Option<SmtpSummary> = load(&reference.join("smtp.json"));
    let os: Option<SmtpSummary> = load(&other.join("smtp.json"));
    if rm.is_none() && om.is_none() && (rs.is_some() || os.is_some()) {
        return compare_smtp(&rn, &on, rs.as_ref(), os.as_ref());
    }
    let oi: Option<IdleSummary> = load(&other.join("idle.json"));

    let na = "not measured".to_owned();
    let cell = |v: Option<String>| v.unwrap_or_else(|| na.clone());
    let flag = |ok: bool| if ok { "" } else { " (FAILURES)" };
    println!("{:<34} {:>18} {:>18} {:>10}", "", rn, on, "ratio");
    let row = |label: &str, r: Option<f64>, o: Option<f64>, fmt: &dyn Fn(f64) -> String| {
        let ratio = match (r, o) {
            (Some(r), Some(o)) if r > 0.0 => format!("{:.2}x", o / r),
            _ => "-".into(),
        };
        println!(
            "{:<34} {:>18} {:>18} {:>10}",
            label,
            cell(r.map(fmt)),
            cell(o.map(fmt)),
            ratio
        );
    };
    let f1 = |v: f64| format!("{v:.1}");
    let f2 = |v: f64| format!("{v:.2}");
    let mix = |label: &str, f: &dyn Fn(&MixSummary) -> f64, fmt: &dyn Fn(f64) -> String| {
        row(label, rm.as_ref().map(f), om.as_ref().map(f), fmt);
    };
    let idle = |label: &str, f: &dyn Fn(&IdleSummary) -> f64, fmt: &dyn Fn(f64) -> String| {
        row(label, ri.as_ref().map(f), oi.as_ref().map(f), fmt);
    };
    mix(
        "ops per server CPU-s (with drain)",
        &|m| m.ops_per_cpu_s_with_drain(),
        &f1,
    );
    mix(
        "ops per server CPU-s (run only)",
        &|m| m.ops_per_server_cpu_s,
        &f1,
    );
    mix("drain server CPU s", &|m| m.drain_server_cpu_s, &f2);
    mix("ops per second", &|m| m.ops_per_s, &f1);
    mix("operations", &|m| m.ops as f64, &|v| format!("{v:.0}"));
    mix("server CPU s", &|m| m.server_cpu_s, &f2);
    mix("wall s", &|m| m.wall_s, &f2);
    mix("failures", &|m| m.failures as f64, &|v| format!("{v:.0}"));
    let p50: fn(&CommandStats) -> u32 = |c| c.p50_us;
    let p99: fn(&CommandStats) -> u32 = |c| c.p99_us;
    for (name, us) in [("p50", p50), ("p99", p99)] {
        for kind in KINDS {
            let p = |m: &Option<MixSummary>| {
                m.as_ref()
                    .and_then(|m| m.commands.get(kind))
                    .map(|c| f64::from(us(c)) / 1000.0)
            };
            row(&format!("{name} ms {kind}"), p(&rm), p(&om), &f2);
        }
    }
    idle(
        "idle PSS KiB per connection",
        &|i| i.pss_bytes_per_connection / 1024.0,
        &f1,
    );
    idle(
        "idle RSS KiB per connection",
        &|i| i.rss_bytes_per_connection / 1024.0,
        &f1,
    );
    for (n, m) in [(&rn, &rm), (&on, &om)] {
        if let Some(m) = m
            && !m.ok()
        {
            println!("{n}: mix run{} — its figures are not valid", flag(false));
        }
    }
    for (n, i) in [(&rn, &ri), (&on, &oi)] {
        if let Some(i) = i
            && !i.ok()
        {
            println!("{n}: idle run{} — its figures are not valid", flag(false));
        }
    }
    if let (Some(r), Some(o)) = (&rm, &om)
        && r.ok()
        && o.ok()
        && r.ops_per_cpu_s_with_drain() > 0.0
    {
        let ratio = o.ops_per_cpu_s_with_drain() / r.ops_per_cpu_s_with_drain();
        println!(
            "target ops/server-CPU-s >= 4x {rn}: {} ({ratio:.2}x)",
            if ratio >= 4.0 { "met" } else { "NOT met" }
        );
    }
    if let Some(o) = &oi
        && o.ok()
    {
        println!(
            "target idle connection <= 64 KiB ({on}, PSS): {} ({:.1} KiB)",
            if o.pss_bytes_per_connection <= 64.0 * 1024.0 {
                "met"
            } else {
                "NOT met"
            },
            o.pss_bytes_per_connection / 1024.0
        );
    }
    Ok(())
}

/// The SMTP table: acknowledged messages per second and per server CPU-second, OTHER / REFERENCE.
fn compare_smtp(
    rn: &str,
    on: &str,
    r: Option<&SmtpSummary>,
    o: Option<&SmtpSummary>,
) -> Result<()> {
    println!("{:<34} {:>18} {:>18} {:>10}", "", rn, on, "ratio");
    let row = |label: &str, f: &dyn Fn(&SmtpSummary) -> f64, digits: usize| {
        let (a, b) = (r.map(f), o.map(f));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.2}x", b / a),
            _ => "-".into(),
        };
        let cell =
            |v: Option<f64>| v.map_or_else(|| "not measured".into(), |v| format!("{v:.digits$}"));
        println!(
            "{:<34} {:>18} {:>18} {:>10}",
            label,
            cell(a),
            cell(b),
            ratio
        );
    };
    row("msgs per second (wall)", &|s| s.msgs_per_s, 1);
    row(
        "msgs per server CPU-second",
        &|s| s.msgs_per_server_cpu_s,
        1,
    );
    row("messages acknowledged", &|s| s.messages as f64, 0);
    row("server CPU s", &|s| s.server_cpu_s, 2);
    row("wall s", &|s| s.wall_s, 2);
    row("loadgen CPU s", &|s| s.loadgen_cpu_s, 2);
    row("p50 ms", &|s| f64::from(s.latency.p50_us) / 1000.0, 2);
    row("p99 ms", &|s| f64::from(s.latency.p99_us) / 1000.0, 2);
    row("failures", &|s| s.failures as f64, 0);
    for (n, s) in [(rn, r), (on, o)] {
        if let Some(s) = s
            && !s.ok()
        {
            println!("{n}: smtp run (FAILURES) — its figures are not valid");
        }
    }
    // The target is against Postfix; against smtp-sink (the protocol-only ceiling) the ratio
    // is information, not a target.
    if let (Some(r), Some(o)) = (r, o)
        && r.ok()
        && o.ok()
        && r.msgs_per_s > 0.0
        && rn == "postfix"
    {
        let ratio = o.msgs_per_s / r.msgs_per_s;
        println!(
            "target msgs/s >= 1.5x {rn}: {} ({ratio:.2}x)",
            if ratio >= 1.5 { "met" } else { "NOT met" }
        );
    }
    Ok(())
}
