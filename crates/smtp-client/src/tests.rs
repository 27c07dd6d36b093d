//! The driver against scripted servers on 127.0.0.1.

use pochta_smtp_proto::{MailParams, Path, RcptParams};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpListener;

use super::*;

const T: Duration = Duration::from_secs(10);

/// Answers each line the client sends with the next scripted reply; returns what it read.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    script: &[&str],
) -> Vec<String> {
    let mut seen = Vec::new();
    for reply in script {
        let mut line = String::new();
        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
            break;
        }
        seen.push(line.trim_end().to_owned());
        s.get_mut().write_all(reply.as_bytes()).await.unwrap();
    }
    seen
}

fn mail(from: &str) -> Command {
    Command::Mail {
        from: Some(Path::from_address(from)),
        params: MailParams::default(),
    }
}

fn rcpt(to: &str) -> Command {
    Command::Rcpt {
        to: Path::from_address(to),
        params: RcptParams::default(),
    }
}

#[tokio::test]
async fn helo_fallback_and_no_rcpt_after_a_refused_mail() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = BufReader::new(tcp);
        s.get_mut().write_all(b"220 old.test\r\n").await.unwrap();
        serve(
            &mut s,
            &[
                "502 5.5.1 what is EHLO\r\n",
                "250 old.test\r\n",
                "550 5.7.1 not you\r\n",
                "250 2.1.0 ok\r\n",
                "550 5.1.1 no\r\n",
                "221 bye\r\n",
            ],
        )
        .await
    });
    let mut c = Client::connect(addr, T, T).await.unwrap();
    assert_eq!(c.reply().await.unwrap().code, 220);
    assert_eq!(c.hello("me.test").await.unwrap(), Capabilities::default());
    let t = c
        .transaction(&mail("a@x.test"), &[rcpt("b@y.test")], false)
        .await
        .unwrap();
    assert_eq!(t.mail.text(), "550 5.7.1 not you");
    assert!(t.rcpts.is_empty() && t.data.is_none());
    // A refused recipient: no DATA.
    let t = c
        .transaction(&mail("a@x.test"), &[rcpt("b@y.test")], false)
        .await
        .unwrap();
    assert_eq!(t.rcpts.len(), 1);
    assert_eq!(t.data, None);
    c.quit().await;
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        [
            "EHLO me.test",
            "HELO me.test",
            "MAIL FROM:<a@x.test>",
            "MAIL FROM:<a@x.test>",
            "RCPT TO:<b@y.test>",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn starttls_opportunistic_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = pochta_net::ensure_self_signed(dir.path(), "mx.test").unwrap();
    let acceptor = pochta_net::acceptor(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut s = BufReader::new(tcp);
            s.get_mut().write_all(b"220 mx.test\r\n").await.unwrap();
            seen.extend(
                serve(
                    &mut s,
                    &["250-mx.test\r\n250 STARTTLS\r\n", "220 2.0.0 go ahead\r\n"],
                )
                .await,
            );
            let Ok(tls) = acceptor.accept(s.into_inner()).await else {
                continue;
            };
            let mut s = BufReader::new(tls);
            seen.extend(serve(&mut s, &["250-mx.test\r\n250 PIPELINING\r\n"]).await);
        }
        seen
    });
    let open = async |verify: Verify| -> Result<Client> {
        let mut c = Client::connect(addr, T, T).await?;
        c.reply().await?;
        let caps = c.hello("me.test").await?;
        assert!(caps.starttls);
        assert_eq!(c.command(&Command::StartTls).await?.code, 220);
        c.start_tls(&connector(&verify)?, "mx.test").await?;
        Ok(c)
    };
    let mut c = open(Verify::Nothing).await.unwrap();
    assert!(c.is_tls());
    assert!(c.hello("me.test").await.unwrap().pipelining);
    drop(c);
    // The self-signed certificate is not trusted when verifying.
    let e = open(Verify::Roots(Vec::new())).await.err().unwrap();
    assert!(e.0.contains("TLS"), "{e}");
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        [
            "EHLO me.test",
            "STARTTLS",
            "EHLO me.test",
            "EHLO me.test",
            "STARTTLS"
        ]
    );
}
