#!/usr/bin/env python3
"""BURL (RFC 4468) with Python's smtplib against Pochta's submission listener.

A draft is stored over IMAP (imaplib), authorized with GENURLAUTH for `submit+<user>`, and
submitted with `BURL <url> LAST` (and once as BDAT header + BURL body); the recipient reads
it back over IMAP and it must be the draft, byte for byte, after the trace headers. BURLs
whose URL is not authorized for the submitting user (authuser, submit+another user, a forged
token, no URLAUTH at all) get 554 5.7.0.

usage: smtplib_burl.py HOST SUBMISSION_PORT IMAP_PORT ALICE BOB PASSWORD HOSTNAME
"""
import imaplib
import re
import smtplib
import sys

host, sub_port, imap_port, alice, bob, password, hostname = sys.argv[1:8]
imaplib.Commands["GENURLAUTH"] = ("AUTH", "SELECTED")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def enc(addr):
    return addr.replace("@", "%40")


draft = (
    "From: %s\r\nTo: %s\r\nSubject: BURL from a draft\r\n"
    "Message-ID: <burl-draft@example.org>\r\n\r\n"
    "This body was never downloaded by the client.\r\n" % (alice, bob)
).encode()

m = imaplib.IMAP4(host, int(imap_port))
m.login(alice, password)
typ, dat = m.append("Drafts", "(\\Draft)", None, draft)
found = re.search(rb"APPENDUID (\d+) (\d+)", dat[0])
if typ != "OK" or not found:
    fail("APPEND: %r %r" % (typ, dat))
validity, uid = (x.decode() for x in found.groups())


def gen(rump):
    typ, dat = m._simple_command("GENURLAUTH", '"%s"' % rump, "INTERNAL")
    if typ != "OK":
        fail("GENURLAUTH %s: %r" % (rump, dat))
    typ, dat = m._untagged_response(typ, dat, "GENURLAUTH")
    return dat[-1].decode().strip('"')


base = "imap://%s@%s/Drafts;UIDVALIDITY=%s/;UID=%s" % (enc(alice), hostname, validity, uid)
whole = gen(base + ";URLAUTH=submit+" + enc(alice))
body = gen(base + "/;SECTION=TEXT;URLAUTH=submit+" + enc(alice))
authuser = gen(base + ";URLAUTH=authuser")
for_bob = gen(base + ";URLAUTH=submit+" + enc(bob))
m.logout()

s = smtplib.SMTP(host, int(sub_port))
s.ehlo()
if s.esmtp_features.get("burl", None) != "":
    fail("before AUTH, EHLO should offer a bare BURL: %r" % s.esmtp_features)
s.login(alice, password)
s.ehlo()
if s.esmtp_features.get("burl", "").strip().lower() != "imap":
    fail("after AUTH, EHLO should offer BURL imap: %r" % s.esmtp_features)

# 1. The whole draft by BURL LAST.
s.mail(alice)
s.rcpt(bob)
code, msg = s.docmd("BURL", whole + " LAST")
if code != 250:
    fail("BURL LAST: %d %r" % (code, msg))

# 2. A header sent with BDAT, the draft's body by BURL LAST (RFC 4468 §3.2 mixing).
header = ("From: %s\r\nTo: %s\r\nSubject: BDAT then BURL\r\n\r\n" % (alice, bob)).encode()
s.mail(alice)
s.rcpt(bob)
s.send(b"BDAT %d\r\n" % len(header) + header)
code, msg = s.getreply()
if code != 250:
    fail("BDAT: %d %r" % (code, msg))
code, msg = s.docmd("BURL", body + " LAST")
if code != 250:
    fail("BDAT + BURL LAST: %d %r" % (code, msg))

# 3. Without submit authorization for this user: 554 5.7.0, and the transaction is over.
forged = whole[:-1] + ("0" if whole[-1] != "0" else "1")
plain = "imap://%s@%s/Drafts/;UID=%s" % (enc(alice), hostname, uid)
for url in (authuser, for_bob, forged, plain):
    s.mail(alice)
    s.rcpt(bob)
    code, msg = s.docmd("BURL", url + " LAST")
    if code != 554 or not msg.startswith(b"5.7.0"):
        fail("BURL %s: wanted 554 5.7.0, got %d %r" % (url, code, msg))
    code, msg = s.docmd("BURL", whole + " LAST")
    if code != 503:
        fail("after a failed BURL the transaction should be over: %d %r" % (code, msg))
s.quit()

# Read back as the recipient: two messages, each the draft (or header + its body) intact.
r = imaplib.IMAP4(host, int(imap_port))
r.login(bob, password)
r.select("INBOX", readonly=True)
typ, dat = r.search(None, "ALL")
ids = dat[0].split()
if len(ids) != 2:
    fail("bob has %d messages, wanted 2" % len(ids))
got = []
for i in ids:
    typ, dat = r.fetch(i, "(BODY.PEEK[])")
    got.append(dat[0][1])
r.logout()
if not got[0].endswith(draft) or b"Received:" not in got[0]:
    fail("delivered message 1 is not the draft: %r" % got[0])
draft_body = draft.split(b"\r\n\r\n", 1)[1]
if not got[1].endswith(header + draft_body):
    fail("delivered message 2 is not header + draft body: %r" % got[1])
print("smtplib burl: ok")
