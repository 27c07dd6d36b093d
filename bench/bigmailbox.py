#!/usr/bin/env python3
"""The big-mailbox benchmark's client: fill one INBOX with N messages (MULTIAPPEND batches,
the same bytes for every server), then time SELECT, FETCH 1:* (FLAGS), UID SEARCH, SORT and
THREAD on it, and sample the serving process's memory.

Usage:
  bigmailbox.py fill HOST PORT USER PASSWORD N
  bigmailbox.py fill-maildir DIR N        (Dovecot: the same messages as maildir files, the
                                          INTERNALDATE as mtime; Dovecot indexes them on the
                                          first SELECT, which the warm-up pass takes)
  bigmailbox.py measure HOST PORT USER PASSWORD LABEL PID_CMD
  bigmailbox.py measure-both HOST USER PASSWORD OUTDIR LABEL:PORT:PID_CMD...
                                          (the same for several servers at once, each
                                          timed run going to each server in turn;
                                          writes OUTDIR/LABEL.json)
  bigmailbox.py time HOST PORT USER PASSWORD REPEAT COMMAND...
                                          (one session, SELECT INBOX, one untimed run of each
                                          COMMAND, then REPEAT timed runs of each: the median
                                          and minimum in ms; for before/after comparisons)

PID_CMD is a shell command that prints the PID of the process that serves the session once
it is logged in (Pochta: the server; Dovecot: the `imap` process of the user); its RSS is read
from /proc before the commands and at its peak (VmHWM is not resettable, so "peak" is the
highest RSS seen between commands), and its CPU time (all its threads) around each command:
on a machine shared with other work the wall time is mostly waiting for a CPU, the CPU time
is the work done. Prints one JSON object.
"""

import imaplib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time

# Each command is run REPEAT times (a fresh connection for SELECT); the median is reported.
REPEAT = 3
BATCH = 500

COMMANDS = [
    ("FETCH 1:* (FLAGS)", "FETCH 1:* (FLAGS)"),
    ("UID SEARCH FLAGGED", "UID SEARCH FLAGGED"),
    ("UID SEARCH UNSEEN SINCE 1-Jun-2024", "UID SEARCH UNSEEN SINCE 1-Jun-2024"),
    ("UID SEARCH SENTBEFORE 1-Mar-2024", "UID SEARCH SENTBEFORE 1-Mar-2024"),
    ("UID SEARCH FROM user7@", "UID SEARCH FROM user7@"),
    ("UID SEARCH SUBJECT \"topic 4242\"", "UID SEARCH SUBJECT \"topic 4242\""),
    ("UID SEARCH HEADER X-Tag t17", "UID SEARCH HEADER X-Tag t17"),
    ("SORT (SUBJECT)", "SORT (SUBJECT) UTF-8 ALL"),
    ("SORT (REVERSE DATE)", "SORT (REVERSE DATE) UTF-8 ALL"),
    ("SORT (FROM ARRIVAL)", "SORT (FROM ARRIVAL) UTF-8 ALL"),
    ("THREAD REFERENCES", "THREAD REFERENCES UTF-8 ALL"),
    ("THREAD ORDEREDSUBJECT", "THREAD ORDEREDSUBJECT UTF-8 ALL"),
]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def messages(n):
    """N messages in threads of 1-8, deterministic: the same bytes for every server."""
    rnd = random.Random(1)
    i = 0
    topic = 0
    while i < n:
        topic += 1
        size = rnd.randint(1, 8)
        parent_ids = []
        for k in range(size):
            if i >= n:
                break
            day = 1 + (i * 365 // n)
            month, dom = min(day // 31, 11), 1 + day % 28
            date = "%d %s 2024 %02d:%02d:%02d +0000" % (
                dom, MONTHS[month], rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59))
            mid = "<m%d.%d@bench.test>" % (topic, k)
            subject = ("Re: " if k else "") + "topic %d" % topic
            hdr = [
                "From: User %d <user%d@bench.test>" % (rnd.randint(0, 999), rnd.randint(0, 999)),
                "To: me@bench.test",
                "Subject: " + subject,
                "Date: " + date,
                "Message-ID: " + mid,
                "X-Tag: t%d" % rnd.randint(0, 99),
            ]
            if parent_ids:
                hdr.append("In-Reply-To: " + parent_ids[-1])
                hdr.append("References: " + " ".join(parent_ids[-10:]))
            body = "\r\n".join("line %d of message %d, some text to make it look real" % (j, i)
                               for j in range(rnd.randint(5, 60)))
            flags = []
            if rnd.random() < 0.7:
                flags.append("\\Seen")
            if rnd.random() < 0.05:
                flags.append("\\Flagged")
            internal = "%02d-%s-2024 %s" % (dom, MONTHS[month], date.split(" ")[3] + " +0000")
            raw = ("\r\n".join(hdr) + "\r\n\r\n" + body + "\r\n").encode()
            yield " ".join(flags), internal, raw
            parent_ids.append(mid)
            i += 1


class Raw:
    """A tiny raw IMAP connection: pipelined MULTIAPPEND with LITERAL+ and timed commands."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()

    def cmd(self, line, payload=None):
        self.n += 1
        tag = b"b%d" % self.n
        self.s.sendall(tag + b" " + line + (payload or b"") + b"\r\n")
        out = 0
        while True:
            l = self.f.readline()
            if not l:
                raise SystemExit("connection closed")
            out += len(l)
            m = re.search(rb"\{(\d+)\}\r\n$", l)
            if m:
                out += len(self.f.read(int(m.group(1))))
                continue
            if l.startswith(tag + b" "):
                if not l.startswith(tag + b" OK"):
                    raise SystemExit("%r failed: %r" % (line[:80], l))
                return out


def fill(host, port, user, password, n):
    c = Raw(host, port)
    c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    batch = []
    done = 0

    def flush():
        nonlocal batch
        if not batch:
            return
        payload = b"".join(b" (%s) \"%s\" {%d+}\r\n%s" % (f.encode(), d.encode(), len(r), r)
                          for f, d, r in batch)
        c.cmd(b"APPEND INBOX", payload)
        batch = []

    for m in messages(n):
        batch.append(m)
        done += 1
        if len(batch) == BATCH:
            flush()
    flush()
    c.cmd(b"LOGOUT")


def fill_maildir(d, n):
    import calendar
    import os
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, (flags, internal, raw) in enumerate(messages(n)):
        info = "".join(sorted({"\\Seen": "S", "\\Flagged": "F"}[f] for f in flags.split()))
        path = os.path.join(d, "cur", "%d.M%dP1.bench,S=%d:2,%s" % (1700000000 + i, i, len(raw), info))
        with open(path, "wb") as f:
            f.write(raw)
        t = calendar.timegm(time.strptime(internal[:20], "%d-%b-%Y %H:%M:%S"))
        os.utime(path, (t, t))


def cpu_ns(pid):
    """CPU time of every thread of `pid` so far, in ns (/proc/PID/task/*/schedstat), or None.
    On a loaded machine the wall time of a command is mostly waiting for a CPU; this is the
    work the server did for it."""
    total = 0
    try:
        for t in os.listdir("/proc/%s/task" % pid):
            try:
                with open("/proc/%s/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total


def rss(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(host, user, password, servers):
    """Measure every server in `servers` ((label, port, pid_cmd) each) at the same time: each
    timed run of a command goes to every server in turn (the order alternating from one run
    to the next), so a load that changes during the run weighs on all of them alike. Returns
    one result per server."""
    res = [{"label": label, "commands": {}} for label, _, _ in servers]
    # Warm-up pass, not timed: Dovecot indexes a new maildir and fills its cache here.
    for _, port, _ in servers:
        c = Raw(host, port)
        c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
        c.cmd(b"SELECT INBOX")
        for _, line in COMMANDS:
            c.cmd(line.encode())
        c.cmd(b"LOGOUT")

    def turns(k):
        order = list(range(len(servers)))
        return order if k % 2 == 0 else order[::-1]

    times = [[] for _ in servers]
    for k in range(REPEAT):
        for i in turns(k):
            c = Raw(host, servers[i][1])
            c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
            t = time.perf_counter()
            c.cmd(b"SELECT INBOX")
            times[i].append(time.perf_counter() - t)
            c.cmd(b"LOGOUT")
    conns, pids, peaks = [], [], []
    for r, (_, port, pid_cmd), t in zip(res, servers, times):
        r["commands"]["SELECT INBOX"] = statistics.median(t)
        c = Raw(host, port)
        c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
        pid = subprocess.run(pid_cmd, shell=True, capture_output=True, text=True).stdout.split()
        pid = pid[-1] if pid else None
        r["rss_kib_before_select"] = rss(pid) if pid else None
        c.cmd(b"SELECT INBOX")
        r["rss_kib_selected"] = rss(pid) if pid else None
        conns.append(c)
        pids.append(pid)
        peaks.append(r["rss_kib_selected"] or 0)
    for name, line in COMMANDS:
        times = [[] for _ in servers]
        cpus = [[] for _ in servers]
        for k in range(REPEAT):
            for i in turns(k):
                c, pid = conns[i], pids[i]
                c0 = cpu_ns(pid) if pid else None
                t = time.perf_counter()
                size = c.cmd(line.encode())
                times[i].append(time.perf_counter() - t)
                c1 = cpu_ns(pid) if pid else None
                if c0 is not None and c1 is not None:
                    cpus[i].append((c1 - c0) / 1e9)
                r = rss(pid) if pid else None
                if r:
                    peaks[i] = max(peaks[i], r)
                res[i].setdefault("response_bytes", {})[name] = size
        for i, r in enumerate(res):
            r["commands"][name] = statistics.median(times[i])
            if cpus[i]:
                r.setdefault("cpu", {})[name] = statistics.median(cpus[i])
    for r, c, peak in zip(res, conns, peaks):
        r["rss_kib_peak"] = peak
        c.cmd(b"LOGOUT")
    return res


def time_commands(host, port, user, password, repeat, commands, pid_cmd=None):
    c = Raw(host, port)
    c.cmd(b"LOGIN %s %s" % (user.encode(), password.encode()))
    pid = None
    if pid_cmd:
        pid = subprocess.run(pid_cmd, shell=True, capture_output=True, text=True).stdout.split()
        pid = pid[-1] if pid else None
    c.cmd(b"SELECT INBOX")
    for line in commands:
        c.cmd(line.encode())
        times = []
        cpus = []
        for _ in range(repeat):
            c0 = cpu_ns(pid) if pid else None
            t = time.perf_counter()
            size = c.cmd(line.encode())
            times.append(time.perf_counter() - t)
            c1 = cpu_ns(pid) if pid else None
            if c0 is not None and c1 is not None:
                cpus.append((c1 - c0) / 1e6)
        cpu = " cpu %7.1f ms" % statistics.median(cpus) if cpus else ""
        print("%-32s median %8.1f ms  min %8.1f ms%s  %d bytes" % (
            line, statistics.median(times) * 1000, min(times) * 1000, cpu, size))
    c.cmd(b"LOGOUT")


def main():
    if sys.argv[1] == "fill":
        fill(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif sys.argv[1] == "fill-maildir":
        fill_maildir(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[4], sys.argv[5],
                                 [(sys.argv[6], int(sys.argv[3]), sys.argv[7])])[0], indent=1))
    elif sys.argv[1] == "measure-both":
        # HOST USER PASSWORD OUTDIR LABEL:PORT:PID_CMD...: OUTDIR/LABEL.json for each.
        servers = [(a.split(":", 2)[0], int(a.split(":", 2)[1]), a.split(":", 2)[2])
                   for a in sys.argv[6:]]
        for r in measure(sys.argv[2], sys.argv[3], sys.argv[4], servers):
            with open(os.path.join(sys.argv[5], r["label"] + ".json"), "w") as f:
                json.dump(r, f, indent=1)
    elif sys.argv[1] == "time":
        # PID_CMD (optional, env): prints the PID whose CPU time is read around each command.
        time_commands(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]),
                      sys.argv[7:], os.environ.get("PID_CMD"))
    elif sys.argv[1] == "compare":
        a = json.load(open(sys.argv[2]))
        b = json.load(open(sys.argv[3]))
        print("%-36s %12s %12s %7s   %12s %12s %7s" % (
            "command", a["label"], b["label"], "ratio", "cpu " + a["label"], "cpu " + b["label"],
            "ratio"))
        for k in a["commands"]:
            x, y = a["commands"][k], b["commands"].get(k)
            cx, cy = a.get("cpu", {}).get(k), b.get("cpu", {}).get(k)
            cpu = ""
            if cx is not None and cy is not None:
                cpu = "   %10.1fms %10.1fms %7.2f" % (cx * 1000, cy * 1000,
                                                   (cy / cx) if cx else float("nan"))
            print("%-36s %10.1fms %10.1fms %7.2f%s" % (k, x * 1000, (y or 0) * 1000,
                                                      (y / x) if (x and y) else float("nan"), cpu))
        for k in ("rss_kib_before_select", "rss_kib_selected", "rss_kib_peak"):
            print("%-36s %10s KiB %8s KiB" % (k, a.get(k), b.get(k)))


if __name__ == "__main__":
    main()
