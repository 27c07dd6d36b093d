#!/usr/bin/env bash
# SMTP benchmark: Pochta against Postfix (Debian's postfix) on this machine, same run.
#
#   bench/smtp.sh                          # defaults below; override with environment variables
#   DURATION=20s SENDERS=20 SIZE=10240 bench/smtp.sh
#   ONLY=pochta bench/smtp.sh              # skip the Postfix run (for quick store iterations)
#   SOURCE_FILE=letter.txt                 # smtp-source sends this letter (-F) instead of filler
#
# For each server in turn: $SENDERS senders, each one connection, deliver $SIZE-byte messages
# to one local recipient for $DURATION (PIPELINING where offered); a message counts when the
# server answers 250 after DATA. Pochta answers 250 once the message is in its store (durable);
# Postfix once the message is in its queue (queue file fsynced) — local(8) delivers it to
# ~$MAILUSER/Maildir/new/ afterwards, so the script also waits for the queue to drain and
# reports Postfix's delivered-to-maildir rate. Prints a side-by-side table with ratios; JSON,
# text and logs are kept in $OUT.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

DURATION="${DURATION:-20s}"
SENDERS="${SENDERS:-20}"
SIZE="${SIZE:-10240}"
SEED="${SEED:-1}"
DOMAIN="${DOMAIN:-bench.test}"
MAILUSER="${MAILUSER:-pbench}"   # system user Postfix delivers to (created if missing)
POSTFIX_PORT="${POSTFIX_PORT:-21025}"
POCHTA_PORT="${POCHTA_PORT:-21026}"
SINK_PORT="${SINK_PORT:-21027}"
SOURCE_MESSAGES="${SOURCE_MESSAGES:-5000}" # messages per smtp-source run (protocol ceiling)
ONLY="${ONLY:-}"                  # postfix | pochta: measure one server only
SOURCE_FILE="${SOURCE_FILE:-}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-smtp/$(date +%Y%m%d-%H%M%S)}"

work="$(mktemp -d /tmp/pochta-bench-smtp.XXXXXX)"
chmod 755 "$work"
pochta_pid=""
postfix_started=""
sink_pid=""
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  stop_pid "$pochta_pid"
  [ -n "$postfix_started" ] && "$root/bench/postfix/postfix.sh" stop "$work/postfix" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

say "building (release)"
cargo build --release -p pochta-loadgen -p pochta
loadgen="$target_dir/release/pochta-loadgen"
pochta_bin="$target_dir/release/pochta"

# source LABEL PORT RCPT: Postfix's own smtp-source, $SENDERS sessions, $SOURCE_MESSAGES
# messages of $SIZE bytes; writes msgs/s (wall) to $OUT/LABEL/smtp-source.txt.
source_run() {
  local label="$1" port="$2" rcpt="$3"
  command -v smtp-source >/dev/null 2>&1 || return 0
  mkdir -p "$OUT/$label"
  local t0 t1
  t0="$(date +%s%N)"
  local body=(-l "$SIZE")
  [ -n "$SOURCE_FILE" ] && body=(-F "$SOURCE_FILE")
  smtp-source -s "$SENDERS" "${body[@]}" -m "$SOURCE_MESSAGES" -f "bench@$DOMAIN" -t "$rcpt" \
    "127.0.0.1:$port" > "$OUT/$label/smtp-source.log" 2>&1 || true
  t1="$(date +%s%N)"
  awk -v n="$SOURCE_MESSAGES" -v a="$t0" -v b="$t1" -v l="$label" \
    'BEGIN { s = (b - a) / 1e9; printf "smtp-source -> %s: %d messages in %.2f s: %.1f msgs/s\n", l, n, s, n / s }' \
    | tee "$OUT/$label/smtp-source.txt"
}

# lg LABEL PORT PID RCPT: the SMTP load; results in $OUT/LABEL/smtp.{json,txt}.
lg() {
  local label="$1" port="$2" pid="$3" rcpt="$4"
  mkdir -p "$OUT/$label"
  say "$label: $SENDERS senders, $SIZE-byte messages, $DURATION"
  "$loadgen" --smtp --addr "127.0.0.1:$port" --senders "$SENDERS" --size "$SIZE" \
    --duration "$DURATION" --seed "$SEED" --rcpt "$rcpt" --server-pid "$pid" --label "$label" \
    --json-out "$OUT/$label/smtp.json" 2>&1 | tee "$OUT/$label/smtp.txt" || true
}

# --- Postfix (reference) -------------------------------------------------------------------
if [ "$ONLY" != pochta ]; then
  if ! id "$MAILUSER" >/dev/null 2>&1; then
    useradd --system --create-home --home-dir "/var/tmp/pochta-bench-$MAILUSER" \
      --shell /usr/sbin/nologin "$MAILUSER"
  fi
  maildir="$(getent passwd "$MAILUSER" | cut -d: -f6)/Maildir"
  rm -rf "$maildir"
  say "postfix: starting on 127.0.0.1:$POSTFIX_PORT ($(postconf -dh mail_version))"
  postconf -dh mail_version > "$OUT/postfix-version.txt"
  postfix_pid="$("$root/bench/postfix/postfix.sh" start "$work/postfix" "$POSTFIX_PORT" "$DOMAIN" "$MAILUSER")"
  postfix_started=1
  wait_port "$POSTFIX_PORT"
  start_ns="$(date +%s%N)"
  lg postfix "$POSTFIX_PORT" "$postfix_pid" "$MAILUSER@$DOMAIN"
  # End to end: wait (up to 60 s) until every acknowledged message is in Maildir/new.
  acked="$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' "$OUT/postfix/smtp.json" 2>/dev/null || echo 0)"
  for _ in $(seq 600); do
    delivered="$(find "$maildir/new" -type f 2>/dev/null | wc -l)"
    [ "$delivered" -ge "${acked:-0}" ] && break
    sleep 0.1
  done
  end_ns="$(date +%s%N)"
  secs="$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
  rate="$(awk -v n="$delivered" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')"
  echo "postfix end to end: $delivered of $acked acknowledged messages in Maildir/new after $secs s: $rate msgs/s delivered" \
    | tee "$OUT/postfix/delivered.txt"
  # Postfix's own smtp-source against Postfix (a new connection per message), timed until
  # every message is in Maildir/new: the Postfix->maildir reference for smtp-source.
  if command -v smtp-source >/dev/null 2>&1; then
    rm -rf "$maildir"/new/* "$maildir"/cur/* 2>/dev/null || true
    s0="$(date +%s%N)"
    source_run postfix "$POSTFIX_PORT" "$MAILUSER@$DOMAIN"
    for _ in $(seq 1200); do
      delivered="$(find "$maildir/new" -type f 2>/dev/null | wc -l)"
      [ "$delivered" -ge "$SOURCE_MESSAGES" ] && break
      sleep 0.1
    done
    s1="$(date +%s%N)"
    awk -v n="$delivered" -v a="$s0" -v b="$s1" \
      'BEGIN { s = (b - a) / 1e9; printf "smtp-source -> postfix -> maildir: %d messages delivered in %.2f s: %.1f msgs/s\n", n, s, n / s }' \
      | tee "$OUT/postfix/smtp-source-maildir.txt"
  fi
  cp "$work/postfix/log/postfix.log" "$OUT/postfix/server.log" 2>/dev/null || true
  "$root/bench/postfix/postfix.sh" stop "$work/postfix"
  postfix_started=""
  rm -rf "$maildir"
fi

# --- Pochta --------------------------------------------------------------------------------
if [ "$ONLY" != postfix ]; then
  say "pochta: starting on 127.0.0.1:$POCHTA_PORT"
  mkdir -p "$work/pochta/data" "$OUT/pochta"
  conf="$work/pochta/pochta.toml"
  # check_inbound off: SPF/DKIM/DMARC would query DNS for every message, which the Postfix
  # reference does not do either. Limits raised so 20 connections from 127.0.0.1 are let in.
  cat > "$conf" <<CONF
hostname = "mx.$DOMAIN"
data_dir = "$work/pochta/data"

[listen]
smtp = ["127.0.0.1:$POCHTA_PORT"]

[smtp]
check_inbound = false

[limits]
max_connections = 4000
connections_per_ip = 4000
CONF
  "$pochta_bin" --config "$conf" user add "bench@$DOMAIN" --password bench-password \
    > "$OUT/pochta/setup.txt" 2>&1
  setsid "$pochta_bin" --config "$conf" serve >> "$OUT/pochta/server.log" 2>&1 &
  pochta_pid=$!
  if wait_port "$POCHTA_PORT"; then
    lg pochta "$POCHTA_PORT" "$pochta_pid" "bench@$DOMAIN"
    source_run pochta "$POCHTA_PORT" "bench@$DOMAIN"
  else
    echo "pochta did not listen on $POCHTA_PORT (see $OUT/pochta/server.log)"
  fi
  kill "$pochta_pid" 2>/dev/null || true
  wait "$pochta_pid" 2>/dev/null || true
  pochta_pid=""
  du -sh "$work/pochta/data" > "$OUT/pochta/data-size.txt" 2>/dev/null || true
fi

# --- Protocol-only ceiling: Postfix's smtp-source against Postfix's smtp-sink ---------------
# smtp-sink accepts and discards (no queue, no disk): what the SMTP exchange alone costs here.
if [ -z "$ONLY" ] && command -v smtp-sink >/dev/null 2>&1; then
  say "ceiling: smtp-sink on 127.0.0.1:$SINK_PORT"
  mkdir -p "$OUT/sink"
  # As root smtp-sink must drop privileges (-u); the bench's delivery user serves.
  sink_user=()
  [ "$(id -u)" = 0 ] && sink_user=(-u "$MAILUSER")
  smtp-sink "${sink_user[@]}" -c "127.0.0.1:$SINK_PORT" 1000 > "$OUT/sink/sink.log" 2>&1 &
  sink_pid=$!
  if wait_port "$SINK_PORT"; then
    source_run sink "$SINK_PORT" "bench@$DOMAIN"
    lg sink "$SINK_PORT" "$sink_pid" "bench@$DOMAIN"
  fi
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
fi

# --- Table ---------------------------------------------------------------------------------
say "results (ratio = pochta / postfix; $SENDERS senders, $SIZE bytes, $DURATION, $(nproc) CPUs)"
"$loadgen" --compare "$OUT/postfix" "$OUT/pochta" | tee "$OUT/table.txt"
cat "$OUT/postfix/delivered.txt" 2>/dev/null | tee -a "$OUT/table.txt" || true
cat "$OUT"/*/smtp-source.txt "$OUT"/postfix/smtp-source-maildir.txt 2>/dev/null | tee -a "$OUT/table.txt" || true
[ -f "$OUT/sink/smtp.json" ] && "$loadgen" --compare "$OUT/sink" "$OUT/pochta" | tee -a "$OUT/table.txt" || true
echo
echo "results kept in $OUT"
