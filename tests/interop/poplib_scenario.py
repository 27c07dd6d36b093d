#!/usr/bin/env python3
"""POP3 through the real binary with Python's poplib (a client nobody here wrote).

Usage: poplib_scenario.py HOST IMAP_PORT POP3_PORT USER PASSWORD

Fills INBOX over IMAP (imaplib APPEND), then downloads it over POP3: CAPA, STLS (unverified
self-signed certificate), USER/PASS, STAT, LIST, UIDL, RETR (dot-stuffed lines come back
intact, sizes match), TOP; a "keep" session (nothing deleted, same UIDLs next time) and a
delete session (DELE + QUIT removes exactly the marked message). Prints "poplib scenario: ok".
"""
import imaplib
import poplib
import ssl
import sys

host, imap_port, pop_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

MESSAGES = [
    b"From: a@example.org\r\nSubject: first\r\n\r\nhello\r\n",
    b"From: b@example.org\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
    b"From: c@example.org\r\nSubject: third\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(20)),
]


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


imap = imaplib.IMAP4(host, imap_port)
imap.login(user, password)
for m in MESSAGES:
    typ, _ = imap.append("INBOX", None, None, m)
    check(typ == "OK", "IMAP APPEND")
imap.logout()


def session(stls=False):
    p = poplib.POP3(host, pop_port, timeout=20)
    if stls:
        p.stls(context=ssl._create_unverified_context())
    p.user(user)
    p.pass_(password)
    return p


# Capabilities as poplib parses them.
p = poplib.POP3(host, pop_port, timeout=20)
caps = p.capa()
for c in ["TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING", "STLS", "IMPLEMENTATION"]:
    check(c in caps, "CAPA lists " + c + ": " + repr(caps))
check("PLAIN" in caps["SASL"], "SASL PLAIN offered on loopback")
p.quit()

# Session 1 over STLS: download everything, keep it on the server.
p = session(stls=True)
count, total = p.stat()
check(count == 3, "STAT count %d" % count)
check(total == sum(len(m) for m in MESSAGES), "STAT size %d" % total)
_, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
check(sizes == [len(m) for m in MESSAGES], "LIST sizes %r" % sizes)
_, uidl1, _ = p.uidl()
uidl1 = [l.split()[1] for l in uidl1]
check(len(set(uidl1)) == 3, "UIDL unique")
for i, m in enumerate(MESSAGES, 1):
    resp, lines, octets = p.retr(i)
    body = b"\r\n".join(lines) + b"\r\n"
    check(body == m, "RETR %d body %r" % (i, body))
    check(resp.startswith(b"+OK %d octets" % len(m)), "RETR %d status %r" % (i, resp))
_, top, _ = p.top(3, 2)
check(top[-2:] == [b"line 0", b"line 1"] and len(top) == 5, "TOP 3 2: %r" % top)
p.quit()

# Session 2: "keep" — nothing was deleted, the ids are the same.
p = session()
check(p.stat()[0] == 3, "keep: still 3 messages")
_, uidl2, _ = p.uidl()
check([l.split()[1] for l in uidl2] == uidl1, "UIDL stable across sessions")
# Delete message 2 and quit.
p.dele(2)
check(p.stat()[0] == 2, "STAT after DELE")
p.quit()

# Session 3: only the marked message is gone; the others keep their ids.
p = session()
_, uidl3, _ = p.uidl()
check([l.split()[1] for l in uidl3] == [uidl1[0], uidl1[2]], "after delete: %r" % uidl3)
try:
    p.retr(3)
    check(False, "RETR 3 should fail")
except poplib.error_proto as e:
    check(str(e).startswith("b'-ERR"), "RETR 3 error %s" % e)
p.quit()

# The deletion is visible over IMAP too.
imap = imaplib.IMAP4(host, imap_port)
imap.login(user, password)
typ, data = imap.select("INBOX")
check(data[0] == b"2", "IMAP sees 2 messages, got %r" % data)
imap.logout()

print("poplib scenario: ok")
