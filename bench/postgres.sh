#!/usr/bin/env bash
# IMAP mix on the PostgreSQL backend (issue 18): one node on PostgreSQL against the embedded
# backend, and two nodes against one on the same database, counting the CPU of the nodes AND
# of the database (every postgres process).
#
#   bench/postgres.sh                        # defaults below; override with environment variables
#   DURATION=30s CLIENTS=10 bench/postgres.sh
#
# Runs as root (cgroup v1 `cpuacct` at /sys/fs/cgroup/cpuacct: the nodes and the PostgreSQL
# cluster are moved into one cgroup, so the CPU of every postgres backend forked for them is
# counted; PostgreSQL runs as the `postgres` user via setpriv). Needs PostgreSQL 15's server
# binaries (/usr/lib/postgresql/15/bin or $PG_BIN). The cluster is a throwaway one in a temp
# dir with PostgreSQL's defaults (fsync on) but for shared_buffers = 128MB and max_connections.
#
# Order: embedded (1 node), postgres (1 node, CLIENTS clients), postgres (2 nodes, CLIENTS/2
# clients each, both at once), postgres (1 node) again; each on freshly prepared mailboxes of
# the same size. Results in $OUT: one directory per run with the load generator's JSON and
# `cpu.txt` (cgroup CPU seconds of nodes + database over the run, per-node RSS after it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. "$root/bench/lib.sh"

DURATION="${DURATION:-20s}"
CLIENTS="${CLIENTS:-10}"
NUSERS="${NUSERS:-10}"
MESSAGES="${MESSAGES:-100}"
SEED="${SEED:-1}"
PASSWORD="${PASSWORD:-bench-password}"
BASE_PORT="${BASE_PORT:-14350}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
POOL="${POOL:-8}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
OUT="${OUT:-$target_dir/bench-postgres/$(date +%Y%m%d-%H%M%S)}"
pg_port=$((BASE_PORT + 9))

users=()
for i in $(seq 1 "$NUSERS"); do users+=("u$i@bench.test"); done
user_list="$(IFS=,; echo "${users[*]}")"

work="$(mktemp -d /tmp/pochta-bench-pg.XXXXXX)"
chmod 755 "$work"
cg="/sys/fs/cgroup/cpuacct/pochta-bench-$$"
mkdir "$cg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$PG_BIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  sleep 0.5
  # Anything left in the cgroup goes back to the root before it is removed.
  while read -r p; do echo "$p" > /sys/fs/cgroup/cpuacct/cgroup.procs 2>/dev/null || true; done < "$cg/cgroup.procs"
  rmdir "$cg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$OUT"

say "building (release)"
cargo build --release -p pochta -p pochta-loadgen
pochta="$target_dir/release/pochta"
loadgen="$target_dir/release/pochta-loadgen"

# --- PostgreSQL ----------------------------------------------------------------------------
say "postgres: initdb and start on 127.0.0.1:$pg_port"
mkdir -p "$work/pg"
chown postgres:postgres "$work/pg"
setpriv --reuid=postgres --regid=postgres --init-groups -- \
  "$PG_BIN/initdb" -D "$work/pg" -U postgres --auth=trust >"$OUT/initdb.txt" 2>&1
setpriv --reuid=postgres --regid=postgres --init-groups -- \
  "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $work/pg -c max_connections=200 -c shared_buffers=128MB" \
  start >/dev/null
postmaster="$(head -1 "$work/pg/postmaster.pid")"
"$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE pochta" >/dev/null
pg_url="postgres://postgres@127.0.0.1:$pg_port/pochta"
"$PG_BIN/postgres" --version > "$OUT/postgres-version.txt"

# node NAME PORT STORE: writes a config, adds users (first node only), starts; prints the pid.
config() {
  local name="$1" port="$2" store="$3"
  mkdir -p "$work/$name/data"
  cat > "$work/$name/pochta.toml" <<CONF
hostname = "bench.test"
data_dir = "$work/$name/data"

[listen]
imap = ["127.0.0.1:$port"]

[auth]
plaintext = "always"

[limits]
max_connections = 4000
connections_per_ip = 4000
$store
CONF
}
start_node() {
  local name="$1" port="$2"
  setsid "$pochta" --config "$work/$name/pochta.toml" serve >> "$OUT/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "$port" 300
  echo "$pid" > "$cg/cgroup.procs"
  echo "$pid"
}
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
add_users() {
  for u in "${users[@]}"; do
    "$pochta" --config "$work/$1/pochta.toml" user add "$u" --password "$PASSWORD" >/dev/null 2>&1 || true
  done
}
pg_store="[store]
backend = \"postgres\"
url = \"$pg_url\"
pool_size = $POOL"

# Every process of the cluster (postmaster and the backends it forks) into the cgroup.
for p in $postmaster $(pgrep -P "$postmaster"); do echo "$p" > "$cg/cgroup.procs"; done

node_ticks() {  # utime+stime of the running nodes, in clock ticks
  local sum=0 p
  for p in "${pids[@]}"; do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$sum"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
pg_rss_kib() {  # Σ Pss of the postgres processes (shared buffers split among them)
  local sum=0 p
  for p in $postmaster $(pgrep -P "$postmaster"); do
    sum=$((sum + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

# run LABEL PORT...: prepares through the first port, then the mix on every port at once
# (CLIENTS divided among them); cgroup CPU over the whole window.
run() {
  local label="$1"; shift
  local ports=("$@") n=$#
  local dir="$OUT/$label"
  mkdir -p "$dir"
  local per=$((CLIENTS / n))
  say "$label: prepare, then $n x $per clients for $DURATION"
  "$loadgen" --addr "127.0.0.1:${ports[0]}" --users "$user_list" --password "$PASSWORD" \
    --clients "$CLIENTS" --seed "$SEED" --prepare "$MESSAGES" > "$dir/prepare.txt" 2>&1
  local before; before="$(cat "$cg/cpuacct.usage")"
  local nodes_before; nodes_before="$(node_ticks)"
  local t0; t0="$(date +%s.%N)"
  local lgs=() i=0
  for port in "${ports[@]}"; do
    i=$((i + 1))
    "$loadgen" --addr "127.0.0.1:$port" --users "$user_list" --password "$PASSWORD" \
      --clients "$per" --seed "$((SEED + i))" --label "$label-$i" --duration "$DURATION" \
      --cgroup "$cg" --json-out "$dir/mix-$i.json" > "$dir/mix-$i.txt" 2>&1 &
    lgs+=($!)
  done
  for p in "${lgs[@]}"; do wait "$p" || true; done
  local after; after="$(cat "$cg/cpuacct.usage")"
  local nodes_after; nodes_after="$(node_ticks)"
  local t1; t1="$(date +%s.%N)"
  {
    echo "load_average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cgroup_cpu_s $(echo "($after - $before) / 1000000000" | bc -l)"
    echo "wall_s $(echo "$t1 - $t0" | bc -l)"
    echo "nodes_cpu_s $(echo "($nodes_after - $nodes_before) / $(getconf CLK_TCK)" | bc -l)"
    for p in "${pids[@]}"; do echo "node_rss_kib $p $(rss_kib "$p")"; done
    # Threads right after the run: the blocking pool keeps a thread 10 s after its last job,
    # so this is about the most store calls that were waiting at once.
    for p in "${pids[@]}"; do echo "node_threads $p $(ls "/proc/$p/task" | wc -l)"; done
    echo "postgres_pss_kib $(pg_rss_kib)"
  } > "$dir/cpu.txt"
  python3 - "$dir" <<'PY'
import json, sys, glob, os
d = sys.argv[1]
cpu = dict(l.split(None, 1) for l in open(os.path.join(d, "cpu.txt")))
runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "mix-*.json")))]
ops = sum(r["ops"] for r in runs)
fails = sum(r["failures"] for r in runs)
c = float(cpu["cgroup_cpu_s"]); w = float(cpu["wall_s"])
nc = float(cpu["nodes_cpu_s"])
line = (f"{os.path.basename(d)}: ops {ops}, failures {fails}, cpu(nodes+db) {c:.2f} s "
        f"(nodes {nc:.2f}, db {c - nc:.2f}), "
        f"wall {w:.1f} s, ops/cpu-s {ops / c:.1f}, ops/s {ops / w:.1f}, "
        f"load {cpu['load_average'].strip()}")
print(line)
open(os.path.join(d, "summary.txt"), "w").write(line + "\n")
PY
}

# --- embedded, one node ----------------------------------------------------------------------
config emb "$BASE_PORT" ""
add_users emb
start_node emb "$BASE_PORT" >/dev/null
run embedded "$BASE_PORT"
stop_nodes

# --- PostgreSQL: one node, two nodes, one node again -------------------------------------------
config pga "$((BASE_PORT + 1))" "$pg_store"
config pgb "$((BASE_PORT + 2))" "$pg_store"
add_users pga
start_node pga "$((BASE_PORT + 1))" >/dev/null
run pg-1node "$((BASE_PORT + 1))"
start_node pgb "$((BASE_PORT + 2))" >/dev/null
run pg-2nodes "$((BASE_PORT + 1))" "$((BASE_PORT + 2))"
stop_nodes
start_node pga "$((BASE_PORT + 1))" >/dev/null
run pg-1node-again "$((BASE_PORT + 1))"
stop_nodes

say "summary"
cat "$OUT"/*/summary.txt | tee "$OUT/summary.txt"
echo "results kept in $OUT"
