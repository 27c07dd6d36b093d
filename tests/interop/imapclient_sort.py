#!/usr/bin/env python3
"""Drive Pochta's SORT, DISPLAYSORT, THREAD (ORDEREDSUBJECT, REFERENCES, REFS) and
Unicode-caseless SEARCH with IMAPClient (PyPI), a client library nobody on this project wrote:
its sort(), thread() and search() parse our answers.

Usage: imapclient_sort.py HOST PORT USER PASSWORD
"""

import sys

from imapclient import IMAPClient


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def msg(mid, refs, subject, day, frm, size):
    hdr = "From: %s\r\nSubject: %s\r\nMessage-ID: <%s@x>\r\nDate: %d Jan 2024 10:00:00 +0000\r\n" % (
        frm, subject, mid, day)
    if refs:
        hdr += "References: %s\r\n" % refs
    return (hdr + "\r\n" + "x" * size + "\r\n").encode("utf-8")


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    c = IMAPClient(host, port=port, ssl=False)
    c.login(user, password)
    caps = c.capabilities()
    for cap in (b"SORT", b"SORT=DISPLAY", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT",
                b"THREAD=REFS", b"I18NLEVEL=1"):
        check(cap in caps, "capability %r in %r" % (cap, caps))
    c.select_folder("INBOX")
    for m in (
        msg("a", "", "=?utf-8?b?0L/RgNC40LLQtdGC?=", 10, "Zed <bob@x.org>", 300),  # "привет"
        msg("b", "<a@x>", "Re: =?utf-8?b?0L/RgNC40LLQtdGC?=", 12, "alice@x.org", 100),
        msg("c", "", "apple", 11, "carol@x.org", 200),
    ):
        c.append("INBOX", m)
    c.noop()
    uids = c.search("ALL")
    check(len(uids) == 3, "3 messages, got %r" % uids)
    u1, u2, u3 = sorted(uids)
    check(c.sort("SUBJECT") == [u3, u1, u2], "SORT SUBJECT %r" % c.sort("SUBJECT"))
    check(c.sort(["REVERSE DATE"]) == [u2, u3, u1], "SORT REVERSE DATE")
    check(c.sort(["FROM", "SIZE"]) == [u2, u1, u3], "SORT FROM SIZE")
    # DISPLAYSORT (RFC 5957): the display name, else the address ("Zed" after the others).
    check(c.sort("DISPLAYFROM") == [u2, u3, u1], "SORT DISPLAYFROM %r" % c.sort("DISPLAYFROM"))
    check(c.sort("SIZE", ["SUBJECT", "ПРИВЕТ"], charset="UTF-8") == [u2, u1],
          "SORT SIZE with a Cyrillic search %r" % c.sort("SIZE", ["SUBJECT", "ПРИВЕТ"], charset="UTF-8"))
    check(c.search(["SUBJECT", "ПРИВЕТ"], charset="UTF-8") == [u1, u2], "caseless Cyrillic SEARCH")
    t = c.thread("REFERENCES")
    check(t == ((u1, u2), (u3,)), "THREAD REFERENCES %r" % (t,))
    t = c.thread("ORDEREDSUBJECT")
    check(t == ((u1, u2), (u3,)), "THREAD ORDEREDSUBJECT %r" % (t,))
    # REFS: threads ordered by their latest message.
    t = c.thread("REFS")
    check(t == ((u3,), (u1, u2)), "THREAD REFS %r" % (t,))
    c.logout()
    print("imapclient sort: ok")


if __name__ == "__main__":
    main()
