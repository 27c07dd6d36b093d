#!/usr/bin/env bash
# Start/stop a throwaway Dovecot for the IMAP benchmark.
#   dovecot.sh start DIR PORT PASSWORD USER...   writes DIR/dovecot.conf, starts, prints master PID
#   dovecot.sh stop DIR
# DOVECOT_TUNED=1 enables Dovecot's process-reuse settings (default: Debian's defaults).
# Works as root (mail processes run as the `mail` account) or unprivileged (everything runs as
# the invoking user). DIR and its parents must be traversable by Dovecot's accounts (dovecot,
# dovenull, mail). Needs Debian's dovecot-imapd: apt-get install -y dovecot-imapd
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT PASSWORD USER... | stop DIR" >&2; exit 2; }

case "$cmd" in
start)
  port="$3"; password="$4"; shift 4
  command -v dovecot >/dev/null || { echo "dovecot not installed (apt-get install -y dovecot-imapd)" >&2; exit 1; }
  mkdir -p "$dir"/{run,state,log,mail}
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    mail_uid="$(id -u mail)"; mail_gid="$(id -g mail)"
    user_settings="# (root: Dovecot's defaults, dovenull for login and dovecot for internal processes)"
    chown -R mail:mail "$dir/mail"
  else
    mail_uid="$(id -u)"; mail_gid="$(id -g)"
    me="$(id -un)"; grp="$(id -gn)"
    user_settings="default_internal_user = $me
default_internal_group = $grp
default_login_user = $me"
  fi
  tuning=""
  if [ "${DOVECOT_TUNED:-0}" = 1 ]; then
    # Login processes serve many connections ("high-performance mode") and mail processes are
    # reused after a client logs out, instead of one fresh process per connection each.
    tuning="service imap-login {
  service_count = 0
  process_min_avail = $(nproc)
}
service imap {
  service_count = 0
}"
  fi
  : > "$dir/users"
  for u in "$@"; do printf '%s:{PLAIN}%s\n' "$u" "$password" >> "$dir/users"; done
  chmod 644 "$dir/users"
  awk -v run="$dir/run" -v state="$dir/state" -v logd="$dir/log" -v mail="$dir/mail" \
      -v port="$port" -v users="$dir/users" -v uid="$mail_uid" -v gid="$mail_gid" \
      -v us="$user_settings" -v tuning="$tuning" '
    { gsub(/@RUN_DIR@/, run); gsub(/@STATE_DIR@/, state); gsub(/@LOG_DIR@/, logd);
      gsub(/@MAIL_DIR@/, mail); gsub(/@PORT@/, port); gsub(/@USERS_FILE@/, users);
      gsub(/@MAIL_UID@/, uid); gsub(/@MAIL_GID@/, gid); gsub(/@USER_SETTINGS@/, us);
      gsub(/@SERVICE_TUNING@/, tuning); print }
  ' "$here/dovecot.conf.in" > "$dir/dovecot.conf"
  dovecot -c "$dir/dovecot.conf"
  for _ in $(seq 100); do
    if [ -s "$dir/run/master.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      cat "$dir/run/master.pid"; exit 0
    fi
    sleep 0.1
  done
  echo "dovecot did not start; log:" >&2; cat "$dir/log/dovecot.log" >&2 || true
  exit 1
  ;;
stop)
  [ -f "$dir/dovecot.conf" ] || exit 0
  pid="$(cat "$dir/run/master.pid" 2>/dev/null || true)"
  doveadm -c "$dir/dovecot.conf" stop 2>/dev/null || true
  for _ in $(seq 100); do
    { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; } && exit 0
    sleep 0.1
  done
  echo "dovecot (pid $pid) did not stop" >&2; exit 1
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
