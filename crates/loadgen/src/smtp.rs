//! SMTP mode: N senders each keep one connection and deliver messages back to back, counting
//! those the server acknowledged with 250 after DATA.
//!
//! Implementation notes:
//! - Each sender connects once, sends `EHLO` once, then loops `MAIL FROM`, `RCPT TO`, `DATA`,
//!   message, `.`. When the server offers PIPELINING (RFC 2920) the three commands go in one
//!   write and their replies are read after (`DATA` is last in the group, as §3.1 requires);
//!   otherwise each waits for its reply.
//! - A message counts once the final reply after `.` is 250 (for a server that acknowledges
//!   only once the message is durable, that is what "delivered" means). Any reply other than
//!   2xx/354 where expected is a failure; after one the sender sends `RSET` and carries on; an
//!   I/O error or timeout reconnects.
//! - Latency is per message: from writing `MAIL FROM` to reading the reply to the final dot.
//! - Message bytes are dot-stuffed (RFC 5321 §4.5.2) and made once per sender from the seed,
//!   with a distinct first header line each time so a content-addressed store cannot
//!   deduplicate.
//! - The protocol is `pochta-smtp-client`'s (the driver the outbound queue uses) over
//!   `pochta-smtp-proto`'s client half: replies, command encoding, dot-stuffing.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pochta_smtp_client::Client;
use pochta_smtp_proto::{Command, MailParams, Path, RcptParams, data_bytes};
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use crate::Args;
use crate::message::{self, Rng};
use crate::mix::CommandStats;
use crate::proc::{self, Target};

/// One SMTP connection.
struct SmtpClient {
    client: Client,
    io_timeout: Duration,
    pipelining: bool,
}

impl SmtpClient {
    /// Connects, reads the 220 greeting, sends EHLO and notes whether PIPELINING is offered.
    async fn connect(addr: &str, io_timeout: Duration) -> Result<Self> {
        let mut client = Client::connect(addr, io_timeout, io_timeout).await?;
        let greeting = client.reply().await?;
        if greeting.code != 220 {
            bail!("unexpected greeting: {}", greeting.text());
        }
        let ehlo = client
            .command(&Command::Ehlo("loadgen.bench.test".into()))
            .await?;
        if ehlo.code != 250 {
            bail!("EHLO refused: {}", ehlo.text());
        }
        let pipelining = pochta_smtp_proto::Capabilities::parse(&ehlo).pipelining;
        Ok(SmtpClient {
            client,
            io_timeout,
            pipelining,
        })
    }

    /// One transaction. `Ok(Ok(()))`: acknowledged with 250; `Ok(Err(why))`: the server
    /// refused a step (the session is still usable after RSET); `Err`: I/O.
    async fn send(&mut self, from: &str, rcpt: &str, data: &[u8]) -> Result<Result<(), String>> {
        let mail = Command::Mail {
            from: Some(Path::from_address(from)),
            params: MailParams::default(),
        };
        let rcpt = Command::Rcpt {
            to: Path::from_address(rcpt),
            params: RcptParams::default(),
        };
        let t = self
            .client
            .transaction(&mail, std::slice::from_ref(&rcpt), self.pipelining)
            .await?;
        if t.mail.class() != 2 {
            return Ok(Err(format!("MAIL: {}", t.mail.text())));
        }
        match t.rcpts.first() {
            // A pipelined DATA after a refused RCPT gets 503/554; nothing more to send.
            Some(r) if r.class() != 2 => return Ok(Err(format!("RCPT: {}", r.text()))),
            Some(_) => {}
            None => return Ok(Err("RCPT: no reply".into())),
        }
        match t.data {
            Some(c) if c.code == 354 => {}
            Some(c) => return Ok(Err(format!("DATA: {}", c.text()))),
            None => return Ok(Err("DATA: not sent".into())),
        }
        let end = self.client.data(data, self.io_timeout).await?;
        if end.code != 250 {
            return Ok(Err(format!("end of data: {}", end.text())));
        }
        Ok(Ok(()))
    }

    async fn rset(&mut self) -> Result<()> {
        self.client.command(&Command::Rset).await?;
        Ok(())
    }
}

/// `template` with a first header line unique to sender `sender`, message `n`.
fn with_message_id(template: &[u8], sender: usize, n: u64) -> Vec<u8> {
    let id = format!("X-Loadgen-Seq: s{sender}-m{n}\r\n");
    let mut out = Vec::with_capacity(template.len() + id.len());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(template);
    out
}

/// Summary of an SMTP run (printed as JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct SmtpSummary {
    pub mode: String,
    pub label: String,
    pub addr: String,
    pub senders: usize,
    pub message_size: usize,
    pub pipelining: bool,
    /// Messages acknowledged with 250 after DATA.
    pub messages: u64,
    pub failures: u64,
    pub wall_s: f64,
    pub server_cpu_s: f64,
    pub msgs_per_s: f64,
    pub msgs_per_server_cpu_s: f64,
    pub loadgen_cpu_s: f64,
    /// Per acknowledged message, MAIL FROM to the reply after the final dot.
    pub latency: CommandStats,
    pub failure_samples: Vec<String>,
}

impl SmtpSummary {
    pub fn ok(&self) -> bool {
        self.failures == 0 && self.messages > 0
    }
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<u32>,
    failures: u64,
    samples: Vec<String>,
    pipelining: bool,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        if self.samples.len() < 5 {
            self.samples.push(why);
        }
    }
}

async fn sender(
    i: usize,
    addr: String,
    from: String,
    rcpt: String,
    template: Vec<u8>,
    io_timeout: Duration,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0u64;
    'connect: while Instant::now() < deadline {
        let mut c = match SmtpClient::connect(&addr, io_timeout).await {
            Ok(c) => c,
            Err(e) => {
                tally.fail(format!("connect: {e:#}"));
                // Do not spin against a server that refuses us.
                sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tally.pipelining = c.pipelining;
        while Instant::now() < deadline {
            n += 1;
            let data = data_bytes(&with_message_id(&template, i, n));
            let start = Instant::now();
            let result = c.send(&from, &rcpt, &data).await;
            let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
            match result {
                Ok(Ok(())) => tally.latencies.push(us),
                Ok(Err(why)) => {
                    tally.fail(why);
                    if c.rset().await.is_err() {
                        continue 'connect;
                    }
                }
                Err(e) => {
                    tally.fail(format!("{e:#}"));
                    continue 'connect;
                }
            }
        }
        // Polite end; the reply does not matter any more.
        c.client.quit().await;
    }
    tally
}

/// The measured SMTP run.
pub async fn run(args: &Args, addr: &str, target: &Target) -> Result<SmtpSummary> {
    let Some(rcpt) = args.rcpt.clone() else {
        bail!("--smtp needs --rcpt");
    };
    let ticks = proc::clock_ticks();
    let cpu_before = proc::cpu_seconds(target, ticks)?;
    let own_before = proc::own_cpu_seconds(ticks);
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let seed = args
            .seed
            .wrapping_mul(0x100_0000_01B3)
            .wrapping_add(i as u64);
        let template = message::generate(&mut Rng::new(seed), &rcpt, args.message_size);
        tasks.push(tokio::spawn(sender(
            i,
            addr.to_owned(),
            args.mail_from.clone(),
            rcpt.clone(),
            template,
            args.io_timeout,
            deadline,
        )));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut samples = Vec::new();
    let mut pipelining = false;
    for t in tasks {
        let mut t = t.await.context("sender task panicked")?;
        latencies.append(&mut t.latencies);
        failures += t.failures;
        pipelining |= t.pipelining;
        for s in t.samples {
            if samples.len() < 10 {
                samples.push(s);
            }
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    let server_cpu_s = proc::cpu_seconds(target, ticks)? - cpu_before;
    let loadgen_cpu_s = proc::own_cpu_seconds(ticks) - own_before;
    latencies.sort_unstable();
    let messages = latencies.len() as u64;
    Ok(SmtpSummary {
        mode: "smtp".into(),
        label: args.label.clone(),
        addr: addr.to_owned(),
        senders: args.clients,
        message_size: args.message_size,
        pipelining,
        messages,
        failures,
        wall_s,
        server_cpu_s,
        msgs_per_s: messages as f64 / wall_s,
        msgs_per_server_cpu_s: if server_cpu_s > 0.0 {
            messages as f64 / server_cpu_s
        } else {
            0.0
        },
        loadgen_cpu_s,
        latency: CommandStats {
            count: messages,
            failures,
            p50_us: crate::mix::percentile(&latencies, 50.0),
            p99_us: crate::mix::percentile(&latencies, 99.0),
        },
        failure_samples: samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pipelined_transaction_against_a_scripted_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220 hi\r\n").await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            let mut read_until = async |s: &mut TcpStream, end: &[u8], seen: &mut Vec<u8>| {
                while !seen.ends_with(end) {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    seen.extend_from_slice(&buf[..n]);
                }
            };
            read_until(&mut s, b"\r\n", &mut seen).await;
            s.write_all(b"250-x\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                .await
                .unwrap();
            read_until(&mut s, b"DATA\r\n", &mut seen).await;
            s.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
                .await
                .unwrap();
            read_until(&mut s, b"\r\n.\r\n", &mut seen).await;
            s.write_all(b"250 queued\r\n").await.unwrap();
            seen
        });
        let mut c = SmtpClient::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(c.pipelining);
        let r = c
            .send("a@x", "b@y", &data_bytes(b"S: x\r\n\r\n.hi\r\n"))
            .await;
        assert_eq!(r.unwrap(), Ok(()));
        let seen = server.await.unwrap();
        assert!(
            seen.ends_with(
                b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nS: x\r\n\r\n..hi\r\n.\r\n"
            )
        );
    }
}
