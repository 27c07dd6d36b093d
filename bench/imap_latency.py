#!/usr/bin/env python3
"""Per-command IMAP latency and pipelining, measured with real clients (bench/README.md).

  imap_latency.py prepare  --port P --user U --password W [--messages 200 --folders 50]
  imap_latency.py latency  --port P --user U --password W [--iterations 200] [--json-out F]
  imap_latency.py pipeline --port P --user U --password W --server-pid PID [--reps 20]
                           [--serial] [--json-out F]

`latency` drives Python's imaplib exactly as users run it (default socket options, no
TCP_NODELAY): per iteration APPEND, SELECT, EXAMINE, SELECT, UID STORE +FLAGS (\\Seen),
UID COPY, UID STORE +FLAGS (\\Deleted), EXPUNGE, APPEND, UID MOVE; it prints p50/p99 per
command. `pipeline` writes each batch in one send() on a plain socket (default options) and
reads until every tag is answered: the bodies of 200 messages as 20 UID FETCH, STATUS of 50
mailboxes, and a mixed batch; with --serial it sends one command at a time instead. It reports
the median wall time per batch and the CPU the server's process tree used (utime+stime from
/proc, descendants included, as bench/imap.sh does) and the client's own CPU.
"""

import argparse
import imaplib
import json
import os
import re
import socket
import statistics
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def message(i, size=10_000):
    head = (
        f"From: Bench <bench@bench.test>\r\nTo: user@bench.test\r\nSubject: bench {i}\r\n"
        f"Message-ID: <lat{i}.{time.time_ns()}@bench.test>\r\n"
        "Date: Mon, 7 Jul 2025 10:00:00 +0000\r\n\r\n"
    )
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    return (head + line * (size // len(line))).encode()


def login(args):
    m = imaplib.IMAP4(args.host, args.port)
    m.login(args.user, args.password)
    return m


def prepare(args):
    m = login(args)
    for i in range(args.messages):
        typ, _ = m.append("INBOX", None, None, message(i))
        assert typ == "OK"
    for k in range(args.folders):
        m.create(f"P{k}")
        m.append(f"P{k}", None, None, message(1000 + k, 2000))
    m.create("Archive")
    m.logout()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def latency(args):
    imaplib.Commands.setdefault("MOVE", ("SELECTED",))
    m = login(args)
    times = {}

    def timed(name, f):
        t = time.perf_counter()
        typ, data = f()
        dt = (time.perf_counter() - t) * 1000
        if typ != "OK":
            sys.exit(f"{name} failed: {typ} {data}")
        times.setdefault(name, []).append(dt)
        return data

    def appended(data):
        found = re.search(rb"APPENDUID \d+ (\d+)", b" ".join(d for d in data if d))
        if not found:
            sys.exit(f"no APPENDUID in {data}")
        return found.group(1).decode()

    m.select("INBOX")
    for i in range(args.iterations):
        uid = appended(timed("APPEND", lambda: m.append("INBOX", None, None, message(i))))
        timed("SELECT", lambda: m.select("INBOX"))
        timed("EXAMINE", lambda: m.select("INBOX", readonly=True))
        timed("SELECT", lambda: m.select("INBOX"))
        timed("STORE", lambda: m.uid("STORE", uid, "+FLAGS", "(\\Seen)"))
        timed("COPY", lambda: m.uid("COPY", uid, "Archive"))
        timed("STORE", lambda: m.uid("STORE", uid, "+FLAGS", "(\\Deleted)"))
        timed("EXPUNGE", lambda: m.expunge())
        uid = appended(timed("APPEND", lambda: m.append("INBOX", None, None, message(i))))
        timed("MOVE", lambda: m.uid("MOVE", uid, "Archive"))
    m.logout()
    out = {
        name: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "mean": statistics.mean(v)}
        for name, v in times.items()
    }
    for name, r in out.items():
        print(f"{args.label:>14} {name:8} p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  (n={r['n']})")
    return out


def tree_cpu(root):
    """CPU seconds of `root` and its live descendants (+ the root's reaped children)."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            fields = s[s.rindex(")") + 2 :].split()
            stats[int(d)] = (int(fields[1]), fields)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid not in stats:
            continue
        fields = stats[pid][1]
        total += int(fields[11]) + int(fields[12])
        if pid == root:
            total += int(fields[13]) + int(fields[14])
        todo.extend(p for p, (pp, _) in stats.items() if pp == pid)
    return total / TICK


class Conn:
    def __init__(self, args):
        self.s = socket.create_connection((args.host, args.port))
        self.r = self.s.makefile("rb", buffering=1 << 16)
        self.r.readline()
        self.n = 0
        self.cmd(f"LOGIN {args.user} {args.password}")

    def read_response(self):
        out = b""
        while True:
            line = self.r.readline()
            if not line:
                sys.exit("connection closed")
            out += line
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if not m:
                return out
            out += self.r.read(int(m.group(1)))

    def send_batch(self, commands):
        """Send all commands in one write; read until each is answered; return untagged."""
        tags = [f"p{self.n + i}" for i in range(len(commands))]
        self.n += len(commands)
        self.s.sendall(b"".join(f"{t} {c}\r\n".encode() for t, c in zip(tags, commands)))
        return self.wait(set(tags))

    def wait(self, tags):
        untagged = []
        while tags:
            r = self.read_response()
            tag = r.split(b" ", 1)[0].decode()
            if tag in tags:
                if not r.split(b" ", 2)[1] == b"OK":
                    sys.exit(f"failed: {r[:200]!r}")
                tags.discard(tag)
            else:
                untagged.append(r)
        return untagged

    def cmd(self, command):
        return self.send_batch([command])


def pipeline(args):
    c = Conn(args)
    c.cmd("SELECT INBOX")
    found = c.cmd("UID SEARCH ALL")
    uids = [int(x) for r in found if r.startswith(b"* SEARCH") for x in r.split()[2:]]
    if len(uids) < 200:
        sys.exit(f"INBOX holds {len(uids)} messages; prepare 200")
    uids = uids[:200]
    chunks = [uids[i : i + 10] for i in range(0, 200, 10)]
    fetch = [f"UID FETCH {','.join(map(str, ch))} (BODY.PEEK[])" for ch in chunks]
    status = [f"STATUS P{k} (MESSAGES UIDNEXT UNSEEN)" for k in range(50)]
    mixed = (
        fetch[:10]
        + [f"UID FETCH {','.join(map(str, ch))} (UID FLAGS ENVELOPE BODYSTRUCTURE)" for ch in chunks[10:15]]
        + status[:20]
        + [f"UID SEARCH SUBJECT \"bench {i}\"" for i in range(5)]
        + ['LIST "" "*"']
    )
    results = {}
    for name, batch in [("fetch200", fetch), ("status50", status), ("mixed", mixed)]:
        c.send_batch(batch)  # warm-up
        walls = []
        cpu0, me0 = tree_cpu(args.server_pid), time.process_time()
        for _ in range(args.reps):
            t = time.perf_counter()
            if args.serial:
                for command in batch:
                    c.cmd(command)
            else:
                c.send_batch(batch)
            walls.append((time.perf_counter() - t) * 1000)
        cpu1, me1 = tree_cpu(args.server_pid), time.process_time()
        results[name] = {
            "commands": len(batch),
            "reps": args.reps,
            "wall_ms_p50": statistics.median(walls),
            "wall_ms_min": min(walls),
            "server_cpu_ms_per_batch": (cpu1 - cpu0) * 1000 / args.reps,
            "client_cpu_ms_per_batch": (me1 - me0) * 1000 / args.reps,
            # Raw figures, so that several runs can be pooled (bench/latency.sh).
            "walls_ms": walls,
            "server_cpu_s": cpu1 - cpu0,
        }
        r = results[name]
        print(
            f"{args.label:>14} {name:9} {r['commands']:3} cmds: wall p50 {r['wall_ms_p50']:8.2f} ms "
            f"(min {r['wall_ms_min']:.2f}), server CPU {r['server_cpu_ms_per_batch']:7.2f} ms/batch, "
            f"client CPU {r['client_cpu_ms_per_batch']:.2f} ms/batch"
        )
    c.cmd("LOGOUT")
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["prepare", "latency", "pipeline"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--label", default="server")
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--folders", type=int, default=50)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--serial", action="store_true")
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--json-out")
    args = p.parse_args()
    if args.mode == "prepare":
        prepare(args)
        return
    out = latency(args) if args.mode == "latency" else pipeline(args)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
