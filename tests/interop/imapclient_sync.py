#!/usr/bin/env python3
"""Drive Pochta with IMAPClient (PyPI), a client library nobody on this project wrote, using
CONDSTORE/QRESYNC and IDLE the way a syncing mail program does.

Usage: imapclient_sync.py HOST PORT USER PASSWORD

1. Session A enables QRESYNC, selects INBOX and remembers UIDVALIDITY + HIGHESTMODSEQ.
2. Session B changes flags and expunges; A re-selects with QRESYNC and must get exactly the
   VANISHED UIDs and the changed flags.
3. A idles; B appends; A's IDLE must report EXISTS within IDLE_DEADLINE.
"""

import sys
import time

from imapclient import IMAPClient

# How long A's IDLE may take to report B's APPEND before the test gives up: generous for a
# loaded machine (a push takes milliseconds; its speed is for benchmarks), yet below the
# server's 15 s IDLE re-check, so an EXISTS in time was pushed, not found by the fallback.
IDLE_DEADLINE = 12


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    b = IMAPClient(host, port=port, ssl=False)
    b.login(user, password)
    for i in range(5):
        b.append("INBOX", b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))

    a = IMAPClient(host, port=port, ssl=False)
    a.login(user, password)
    caps = a.capabilities()
    for cap in (b"CONDSTORE", b"QRESYNC", b"IDLE", b"ENABLE"):
        check(cap in caps, "capability %r in %r" % (cap, caps))
    check(a.enable("QRESYNC") == [b"QRESYNC"], "ENABLE QRESYNC")
    info = a.select_folder("INBOX")
    validity, modseq = info[b"UIDVALIDITY"], info[b"HIGHESTMODSEQ"]
    check(info[b"EXISTS"] == 5, "EXISTS 5: %r" % info)
    a.unselect_folder()

    b.select_folder("INBOX")
    b.add_flags([2, 4], [b"\\Flagged"])
    b.delete_messages([3])
    b.expunge()
    changed = b.fetch([1, 2, 4, 5], ["FLAGS"], modifiers=["CHANGEDSINCE %d" % modseq])
    check(sorted(changed) == [2, 4], "CHANGEDSINCE on B: %r" % changed)

    # Re-select with QRESYNC: IMAPClient passes the parameters through.
    # IMAPClient has no QRESYNC SELECT helper; its imaplib connection carries the command and
    # keeps the untagged responses.
    imap = a._imap
    imap.untagged_responses.clear()
    typ, _ = imap._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d))" % (validity, modseq))
    check(typ == "OK", "SELECT QRESYNC: %s" % typ)
    untagged = imap.untagged_responses
    imap.state = "SELECTED"
    vanished = untagged.get("VANISHED", [])
    check(vanished == [b"(EARLIER) 3"], "VANISHED: %r" % vanished)
    fetched = untagged.get("FETCH", [])
    check(len(fetched) == 2 and all(b"\\Flagged" in f for f in fetched), "FETCH: %r" % fetched)

    a.idle()
    b.append("INBOX", b"Subject: pushed\r\n\r\nnew\r\n")
    # A deadline-bounded wait, generous for a loaded machine (how fast the push is, is for
    # benchmarks): idle_check returns as soon as something arrives.
    deadline = time.monotonic() + IDLE_DEADLINE
    responses = []
    while not any(r[1] == b"EXISTS" for r in responses):
        left = deadline - time.monotonic()
        check(left > 0, "no IDLE push of EXISTS within %ds; got %r" % (IDLE_DEADLINE, responses))
        responses += a.idle_check(timeout=left)
    a.idle_done()
    a.logout()
    b.logout()
    print("imapclient sync: ok")


if __name__ == "__main__":
    main()
