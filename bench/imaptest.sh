#!/usr/bin/env bash
# imaptest's own default mix against Dovecot and Pochta, same run, same settings: operations per
# server CPU-second and per second of wall time. A cross-check of bench/imap.sh (whose session mix
# is our load generator's) with the tool the issue names.
#
#   IMAPTEST=/path/to/imaptest IMAPTEST_MBOX=/path/to/default.mbox bench/imaptest.sh
#   DOVECOT_TUNED=1 ... bench/imaptest.sh    # reference = Dovecot with process reuse
#   SKIP_BUILD=1 ... bench/imaptest.sh       # use target/release/pochta as it is
#
# imaptest (github.com/dovecot/imaptest) is not part of this repository and nothing here builds
# it: point IMAPTEST at a binary you built. IMAPTEST_MBOX is the mbox it APPENDs from (its
# source tree's tests/default.mbox). The script exits with a message when either is missing.
#
# Each server: one user, an empty INBOX, imaptest with its defaults (the default state mix and
# probabilities, `msgs=30`) for $CLIENTS clients and $SECS seconds with seed $SEED. Server CPU =
# utime+stime+cutime+cstime of the server's process tree (/proc), from before imaptest starts
# until the server is idle again after it ends ($SETTLE s, then until less than 20 ms of CPU in
# each of two consecutive seconds, at most $DRAIN_MAX s more; both servers alike): work a server
# defers past the run (Pochta's full-text indexer waits [search] settle before it indexes) is
# counted. Operations = the sum of imaptest's
# "Totals" line (every command it sent, LOGIN and LOGOUT included).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

IMAPTEST="${IMAPTEST:-}"
IMAPTEST_MBOX="${IMAPTEST_MBOX:-}"
CLIENTS="${CLIENTS:-10}"
SECS="${SECS:-30}"
SEED="${SEED:-1}"
DRAIN_MAX="${DRAIN_MAX:-120}"
SETTLE="${SETTLE:-30}"   # Pochta's [search] settle, written into its config; the drain waits it out
USER_NAME="${USER_NAME:-u1@bench.test}"
PASSWORD="${PASSWORD:-bench-password}"
DOVECOT_PORT="${DOVECOT_PORT:-21153}"
POCHTA_PORT="${POCHTA_PORT:-21154}"
SKIP_BUILD="${SKIP_BUILD:-0}"
DOVECOT_TUNED="${DOVECOT_TUNED:-0}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-imaptest/$(date +%Y%m%d-%H%M%S)}"

[ -x "$IMAPTEST" ] || { echo "IMAPTEST must name an imaptest binary (not built by this repository)" >&2; exit 2; }
[ -f "$IMAPTEST_MBOX" ] || { echo "IMAPTEST_MBOX must name the mbox imaptest appends from" >&2; exit 2; }

work="$(mktemp -d /tmp/pochta-bench-imaptest.XXXXXX)"
chmod 755 "$work"
pochta_pid=""
cleanup() {
  stop_pid "$pochta_pid"
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"
. "$root/bench/lib.sh"

if [ "$SKIP_BUILD" != 1 ]; then
  say "building (release)"
  cargo build --release -p pochta
fi
pochta_bin="$target_dir/release/pochta"
[ -x "$pochta_bin" ] || { echo "$pochta_bin missing" >&2; exit 1; }

hz="$(getconf CLK_TCK)"

# measure LABEL PORT PID: runs imaptest, prints "ops cpu_s wall_s drain_s" to $OUT/LABEL/result.
measure() {
  local label="$1" port="$2" pid="$3" t0 t1 c0 c1 w0 w1 drained ops
  mkdir -p "$OUT/$label"
  wait_idle "$pid" "$DRAIN_MAX" > /dev/null
  c0="$(tree_ticks "$pid")"; w0="$(date +%s.%N)"
  "$IMAPTEST" host=127.0.0.1 port="$port" user="$USER_NAME" pass="$PASSWORD" \
    mbox="$IMAPTEST_MBOX" clients="$CLIENTS" secs="$SECS" seed="$SEED" \
    > "$OUT/$label/imaptest.txt" 2>&1 || true
  w1="$(date +%s.%N)"
  sleep "$SETTLE"
  drained="$(( SETTLE + $(wait_idle "$pid" "$DRAIN_MAX") ))"
  c1="$(tree_ticks "$pid")"
  ops="$(awk '/^Totals:/ { t = 1; next } t && /^ *[0-9]/ && !/%/ { s = 0; for (i = 1; i <= NF; i++) s += $i; print s; exit }' "$OUT/$label/imaptest.txt")"
  errors="$(grep -c '^Error:' "$OUT/$label/imaptest.txt" || true)"
  awk -v ops="${ops:-0}" -v c="$((c1 - c0))" -v hz="$hz" -v w0="$w0" -v w1="$w1" -v d="$drained" -v e="$errors" \
    'BEGIN { printf "%d %.2f %.2f %d %d\n", ops, c / hz, w1 - w0, d, e }' > "$OUT/$label/result"
  echo "$label: $(cat "$OUT/$label/result") (ops cpu_s wall_s drain_s errors)"
}

# --- Dovecot -------------------------------------------------------------------------------
dlabel=dovecot
[ "$DOVECOT_TUNED" = 1 ] && dlabel=dovecot-tuned
say "$dlabel on 127.0.0.1:$DOVECOT_PORT"
dovecot_pid="$(DOVECOT_TUNED="$DOVECOT_TUNED" "$root/bench/dovecot/dovecot.sh" \
  start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "$USER_NAME")"
measure "$dlabel" "$DOVECOT_PORT" "$dovecot_pid"
"$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"

# --- Pochta (defaults; connection limits as Dovecot's config) -------------------------------
say "pochta on 127.0.0.1:$POCHTA_PORT"
mkdir -p "$work/pochta/data"
conf="$work/pochta/pochta.toml"
pochta_load_conf "$work/pochta/data" "$POCHTA_PORT" "$SETTLE" > "$conf"
"$pochta_bin" --config "$conf" user add "$USER_NAME" --password "$PASSWORD" > /dev/null
# Its own session (setsid), as Dovecot's daemon has: with the kernel's autogroup scheduling a
# server in the script's session would share one CPU share with imaptest (bench/README.md, "Where
# FETCH's wall time went").
setsid "$pochta_bin" --config "$conf" serve > "$OUT/pochta-server.log" 2>&1 &
pochta_pid=$!
wait_port "$POCHTA_PORT" || { echo "pochta did not listen" >&2; exit 1; }
measure pochta "$POCHTA_PORT" "$pochta_pid"

# --- Table ---------------------------------------------------------------------------------
say "results (imaptest default mix, $CLIENTS clients, ${SECS} s, seed $SEED, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
read -r dops dcpu dwall ddrain derr < "$OUT/$dlabel/result"
read -r pops pcpu pwall pdrain perr < "$OUT/pochta/result"
awk -v dl="$dlabel" -v dops="$dops" -v dcpu="$dcpu" -v dwall="$dwall" -v dd="$ddrain" -v de="$derr" \
    -v pops="$pops" -v pcpu="$pcpu" -v pwall="$pwall" -v pd="$pdrain" -v pe="$perr" 'BEGIN {
  dr = dcpu > 0 ? dops / dcpu : 0; pr = pcpu > 0 ? pops / pcpu : 0
  printf "| figure | %s | pochta | ratio |\n| --- | ---: | ---: | ---: |\n", dl
  printf "| operations | %d | %d | |\n", dops, pops
  printf "| server CPU s (drain after the run) | %.2f (%d s) | %.2f (%d s) | |\n", dcpu, dd, pcpu, pd
  printf "| **ops per server CPU-second** | %.1f | %.1f | **%.2fx** |\n", dr, pr, (dr > 0 ? pr / dr : 0)
  dw = dops / dwall; pw = pops / pwall
  printf "| ops per second (wall, run only) | %.1f | %.1f | %.2fx |\n", dw, pw, (dw > 0 ? pw / dw : 0)
  printf "| imaptest errors | %d | %d | |\n", de, pe
}' | tee "$OUT/table.md"
echo "results in $OUT"
