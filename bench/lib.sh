# Shell functions shared by the bench/ scripts: `. "$root/bench/lib.sh"` after `set -euo pipefail`.

# say TEXT: a heading in the script's output.
say() { printf '\n### %s\n' "$*"; }

# wait_port PORT [TENTHS]: until something accepts on 127.0.0.1:PORT (default 20 s); 1 if never.
wait_port() {
  for _ in $(seq "${2:-200}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# tree_ticks PID: CPU clock ticks (utime+stime+cutime+cstime) of PID and its live descendants;
# a reaped child's time is already in its parent's cutime/cstime (proc(5)).
tree_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    {
      pid = $1
      rest = $0; sub(/^.*\) /, "", rest)
      split(rest, f, " ")
      ppid[pid] = f[2]; ticks[pid] = f[12] + f[13] + f[14] + f[15]
    }
    END {
      want[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (p in ppid) if (!(p in want) && (ppid[p] in want)) { want[p] = 1; changed = 1 }
      }
      total = 0
      for (p in want) total += ticks[p]
      print total
    }'
}

# wait_idle PID [MAX]: waits until PID's tree used less than 20 ms of CPU in each of two
# consecutive seconds, at most MAX seconds (default 120); prints the seconds waited.
wait_idle() {
  local pid="$1" max="${2:-120}" quiet=0 prev now waited=0 hz
  hz="$(getconf CLK_TCK)"
  prev="$(tree_ticks "$pid")"
  while [ "$quiet" -lt 2 ] && [ "$waited" -lt "$max" ]; do
    sleep 1; waited=$((waited + 1))
    now="$(tree_ticks "$pid")"
    if [ $(( (now - prev) * 1000 / hz )) -lt 20 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    prev="$now"
  done
  echo "$waited"
}

# pochta_imap_conf DATA_DIR PORT: the head of a Pochta configuration for a benchmark: IMAP only,
# on 127.0.0.1:PORT, plaintext LOGIN allowed (the clients log in without TLS on loopback);
# every other key at its default unless the script appends a section.
pochta_imap_conf() {
  cat <<CONF
hostname = "bench.test"
data_dir = "$1"

[listen]
imap = ["127.0.0.1:$2"]

[auth]
plaintext = "always"
CONF
}

# pochta_load_conf DATA_DIR PORT SETTLE: pochta_imap_conf plus connection limits raised as in
# the Dovecot reference's config (a load run's many connections from 127.0.0.1 are not refused)
# and `[search] settle` written out, so a run's drain knows how long deferred indexing waits.
pochta_load_conf() {
  pochta_imap_conf "$1" "$2"
  cat <<CONF

[limits]
max_connections = 4000
connections_per_ip = 4000

[search]
settle = $3
CONF
}

# stop_pid PID: ends a server this script started (if it still runs) and reaps it.
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
