#!/usr/bin/env bash
# Per-command latency and pipelining: Pochta against Dovecot (Debian's dovecot-imapd), same run.
#
#   bench/latency.sh                       # defaults below; override with environment variables
#   ITERATIONS=300 REPS=30 bench/latency.sh
#
# For each server in turn (Dovecot, Pochta, Pochta with `[imap] parallel = false`): start it,
# fill one user's INBOX with 200 messages of ~10 KB and create 50 small mailboxes
# (bench/imap_latency.py prepare), measure per-command latency with Python's imaplib
# (`latency`: APPEND, SELECT, EXAMINE, STORE, COPY, EXPUNGE, MOVE; Dovecot and Pochta only),
# then the pipelining batches (`pipeline`), and stop it. Results (JSON, text) stay in $OUT.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ITERATIONS="${ITERATIONS:-200}"
REPS="${REPS:-20}"
PASSWORD="${PASSWORD:-bench-password}"
USER_ADDR="${USER_ADDR:-lat@bench.test}"
DOVECOT_PORT="${DOVECOT_PORT:-21153}"
POCHTA_PORT="${POCHTA_PORT:-21154}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-latency/$(date +%Y%m%d-%H%M%S)}"
py="$root/bench/imap_latency.py"

work="$(mktemp -d /tmp/pochta-bench-latency.XXXXXX)"
chmod 755 "$work"
pochta_pid=""
cleanup() {
  if [ -n "$pochta_pid" ] && kill -0 "$pochta_pid" 2>/dev/null; then
    kill "$pochta_pid" 2>/dev/null || true
    wait "$pochta_pid" 2>/dev/null || true
  fi
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"
say() { printf '\n### %s\n' "$*"; }

say "building (release)"
cargo build --release -p pochta
pochta_bin="$target_dir/release/pochta"

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# measure LABEL PORT PID [latency]: prepare, (latency,) pipeline, pipeline --serial.
measure() {
  local label="$1" port="$2" pid="$3" lat="${4:-}"
  local common=(--port "$port" --user "$USER_ADDR" --password "$PASSWORD" --label "$label")
  mkdir -p "$OUT/$label"
  say "$label: preparing 200 messages and 50 mailboxes"
  python3 "$py" prepare "${common[@]}"
  if [ -n "$lat" ]; then
    say "$label: per-command latency, imaplib, $ITERATIONS iterations"
    python3 "$py" latency "${common[@]}" --iterations "$ITERATIONS" \
      --json-out "$OUT/$label/latency.json" | tee "$OUT/$label/latency.txt"
  fi
  say "$label: pipelined batches, $REPS repetitions each"
  python3 "$py" pipeline "${common[@]}" --server-pid "$pid" --reps "$REPS" \
    --json-out "$OUT/$label/pipeline.json" | tee "$OUT/$label/pipeline.txt"
}

# --- Dovecot ---------------------------------------------------------------------------------
say "dovecot: starting on 127.0.0.1:$DOVECOT_PORT"
dovecot --version > "$OUT/dovecot-version.txt"
dovecot_pid="$("$root/bench/dovecot/dovecot.sh" start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "$USER_ADDR")"
measure dovecot "$DOVECOT_PORT" "$dovecot_pid" latency
"$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"

# --- Pochta, parallel on (default) and off --------------------------------------------------
run_pochta() {
  local label="$1" parallel="$2" lat="${3:-}"
  local dir="$work/$label"
  mkdir -p "$dir/data"
  cat > "$dir/pochta.toml" <<CONF
hostname = "bench.test"
data_dir = "$dir/data"

[listen]
imap = ["127.0.0.1:$POCHTA_PORT"]

[auth]
plaintext = "always"

[imap]
parallel = $parallel
CONF
  "$pochta_bin" --config "$dir/pochta.toml" user add "$USER_ADDR" --password "$PASSWORD" > "$OUT/$label-setup.txt" 2>&1
  "$pochta_bin" --config "$dir/pochta.toml" serve >> "$OUT/$label-server.log" 2>&1 &
  pochta_pid=$!
  wait_port "$POCHTA_PORT"
  measure "$label" "$POCHTA_PORT" "$pochta_pid" $lat
  kill "$pochta_pid"; wait "$pochta_pid" 2>/dev/null || true
  pochta_pid=""
}
run_pochta pochta true latency
run_pochta pochta-sequential false

# --- Table -----------------------------------------------------------------------------------
say "results ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$OUT" <<'PY' | tee "$OUT/table.txt"
import json, os, sys
out = sys.argv[1]
def load(label, what):
    p = os.path.join(out, label, what + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
d, p = load("dovecot", "latency"), load("pochta", "latency")
if d and p:
    print("| command | Dovecot p50 / p99 ms | Pochta p50 / p99 ms |")
    print("| --- | ---: | ---: |")
    for c in ["SELECT", "EXAMINE", "STORE", "EXPUNGE", "COPY", "MOVE", "APPEND"]:
        print(f"| {c} | {d[c]['p50']:.2f} / {d[c]['p99']:.2f} | {p[c]['p50']:.2f} / {p[c]['p99']:.2f} |")
print()
print("| batch | Dovecot wall / server CPU ms | Pochta sequential | Pochta parallel |")
print("| --- | ---: | ---: | ---: |")
rows = {l: load(l, "pipeline") for l in ["dovecot", "pochta-sequential", "pochta"]}
for b in ["fetch200", "status50", "mixed"]:
    cells = []
    for l in ["dovecot", "pochta-sequential", "pochta"]:
        r = rows[l] and rows[l].get(b)
        cells.append(f"{r['wall_ms_p50']:.2f} / {r['server_cpu_ms_per_batch']:.2f}" if r else "not measured")
    print(f"| {b} | " + " | ".join(cells) + " |")
PY
echo "results kept in $OUT"
