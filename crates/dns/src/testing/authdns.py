#!/usr/bin/env python3
"""A small authoritative DNS server for Pochta's tests (dnslib).

Usage: authdns.py ZONE_FILE QUERY_LOG

Serves the records of ZONE_FILE (master-file format, absolute names) on 127.0.0.1, UDP and
TCP on the same port, and prints "READY <port>" once listening. Each query received is
appended to QUERY_LOG as "<name> <type> <udp|tcp>" (lower-cased name with trailing dot), so
a test can count what reached the server. Answers: the records of the name and type (CNAMEs
followed within the zone), NODATA when the name has other records, NXDOMAIN otherwise; both
negative answers carry the zone's SOA in the authority section (RFC 2308 §3). UDP answers
larger than 512 bytes without EDNS (or the client's EDNS size) are truncated (TC), so clients
retry over TCP. The process exits when its standard input closes (the test ended).
"""
import socket
import sys
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, records, log_path):
        self.records = records
        self.log = open(log_path, "a", buffering=1)
        self.lock = threading.Lock()

    def soa_for(self, qname):
        best = None
        for rr in self.records:
            if rr.rtype == QTYPE.SOA and qname.matchSuffix(rr.rname):
                if best is None or len(rr.rname.label) > len(best.rname.label):
                    best = rr
        return best

    def resolve(self, request, handler):
        q = request.q
        proto = "tcp" if handler.protocol == "tcp" else "udp"
        with self.lock:
            self.log.write(f"{str(q.qname).lower()} {QTYPE[q.qtype]} {proto}\n")
        reply = request.reply()
        reply.header.aa = 1
        name = q.qname
        for _ in range(8):
            at_name = [rr for rr in self.records if rr.rname == name]
            hits = [rr for rr in at_name if rr.rtype == q.qtype or q.qtype == QTYPE.ANY]
            if hits:
                for rr in hits:
                    reply.add_answer(rr)
                return reply
            cname = [rr for rr in at_name if rr.rtype == QTYPE.CNAME]
            if cname:
                reply.add_answer(cname[0])
                name = cname[0].rdata.label
                continue
            soa = self.soa_for(name)
            if soa is not None:
                reply.add_auth(soa)
            if not at_name:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        return reply


class Handler(DNSHandler):
    def get_reply(self, data):
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        if self.protocol == "udp":
            limit = 512
            for ar in request.ar:
                if ar.rtype == QTYPE.OPT:
                    limit = max(512, ar.rclass)
            packed = reply.pack()
            if len(packed) > limit:
                # The question stays (RFC 1035 §4.1.1; resolvers match answers by it).
                truncated = request.reply()
                truncated.header.tc = 1
                truncated.header.aa = 1
                return truncated.pack()
            return packed
        return reply.pack()


def main():
    zone_path, log_path = sys.argv[1], sys.argv[2]
    with open(zone_path) as f:
        records = RR.fromZone(f.read())
    resolver = ZoneResolver(records, log_path)
    logger = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", False)
    # UDP on a free port, then TCP on the same port number.
    for _ in range(20):
        udp = DNSServer(resolver, port=0, address="127.0.0.1", logger=logger, handler=Handler)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, port=port, address="127.0.0.1", logger=logger,
                            tcp=True, handler=Handler)
            break
        except OSError:
            udp.server.server_close()
    else:
        sys.exit("no free port for UDP and TCP")
    udp.start_thread()
    tcp.start_thread()
    print(f"READY {port}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
