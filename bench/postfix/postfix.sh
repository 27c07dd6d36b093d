#!/usr/bin/env bash
# A throwaway Postfix for bench/smtp.sh: its own config, queue and data directories under DIR,
# SMTP on 127.0.0.1:PORT only, local delivery to ~USER/Maildir/ for USER@DOMAIN, no DNS.
# The system service and /etc/postfix are not used (Debian's package, "No configuration").
#
#   postfix.sh start DIR PORT DOMAIN USER   # prints the master's PID
#   postfix.sh stop DIR
set -euo pipefail

cmd="${1:?start|stop}"
dir="${2:?DIR}"

case "$cmd" in
start)
  port="${3:?PORT}" domain="${4:?DOMAIN}" user="${5:?USER}"
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/log"
  chown postfix "$dir/data"
  cp /etc/postfix/master.cf.proto "$dir/etc/master.cf"
  # Replace the default smtpd listener on port 25 with one on our loopback port.
  sed -i '/^smtp      inet/d' "$dir/etc/master.cf"
  echo "127.0.0.1:$port inet n - y - - smtpd" >> "$dir/etc/master.cf"
  cat > "$dir/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/log/postfix.log
maillog_file_prefixes = $dir/log
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = postfix.$domain
mydomain = $domain
mydestination = $domain
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps = proxy:unix:passwd.byname
home_mailbox = Maildir/
biff = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks
smtpd_data_restrictions =
# Connection caps only, so 20 senders from one address are not throttled.
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
default_process_limit = 100
CONF
  postfix -c "$dir/etc" check >/dev/null 2>&1 || true
  # Postfix reports start-up errors only to syslog or a terminal; script(1) gives it one.
  script -qec "postfix -c $dir/etc start" /dev/null >"$dir/log/start.txt" || { cat "$dir/log/start.txt" >&2; exit 1; }
  for _ in $(seq 100); do
    [ -s "$dir/queue/pid/master.pid" ] && break
    sleep 0.1
  done
  tr -d ' \n' < "$dir/queue/pid/master.pid"
  echo
  ;;
stop)
  if [ -f "$dir/etc/main.cf" ]; then
    postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
    # The master exits shortly after; wait for it (by its own PID file).
    for _ in $(seq 50); do
      pid="$(tr -d ' \n' < "$dir/queue/pid/master.pid" 2>/dev/null || true)"
      { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; } && break
      sleep 0.1
    done
  fi
  ;;
*) echo "usage: $0 start DIR PORT DOMAIN USER | stop DIR" >&2; exit 2 ;;
esac
