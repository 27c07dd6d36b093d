#!/usr/bin/env bash
# Postfix's smtp-source (-s 20 -l 10240, a new connection per message, then -d) against a
# throwaway Pochta MTA with smtp.check_inbound on, then off, the sender's SPF and DMARC
# records served by the test DNS server (crates/dns/src/testing/authdns.py, Python dnslib)
# as [dns] servers. NODNS=1: no [dns] section (the system's resolver) instead.
# Usage: bench/smtp-source-dns.sh [MESSAGES] (default 3000); needs `cargo build --release -p
# pochta`, postfix (smtp-source only) and dnslib. Only PIDs started here are stopped.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/pochta}; M=${1:-3000}
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
W=$(mktemp -d /tmp/dnsbench.XXXX)
cat > $W/zone.txt <<Z
client.test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
client.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.client.test. 300 IN TXT "v=DMARC1; p=none"
Z
: > $W/q.log
mkfifo $W/fifo
python3 "$ROOT/crates/dns/src/testing/authdns.py" $W/zone.txt $W/q.log < $W/fifo > $W/dns.out 2>&1 &
DNSPID=$!
exec 9> $W/fifo
for i in $(seq 50); do grep -q READY $W/dns.out && break; sleep 0.1; done
DNSPORT=$(awk '/READY/{print $2}' $W/dns.out)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run() { # $1 check_inbound
  rm -rf $W/data; mkdir -p $W/data
  cat > $W/pochta.toml <<C
hostname = "mx.bench.test"
data_dir = "data"
[listen]
smtp = ["127.0.0.1:$PORT"]
[smtp]
check_inbound = $1
${NODNS:+#}[dns]
${NODNS:+#}servers = ["127.0.0.1:$DNSPORT"]
C
  $BIN --config $W/pochta.toml user add b@example.org --password x >/dev/null 2>&1
  RUST_LOG=warn setsid $BIN --config $W/pochta.toml serve > $W/serve.log 2>&1 &
  SP=$!
  for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
  for mode in "" "-d"; do
    s=$(date +%s.%N)
    "$SMTP_SOURCE" -s 20 -l 10240 -m $M $mode -f a@client.test -t b@example.org 127.0.0.1:$PORT >$W/ss.out 2>&1
    rc=$?
    e=$(date +%s.%N)
    echo "check_inbound=$1 mode=${mode:-newconn} rc=$rc messages=$M secs=$(echo "$e - $s" | bc) rate=$(echo "$M / ($e - $s)" | bc) msg/s $(head -c 200 $W/ss.out)"
  done
  kill $SP; wait $SP 2>/dev/null
}
run true
run false
echo "DNS queries seen: $(wc -l < $W/q.log): $(sort $W/q.log | uniq -c | tr '\n' ';')"
exec 9>&-
kill $DNSPID 2>/dev/null; wait $DNSPID 2>/dev/null
rm -rf $W
