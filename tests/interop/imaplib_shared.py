#!/usr/bin/env python3
"""Browse a shared mailbox (RFC 4314 ACL, RFC 2342 NAMESPACE), a public folder and an
anonymous session (RFC 4505) with Python's imaplib.

Usage: imaplib_shared.py HOST PORT PHASE OWNER GRANTEE PASSWORD

PHASE "owner": OWNER creates Team, appends a message and grants GRANTEE "lr" with SETACL.
PHASE "grantee": GRANTEE (also granted "s" by `pochta share` in between) finds Team in the
Other Users namespace, opens it, reads the message (which marks it \\Seen, thanks to "s"),
checks MYRIGHTS, and is refused what it has no right to.
PHASE "public": `pochta public create News` made Public/News and `pochta share` granted
OWNER "lrswi" and anyone "lrs"; OWNER posts to it, GRANTEE finds it in the Public namespace,
reads it (its own \\Seen: the folder keeps \\Seen per user), and OWNER still sees it unseen.
PHASE "anonymous": an anonymous login (News is granted to "anonymous" too) lists only what
anonymous may see, reads the public folder read-only, and is refused every change.
Exits non-zero on the first wrong answer.
"""

import imaplib
import sys

SHARED = "Other Users/{}/Team"


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def ok(res, what):
    typ, data = res
    check(typ == "OK", f"{what}: {typ} {data}")
    return data


def main():
    host, port, phase, owner, grantee, password = sys.argv[1:7]
    m = imaplib.IMAP4(host, int(port))
    if phase == "owner":
        ok(m.login(owner, password), "owner login")
        caps = m.capabilities
        check("ACL" in caps and "RIGHTS=TEXK" in caps, f"ACL advertised: {caps}")
        ok(m.create("Team"), "create Team")
        msg = b"From: a@example.org\r\nSubject: shared hello\r\n\r\nfor the team\r\n"
        ok(m.append("Team", None, None, msg), "append")
        ok(m.setacl("Team", grantee, "lr"), "setacl")
        acl = ok(m.getacl("Team"), "getacl")
        check(grantee.encode() + b" lr" in acl[0], f"getacl: {acl}")
    elif phase == "grantee":
        ok(m.login(grantee, password), "grantee login")
        ns = ok(m.namespace(), "namespace")
        check(b'(("Other Users/" "/"))' in ns[0], f"namespace: {ns}")
        name = SHARED.format(owner)
        listed = ok(m.list('""', '"Other Users/*"'), "list")
        check(any(name.encode() in l for l in listed), f"list: {listed}")
        rights = ok(m.myrights(f'"{name}"'), "myrights")
        check(rights[0].endswith(b" lrs"), f"myrights: {rights}")
        data = ok(m.select(f'"{name}"'), "select")
        check(data == [b"1"], f"select: {data}")
        body = ok(m.fetch("1", "(BODY[])"), "fetch")
        check(b"for the team" in body[0][1], f"fetch: {body}")
        flags = ok(m.fetch("1", "(FLAGS)"), "flags")
        check(b"\\Seen" in flags[0], f"\\Seen with s: {flags}")
        typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
        check(typ == "NO" and b"NOPERM" in data[0], f"store without w: {typ} {data}")
        typ, data = m.append(f'"{name}"', None, None, b"Subject: x\r\n\r\ny\r\n")
        check(typ == "NO", f"append without i: {typ} {data}")
        ok(m.close(), "close")
    elif phase == "public":
        ok(m.login(owner, password), "owner login")
        ns = ok(m.namespace(), "namespace")
        check(b'(("Public/" "/"))' in ns[0], f"namespace: {ns}")
        msg = b"From: a@example.org\r\nSubject: public hello\r\n\r\nfor everyone\r\n"
        ok(m.append('"Public/News"', "(\\Seen)", None, msg), "append to Public/News")
        g = imaplib.IMAP4(host, int(port))
        ok(g.login(grantee, password), "grantee login")
        listed = ok(g.list('""', '"Public/*"'), "list Public")
        check(any(b'"Public/News"' in l for l in listed), f"list: {listed}")
        status = ok(g.status('"Public/News"', "(MESSAGES UNSEEN)"), "status")
        check(b"MESSAGES 1 UNSEEN 1" in status[0], f"status: {status}")
        data = ok(g.select('"Public/News"'), "select Public/News")
        check(data == [b"1"], f"select: {data}")
        body = ok(g.fetch("1", "(BODY[])"), "fetch")
        check(b"for everyone" in body[0][1], f"fetch: {body}")
        flags = ok(g.fetch("1", "(FLAGS)"), "flags")
        check(b"\\Seen" in flags[0], f"grantee's \\Seen: {flags}")
        typ, data = g.append('"Public/News"', None, None, b"Subject: x\r\n\r\ny\r\n")
        check(typ == "NO", f"append without i: {typ} {data}")
        g.logout()
        # OWNER posted it \Seen; the grantee's read is the grantee's alone.
        ok(m.select('"Public/News"'), "owner select")
        flags = ok(m.fetch("1", "(FLAGS)"), "owner flags")
        check(b"\\Seen" in flags[0], f"poster's own \\Seen: {flags}")
        ok(m.store("1", "-FLAGS", "(\\Seen)"), "owner unsees")
        g = imaplib.IMAP4(host, int(port))
        ok(g.login(grantee, password), "grantee login again")
        status = ok(g.status('"Public/News"', "(UNSEEN)"), "status again")
        check(b"UNSEEN 0" in status[0], f"grantee still has it seen: {status}")
        g.logout()
    else:
        check("AUTH=ANONYMOUS" in m.capabilities, f"AUTH=ANONYMOUS: {m.capabilities}")
        ok(m.login("anonymous", "guest@example.net"), "anonymous login")
        ns = ok(m.namespace(), "namespace")
        check(ns[0].startswith(b"NIL "), f"no personal namespace: {ns}")
        listed = ok(m.list('""', "*"), "list")
        check(any(b'"Public/News"' in l for l in listed), f"list: {listed}")
        check(not any(b"Team" in l for l in listed), f"Team is not for anonymous: {listed}")
        data = ok(m.select('"Public/News"', readonly=True), "examine Public/News")
        check(data == [b"1"], f"examine: {data}")
        body = ok(m.fetch("1", "(BODY.PEEK[])"), "fetch")
        check(b"for everyone" in body[0][1], f"fetch: {body}")
        rights = ok(m.myrights('"Public/News"'), "myrights")
        check(rights[0].endswith(b" lr"), f"myrights: {rights}")
        typ, data = m.store("1", "+FLAGS", "(\\Seen)")
        check(typ == "NO" and b"NOPERM" in data[0], f"store: {typ} {data}")
        typ, data = m.create("Mine")
        check(typ == "NO" and b"NOPERM" in data[0], f"create: {typ} {data}")
        typ, data = m.append('"Public/News"', None, None, b"Subject: x\r\n\r\ny\r\n")
        check(typ == "NO", f"append: {typ} {data}")
    m.logout()
    print(f"imaplib shared ({phase}): ok")


if __name__ == "__main__":
    main()
