//! Outbound administration: `pochta queue list|retry|delete`, `pochta dkim generate`,
//! `pochta dns`.
//!
//! Implementation notes:
//! - The queue commands open the embedded spool, `data_dir/queue.sqlite3`, directly (WAL lets
//!   them run next to a running server); they never claim work. `retry` only makes recipients due now; a running server notices within
//!   its poll interval (10 s).
//! - `dkim generate` writes the key under `data_dir/dkim/` and prints the TXT record; the
//!   server signs with it from the next message on, without a restart.

use std::io::Write;

use anyhow::{Result, bail};
use pochta_queue::dkim::{self, Algorithm};
use pochta_queue::{Spool, State, unix_now};

use crate::config::{Config, Protocol};

fn spool(config: &Config) -> Result<Spool> {
    Ok(Spool::new(crate::backend::queue_store(config)?))
}

fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `pochta queue list`: every queued message with its recipients' states.
pub fn queue_list(config: &Config, out: &mut impl Write) -> Result<()> {
    let list = spool(config)?.list()?;
    if list.is_empty() {
        writeln!(out, "queue is empty")?;
        return Ok(());
    }
    let now = unix_now();
    for m in &list {
        writeln!(
            out,
            "{}  {} bytes  queued {} ago  from <{}>",
            m.id,
            m.size,
            ago(now - m.created),
            m.sender.as_deref().unwrap_or("")
        )?;
        for r in &m.recipients {
            let when = match r.state {
                State::Pending | State::Deferred if r.next_attempt <= now => "next: now".into(),
                State::Pending | State::Deferred => {
                    format!("next: in {}", ago(r.next_attempt - now))
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "    <{}>  {}  attempts {}  {}{}",
                r.recipient.address,
                r.state.as_str(),
                r.attempts,
                when,
                r.last_reply
                    .as_deref()
                    .map(|l| format!("  last: {l}"))
                    .unwrap_or_default()
            )?;
        }
    }
    writeln!(out, "{} message(s)", list.len())?;
    Ok(())
}

/// `pochta queue retry [ID…]`: makes unfinished recipients due now (all without ids).
pub fn queue_retry(config: &Config, ids: &[String], out: &mut impl Write) -> Result<()> {
    let spool = spool(config)?;
    let now = unix_now();
    let n = if ids.is_empty() {
        spool.retry(None, now)?
    } else {
        let mut n = 0;
        for id in ids {
            n += spool.retry(Some(id), now)?;
        }
        n
    };
    writeln!(out, "{n} recipient(s) will be retried now")?;
    Ok(())
}

/// `pochta queue delete ID…`: removes messages without delivering or bouncing them.
pub fn queue_delete(config: &Config, ids: &[String], out: &mut impl Write) -> Result<()> {
    let spool = spool(config)?;
    for id in ids {
        spool.delete(id)?;
        writeln!(out, "deleted {id}")?;
    }
    Ok(())
}

/// `pochta dkim generate DOMAIN`: creates a key and prints the record to publish.
pub fn dkim_generate(
    config: &Config,
    domain: &str,
    selector: &str,
    algorithm: &str,
    out: &mut impl Write,
) -> Result<()> {
    let Some(alg) = Algorithm::parse(algorithm) else {
        bail!("{algorithm:?} is not a DKIM algorithm (rsa or ed25519)");
    };
    if pochta_types::Domain::new(domain).is_err() {
        bail!("{domain:?} is not a valid domain");
    }
    crate::admin::create_private_dir(&config.data_dir)?;
    let key = dkim::generate(&config.data_dir, domain, selector, alg)?;
    writeln!(out, "created {} key {}", alg.name(), key.path.display())?;
    writeln!(out, "publish this DNS record:")?;
    writeln!(
        out,
        "{}. IN TXT {}",
        key.record_name(),
        dkim::zone_quoted(&key.record_value())
    )?;
    Ok(())
}

/// `pochta dns DOMAIN`: the MX, SPF, DMARC and DKIM records to publish, then the SRV
/// records (RFC 6186, RFC 8314) and autoconfig/autodiscover names for mail programs.
pub fn dns(config: &Config, domain: &str, out: &mut impl Write) -> Result<()> {
    if pochta_types::Domain::new(domain).is_err() {
        bail!("{domain:?} is not a valid domain");
    }
    let keys = dkim::keys(&config.data_dir, domain)?;
    writeln!(
        out,
        "; DNS records for {domain} (mail host {})",
        config.hostname
    )?;
    for line in dkim::dns_records(&config.hostname, domain, &keys) {
        writeln!(out, "{line}")?;
    }
    if keys.is_empty() {
        writeln!(
            out,
            "; no DKIM key yet: run `pochta dkim generate {domain}` and run this again"
        )?;
    }
    let http =
        !config.addrs(Protocol::Http).is_empty() || !config.addrs(Protocol::Https).is_empty();
    let servers = crate::services::mail_servers(config);
    for line in pochta_http::autoconfig::dns_records(&servers, domain, http) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
