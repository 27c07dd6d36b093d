#!/usr/bin/env python3
"""Drive Pochta with Python's imaplib, a client nobody on this project wrote.

Usage: imaplib_scenario.py HOST PORT USER PASSWORD

Login, create a Cyrillic folder (imaplib does not encode modified UTF-7 itself, so we
encode it here as any mail program does), append, select, search, fetch BODYSTRUCTURE and
sections, store, copy, expunge, logout. Every step checks the server's answer; the script
exits non-zero with a message on the first wrong one.
"""

import base64
import imaplib
import re
import sys


def mutf7(name):
    """Encode a mailbox name in modified UTF-7 (RFC 3501 §5.1.3)."""
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


MESSAGE = (
    "From: =?koi8-r?B?6dfBziDwxdTSz9c=?= <ivan@example.org>\r\n"
    "To: user@example.org\r\n"
    "Subject: =?utf-8?B?0J7RgtGH0ZHRgiDQt9CwINC80LDRgNGC?=\r\n"
    "Date: Mon, 15 Jan 2024 10:30:00 +0300\r\n"
    "Message-ID: <scenario-1@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Привет, это квартальный отчёт.\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream; name=\"r.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQ=\r\n"
    "--b1--\r\n"
).encode("utf-8")


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    m = imaplib.IMAP4(host, port)
    check("IMAP4REV1" in m.capabilities, "IMAP4rev1 advertised: %r" % (m.capabilities,))
    ok(m.login(user, password), "LOGIN")

    folder = "Входящие/Работа"
    enc = mutf7(folder)
    ok(m.create('"%s"' % enc), "CREATE")
    typ, data = m.list('""', "*")
    check(typ == "OK", "LIST")
    names = [re.search(rb'"([^"]*)"$|(\S+)$', line) for line in data]
    listed = [(n.group(1) or n.group(2)).decode() for n in names if n]
    check(enc in listed, "created folder listed: %r" % listed)
    check(mutf7("Входящие") in listed, "parent created too: %r" % listed)

    ok(m.append('"%s"' % enc, r"(\Flagged)", '"15-Jan-2024 10:31:00 +0300"', MESSAGE), "APPEND")
    ok(m.append('"%s"' % enc, None, None, b"Subject: second\r\n\r\nplain body\r\n"), "APPEND 2")

    data = ok(m.select('"%s"' % enc), "SELECT")
    check(data == [b"2"], "SELECT EXISTS 2: %r" % data)

    data = ok(m.search(None, "FLAGGED"), "SEARCH FLAGGED")
    check(data == [b"1"], "SEARCH FLAGGED: %r" % data)
    data = ok(m.search("UTF-8", "BODY", "отчёт".encode("utf-8")), "SEARCH BODY")
    check(data == [b"1"], "SEARCH BODY Cyrillic: %r" % data)
    data = ok(m.search(None, "SUBJECT", "second"), "SEARCH SUBJECT")
    check(data == [b"2"], "SEARCH SUBJECT: %r" % data)

    data = ok(m.fetch("1", "(BODYSTRUCTURE)"), "FETCH BODYSTRUCTURE")
    bs = data[0] if isinstance(data[0], bytes) else data[0][0]
    check(b'"mixed"' in bs.lower() and b'"application" "octet-stream"' in bs.lower(),
          "BODYSTRUCTURE: %r" % bs)

    data = ok(m.fetch("1", "(BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), "FETCH sections")
    parts = [d for d in data if isinstance(d, tuple)]
    check(parts and "квартальный".encode() in parts[0][1], "BODY[1]: %r" % (parts,))
    check(len(parts) > 1 and b"<scenario-1@example.org>" in parts[1][1], "HEADER.FIELDS: %r" % (parts,))

    data = ok(m.fetch("1", "(FLAGS)"), "FETCH FLAGS")
    check(b"\\Seen" not in data[0], "PEEK did not set \\Seen: %r" % data)
    ok(m.fetch("2", "(BODY[TEXT])"), "FETCH BODY[TEXT]")
    data = ok(m.fetch("2", "(FLAGS)"), "FETCH FLAGS 2")
    check(b"\\Seen" in data[0], "BODY[] set \\Seen: %r" % data)

    data = ok(m.store("1", "+FLAGS", r"(\Answered $Label1)"), "STORE")
    check(b"\\Answered" in data[0] and b"$Label1" in data[0], "STORE result: %r" % data)

    ok(m.copy("1:2", "INBOX"), "COPY")
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
    check(typ == "OK" and b"MESSAGES 2" in data[0] and b"UNSEEN 1" in data[0], "STATUS INBOX: %r" % data)

    ok(m.store("1", "+FLAGS.SILENT", r"(\Deleted)"), "STORE Deleted")
    typ, data = m.expunge()
    check(typ == "OK" and data == [b"1"], "EXPUNGE: %r" % data)
    data = ok(m.search(None, "ALL"), "SEARCH ALL")
    check(data == [b"1"], "one message left: %r" % data)

    ok(m.close(), "CLOSE")
    typ, data = m.logout()
    check(typ == "BYE", "LOGOUT: %r" % typ)
    print("imaplib scenario: ok")


if __name__ == "__main__":
    main()
