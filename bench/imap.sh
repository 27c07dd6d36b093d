#!/usr/bin/env bash
# IMAP benchmark: Pochta against Dovecot (Debian's dovecot-imapd) on this machine, same run.
#
#   bench/imap.sh                    # defaults below; override with environment variables
#   DURATION=30s IDLE=200 bench/imap.sh
#   DOVECOT_TUNED=1 bench/imap.sh    # reference = Dovecot with process reuse instead of defaults
#   SKIP_BUILD=1 bench/imap.sh       # use target/release/{pochta,pochta-loadgen} as they are
#
# The build step runs cargo with the caller's environment: a caller who builds release with
# other profile settings (e.g. CARGO_PROFILE_RELEASE_CODEGEN_UNITS) passes the same ones here,
# or nothing is reused; or builds first and sets SKIP_BUILD=1.
#
# For each server: fill every user's INBOX to $MESSAGES messages, run the session mix with
# $CLIENTS clients for $DURATION (same seed for both), then restart it, hold $IDLE idle
# connections and measure memory. Prints a side-by-side table with ratios; JSON and text results are kept in
# $OUT. Pochta is skipped, with a message, when it cannot be built or its IMAP is not ready.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

DURATION="${DURATION:-20s}"
CLIENTS="${CLIENTS:-10}"
NUSERS="${NUSERS:-10}"
MESSAGES="${MESSAGES:-100}"
IDLE="${IDLE:-200}"
SEED="${SEED:-1}"
PASSWORD="${PASSWORD:-bench-password}"
DOVECOT_PORT="${DOVECOT_PORT:-21143}"
POCHTA_PORT="${POCHTA_PORT:-21144}"
SKIP_BUILD="${SKIP_BUILD:-0}"
# Pochta's [search] settle; after each mix loadgen waits this long, then until the server is
# idle, and counts that CPU too (both servers: deferred work is the run's).
SETTLE="${SETTLE:-30}"
DOVECOT_TUNED="${DOVECOT_TUNED:-0}"   # 1: Dovecot's process-reuse settings (bench/dovecot/dovecot.sh)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-imap/$(date +%Y%m%d-%H%M%S)}"

users=()
for i in $(seq 1 "$NUSERS"); do users+=("u$i@bench.test"); done
user_list="$(IFS=,; echo "${users[*]}")"

work="$(mktemp -d /tmp/pochta-bench-imap.XXXXXX)"
chmod 755 "$work"  # Dovecot's auth and mail users must reach files below it
pochta_pid=""
cleanup() {
  stop_pid "$pochta_pid"
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

loadgen="$target_dir/release/pochta-loadgen"
pochta_bin=""
pochta_skip=""
if [ "$SKIP_BUILD" = 1 ]; then
  say "not building (SKIP_BUILD=1): $loadgen, $target_dir/release/pochta"
  [ -x "$loadgen" ] || { echo "$loadgen missing" >&2; exit 1; }
  if [ -x "$target_dir/release/pochta" ]; then
    pochta_bin="$target_dir/release/pochta"
  else
    pochta_skip="$target_dir/release/pochta missing"
  fi
else
  say "building (release)"
  cargo build --release -p pochta-loadgen
fi
if [ "$SKIP_BUILD" = 1 ]; then
  :
elif [ ! -f crates/pochta/Cargo.toml ]; then
  pochta_skip="crates/pochta does not exist yet"
elif ! cargo build --release -p pochta; then
  pochta_skip="cargo build --release -p pochta failed"
else
  pochta_bin="$target_dir/release/pochta"
fi

# The mix and the idle run each get a freshly started server: after the mix, a server's
# allocator holds freed memory that new idle connections would silently reuse, hiding their cost.
# lg LABEL PORT ARGS...: the load generator with the settings common to every run.
lg() {
  local label="$1" port="$2"; shift 2
  "$loadgen" --addr "127.0.0.1:$port" --users "$user_list" --password "$PASSWORD" \
    --clients "$CLIENTS" --seed "$SEED" --label "$label" "$@"
}

# measure_mix LABEL PORT PID: prepare, then the mix; results in $OUT/LABEL/mix.{json,txt}.
# A run with failures still writes its JSON and the script carries on.
measure_mix() {
  local label="$1" port="$2" pid="$3"
  mkdir -p "$OUT/$label"
  say "$label: preparing $NUSERS mailboxes with $MESSAGES messages"
  lg "$label" "$port" --prepare "$MESSAGES" > "$OUT/$label/prepare.txt" 2>&1 || {
    cat "$OUT/$label/prepare.txt"; return 1; }
  say "$label: session mix, $CLIENTS clients, $DURATION"
  lg "$label" "$port" --duration "$DURATION" --server-pid "$pid" --drain-settle "${SETTLE}s" \
    --json-out "$OUT/$label/mix.json" 2>&1 | tee "$OUT/$label/mix.txt" || true
}

# measure_idle LABEL PORT PID: results in $OUT/LABEL/idle.{json,txt}.
measure_idle() {
  local label="$1" port="$2" pid="$3"
  say "$label: $IDLE idle connections (server restarted)"
  lg "$label" "$port" --idle "$IDLE" --server-pid "$pid" \
    --json-out "$OUT/$label/idle.json" 2>&1 | tee "$OUT/$label/idle.txt" || true
}

# --- Dovecot (reference) -------------------------------------------------------------------
start_dovecot() {
  DOVECOT_TUNED="$DOVECOT_TUNED" "$root/bench/dovecot/dovecot.sh" \
    start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "${users[@]}"
}
say "dovecot: starting on 127.0.0.1:$DOVECOT_PORT"
dovecot --version > "$OUT/dovecot-version.txt"
dlabel=dovecot
[ "$DOVECOT_TUNED" = 1 ] && dlabel=dovecot-tuned
dovecot_pid="$(start_dovecot)"
if measure_mix "$dlabel" "$DOVECOT_PORT" "$dovecot_pid"; then
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"
  dovecot_pid="$(start_dovecot)"
  measure_idle "$dlabel" "$DOVECOT_PORT" "$dovecot_pid"
else
  echo "dovecot measurement failed"
fi
cp "$work/dovecot/log/dovecot.log" "$OUT/$dlabel/server.log" 2>/dev/null || true
"$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"

# --- Pochta --------------------------------------------------------------------------------
if [ -z "$pochta_skip" ]; then
  say "pochta: starting on 127.0.0.1:$POCHTA_PORT"
  mkdir -p "$work/pochta/data" "$OUT/pochta"
  conf="$work/pochta/pochta.toml"
  # Limits raised only so the idle run's connections from 127.0.0.1 are not refused (the same
  # as Dovecot's config); `settle` written out (its default is 30 s) so loadgen's drain waits
  # as long; nothing else differs from the defaults.
  pochta_load_conf "$work/pochta/data" "$POCHTA_PORT" "$SETTLE" > "$conf"
  for u in "${users[@]}"; do
    "$pochta_bin" --config "$conf" user add "$u" --password "$PASSWORD" >> "$OUT/pochta/setup.txt" 2>&1 \
      || { pochta_skip="'pochta user add' failed (see $OUT/pochta/setup.txt)"; break; }
  done
fi
start_pochta() {
  setsid "$pochta_bin" --config "$conf" serve >> "$OUT/pochta/server.log" 2>&1 &
  pochta_pid=$!
  wait_port "$POCHTA_PORT"
}
stop_pochta() {
  kill "$pochta_pid" 2>/dev/null || true
  wait "$pochta_pid" 2>/dev/null || true
  pochta_pid=""
}
if [ -z "$pochta_skip" ]; then
  if ! start_pochta; then
    pochta_skip="'pochta serve' did not listen on $POCHTA_PORT (see $OUT/pochta/server.log)"
  elif ! measure_mix pochta "$POCHTA_PORT" "$pochta_pid"; then
    pochta_skip="Pochta's IMAP could not be prepared (LOGIN/SELECT/APPEND not working yet?)"
  else
    stop_pochta
    if start_pochta; then
      measure_idle pochta "$POCHTA_PORT" "$pochta_pid"
    else
      echo "pochta did not restart for the idle run (see $OUT/pochta/server.log)"
    fi
  fi
  stop_pochta
fi
if [ -n "$pochta_skip" ]; then
  say "pochta: SKIPPED — $pochta_skip; its figures are 'not measured'"
  rm -f "$OUT/pochta/mix.json" "$OUT/pochta/idle.json"
  mkdir -p "$OUT/pochta"
  echo "$pochta_skip" > "$OUT/pochta/SKIPPED"
fi

# --- Table ---------------------------------------------------------------------------------
say "results (ratio = pochta / $dlabel; $CLIENTS clients, $DURATION, seed $SEED, $(nproc) CPUs)"
"$loadgen" --compare "$OUT/$dlabel" "$OUT/pochta" | tee "$OUT/table.txt"
echo
echo "results kept in $OUT"
