#!/usr/bin/env python3
"""SMTP through the real binary with Python's smtplib (a client nobody here wrote).

Usage: smtplib_scenario.py HOST SMTP_PORT SUBMISSION_PORT IMAP_PORT POP3_PORT USER PASSWORD OTHER

Inbound MTA: EHLO extensions, delivery to a local user, unknown recipient and relay refused,
a dot-stuffed and 8-bit message, BDAT-free pipelining as smtplib does it. Submission: AUTH
refused before STARTTLS is not required on loopback (policy tls-or-loopback), then STARTTLS
(unverified self-signed certificate) + AUTH PLAIN/LOGIN, sender mismatch refused, remote
recipient refused with 451. Every accepted message is read back over IMAP and POP3 and must
end with exactly the bytes sent (the server only prepends trace headers).
Prints "smtplib scenario: ok".
"""
import imaplib
import poplib
import smtplib
import ssl
import sys

host = sys.argv[1]
smtp_port, sub_port, imap_port, pop_port = (int(x) for x in sys.argv[2:6])
user, password, other = sys.argv[6], sys.argv[7], sys.argv[8]


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


SENT = []  # (recipient, bytes) in order

# --- inbound MTA ---
m1 = (b"From: Sender <sender@example.net>\r\nTo: " + user.encode() + b"\r\n"
      b"Subject: smtplib inbound\r\nMessage-ID: <m1@example.net>\r\n"
      b"Date: Mon, 15 Jan 2024 10:30:00 +0000\r\n\r\n"
      b"Hello from smtplib.\r\n.leading dot\r\n..two dots\r\n")
m2 = ("From: sender@example.net\r\nTo: " + user + "\r\nSubject: =?utf-8?b?0J/RgNC40LLQtdGC?=\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
      "Message-ID: <m2@example.net>\r\nDate: Mon, 15 Jan 2024 10:31:00 +0000\r\n\r\n"
      "Привет, мир! 8-bit body.\r\n").encode()

with smtplib.SMTP(host, smtp_port, local_hostname="client.example.net", timeout=20) as s:
    code, _ = s.ehlo()
    check(code == 250, "EHLO")
    for ext in ("pipelining", "8bitmime", "smtputf8", "size", "chunking", "enhancedstatuscodes", "dsn", "starttls"):
        check(s.has_extn(ext), "extension " + ext)
    check(not s.has_extn("auth"), "no AUTH on the MTA")
    refused = s.sendmail("sender@example.net", [user], m1)
    check(refused == {}, "m1 accepted")
    s.sendmail("sender@example.net", [user], m2, mail_options=["BODY=8BITMIME"])
    SENT += [(user, m1), (user, m2)]
    try:
        s.sendmail("sender@example.net", ["nobody@example.org"], m1)
        check(False, "unknown recipient must be refused")
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients["nobody@example.org"]
        check(code == 550 and msg.startswith(b"5.1.1"), "unknown recipient: %r" % (e.recipients,))
    try:
        s.sendmail("sender@example.net", ["victim@elsewhere.example"], m1)
        check(False, "relay must be refused")
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients["victim@elsewhere.example"]
        check(code == 554 and msg.startswith(b"5.7.1"), "relay: %r" % (e.recipients,))
    code, msg = s.verify(user)
    check(code == 252, "VRFY 252: %r" % msg)
    code, _ = s.noop()
    check(code == 250, "NOOP")

# --- submission ---
m3 = (b"From: " + user.encode() + b"\r\nTo: " + other.encode() + b"\r\nSubject: submitted\r\n\r\n"
      b"Sent through submission.\r\n")
with smtplib.SMTP(host, sub_port, local_hostname="laptop", timeout=20) as s:
    s.ehlo()
    try:
        s.sendmail(user, [other], m3)
        check(False, "submission without AUTH must be refused")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 530, "530 without AUTH: %r" % (e,))
    s.starttls(context=tls_context())
    s.ehlo()
    check(s.has_extn("auth"), "AUTH after STARTTLS")
    s.login(user, password)
    try:
        s.sendmail(other, [other], m3)
        check(False, "foreign sender must be refused")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 553, "553 for a foreign sender: %r" % (e,))
    # A remote recipient goes to the outbound queue: accepted once it is durably queued.
    refused = s.sendmail(user, ["friend@elsewhere.example"], m3)
    check(refused == {}, "remote recipient queued: %r" % (refused,))
    s.sendmail(user, [other], m3)
    SENT.append((other, m3))

with smtplib.SMTP(host, sub_port, timeout=20) as s:
    # Plaintext AUTH LOGIN on loopback is allowed by the tls-or-loopback policy.
    s.ehlo()
    s.esmtp_features["auth"] = "LOGIN"
    s.login(user, password)
    s.sendmail(user, [other], m3)
    SENT.append((other, m3))


# --- read back over IMAP and POP3 ---
def imap_messages(who):
    m = imaplib.IMAP4(host, imap_port)
    m.login(who, password)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, d = m.uid("FETCH", uid, "(BODY.PEEK[])")
        out.append(d[0][1])
    m.logout()
    return out


def pop_messages(who):
    p = poplib.POP3(host, pop_port)
    p.user(who)
    p.pass_(password)
    count, _ = p.stat()
    out = []
    for i in range(1, count + 1):
        _, lines, _ = p.retr(i)
        out.append(b"\r\n".join(lines) + b"\r\n")
    p.quit()
    return out


for who in (user, other):
    expected = [m for (r, m) in SENT if r == who]
    for proto, got in (("IMAP", imap_messages(who)), ("POP3", pop_messages(who))):
        check(len(got) == len(expected), "%s %s: %d messages, want %d" % (proto, who, len(got), len(expected)))
        for g, e in zip(got, expected):
            check(g.endswith(e), "%s %s: message not byte-identical:\n%r\n---\n%r" % (proto, who, g, e))
            check(g.startswith(b"Return-Path: <"), "%s: Return-Path first" % proto)
            check(b"\r\nReceived: from " in g, "%s: Received header" % proto)

print("smtplib scenario: ok")
