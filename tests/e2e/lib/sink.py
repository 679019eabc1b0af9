#!/usr/bin/python3
"""Minimal SMTP sink (stdlib only) used as the "remote" side of the pflog e2e stack.

Usage: sink.py --port N --pidfile F [--tls CERT KEY] [--rcpt-reply "550 5.1.1 ..."]
              [--spool FILE] [--name HOST]

Accepts every message (250) unless --rcpt-reply is given, in which case every
RCPT TO gets that reply. With --tls it offers STARTTLS using CERT/KEY.
Binds only to 127.0.0.1.
"""
import argparse
import os
import socketserver
import ssl
import threading

ARGS = None
LOCK = threading.Lock()
COUNTER = [0]


class Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def send(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def ehlo_lines(self, tls_active):
        ext = ["8BITMIME", "SIZE 10240000", "ENHANCEDSTATUSCODES"]
        if ARGS.tls and not tls_active:
            ext.append("STARTTLS")
        lines = [ARGS.name] + ext
        for i, l in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.send("250" + sep + l)

    def handle(self):
        tls_active = False
        self.send("220 %s ESMTP pflog-e2e-sink" % ARGS.name)
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line.split(" ", 1)[0].upper()
            if cmd in ("EHLO", "LHLO"):
                self.ehlo_lines(tls_active)
            elif cmd == "HELO":
                self.send("250 " + ARGS.name)
            elif cmd == "STARTTLS" and ARGS.tls and not tls_active:
                self.send("220 2.0.0 Ready to start TLS")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(ARGS.tls[0], ARGS.tls[1])
                conn = ctx.wrap_socket(self.connection, server_side=True)
                self.connection = self.request = conn
                self.rfile = conn.makefile("rb")
                self.wfile = conn.makefile("wb")
                tls_active = True
                mail_from, rcpts = None, []
            elif cmd == "MAIL":
                mail_from, rcpts = line[10:].strip(), []
                self.send("250 2.1.0 Ok")
            elif cmd == "RCPT":
                if ARGS.rcpt_reply:
                    self.send(ARGS.rcpt_reply)
                else:
                    rcpts.append(line[8:].strip())
                    self.send("250 2.1.5 Ok")
            elif cmd == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 Error: no valid recipients")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while True:
                    d = self.rfile.readline(1 << 20)
                    if not d or d in (b".\r\n", b".\n"):
                        break
                    body.append(d)
                with LOCK:
                    COUNTER[0] += 1
                    qid = "SINK%d%05d" % (ARGS.port, COUNTER[0])
                    if ARGS.spool:
                        with open(ARGS.spool, "ab") as f:
                            f.write(("From %s %s %s\n" % (mail_from, qid, " ".join(rcpts))).encode())
                            f.write(b"".join(body) + b"\n")
                self.send("250 2.0.0 Ok: queued as %s" % qid)
                mail_from, rcpts = None, []
            elif cmd == "RSET":
                mail_from, rcpts = None, []
                self.send("250 2.0.0 Ok")
            elif cmd == "NOOP":
                self.send("250 2.0.0 Ok")
            elif cmd == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--rcpt-reply")
    p.add_argument("--spool")
    p.add_argument("--name", default="sink.remote.test")
    ARGS = p.parse_args()
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    with open(ARGS.pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    srv.serve_forever()


if __name__ == "__main__":
    main()
