#!/usr/bin/env bash
# Big-mailbox benchmark: one INBOX of $MESSAGES messages (threads, flags, dates; the same
# bytes for both servers), on Pochta and on Dovecot (Debian's dovecot-imapd) on this machine.
# Times SELECT, FETCH 1:* (FLAGS), UID SEARCH (flags, dates, headers), SORT and THREAD, each
# the median of 3 runs in one session, and the memory of the process serving the session;
# both servers are measured at the same time, each timed run going to each in turn.
#
#   bench/bigmailbox.sh                  # MESSAGES=100000
#   MESSAGES=10000 bench/bigmailbox.sh   # a quicker look
#   POCHTA_BIN=/tmp/pochta-before bench/bigmailbox.sh   # that binary, no build
#
# Client: bench/bigmailbox.py (python3 only). Results: $OUT/{dovecot,pochta}.json, table.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

MESSAGES="${MESSAGES:-100000}"
PASSWORD="${PASSWORD:-bench-password}"
USER_NAME="${USER_NAME:-big@bench.test}"
DOVECOT_PORT="${DOVECOT_PORT:-21153}"
POCHTA_PORT="${POCHTA_PORT:-21154}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-bigmailbox/$(date +%Y%m%d-%H%M%S)}"
py="$root/bench/bigmailbox.py"

# Both servers keep their data on tmpfs by default: the fill is 100,000 files for Dovecot and
# the commands measured read, so a busy disk would measure the disk. BENCH_TMP=/tmp for a disk.
work="$(mktemp -d "${BENCH_TMP:-/dev/shm}/pochta-bench-big.XXXXXX")"
chmod 755 "$work"
pochta_pid=""
cleanup() {
  stop_pid "$pochta_pid"
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

if [ -n "${POCHTA_BIN:-}" ]; then
  pochta_bin="$POCHTA_BIN"   # a release binary built elsewhere (interleaved before/after runs)
else
  say "building (release)"
  cargo build --release -p pochta
  pochta_bin="$target_dir/release/pochta"
fi

uptime | tee "$OUT/load-start.txt"
say "dovecot: $MESSAGES messages"
dovecot_master="$("$root/bench/dovecot/dovecot.sh" start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "$USER_NAME")"
# Written as maildir files: Dovecot's APPEND fsyncs every message (17 s per 2,000 here).
maildir="$work/dovecot/mail/$USER_NAME/Maildir"
/usr/bin/time -f "dovecot fill: %e s" python3 "$py" fill-maildir "$maildir" "$MESSAGES"
[ "$(id -u)" = 0 ] && chown -R mail:mail "$work/dovecot/mail"

say "pochta: $MESSAGES messages"
mkdir -p "$work/pochta/data"
conf="$work/pochta/pochta.toml"
pochta_imap_conf "$work/pochta/data" "$POCHTA_PORT" > "$conf"
"$pochta_bin" --config "$conf" user add "$USER_NAME" --password "$PASSWORD" > /dev/null
# `setsid`: the server runs in its own session, as Dovecot (a daemon) does. With the kernel's
# autogroup scheduling (kernel.sched_autogroup_enabled=1, the default on Debian) a session is
# one scheduling group: a server started in this script's session would share one CPU share
# with the client reading its answers, while Dovecot and the client each have their own; on a
# loaded machine FETCH 1:* (FLAGS) then measured 1.4-1.6x Dovecot's wall time with less CPU
# (bench/README.md, "Where FETCH's wall time went").
setsid "$pochta_bin" --config "$conf" serve >> "$OUT/pochta-server.log" 2>&1 &
pochta_pid=$!
wait_port "$POCHTA_PORT"
/usr/bin/time -f "pochta fill: %e s" python3 "$py" fill 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" "$MESSAGES"
# The full-text index (on by default) is written in the background: wait until it holds every
# message (its commit payload is `mailbox:watermark,...`), as Dovecot's warm-up pass indexes.
t0=$(date +%s)
[ "${POCHTA_SEARCH_INDEX:-on}" = off ] ||
until grep -q ":$MESSAGES\b" "$work/pochta/data/search/meta.json" 2>/dev/null; do
  [ $(( $(date +%s) - t0 )) -lt 3600 ] || { echo "search index never caught up" >&2; exit 1; }
  sleep 1
done
echo "pochta index caught up $(( $(date +%s) - t0 )) s after the fill"
# Restart: the measured session starts from a server that did not just parse every message.
kill "$pochta_pid"; wait "$pochta_pid" 2>/dev/null || true
setsid "$pochta_bin" --config "$conf" serve >> "$OUT/pochta-server.log" 2>&1 &
pochta_pid=$!
wait_port "$POCHTA_PORT"
# Both servers at the same time, each timed run going to each in turn (`measure-both`), so
# that a load changing meanwhile weighs on both alike. Dovecot's `imap` process of the
# measuring session: the newest child of this Dovecot.
say "measuring both servers, interleaved"
python3 "$py" measure-both 127.0.0.1 "$USER_NAME" "$PASSWORD" "$OUT" \
  "dovecot:$DOVECOT_PORT:pgrep -n -x imap -P $dovecot_master" "pochta:$POCHTA_PORT:echo $pochta_pid"

say "results (ratio = pochta / dovecot; $MESSAGES messages, $(nproc) CPUs)"
python3 "$py" compare "$OUT/dovecot.json" "$OUT/pochta.json" | tee "$OUT/table.txt"
uptime | tee -a "$OUT/table.txt"
echo "results kept in $OUT"
