#!/usr/bin/python3
"""Tiny authoritative-only DNS stub for the pflog e2e mail stack.

Listens on UDP (and TCP) 127.0.0.1:<port> and answers every query at once from a
fixed table; any name not in the table gets NXDOMAIN. It exists so that
policyd-weight and rspamd, which always do DNS lookups, get fast and
deterministic answers and never send a packet off the loopback interface.

Usage: dnsstub.py PORT PIDFILE [ZONEFILE]

ZONEFILE adds records made at run time (the DKIM keys of the auth mix): one record a line,
"NAME TYPE VALUE" with TYPE A or TXT; the rest of the line is the value (a TXT value longer
than 255 bytes is split into several character-strings, as RFC 7208/6376 allow).
"""
import os
import socket
import socketserver
import struct
import sys
import threading

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA = 1, 2, 5, 6, 12, 15, 16, 28

# name -> list of (type, rdata-spec)
ZONE = {
    "sender.test": [(MX, (10, "mail.sender.test")), (A, "127.0.0.1"),
                    (TXT, "v=spf1 ip4:127.0.0.1 -all")],
    "mail.sender.test": [(A, "127.0.0.1")],
    "pflog.test": [(MX, (10, "mail.pflog.test")), (A, "127.0.0.1")],
    "mail.pflog.test": [(A, "127.0.0.1")],
    "vmail.test": [(MX, (10, "mail.pflog.test"))],
    "localhost": [(A, "127.0.0.1")],
    "1.0.0.127.in-addr.arpa": [(PTR, "localhost")],
}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def rdata(rtype, spec):
    if rtype == A:
        return socket.inet_aton(spec)
    if rtype in (PTR, NS, CNAME):
        return encode_name(spec)
    if rtype == MX:
        return struct.pack("!H", spec[0]) + encode_name(spec[1])
    if rtype == TXT:
        b = spec.encode()
        return b"".join(bytes([len(b[i:i + 255])]) + b[i:i + 255] for i in range(0, max(len(b), 1), 255))
    raise ValueError(rtype)


def parse_question(msg):
    pos, labels = 12, []
    while True:
        ln = msg[pos]
        if ln == 0:
            pos += 1
            break
        if ln & 0xC0:  # compression in a question: not expected
            raise ValueError("compressed qname")
        labels.append(msg[pos + 1:pos + 1 + ln].decode("ascii", "replace"))
        pos += 1 + ln
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return ".".join(labels), qtype, qclass, pos + 4


def answer(msg):
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    try:
        qname, qtype, _qclass, qend = parse_question(msg)
    except Exception:
        # FORMERR
        return struct.pack("!HHHHHH", qid, 0x8001 | (flags & 0x0100), 0, 0, 0, 0)
    question = msg[12:qend]
    key = qname.lower().rstrip(".")
    rrs = []
    rcode = 0
    if key in ZONE:
        for rtype, spec in ZONE[key]:
            if rtype == qtype or qtype == 255:
                rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 300, len(rdata(rtype, spec)))
                           + rdata(rtype, spec))
    else:
        rcode = 3  # NXDOMAIN
    print("query %s type=%d -> %s answers=%d" % (qname, qtype, "NXDOMAIN" if rcode == 3 else "NOERROR", len(rrs)),
          flush=True)
    # A negative answer carries the SOA of the top-level zone in its authority section (RFC 2308),
    # as a real server's does: some resolvers (rspamd's) treat one without it as a failed lookup.
    auth = []
    if not rrs:
        zone = key.rsplit(".", 1)[-1]
        soa = encode_name("ns." + zone) + encode_name("hostmaster." + zone) + struct.pack("!IIIII", 1, 3600, 600, 86400, 300)
        auth.append(encode_name(zone) + struct.pack("!HHIH", SOA, 1, 300, len(soa)) + soa)
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    return struct.pack("!HHHHHH", qid, rflags, 1, len(rrs), len(auth), 0) + question + b"".join(rrs) + b"".join(auth)


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        resp = answer(data)
        if resp:
            sock.sendto(resp, self.client_address)


class TCPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            hdr = self.rfile.read(2)
            if len(hdr) < 2:
                return
            (ln,) = struct.unpack("!H", hdr)
            resp = answer(self.rfile.read(ln))
            if resp:
                self.wfile.write(struct.pack("!H", len(resp)) + resp)


class UDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def load_zone(path):
    types = {"A": A, "TXT": TXT}
    with open(path, encoding="ascii") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, rtype, value = line.rstrip("\n").split(None, 2)
            ZONE.setdefault(name.lower().rstrip("."), []).append((types[rtype], value))


def main():
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3:
        load_zone(sys.argv[3])
    udp = UDPServer(("127.0.0.1", port), UDPHandler)
    tcp = TCPServer(("127.0.0.1", port), TCPHandler)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    with open(pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    udp.serve_forever()


if __name__ == "__main__":
    main()
