//! A scriptable SMTP sink on 127.0.0.1 for delivery tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub from: String,
    pub mail_params: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
}

type RcptFn = dyn Fn(&str) -> String + Send + Sync;
type DataFn = dyn Fn(usize) -> String + Send + Sync;

/// How the sink answers.
#[derive(Clone)]
pub struct Script {
    pub pipelining: bool,
    pub extensions: Vec<String>,
    /// The reply to `RCPT TO:<addr>`.
    pub rcpt: Arc<RcptFn>,
    /// The reply after the data of the n-th (0-based) data transfer.
    pub data: Arc<DataFn>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            pipelining: true,
            extensions: vec!["8BITMIME".into(), "SIZE 10000000".into()],
            rcpt: Arc::new(|_| "250 2.1.5 ok".into()),
            data: Arc::new(|_| "250 2.0.0 queued".into()),
            tls: None,
        }
    }
}

pub struct Sink {
    pub addr: SocketAddr,
    pub txns: Arc<Mutex<Vec<Txn>>>,
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    pub async fn start(script: Script) -> Sink {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    pub async fn start_on(addr: SocketAddr, script: Script) -> Sink {
        let listener = TcpListener::bind(addr).await.expect("bind sink");
        let addr = listener.local_addr().expect("addr");
        let txns = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let datas = Arc::new(AtomicUsize::new(0));
        let (t, c) = (txns.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (script, txns, datas) = (script.clone(), t.clone(), datas.clone());
                tokio::spawn(async move {
                    let mut tcp = BufReader::new(tcp);
                    let _ = tcp.get_mut().write_all(b"220 sink.test ESMTP\r\n").await;
                    if session(&mut tcp, &script, &txns, &datas, false).await
                        && let Some(acc) = &script.tls
                    {
                        let Ok(tls) = acc.accept(tcp.into_inner()).await else {
                            return;
                        };
                        let mut tls = BufReader::new(tls);
                        session(&mut tls, &script, &txns, &datas, true).await;
                    }
                });
            }
        });
        Sink {
            addr,
            txns,
            connections,
            task,
        }
    }

    pub fn txns(&self) -> Vec<Txn> {
        self.txns.lock().clone()
    }
}

/// Runs a session; returns true when the client asked for STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    script: &Script,
    txns: &Mutex<Vec<Txn>>,
    datas: &AtomicUsize,
    tls: bool,
) -> bool {
    let mut cur: Option<Txn> = None;
    loop {
        let mut line = String::new();
        match s.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut ext = script.extensions.clone();
            if script.pipelining {
                ext.push("PIPELINING".into());
            }
            if script.tls.is_some() && !tls {
                ext.push("STARTTLS".into());
            }
            let mut r = String::from("250-sink.test\r\n");
            for (i, e) in ext.iter().enumerate() {
                let sep = if i + 1 == ext.len() { ' ' } else { '-' };
                r.push_str(&format!("250{sep}{e}\r\n"));
            }
            if ext.is_empty() {
                r = "250 sink.test\r\n".into();
            }
            r
        } else if upper == "STARTTLS" {
            let _ = s.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await;
            return true;
        } else if upper.starts_with("MAIL FROM:") {
            let rest = &cmd[10..];
            let (path, params) = rest.split_once('>').unwrap_or((rest, ""));
            cur = Some(Txn {
                from: path.trim_start_matches('<').to_string(),
                mail_params: params.trim().to_string(),
                rcpts: vec![],
                data: vec![],
                tls,
            });
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let addr = cmd[8..]
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string();
            let r = (script.rcpt)(&addr);
            if r.starts_with('2')
                && let Some(t) = cur.as_mut()
            {
                t.rcpts.push(addr);
            }
            format!("{r}\r\n")
        } else if upper == "DATA" {
            if cur.as_ref().is_none_or(|t| t.rcpts.is_empty()) {
                "554 5.5.1 no valid recipients\r\n".into()
            } else {
                let _ = s.get_mut().write_all(b"354 go\r\n").await;
                let mut data = Vec::new();
                loop {
                    let mut l = Vec::new();
                    match s.read_until(b'\n', &mut l).await {
                        Ok(0) | Err(_) => return false,
                        Ok(_) => {}
                    }
                    if l == b".\r\n" {
                        break;
                    }
                    if l.starts_with(b"..") {
                        l.remove(0);
                    }
                    data.extend_from_slice(&l);
                }
                let n = datas.fetch_add(1, Ordering::SeqCst);
                let r = (script.data)(n);
                if r.starts_with('2')
                    && let Some(mut t) = cur.take()
                {
                    t.data = data;
                    txns.lock().push(t);
                }
                cur = None;
                format!("{r}\r\n")
            }
        } else if upper == "RSET" {
            cur = None;
            "250 ok\r\n".into()
        } else if upper == "QUIT" {
            let _ = s.get_mut().write_all(b"221 bye\r\n").await;
            return false;
        } else {
            "500 5.5.2 what?\r\n".into()
        };
        if s.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return false;
        }
    }
}
