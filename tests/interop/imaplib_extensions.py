#!/usr/bin/env python3
"""Pochta's IMAP extensions driven by Python's imaplib, a client library nobody on this project
wrote: its generic command path (`_simple_command`, `uid`, `append`, literals) and its parser
of untagged responses and response codes read our answers. Two sessions where one must see
the other's change: ESORT, CONTEXT=SEARCH/SORT (ADDTO after the other session's APPEND),
PARTIAL, CATENATE, URLAUTH (GENURLAUTH, URLFETCH, RESETKEY told to the other session),
NOTIFY (the other session's APPEND announced), METADATA and METADATA-SERVER, REPLACE,
LIST-MYRIGHTS and UIDONLY.

usage: imaplib_extensions.py HOST PORT USER PASSWORD HOSTNAME
"""
import imaplib
import re
import sys
import time

host, port, user, password, hostname = sys.argv[1:6]
for name in ("GENURLAUTH", "URLFETCH", "RESETKEY", "NOTIFY", "GETMETADATA",
             "SETMETADATA", "REPLACE", "CANCELUPDATE"):
    imaplib.Commands[name] = ("AUTH", "SELECTED")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def ok(res, what):
    typ, dat = res
    check(typ == "OK", "%s: %r %r" % (what, typ, dat))
    return dat


def untagged(m, name):
    """The untagged responses `name` imaplib collected, taken out of its store."""
    return m.untagged_responses.pop(name, [])


def connect():
    m = imaplib.IMAP4(host, int(port))
    m.login(user, password)
    return m


def msg(n, subject):
    return ("From: a@example.org\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: %d Jan 2024 10:00:00 +0000\r\n\r\nbody %d\r\n" % (user, subject, n, n)).encode()


a, b = connect(), connect()
caps = a.capabilities
for cap in ("ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "PARTIAL", "CATENATE", "URLAUTH",
            "NOTIFY", "METADATA", "METADATA-SERVER", "REPLACE", "LIST-MYRIGHTS", "UIDONLY"):
    check(cap in caps, "capability %s in %r" % (cap, caps))
ok(a.create("Ext"), "CREATE")
for n, s in ((1, "delta"), (2, "alpha"), (3, "charlie")):
    ok(a.append("Ext", None, None, msg(n, s)), "APPEND")
ok(a.select("Ext"), "SELECT")
ok(b.select("Ext"), "SELECT")

# ESORT (RFC 5267 §3): SORT RETURN, answered with ESEARCH.
ok(a._simple_command("UID", "SORT", "RETURN", "(MIN MAX COUNT ALL)", "(SUBJECT)", "UTF-8", "ALL"),
   "UID SORT RETURN")
esearch = untagged(a, "ESEARCH")
check(len(esearch) == 1 and re.search(rb"UID MIN 2 MAX 1 COUNT 3 ALL 2:3,1$", esearch[0]),
      "ESORT %r" % esearch)

# CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): B's APPEND reaches A's live results.
ok(a._simple_command("SEARCH", "RETURN", "(UPDATE COUNT)", "UNSEEN"), "SEARCH RETURN (UPDATE)")
ok(a._simple_command("SORT", "RETURN", "(UPDATE)", "(SUBJECT)", "UTF-8", "ALL"), "SORT RETURN (UPDATE)")
first = untagged(a, "ESEARCH")
check(len(first) == 2 and b"COUNT 3" in first[0], "context results %r" % first)
ok(b.append("Ext", None, None, msg(4, "bravo")), "APPEND by B")
ok(a.noop(), "NOOP")
updates = untagged(a, "ESEARCH")
check(any(b"ADDTO (" in u and b" 4)" in u for u in updates), "ADDTO after B's APPEND: %r" % updates)
check(sum(b"ADDTO" in u for u in updates) == 2, "both contexts updated: %r" % updates)
tags = [re.search(rb'TAG "([^"]+)"', u).group(1).decode() for u in first]
ok(a._simple_command("CANCELUPDATE", *['"%s"' % t for t in tags]), "CANCELUPDATE")

# PARTIAL (RFC 9394): a page of a SEARCH.
ok(a._simple_command("UID", "SEARCH", "RETURN", "(PARTIAL 2:3)", "ALL"), "PARTIAL")
page = untagged(a, "ESEARCH")
check(len(page) == 1 and page[0].endswith(b"PARTIAL (2:3 2:3)"), "PARTIAL %r" % page)

# URLAUTH (RFC 4467): A authorizes, B fetches; B's RESETKEY is told to A and kills the URL.
status = ok(a.status("Ext", "(UIDVALIDITY)"), "STATUS")
validity = re.search(rb"UIDVALIDITY (\d+)", status[0]).group(1).decode()
rump = "imap://%s@%s/Ext;UIDVALIDITY=%s/;UID=1;URLAUTH=authuser" % (
    user.replace("@", "%40"), hostname, validity)
ok(a._simple_command("GENURLAUTH", '"%s"' % rump, "INTERNAL"), "GENURLAUTH")
url = untagged(a, "GENURLAUTH")[0].decode().strip('"')
ok(b._simple_command("URLFETCH", '"%s"' % url), "URLFETCH")
got = untagged(b, "URLFETCH")
check(isinstance(got[0], tuple) and got[0][1] == msg(1, "delta"), "URLFETCH %r" % got)
untagged(a, "URLMECH")  # SELECT's
ok(b._simple_command("RESETKEY", "Ext"), "RESETKEY")
ok(a.noop(), "NOOP")
check(untagged(a, "URLMECH") == [b"INTERNAL"], "A told of B's RESETKEY")
ok(a._simple_command("URLFETCH", '"%s"' % url), "URLFETCH after RESETKEY")
check(untagged(a, "URLFETCH") == [b'"%s" NIL' % url.encode()], "revoked URL is NIL")

# CATENATE (RFC 4469): a message made of two URLs of the mailbox.
typ, dat = a._simple_command(
    "APPEND", "Ext", "CATENATE",
    '(URL "/Ext;UIDVALIDITY=%s/;UID=1/;SECTION=HEADER" URL "/Ext/;UID=2/;SECTION=TEXT")' % validity)
check(typ == "OK" and b"APPENDUID" in dat[-1], "CATENATE %r %r" % (typ, dat))
new_uid = re.search(rb"APPENDUID \d+ (\d+)", dat[-1]).group(1).decode()
typ, dat = a.uid("FETCH", new_uid, "(BODY.PEEK[])")
check(typ == "OK" and dat[0][1] == msg(1, "delta").split(b"\r\n\r\n")[0] + b"\r\n\r\nbody 2\r\n",
      "CATENATEd message %r" % dat)

# NOTIFY (RFC 5465): A hears of B's APPEND to another mailbox.
ok(a.create("Watched"), "CREATE")
ok(a._simple_command("NOTIFY", "SET", "(mailboxes Watched (MessageNew MessageExpunge))"), "NOTIFY")
ok(b.append("Watched", None, None, msg(5, "echo")), "APPEND by B")
# The notice is pushed when A's connection sees the event, maybe after one more command.
status = []
for _ in range(100):
    ok(a.noop(), "NOOP")
    status += untagged(a, "STATUS")
    if status:
        break
    time.sleep(0.2)
check(any(b"Watched" in s and b"MESSAGES 1" in s for s in status), "NOTIFY STATUS %r" % status)
ok(a._simple_command("NOTIFY", "NONE"), "NOTIFY NONE")

# METADATA and METADATA-SERVER (RFC 5464): one session sets, the other reads.
ok(a._simple_command("SETMETADATA", "Ext", '(/private/comment "from imaplib")'), "SETMETADATA")
ok(a._simple_command("SETMETADATA", '""', '(/private/vendor/pochta/imaplib "yes")'),
   "SETMETADATA server")
ok(b._simple_command("GETMETADATA", "Ext", "/private/comment"), "GETMETADATA")
meta = untagged(b, "METADATA")
check(meta == [b'Ext ("/private/comment" "from imaplib")'], "GETMETADATA %r" % meta)
ok(b._simple_command("GETMETADATA", '""', "(/private/vendor/pochta/imaplib /shared/admin)"),
   "GETMETADATA server")
meta = untagged(b, "METADATA")
check(len(meta) == 1 and b'"/private/vendor/pochta/imaplib" "yes"' in meta[0]
      and b'"/shared/admin" "mailto:' in meta[0], "server metadata %r" % meta)

# REPLACE (RFC 8508): B sees the replaced message go and the new one come.
ok(b.noop(), "NOOP")
untagged(b, "EXISTS")
a.literal = msg(6, "replaced")
ok(a._simple_command("REPLACE", "1", "Ext"), "REPLACE")
ok(b.noop(), "NOOP")
check(untagged(b, "EXPUNGE") == [b"1"], "B told of the replaced message")
check(untagged(b, "EXISTS") != [], "B told of the new one")
typ, dat = b.uid("SEARCH", None, "SUBJECT", "replaced")
check(typ == "OK" and len(dat[0].split()) == 1, "the replacement is there %r" % dat)

# LIST-MYRIGHTS (RFC 8440).
ok(a._simple_command("LIST", '""', "Ext", "RETURN", "(MYRIGHTS)"), "LIST RETURN (MYRIGHTS)")
rights = untagged(a, "MYRIGHTS")
check(len(rights) == 1 and rights[0].startswith(b"Ext ") and b"l" in rights[0], "MYRIGHTS %r" % rights)

# UIDONLY (RFC 9586): a third session; UID commands answer UIDFETCH, sequence numbers are BAD.
c = connect()
typ, dat = c.enable("UIDONLY")
check(typ == "OK" and untagged(c, "ENABLED") == [b"UIDONLY"], "ENABLE UIDONLY %r" % dat)
ok(c.select("Ext"), "SELECT")
typ, dat = c.uid("FETCH", "1:*", "(FLAGS)")
fetched = untagged(c, "UIDFETCH")
check(typ == "OK" and len(fetched) >= 3, "UIDFETCH %r" % fetched)
try:
    c.fetch("1", "(FLAGS)")
    fail("FETCH by sequence number accepted under UIDONLY")
except imaplib.IMAP4.error as e:
    check("UIDREQUIRED" in str(e), "FETCH under UIDONLY: %s" % e)
c.logout()

a.logout()
b.logout()
print("imaplib extensions: ok")
