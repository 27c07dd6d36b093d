#!/usr/bin/env bash
# Full-text search benchmark (issue 22): one INBOX of $MESSAGES generated Russian/English
# letters (bench/search.py: plain, HTML, KOI8-R, windows-1251, attachments; Zipf word
# frequencies over inflected word forms), the same bytes in Dovecot (maildir) and in Pochta
# (MULTIAPPEND). Times UID SEARCH TEXT/BODY queries (median of $REPEAT, of $SCAN_REPEAT for
# the scans; one session, after an untimed warm-up query) on:
#   dovecot        Debian's dovecot-imapd as installed (scans the messages)
#   dovecot-xapian the same with Debian's dovecot-fts-xapian plugin (indexed before timing)
#   pochta         Pochta with its search index
#   pochta-scan    Pochta with the index switched off ([search] index = false)
# and sizes: the mail, Xapian's index, Pochta's index (data_dir/search, after a timed
# `pochta search reindex`, which gives the bulk indexing rate). Delivery with the index on and off:
# bench/smtp.sh (ONLY=pochta, smtp-source -F with one corpus letter), $ROUNDS times each,
# alternating.
#
#   bench/search.sh                        # MESSAGES=100000
#   MESSAGES=10000 SKIP=smtp bench/search.sh
#   SKIP="dovecot xapian" bench/search.sh   # any of: dovecot xapian pochta scan smtp
#
# Needs: apt-get install -y dovecot-imapd dovecot-fts-xapian postfix (smtp-source).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

MESSAGES="${MESSAGES:-100000}"
PASSWORD="${PASSWORD:-bench-password}"
USER_NAME="${USER_NAME:-big@bench.test}"
DOVECOT_PORT="${DOVECOT_PORT:-14340}"
POCHTA_PORT="${POCHTA_PORT:-14341}"
SMTP_PORT="${SMTP_PORT:-14343}"
# Timed runs per query: REPEAT for the indexes, SCAN_REPEAT for the scans (~30 s a query at
# 100,000 letters on this machine).
REPEAT="${REPEAT:-3}"
SCAN_REPEAT="${SCAN_REPEAT:-1}"
ROUNDS="${ROUNDS:-3}"
SKIP="${SKIP:-}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-search/$(date +%Y%m%d-%H%M%S)}"
py="$root/bench/search.py"

work="$(mktemp -d "${BENCH_TMP:-/dev/shm}/pochta-bench-search.XXXXXX")"
chmod 755 "$work"
pochta_pid=""
cleanup() {
  stop_pid "$pochta_pid"
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"
skip() { case " $SKIP " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
elapsed() { /usr/bin/time -f "%e s wall, %U s user, %S s system" -o "$1" "${@:2}"; }
{ uptime; nproc; } > "$OUT/machine.txt"

if ! skip pochta || ! skip scan || ! skip smtp; then
  say "building (release)"
  cargo build --release -p pochta
fi
pochta_bin="$target_dir/release/pochta"

mail_bytes="$(python3 "$py" size "$MESSAGES")"
echo "$MESSAGES messages, $mail_bytes bytes" | tee "$OUT/corpus.txt"

# --- Dovecot, scanning and with fts-xapian ------------------------------------------------
maildir="$work/dovecot/mail/$USER_NAME/Maildir"
if ! skip dovecot || ! skip xapian; then
  say "dovecot: $MESSAGES messages"
  "$root/bench/dovecot/dovecot.sh" start "$work/dovecot" "$DOVECOT_PORT" "$PASSWORD" "$USER_NAME" > /dev/null
  elapsed "$OUT/dovecot-fill.s" python3 "$py" fill-maildir "$maildir" "$MESSAGES"
  [ "$(id -u)" = 0 ] && chown -R mail:mail "$work/dovecot/mail"
  if ! skip dovecot; then
    # Warm-up pass (Dovecot indexes the new maildir and fills its cache), then timed.
    python3 "$py" measure 127.0.0.1 "$DOVECOT_PORT" "$USER_NAME" "$PASSWORD" dovecot-warmup > /dev/null 2>&1
    REPEAT="$SCAN_REPEAT" python3 "$py" measure 127.0.0.1 "$DOVECOT_PORT" "$USER_NAME" "$PASSWORD" dovecot > "$OUT/dovecot.json"
  fi
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"
fi
if ! skip xapian; then
  say "dovecot + fts-xapian"
  # The same generated config plus the plugin (nothing from /etc/dovecot).
  cat >> "$work/dovecot/dovecot.conf" <<'CONF'

# bench/search.sh: Debian's dovecot-fts-xapian, as its README configures it.
mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20
  fts_autoindex = yes
  fts_enforced = yes
}
service indexer-worker {
  vsz_limit = 2G
}
CONF
  dovecot -c "$work/dovecot/dovecot.conf"
  wait_port "$DOVECOT_PORT"
  # Index before timing (doveadm index, synchronously); its wall time is the indexing cost.
  elapsed "$OUT/xapian-index.s" doveadm -c "$work/dovecot/dovecot.conf" index -u "$USER_NAME" INBOX
  python3 "$py" measure 127.0.0.1 "$DOVECOT_PORT" "$USER_NAME" "$PASSWORD" xapian-warmup > /dev/null 2>&1
  python3 "$py" measure 127.0.0.1 "$DOVECOT_PORT" "$USER_NAME" "$PASSWORD" dovecot-xapian > "$OUT/dovecot-xapian.json"
  du -sb "$maildir/xapian-indexes" | cut -f1 > "$OUT/xapian-index.bytes" || true
  "$root/bench/dovecot/dovecot.sh" stop "$work/dovecot"
fi
rm -rf "$work/dovecot/mail"

# --- Pochta, with the index and scanning --------------------------------------------------
conf="$work/pochta/pochta.toml"
write_conf() { # on|off: the search index
  local index=true; [ "$1" = off ] && index=false
  {
    pochta_imap_conf "$work/pochta/data" "$POCHTA_PORT"
    cat <<CONF

[search]
index = $index
CONF
  } > "$conf"
}
start_pochta() { # on|off: the search index
  write_conf "$1"
  setsid "$pochta_bin" --config "$conf" serve >> "$OUT/pochta-server.log" 2>&1 &
  pochta_pid=$!
  wait_port "$POCHTA_PORT"
}
stop_pochta() {
  kill "$pochta_pid"; wait "$pochta_pid" 2>/dev/null || true; pochta_pid=""
}
if ! skip pochta || ! skip scan; then
  say "pochta: $MESSAGES messages"
  mkdir -p "$work/pochta/data"
  # Filled with the index off (the reindex below builds it once, timed).
  start_pochta off
  "$pochta_bin" --config "$conf" user add "$USER_NAME" --password "$PASSWORD" > /dev/null
  elapsed "$OUT/pochta-fill.s" python3 "$py" fill 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" "$MESSAGES"
  # Restart: the measured session starts from a server that did not just parse every message.
  stop_pochta
  # The whole index built in one go (the bulk indexing rate).
  write_conf on
  elapsed "$OUT/pochta-reindex.s" "$pochta_bin" --config "$conf" search reindex > "$OUT/pochta-reindex.txt" 2>&1
  du -sb "$work/pochta/data" | cut -f1 > "$OUT/pochta-data.bytes"
  du -sb "$work/pochta/data/search" 2>/dev/null | cut -f1 > "$OUT/pochta-index.bytes" || true
  if ! skip pochta; then
    start_pochta on
    python3 "$py" measure 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" pochta-warmup > /dev/null 2>&1
    python3 "$py" measure 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" pochta > "$OUT/pochta.json"
    stop_pochta
  fi
  if ! skip scan; then
    start_pochta off
    python3 "$py" measure 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" pochta-scan-warmup > /dev/null 2>&1
    REPEAT="$SCAN_REPEAT" python3 "$py" measure 127.0.0.1 "$POCHTA_PORT" "$USER_NAME" "$PASSWORD" pochta-scan > "$OUT/pochta-scan.json"
    stop_pochta
  fi
fi
rm -rf "$work/pochta"

# --- Delivery with the index on and off (Postfix's smtp-source, as bench/smtp.sh runs it) --
# A fresh server per run (data_dir on disk, $SMTP_TMP: every 250 is after an fsync), the index
# switched by `[search] index`; smtp-source sends one corpus letter (-F) $SMTP_MESSAGES times
# over $SENDERS sessions. msgs/s = messages / wall time of smtp-source; after it, the time the
# server still worked (the indexer catching up) is recorded in smtp-on-ROUND.lag. `settle = 0`:
# the indexer takes mail as it arrives (as before [search] settle existed), so its work falls
# inside the timed delivery instead of 30 s after it.
SMTP_MESSAGES="${SMTP_MESSAGES:-5000}"
SENDERS="${SENDERS:-20}"
SMTP_TMP="${SMTP_TMP:-/tmp}"
smtp_run() { # on|off ROUND
  local mode="$1" round="$2" d
  d="$(mktemp -d "$SMTP_TMP/pochta-bench-search-smtp.XXXXXX")"
  local index=true; [ "$mode" = off ] && index=false
  cat > "$d/pochta.toml" <<CONF
hostname = "mx.bench.test"
data_dir = "$d/data"

[listen]
smtp = ["127.0.0.1:$SMTP_PORT"]
imap = ["127.0.0.1:$POCHTA_PORT"]

[auth]
plaintext = "always"

[smtp]
check_inbound = false

[search]
index = $index
settle = 0

[limits]
max_connections = 4000
connections_per_ip = 4000
CONF
  "$pochta_bin" --config "$d/pochta.toml" user add "$USER_NAME" --password "$PASSWORD" > /dev/null
  setsid "$pochta_bin" --config "$d/pochta.toml" serve >> "$OUT/smtp-server.log" 2>&1 &
  pochta_pid=$!
  wait_port "$SMTP_PORT"
  local t0 t1
  t0="$(date +%s%N)"
  smtp-source -s "$SENDERS" -F "$work/letter.txt" -m "$SMTP_MESSAGES" -f "bench@bench.test" \
    -t "$USER_NAME" "127.0.0.1:$SMTP_PORT" > "$OUT/smtp-$mode-$round.log" 2>&1 || true
  t1="$(date +%s%N)"
  awk -v n="$SMTP_MESSAGES" -v a="$t0" -v b="$t1" -v l="$mode" \
    'BEGIN { s = (b - a) / 1e9; printf "index %s: %d messages in %.2f s: %.1f msgs/s\n", l, n, s, n / s }' \
    | tee "$OUT/smtp-$mode-$round.txt"
  if [ "$mode" = on ]; then
    # How long after the last 250 the server kept working (the indexer catching up, merges):
    # until its CPU use stays under 5 % of a core for a second.
    python3 "$py" idle "$pochta_pid" | tee "$OUT/smtp-$mode-$round.lag"
  fi
  stop_pochta
  rm -rf "$d"
}
if ! skip smtp; then
  python3 "$py" sample "$work/letter.txt" 7
  for round in $(seq "$ROUNDS"); do
    for mode in on off; do
      say "delivery, index $mode, round $round"
      smtp_run "$mode" "$round"
    done
  done
fi

# --- Table --------------------------------------------------------------------------------
say "results ($MESSAGES messages, $mail_bytes bytes of mail; $(nproc) CPUs; load: $(cut -d, -f3- "$OUT/machine.txt" | head -1))"
jsons=()
for l in dovecot dovecot-xapian pochta pochta-scan; do [ -s "$OUT/$l.json" ] && jsons+=("$OUT/$l.json"); done
[ "${#jsons[@]}" -gt 0 ] && python3 "$py" compare "${jsons[@]}" | tee "$OUT/table.txt"
{
  for f in dovecot-fill xapian-index pochta-fill pochta-reindex; do
    [ -s "$OUT/$f.s" ] && echo "$f: $(tail -1 "$OUT/$f.s")"
  done
  for f in xapian-index pochta-index pochta-data; do
    [ -s "$OUT/$f.bytes" ] && awk -v b="$(cat "$OUT/$f.bytes")" -v m="$mail_bytes" -v f="$f" \
      'BEGIN { printf "%s: %d bytes, %.1f %% of the mail\n", f, b, 100 * b / m }'
  done
  for mode in on off; do
    printf 'smtp-source, index %s:' "$mode"
    for round in $(seq "$ROUNDS"); do
      sed -n 's/.*: \([0-9.]*\) msgs\/s$/ \1/p' "$OUT/smtp-$mode-$round.txt" 2>/dev/null | tr -d '\n'
    done
    echo " msgs/s"
  done
} | tee -a "$OUT/table.txt"
echo "results kept in $OUT"
