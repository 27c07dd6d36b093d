#!/usr/bin/env bash
# Per-command latency and pipelining: Pochta against Dovecot (Debian's dovecot-imapd), same run.
#
#   bench/latency.sh                       # defaults below; override with environment variables
#   ROUNDS=8 REPS=25 ITERATIONS=300 bench/latency.sh
#   SKIP_BUILD=1 bench/latency.sh          # use target/release/pochta as it is
#
# Three servers run side by side: Dovecot, Pochta, and Pochta with `[imap] parallel = false`.
# Each gets one user whose INBOX holds 200 messages of ~10 KB and 50 small mailboxes
# (bench/imap_latency.py prepare). Per-command latency with Python's imaplib (`latency`:
# APPEND, SELECT, EXAMINE, STORE, COPY, EXPUNGE, MOVE) on Dovecot and Pochta; then $ROUNDS
# rounds of the pipelining batches (`pipeline`, $REPS repetitions of each batch per server per
# round), the servers' order rotating from round to round, so that the load of a shared
# machine falls on all three alike. The table pools every round: median wall time of all
# repetitions, server CPU (whole run) per batch, and the spread of the per-round medians.
# Results (JSON, text) stay in $OUT.
#
# The build step runs `cargo build --release -p pochta` with the caller's environment, so a
# caller who builds with other profile settings (e.g. CARGO_PROFILE_RELEASE_CODEGEN_UNITS)
# passes the same ones here, or sets SKIP_BUILD=1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

ITERATIONS="${ITERATIONS:-200}"
ROUNDS="${ROUNDS:-6}"
REPS="${REPS:-20}"
PASSWORD="${PASSWORD:-bench-password}"
USER_ADDR="${USER_ADDR:-lat@bench.test}"
DOVECOT_PORT="${DOVECOT_PORT:-21153}"
POCHTA_PORT="${POCHTA_PORT:-21154}"
POCHTA_SEQ_PORT="${POCHTA_SEQ_PORT:-21155}"
SKIP_BUILD="${SKIP_BUILD:-0}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-latency/$(date +%Y%m%d-%H%M%S)}"
py="$root/bench/imap_latency.py"

work="$(mktemp -d /tmp/pochta-bench-latency.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

if [ "$SKIP_BUILD" != 1 ]; then
  say "building (release)"
  cargo build --release -p pochta
fi
pochta_bin="$target_dir/release/pochta"

common() { echo --port "$1" --user "$USER_ADDR" --password "$PASSWORD" --label "$2"; }

# --- Start the three servers ---------------------------------------------------------------
say "dovecot: starting on 127.0.0.1:$DOVECOT_PORT"
dovecot --version > "$OUT/dovecot-version.txt"
dovecot_pid="$("$root/bench/dovecot/dovecot.sh" start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "$USER_ADDR")"

# start_pochta LABEL PORT PARALLEL: prints nothing; sets pochta_pid.
start_pochta() {
  local label="$1" port="$2" parallel="$3"
  local dir="$work/$label"
  mkdir -p "$dir/data"
  {
    pochta_imap_conf "$dir/data" "$port"
    cat <<CONF

[imap]
parallel = $parallel
CONF
  } > "$dir/pochta.toml"
  "$pochta_bin" --config "$dir/pochta.toml" user add "$USER_ADDR" --password "$PASSWORD" > "$OUT/$label-setup.txt" 2>&1
  setsid "$pochta_bin" --config "$dir/pochta.toml" serve >> "$OUT/$label-server.log" 2>&1 &
  pochta_pid=$!
  pids+=("$pochta_pid")
  wait_port "$port"
}
say "pochta: starting on 127.0.0.1:$POCHTA_PORT (parallel) and :$POCHTA_SEQ_PORT (parallel = false)"
start_pochta pochta "$POCHTA_PORT" true
par_pid=$pochta_pid
start_pochta pochta-sequential "$POCHTA_SEQ_PORT" false
seq_pid=$pochta_pid

declare -A port=([dovecot]=$DOVECOT_PORT [pochta]=$POCHTA_PORT [pochta-sequential]=$POCHTA_SEQ_PORT)
declare -A pid=([dovecot]=$dovecot_pid [pochta]=$par_pid [pochta-sequential]=$seq_pid)
labels=(dovecot pochta pochta-sequential)

for l in "${labels[@]}"; do
  mkdir -p "$OUT/$l"
  say "$l: preparing 200 messages and 50 mailboxes"
  # shellcheck disable=SC2046
  python3 "$py" prepare $(common "${port[$l]}" "$l")
done

for l in dovecot pochta; do
  say "$l: per-command latency, imaplib, $ITERATIONS iterations"
  # shellcheck disable=SC2046
  python3 "$py" latency $(common "${port[$l]}" "$l") --iterations "$ITERATIONS" \
    --json-out "$OUT/$l/latency.json" | tee "$OUT/$l/latency.txt"
done

echo "load average before the batches: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for r in $(seq 1 "$ROUNDS"); do
  say "round $r of $ROUNDS: pipelined batches, $REPS repetitions each (load $(cut -d' ' -f1 /proc/loadavg))"
  for k in 0 1 2; do
    l="${labels[$(( (r + k) % 3 ))]}"
    # shellcheck disable=SC2046
    python3 "$py" pipeline $(common "${port[$l]}" "$l") --server-pid "${pid[$l]}" --reps "$REPS" \
      --json-out "$OUT/$l/pipeline-$r.json" | tee -a "$OUT/$l/pipeline.txt"
  done
  echo "after round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
done

# --- Table -----------------------------------------------------------------------------------
say "results ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$OUT" "$ROUNDS" <<'PY' | tee "$OUT/table.txt"
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
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
labels = ["dovecot", "pochta-sequential", "pochta"]
runs = {l: [r for r in (load(l, f"pipeline-{k}") for k in range(1, rounds + 1)) if r] for l in labels}
print(f"{rounds} rounds; per cell: median wall ms of all repetitions / server CPU ms per batch "
      "(whole run) [range of the per-round medians]")
print()
print("| batch | Dovecot | Pochta, parallel off | Pochta, parallel on |")
print("| --- | ---: | ---: | ---: |")
for b in ["fetch200", "status50", "mixed"]:
    cells = []
    for l in labels:
        rs = [r[b] for r in runs[l] if b in r]
        if not rs:
            cells.append("not measured")
            continue
        walls = [w for r in rs for w in r["walls_ms"]]
        cpu = sum(r["server_cpu_s"] for r in rs) * 1000 / sum(r["reps"] for r in rs)
        meds = [r["wall_ms_p50"] for r in rs]
        cells.append(f"{statistics.median(walls):.2f} / {cpu:.2f} [{min(meds):.2f}–{max(meds):.2f}]")
    print(f"| {b} | " + " | ".join(cells) + " |")
PY
echo "results kept in $OUT"
