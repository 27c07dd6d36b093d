#!/usr/bin/env bash
# APPEND as Python's imaplib writes it: Pochta against Debian's Dovecot, same run.
#
#   bench/append.sh                 # 300 messages of 10 KB per server
#   MESSAGES=1000 SIZE=20000 bench/append.sh
#
# imaplib sends an APPEND literal and its final CRLF in two writes, with Nagle's algorithm on
# (clients do not set TCP_NODELAY). A server that lets Linux delay its ACK of the literal
# answers ~40 ms late every time. This measures milliseconds per APPEND, wall clock, with
# imaplib exactly as users run it, and prints the ratio against Dovecot.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
MESSAGES="${MESSAGES:-300}"
SIZE="${SIZE:-10240}"
DOVECOT_PORT="${DOVECOT_PORT:-21143}"
POCHTA_PORT="${POCHTA_PORT:-21144}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-append/$(date +%Y%m%d-%H%M%S)}"
work="$(mktemp -d /tmp/pochta-bench-append.XXXXXX)"
chmod 755 "$work"
pochta_pid=""
dovecot_started=""
cleanup() {
  if [ -n "$pochta_pid" ]; then kill "$pochta_pid" 2>/dev/null || true; wait "$pochta_pid" 2>/dev/null || true; fi
  [ -n "$dovecot_started" ] && "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

cargo build --release -p pochta
pochta_bin="$target_dir/release/pochta"

# measure LABEL PORT: imaplib APPENDs; prints and records ms per message.
measure() {
  python3 - "$1" "$2" "$MESSAGES" "$SIZE" <<'PY' | tee "$OUT/$1.txt"
import imaplib, sys, time
label, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = imaplib.IMAP4("127.0.0.1", port)
m.login("bench@bench.test", "bench-password")
msg = b"From: a@bench.test\r\nTo: bench@bench.test\r\nSubject: append\r\n\r\n"
msg += (b"x" * 76 + b"\r\n") * (size // 78)
for _ in range(5):  # warm-up
    m.append("INBOX", None, None, msg)
t = time.perf_counter()
for _ in range(n):
    typ, _ = m.append("INBOX", None, None, msg)
    assert typ == "OK", typ
d = time.perf_counter() - t
m.logout()
print(f"{label}: {n} APPENDs of {len(msg)} bytes: {d * 1000 / n:.2f} ms per message")
PY
}

"$root/bench/dovecot/dovecot.sh" start "$work/dovecot" "$DOVECOT_PORT" bench-password bench@bench.test > /dev/null
dovecot_started=1
measure dovecot "$DOVECOT_PORT"
"$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"
dovecot_started=""

mkdir -p "$work/pochta"
cat > "$work/pochta/pochta.toml" <<CONF
hostname = "mx.bench.test"
data_dir = "$work/pochta/data"
[listen]
imap = ["127.0.0.1:$POCHTA_PORT"]
[auth]
plaintext = "always"
CONF
"$pochta_bin" --config "$work/pochta/pochta.toml" user add bench@bench.test --password bench-password > /dev/null
setsid "$pochta_bin" --config "$work/pochta/pochta.toml" serve > "$OUT/pochta.log" 2>&1 &
pochta_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$POCHTA_PORT") 2>/dev/null && break; sleep 0.1; done
measure pochta "$POCHTA_PORT"

awk '{ v[FNR == NR ? "d" : "p"] = $(NF - 3) } END { printf "pochta / dovecot time per APPEND: %.2f (goal <= 2)\n", v["p"] / v["d"] }' \
  "$OUT/dovecot.txt" "$OUT/pochta.txt" | tee "$OUT/table.txt"
echo "results kept in $OUT"
