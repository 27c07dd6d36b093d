#!/usr/bin/env python3
"""Browse a shared mailbox (RFC 4314 ACL, RFC 2342 NAMESPACE) with Python's imaplib.

Usage: imaplib_shared.py HOST PORT PHASE OWNER GRANTEE PASSWORD

PHASE "owner": OWNER creates Team, appends a message and grants GRANTEE "lr" with SETACL.
PHASE "grantee": GRANTEE (also granted "s" by `pochta share` in between) finds Team in the
Other Users namespace, opens it, reads the message (which marks it \\Seen, thanks to "s"),
checks MYRIGHTS, and is refused what it has no right to. Exits non-zero on the first wrong
answer.
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
    else:
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
    m.logout()
    print(f"imaplib shared ({phase}): ok")


if __name__ == "__main__":
    main()
