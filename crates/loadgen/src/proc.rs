//! Server resource accounting from `/proc` (or a cgroup v2 directory).
//!
//! Implementation notes:
//! - CPU of a server = utime+stime+cutime+cstime of its root process plus the same four fields
//!   of every live descendant (found by walking `/proc/*/stat` by ppid). A child that exits and
//!   is reaped moves its time (and its reaped children's) into its parent's cutime/cstime
//!   (proc(5)), so Dovecot's short-lived `imap`/`imap-login` processes are counted once the
//!   master reaps them; a zombie not yet reaped still shows its own utime/stime. The figure is
//!   the difference between a snapshot before and one after the measured window.
//! - Memory = Σ Pss (falling back to Rss) from `/proc/PID/smaps_rollup` over the same process
//!   tree. Pss splits shared pages between the processes that map them, so forking servers are
//!   not charged N times for shared libraries.
//! - Ticks are converted with `getconf CLK_TCK` (no libc call, so no unsafe code).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// What to account the server's resources to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A process and all its live descendants.
    Pid(u32),
    /// Every process in a cgroup directory: v2 (`cpu.stat`, `memory.current`) or a v1
    /// `cpuacct` / `memory` controller directory (`cpuacct.usage`, `memory.usage_in_bytes`).
    Cgroup(PathBuf),
}

/// Clock ticks per second for `/proc/*/stat` time fields.
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy)]
struct Stat {
    ppid: u32,
    /// utime+stime+cutime+cstime, in ticks.
    ticks: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name (field 2) may contain spaces and parentheses; it ends at the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field n is fields[n - 3].
    let ppid = fields.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for n in 14..=17 {
        ticks += fields.get(n - 3)?.parse::<u64>().ok()?;
    }
    Some(Stat { ppid, ticks })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `root` and all its live descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = read_stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids.iter().copied());
        }
        i += 1;
    }
    tree
}

/// Total CPU seconds consumed so far by the target.
pub fn cpu_seconds(target: &Target, ticks_per_sec: u64) -> Result<f64> {
    match target {
        Target::Pid(root) => {
            let Some(root_stat) = read_stat(*root) else {
                bail!("server process {root} not found in /proc");
            };
            let mut ticks = root_stat.ticks;
            for pid in process_tree(*root).into_iter().skip(1) {
                ticks += read_stat(pid).map_or(0, |s| s.ticks);
            }
            Ok(ticks as f64 / ticks_per_sec as f64)
        }
        Target::Cgroup(dir) => {
            // cgroup v1 cpuacct: total nanoseconds.
            if let Ok(ns) = read_trimmed(&dir.join("cpuacct.usage")) {
                return Ok(ns.parse::<u64>().context("cpuacct.usage")? as f64 / 1e9);
            }
            let text = fs::read_to_string(dir.join("cpu.stat"))
                .with_context(|| format!("read {}/cpu.stat", dir.display()))?;
            let usec = text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .context("no usage_usec in cpu.stat")?;
            Ok(usec as f64 / 1e6)
        }
    }
}

/// Memory of the target, in bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    /// Σ Pss over the process tree (for a cgroup: `memory.current`).
    pub pss: u64,
    /// Σ Rss over the process tree (for a cgroup: `memory.current`).
    pub rss: u64,
    pub processes: u32,
}

pub fn memory(target: &Target) -> Result<Memory> {
    match target {
        Target::Pid(root) => {
            if read_stat(*root).is_none() {
                bail!("server process {root} not found in /proc");
            }
            let mut total = Memory::default();
            for pid in process_tree(*root) {
                if let Some((pss, rss)) = process_memory(pid) {
                    total.pss += pss;
                    total.rss += rss;
                    total.processes += 1;
                }
            }
            Ok(total)
        }
        Target::Cgroup(dir) => {
            let current: u64 = read_trimmed(&dir.join("memory.current"))
                .or_else(|_| read_trimmed(&dir.join("memory.usage_in_bytes")))?
                .parse()
                .context("memory.current")?;
            Ok(Memory {
                pss: current,
                rss: current,
                processes: 0,
            })
        }
    }
}

fn read_trimmed(path: &Path) -> Result<String> {
    Ok(fs::read_to_string(path)
        .with_context(|| format!("read {}", path.display()))?
        .trim()
        .to_owned())
}

/// (Pss, Rss) in bytes; Pss falls back to Rss where smaps_rollup is unavailable.
fn process_memory(pid: u32) -> Option<(u64, u64)> {
    let kb = |text: &str, key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|k| k * 1024)
    };
    if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        let rss = kb(&text, "Rss:")?;
        let pss = kb(&text, "Pss:").unwrap_or(rss);
        return Some((pss, rss));
    }
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = kb(&text, "VmRSS:")?;
    Some((rss, rss))
}

/// CPU seconds used so far by this load generator (to show whether it was the bottleneck).
pub fn own_cpu_seconds(ticks_per_sec: u64) -> f64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
        .map_or(0.0, |s| s.ticks as f64 / ticks_per_sec as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let line = "1234 (imap (x) y) S 77 1234 1234 0 -1 4194560 100 0 0 0 \
                    11 22 33 44 20 0 1 0 100 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.ppid, 77);
        assert_eq!(s.ticks, 11 + 22 + 33 + 44);
    }

    #[test]
    fn own_process_is_visible() {
        let me = std::process::id();
        assert!(cpu_seconds(&Target::Pid(me), clock_ticks()).is_ok());
        let m = memory(&Target::Pid(me)).unwrap();
        assert!(m.rss > 0 && m.pss > 0);
    }
}
