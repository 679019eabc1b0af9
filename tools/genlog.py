#!/usr/bin/env python3
"""genlog.py - deterministic synthetic mail log generator with exact expected metric totals.

Writes a realistic, interleaved syslog of a Postfix 3.7 mail server with postscreen, postgrey,
policyd-weight (Debian 0.1.15.2 formats), rspamd (milter, proxy worker task log), Dovecot LMTP and
a little noise from other programs, and next to it the exact values that pflog must export for a
set of metric families (see docs/metrics.md and the "Expected semantics" block below).

    tools/genlog.py --lines 1000000 --seed 1 --format bsd --out mail.log --expected mail.prom

Only the Python standard library is used. The output depends only on the arguments (not on
PYTHONHASHSEED, the machine or the time of day).

Expected semantics (the contract the .prom file encodes):
- pflog_lines_total{program,result}: program = daemon name (smtpd for postfix/smtpd and
  postfix/submission/smtpd, smtp, lmtp, cleanup, qmgr, pickup, bounce, postscreen, postgrey,
  policyd-weight, rspamd); every line of those is result="parsed" (the generator only writes lines
  that a parser must understand). dovecot, opendkim and CRON lines are program="other",
  result="ignored".
- postfix_smtpd_connections_total{postfix_instance,service}: smtpd `connect from` (postscreen's
  `CONNECT from` does not count).
- postfix_smtpd_lost_connections_total{after,postfix_instance,service}: `lost connection after X`.
- postfix_smtpd_sasl_auth_failures_total{method,postfix_instance,service}.
- postfix_tls_connections_total{cipher,direction,postfix_instance,protocol,service,trust}.
- postfix_rejects_total{code,postfix_instance,reason,service,stage}: one per reject or
  milter-reject line; the code of a milter-reject (which only has an enhanced code) is "550" for
  5.x.x and "450" for 4.x.x. cleanup header_checks rejects have stage "HEADER" (src/event.rs).
- postfix_deliveries_total{postfix_instance,service,status}: smtp/lmtp `status=` lines.
- postfix_messages_received_total{postfix_instance,service}: smtpd `client=`, pickup `uid= from=`.
- postfix_bounces_total{postfix_instance}: bounce `sender non-delivery notification`.
- postfix_qmgr_expired_total{postfix_instance}: qmgr `status=expired, returned to sender`.
- postgrey_actions_total{action,reason}: reason with the parenthesised part dropped, `-` and ` `
  turned into `_` (new, early_retry, triplet_found, client_whitelist).
- policyd_weight_decisions_total{action,cached}: PREPEND -> prepend, DUNNO/OK -> accept,
  4xx/DEFER -> defer, 5xx/REJECT -> reject; cached = "using cached result" or "[cached]".
- rspamd_actions_total{action}: action with spaces -> underscores.
- postfix_message_outcomes_total{inbound_tls,outcome,postfix_instance}: delivered = each
  status=sent line; bounced = each status=bounced line; expired = one per recipient still
  deferred when qmgr logs status=expired; rejected = each 5xx reject / milter-reject line that
  carries to=<...> (smtpd, postscreen and cleanup). inbound_tls = TLS protocol of the smtpd
  session that received the message (`none` without TLS; postscreen never has TLS -> `none`),
  `local` for pickup and bounce-generated mail.
"""

import argparse
import heapq
import math
import os
import random
import sys
import time

SERVER_IP = "192.0.2.25"
LOCAL_DOMAIN = "vmail.test"
LMTP_RELAY = "mail.vmail.test[private/dovecot-lmtp]"
INST = "postfix"
GREYLIST_MIN = 300  # postgrey --delay

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

FIRST = ("anna", "ben", "carla", "david", "eva", "felix", "greta", "hans", "ines", "jonas",
         "karin", "lukas", "maria", "nils", "olga", "paul", "quentin", "rita", "sven", "tina",
         "ulrich", "vera", "walter", "xenia", "yusuf", "zoe", "amir", "bea", "chen", "dora",
         "emil", "fatima", "georg", "hanna", "igor", "julia", "kai", "lena", "marco", "nora")
LAST = ("meyer", "schmidt", "keller", "wagner", "becker", "hofmann", "koch", "richter", "klein",
        "wolf", "neumann", "schwarz", "zimmer", "braun", "krueger", "hartmann", "lange", "werner",
        "krause", "lehmann", "koehler", "maier", "roth", "fuchs", "vogel", "jung", "frank",
        "berger", "kaiser", "lorenz", "sommer", "winter", "brandt", "haas", "graf", "dietrich")
WORDS = ("acme", "blue", "cedar", "delta", "ember", "falcon", "granite", "harbor", "iris",
         "juniper", "kestrel", "lumen", "maple", "nimbus", "orchid", "pioneer", "quartz", "river",
         "summit", "tundra", "umber", "vertex", "willow", "xylo", "yonder", "zephyr", "alpine",
         "beacon", "cobalt", "dune", "echo", "fjord", "glade", "hollow", "indigo", "jade")
WORDS2 = ("mail", "works", "labs", "shop", "group", "media", "net", "systems", "logistik",
          "consult", "design", "travel", "bank", "news", "cloud", "data", "health", "verlag")
TLDS = ("com", "net", "org", "de", "fr", "nl", "io", "co.uk", "at", "ch", "it", "se", "pl")
ISPS = ("dsl.telco-one.test", "cable.kabelnet.test", "dyn.fibernet.test", "pool.mobilcom.test")
BAD_HELOS = ("ylmf-pc", "User", "localhost", "WIN-8K2M4P1", "desktop", "ADMIN")
PUB_OCTETS = (5, 23, 31, 37, 45, 46, 62, 77, 78, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92,
              93, 94, 95, 109, 141, 146, 151, 176, 178, 185, 188, 193, 194, 195, 209, 212, 213,
              217)
SUBJECTS_BAD = ("viagra", "V1AGRA cheap", "casino bonus", "You have won")
B51 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy"

# TLS: (protocol, cipher, bits text, tail)
TLS_IN = (
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256",
     " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"),
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "128/128",
     " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "256/256",
     " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "256/256", ""),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "128/128", ""),
)
TLS_IN_W = (60, 8, 4, 22, 6)
TLS_OUT = (
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256",
     " key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256",
     " key-exchange X25519 server-signature RSA-PSS (4096 bits) server-digest SHA256"),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "256/256", ""),
    ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", "256/256", ""),
)
TLS_OUT_W = (45, 25, 22, 8)
TRUST_OUT = (("Trusted", "trusted"), ("Untrusted", "untrusted"), ("Verified", "verified"),
             ("Anonymous", "anonymous"))
TRUST_OUT_W = (55, 33, 7, 5)

# Reject texts (canonical; pflog classifies by text).
RBL_TEXT = ("554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
            "https://www.spamhaus.org/query/ip/{ip}")
PW_REJECT = ("Mail appeared to be SPAM or forged. Ask your Mail/DNS-Administrator to correct HELO "
             "and DNS MX settings or to get removed from DNSBLs")

RSPAMD_ACTIONS = ("no action", "add header", "rewrite subject", "greylist", "soft reject",
                  "reject")
RSPAMD_W_IN = (78, 9, 2, 3, 2, 6)
SYMS_HAM = ("ARC_NA(0.00){}", "BAYES_HAM(-3.00){99.87%;}", "DKIM_TRACE(0.00){%s:+;}",
            "DMARC_POLICY_ALLOW(-0.50){%s;reject;}", "MIME_GOOD(-0.10){text/plain;}",
            "R_DKIM_ALLOW(-0.20){%s:s=mail;}", "R_SPF_ALLOW(-0.20){+ip4:%s;}",
            "RCVD_TLS_ALL(0.00){}", "ASN(0.00){asn:3320, ipnet:%s/16, country:DE;}")
SYMS_SPAM = ("BAYES_SPAM(5.10){99.99%;}", "RBL_SPAMHAUS_XBL(4.00){%s:from;}",
             "R_SPF_FAIL(1.00){-all;}", "FORGED_SENDER(0.30){%s;}", "MIME_HTML_ONLY(0.20){}",
             "HFILTER_HOSTNAME_UNKNOWN(2.50){}", "URIBL_BLACK(7.50){%s:url;}")

CMDS = ("helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "rset", "quit")
C_EHLO, C_STLS, C_AUTH, C_MAIL, C_RCPT, C_DATA, C_RSET, C_QUIT = 1, 2, 3, 4, 5, 6, 7, 8


def fmt_disconnect(c):
    parts = []
    ok = tot = 0
    for i, n in enumerate(CMDS):
        a = c[2 * i]
        b = c[2 * i + 1]
        if b:
            parts.append("%s=%d" % (n, a) if a == b else "%s=%d/%d" % (n, a, b))
            ok += a
            tot += b
    parts.append("commands=%d" % ok if ok == tot else "commands=%d/%d" % (ok, tot))
    return " ".join(parts)


def fsec(x):
    """Postfix-like short rendering of a duration."""
    if x < 0.01:
        return "0"
    if x < 10:
        return "%.2g" % x
    return "%d" % x


def b51(n, width):
    out = []
    for _ in range(width):
        out.append(B51[n % 51])
        n //= 51
    return "".join(reversed(out))


def strip_tld(name):
    """policyd-weight's removal of the public suffix (co.uk, com.br, de, com, ...)."""
    p = name.split(".")
    if len(p) >= 3 and len(p[-1]) == 2 and len(p[-2]) == 2:
        return ".".join(p[:-2])
    if len(p) >= 3 and len(p[-1]) == 2 and p[-2] in ("com", "org", "net"):
        return ".".join(p[:-2])
    if len(p) >= 2 and 2 <= len(p[-1]) <= 5:
        return ".".join(p[:-1])
    return name


def split_delays(total, r, before=None):
    """delays=a/b/c/d that add up to total (a = time before the queue manager)."""
    if before is None:
        before = total * (0.2 + 0.5 * r())
    a = min(total, before)
    rest = total - a
    b = rest * 0.1 * r()
    c = (rest - b) * (0.2 + 0.5 * r())
    d = rest - b - c
    return "delays=%s/%s/%s/%s" % (fsec(a), fsec(b), fsec(c), fsec(d))


def fnum(x):
    """Perl-like rendering of a policyd-weight score."""
    s = ("%.3f" % x).rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class Client:
    __slots__ = ("name", "ip", "hip", "helo", "dom", "tls", "kind", "helo_ok", "seen",
                 "pw_state", "wl")

    def __init__(self, name, ip, helo, dom, tls, kind, helo_ok):
        self.name = name
        self.ip = ip
        self.hip = "%s[%s]" % (name, ip)
        self.helo = helo
        self.dom = dom
        self.tls = tls          # 0 none, else index+1 into TLS_IN
        self.kind = kind        # 'good', 'spam', 'dyn'
        self.helo_ok = helo_ok  # helo is a FQDN
        self.seen = False       # postscreen / postgrey know it
        self.pw_state = 0       # policyd-weight cache: 0 none, 1 ham cached, 2 spam cached
        self.wl = False         # postgrey client whitelist


class Gen:
    def __init__(self, seed, fmt, lines, out, hostname="mx1", rate=30.0, long_qid=0.15,
                 start=None, pw_ident="mixed"):
        self.rng = random.Random(seed)
        self.bsd = fmt == "bsd"
        self.target = lines
        self.outf = out
        self.host = hostname
        self.rate = rate
        self.long_qid = long_qid
        self.now = float(start if start is not None else 1795392000)  # 2026-11-23T00:00:00Z
        self.ts_sec = -1
        self.ts_base = ""
        self.buf = []
        self.nl = 0
        self.stopping = False
        self.heap = []
        self.seq = 0
        self.counts = {}
        self.plines = {}
        self.qid_n = 0
        self.pid_next = 2100
        self._init_world(pw_ident)

    # ------------------------------------------------------------------ infrastructure
    def newpid(self):
        self.pid_next += 1 + int(self.rng.random() * 8)
        if self.pid_next > 4194000:
            self.pid_next = 300
        return self.pid_next

    def inc(self, key, n=1):
        c = self.counts
        c[key] = c.get(key, 0) + n

    def ts(self):
        now = self.now
        s = int(now)
        if s != self.ts_sec:
            self.ts_sec = s
            tm = time.gmtime(s)
            if self.bsd:
                self.ts_base = "%s %2d %02d:%02d:%02d %s " % (
                    MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    self.host)
            else:
                self.ts_base = "%04d-%02d-%02dT%02d:%02d:%02d." % (
                    tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
                self.ts_tail = "+00:00 %s " % self.host
        if self.bsd:
            return self.ts_base
        return "%s%06d%s" % (self.ts_base, int((now - s) * 1e6), self.ts_tail)

    def emit(self, prog, prefix, msg):
        """prog: pflog program label ('other' = ignored); prefix: 'ident[pid]: '."""
        self.buf.append(self.ts() + prefix + msg + "\n")
        self.now += 0.000013
        self.nl += 1
        p = self.plines
        p[prog] = p.get(prog, 0) + 1

    def flush(self):
        if self.buf:
            self.outf.write("".join(self.buf))
            self.buf = []

    def spawn(self, gen, delay=0.0):
        self.seq += 1
        heapq.heappush(self.heap, (self.now + delay, self.seq, gen))

    def run(self):
        heap = self.heap
        pop = heapq.heappop
        push = heapq.heappush
        self.spawn(self.arrivals())
        self.spawn(self.noise(), 0.3)
        self.spawn(self.pickups(), 5.0)
        target = self.target
        seq = self.seq
        while heap:
            t, _, g = pop(heap)
            if t > self.now:
                self.now = t
            try:
                d = next(g)
            except StopIteration:
                continue
            seq += 1
            push(heap, (self.now + d, seq, g))
            if self.nl >= target and not self.stopping:
                self.stopping = True
            if len(self.buf) >= 20000:
                self.flush()
        self.flush()

    # ------------------------------------------------------------------ world
    def _init_world(self, pw_ident):
        rng = self.rng
        r = rng.random

        def ip():
            return "%d.%d.%d.%d" % (PUB_OCTETS[int(r() * len(PUB_OCTETS))], int(r() * 256),
                                    int(r() * 256), 1 + int(r() * 254))

        doms = []
        for i in range(900):
            d = "%s%s%s.%s" % (WORDS[int(r() * len(WORDS))], "-" if r() < 0.3 else "",
                               WORDS2[int(r() * len(WORDS2))], TLDS[int(r() * len(TLDS))])
            if i % 7 == 0:
                d = "%s%d.%s" % (WORDS[int(r() * len(WORDS))], i, TLDS[int(r() * len(TLDS))])
            doms.append(d)
        self.domains = doms
        # remote MX per domain: (mxname, ip, tls trust index or -1)
        self.mx = {}
        for d in doms:
            t = -1 if r() < 0.12 else self.wpick(TRUST_OUT_W)
            self.mx[d] = ("mx%d.%s" % (1 + int(r() * 3), d), ip(), t)
        self.users = ["%s.%s@%s" % (FIRST[int(r() * len(FIRST))], LAST[int(r() * len(LAST))],
                                    LOCAL_DOMAIN) for _ in range(2500)]
        self.users += ["postmaster@" + LOCAL_DOMAIN, "info@" + LOCAL_DOMAIN,
                       "abuse@" + LOCAL_DOMAIN]
        self.clients = []
        for i in range(20000):
            dom = doms[int(r() * len(doms))]
            x = r()
            addr = ip()
            if x < 0.62:
                name = "%s%d.%s" % (("mail", "mx", "smtp", "out")[int(r() * 4)],
                                    1 + int(r() * 30), dom)
                c = Client(name, addr, name, dom, 1 + self.wpick(TLS_IN_W) if r() < 0.86 else 0,
                           "good", True)
                c.wl = r() < 0.12
            elif x < 0.8:
                a = addr.split(".")
                name = "%s-%s-%s-%s.%s" % (a[0], a[1], a[2], a[3], ISPS[int(r() * len(ISPS))])
                helo = name if r() < 0.5 else BAD_HELOS[int(r() * len(BAD_HELOS))]
                c = Client(name, addr, helo, dom, 1 + self.wpick(TLS_IN_W) if r() < 0.3 else 0,
                           "dyn", helo == name)
            else:
                helo = BAD_HELOS[int(r() * len(BAD_HELOS))] if r() < 0.5 else \
                    "%s.%s" % (WORDS[int(r() * len(WORDS))], doms[int(r() * len(doms))])
                c = Client("unknown", addr, helo, dom,
                           1 + self.wpick(TLS_IN_W) if r() < 0.25 else 0, "spam", "." in helo)
            self.clients.append(c)
        self.subs = []
        for i in range(1500):
            a = ip()
            if r() < 0.6:
                p = a.split(".")
                name = "%s-%s-%s-%s.%s" % (p[0], p[1], p[2], p[3], ISPS[int(r() * len(ISPS))])
            else:
                name = "unknown"
            user = self.users[int(r() * 2500)]
            self.subs.append((user, "%s[%s]" % (name, a), a,
                              "[%s]" % a if r() < 0.3 else ("laptop-%d" % i if r() < 0.5 else
                                                           "localhost")))
        # processes
        self.idle25 = []
        self.idlesub = []
        self.cleanup_pids = [self.newpid() for _ in range(4)]
        self.lmtp_pids = [self.newpid() for _ in range(3)]
        self.smtp_pids = [self.newpid() for _ in range(6)]
        self.bounce_pids = [self.newpid() for _ in range(2)]
        self.qmgr_pre = "postfix/qmgr[%d]: " % self.newpid()
        self.pickup_pre = "postfix/pickup[%d]: " % self.newpid()
        self.ps_pre = "postfix/postscreen[%d]: " % self.newpid()
        self.pg_pre = "postgrey[%d]: " % self.newpid()
        self.rspamd_pres = ["rspamd[%d]: " % self.newpid() for _ in range(2)]
        self.pw_pres = []
        for i in range(4):
            pid = self.newpid()
            if pw_ident == "postfix" or (pw_ident == "mixed" and i % 2 == 0):
                self.pw_pres.append("postfix/policyd-weight[%d]: " % pid)
            else:
                self.pw_pres.append("policyd-weight[%d]: " % pid)
        self.opendkim_pre = "opendkim[%d]: " % self.newpid()
        self.greylist = {}  # triplet -> first seen
        self.userset = frozenset(self.users[:2500] + self.users[2500:])

    def wpick(self, weights):
        x = self.rng.random() * sum(weights)
        for i, w in enumerate(weights):
            x -= w
            if x < 0:
                return i
        return len(weights) - 1

    def qid(self):
        self.qid_n += 1
        n = self.qid_n
        r = self.rng.random
        if r() < self.long_qid:
            # enable_long_queue_ids: 6 chars of seconds + 4 of microseconds (base 51, no
            # vowels, no 'z'), 'z', then a unique "inode" part
            sec = int(self.now)
            us = int((self.now - sec) * 1e6)
            u = (n * 7919) % (51 ** 4)
            return b51(sec, 6) + b51(us, 4) + "z" + b51(u, 4)
        x = (n * 2654435761) & 0xFFFFFFFFF  # bijective in n below 2**36
        if r() < 0.6:
            return "%X%09X" % (1 + int(r() * 15), x)
        return "%X%010X" % (1 + int(r() * 15), x | 0x1000000000 if r() < 0.5 else x)

    def msgid(self, dom):
        return "<%x.%x@%s>" % (self.rng.getrandbits(40), self.qid_n, dom)

    def smtpd_acquire(self, sub):
        idle = self.idlesub if sub else self.idle25
        if idle and self.rng.random() < 0.92:
            p = idle.pop()
            return p
        return [self.newpid(), 0]

    def smtpd_release(self, sub, p):
        p[1] += 1
        if p[1] < 100:
            (self.idlesub if sub else self.idle25).append(p)

    # ------------------------------------------------------------------ counters helpers
    def reject(self, prog, pre, service, q, stage, peer, code, enh, text, reason, tail, to,
               tls):
        """One reject line. q = queue id or 'NOQUEUE'; tail = '; from=<..> to=<..> ...'."""
        if enh:
            self.emit(prog, pre, "%s: reject: %s from %s: %s %s %s%s" % (
                q, stage, peer, code, enh, text, tail))
        else:
            self.emit(prog, pre, "%s: reject: %s from %s: %s %s%s" % (
                q, stage, peer, code, text, tail))
        self.inc(("postfix_rejects_total", code, reason, service, stage))
        if to and code[0] == "5":
            self.inc(("outcome", tls, "rejected"))

    # ------------------------------------------------------------------ actors
    def arrivals(self):
        r = self.rng.random
        rate = self.rate
        while not self.stopping:
            x = r()
            if x < 0.80:
                c = self.clients[int(r() * len(self.clients))]
                self.spawn(self.session25(c, None))
            elif x < 0.965:
                self.spawn(self.submission(self.subs[int(r() * len(self.subs))]))
            else:
                self.spawn(self.postscreen_only(self.clients[int(r() * len(self.clients))]))
            # exponential inter-arrival
            u = r()
            yield -(1.0 / rate) * (0.0 if u <= 0 else math.log(u))

    def noise(self):
        r = self.rng.random
        cron_pid = 0
        while not self.stopping:
            x = r()
            u = self.users[int(r() * len(self.users))]
            if x < 0.45:
                self.emit("other", "dovecot: ", "imap-login: Login: user=<%s>, method=PLAIN, "
                          "rip=%d.%d.%d.%d, lip=%s, mpid=%d, TLS, session=<%x>" % (
                              u, 80 + int(r() * 100), int(r() * 256), int(r() * 256),
                              1 + int(r() * 250), SERVER_IP, self.newpid(),
                              self.rng.getrandbits(48)))
            elif x < 0.85:
                self.emit("other", "dovecot: ", "imap(%s)<%d><%x>: Disconnected: Logged out "
                          "in=%d out=%d deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 "
                          "body_count=0 body_bytes=0" % (u, self.newpid(), self.rng.getrandbits(48),
                                                         int(r() * 900), int(r() * 90000)))
            else:
                cron_pid = self.newpid()
                self.emit("other", "CRON[%d]: " % cron_pid,
                          "(root) CMD (test -x /usr/sbin/anacron || run-parts --report "
                          "/etc/cron.hourly)")
            yield 0.2 + r() * 2.5

    def pickups(self):
        r = self.rng.random
        while not self.stopping:
            yield 2.0 + r() * 40.0
            if self.stopping:
                return
            self.spawn(self.pickup_msg())

    def pickup_msg(self):
        r = self.rng.random
        q = self.qid()
        who = ("root", "www-data", "backup", "nagios")[int(r() * 4)]
        uid = {"root": 0, "www-data": 33, "backup": 34, "nagios": 112}[who]
        self.emit("pickup", self.pickup_pre, "%s: uid=%d from=<%s>" % (q, uid, who))
        self.inc(("postfix_messages_received_total", "pickup"))
        yield 0.002 + r() * 0.01
        cpre = "postfix/cleanup[%d]: " % self.cleanup_pids[int(r() * 4)]
        self.emit("cleanup", cpre, "%s: message-id=<%s%s.%s@%s.%s>" % (
            q, time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now)), "", q, self.host,
            LOCAL_DOMAIN))
        yield 0.01 + r() * 0.05
        if r() < 0.6:
            rc = [(self.users[int(r() * 2500)], None)]
        else:
            d = self.domains[int(r() * len(self.domains))]
            rc = [("ops@" + d, d)]
        sender = "%s@%s.%s" % (who, self.host, LOCAL_DOMAIN)
        yield from self.queue(q, sender, rc, 600 + int(r() * 6000), "local", self.now - 0.1,
                              fates=False)

    def postscreen_only(self, c):
        """A bot that postscreen handles entirely."""
        r = self.rng.random
        port = 1024 + int(r() * 64000)
        pre = self.ps_pre
        peer = "[%s]:%d" % (c.ip, port)
        self.emit("postscreen", pre, "CONNECT from %s to [%s]:25" % (peer, SERVER_IP))
        yield 0.05 + r() * 0.3
        x = r()
        if x < 0.45:
            self.emit("postscreen", pre, "DNSBL rank %d for %s" % (2 + int(r() * 6), peer))
            yield 0.5 + r() * 3
            for _ in range(1 + int(r() * 2)):
                rc = self.users[int(r() * len(self.users))]
                sender = "%s@%s" % (WORDS[int(r() * len(WORDS))], c.dom)
                self.emit("postscreen", pre,
                          "NOQUEUE: reject: RCPT from %s: 550 5.7.1 Service unavailable; client "
                          "[%s] blocked using zen.spamhaus.org; from=<%s>, to=<%s>, proto=ESMTP, "
                          "helo=<%s>" % (peer, c.ip, sender, rc, c.helo))
                self.inc(("postfix_rejects_total", "550", "rbl", "postscreen", "RCPT"))
                self.inc(("outcome", "none", "rejected"))
                yield 0.2 + r()
        elif x < 0.75:
            self.emit("postscreen", pre, "PREGREET %d after 0.%02d from %s: EHLO %s\\r\\n" % (
                11 + len(c.helo), int(r() * 99), peer, c.helo))
            yield 0.1 + r()
        else:
            self.emit("postscreen", pre, "HANGUP after %.1f from %s in tests before SMTP "
                      "handshake" % (r() * 5, peer))
        self.emit("postscreen", pre, "DISCONNECT %s" % peer)

    # ..................................................................... port 25
    def session25(self, c, retry):
        """Inbound MX session through postscreen. retry = (sender, rcpts, first, count) when this
        is a greylisted client coming back."""
        if retry is not None and self.stopping:
            return
        r = self.rng.random
        port = 1024 + int(r() * 64000)
        ps = self.ps_pre
        self.emit("postscreen", ps, "CONNECT from [%s]:%d to [%s]:25" % (c.ip, port, SERVER_IP))
        yield 0.001 + r() * 0.01
        self.emit("postscreen", ps, "%s [%s]:%d" % ("PASS OLD" if c.seen else "PASS NEW",
                                                   c.ip, port))
        c.seen = True
        yield 0.001 + r() * 0.005
        p = self.smtpd_acquire(False)
        pre = "postfix/smtpd[%d]: " % p[0]
        svc = "smtpd"
        hip = c.hip
        self.emit("smtpd", pre, "connect from " + hip)
        self.inc(("postfix_smtpd_connections_total", svc))
        cm = [0] * 18
        tls = "none"
        yield 0.02 + r() * 0.3
        try:
            x = r()
            if retry is None and x < 0.025:
                self.emit("smtpd", pre, "lost connection after CONNECT from " + hip)
                self.inc(("postfix_smtpd_lost_connections_total", "CONNECT", svc))
                return
            if retry is None and c.kind == "spam" and x < 0.045:
                if r() < 0.5:
                    self.reject("smtpd", pre, svc, "NOQUEUE", "CONNECT", hip, "554", "5.7.1",
                                "<%s>: Client host rejected: Access denied" % hip, "client",
                                "; proto=SMTP", None, tls)
                else:
                    self.reject("smtpd", pre, svc, "NOQUEUE", "CONNECT", hip, "554", "",
                                RBL_TEXT[4:].format(ip=c.ip), "rbl", "; proto=SMTP", None, tls)
                yield 0.05 + r() * 0.2
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            # EHLO
            cm[2 * C_EHLO + 1] += 1
            if not c.helo_ok and r() < 0.15:
                verb = "EHLO"
                if r() < 0.3:  # an old-style client that says HELO
                    verb = "HELO"
                    cm[2 * C_EHLO + 1] -= 1
                    cm[1] += 1
                self.reject("smtpd", pre, svc, "NOQUEUE", verb, hip, "504", "5.5.2",
                            "<%s>: Helo command rejected: need fully-qualified hostname" % c.helo,
                            "helo", "; proto=SMTP helo=<%s>" % c.helo, None, tls)
                yield 0.05 + r() * 0.2
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            cm[2 * C_EHLO] += 1
            yield 0.02 + r() * 0.2
            if r() < 0.03:
                self.emit("smtpd", pre, "lost connection after EHLO from " + hip)
                self.inc(("postfix_smtpd_lost_connections_total", "EHLO", svc))
                return
            if c.tls:
                cm[2 * C_STLS + 1] += 1
                if r() < 0.01:
                    self.emit("smtpd", pre, "lost connection after STARTTLS from " + hip)
                    self.inc(("postfix_smtpd_lost_connections_total", "STARTTLS", svc))
                    return
                cm[2 * C_STLS] += 1
                t = TLS_IN[c.tls - 1]
                trust = ("Anonymous", "anonymous") if r() < 0.97 else ("Untrusted", "untrusted")
                self.emit("smtpd", pre, "%s TLS connection established from %s: %s with cipher "
                          "%s (%s bits)%s" % (trust[0], hip, t[0], t[1], t[2], t[3]))
                self.inc(("postfix_tls_connections_total", t[1], "inbound", t[0], svc, trust[1]))
                tls = t[0]
                yield 0.02 + r() * 0.1
                cm[2 * C_EHLO] += 1
                cm[2 * C_EHLO + 1] += 1
            nmsg = 1 if (retry is not None or r() < 0.9) else 2 + int(r() * 2)
            for mi in range(nmsg):
                ended = yield from self.transaction25(c, pre, svc, hip, cm, tls, retry)
                if ended:
                    return
                if mi + 1 < nmsg:
                    yield 0.05 + r() * 0.5
            cm[2 * C_QUIT] += 1
            cm[2 * C_QUIT + 1] += 1
        finally:
            self.emit("smtpd", pre, "disconnect from %s %s" % (hip, fmt_disconnect(cm)))
            self.smtpd_release(False, p)

    def transaction25(self, c, pre, svc, hip, cm, tls, retry):
        """One MAIL..DATA transaction. Returns True when the connection was lost."""
        r = self.rng.random
        users = self.users
        if retry is not None:
            sender, rcpts, first, count = retry
        else:
            if r() < 0.04:
                sender = ""
            elif c.kind == "good":
                sender = "%s.%s@%s" % (FIRST[int(r() * 40)], LAST[int(r() * 36)], c.dom)
            else:
                sender = "%s%d@%s" % (WORDS[int(r() * len(WORDS))], int(r() * 999), c.dom)
            k = 1 if r() < 0.8 else 2 + int(r() * 4)
            rcpts = []
            for _ in range(k):
                if r() < 0.03:
                    d = self.domains[int(r() * len(self.domains))]
                    rcpts.append("%s@%s" % (FIRST[int(r() * 40)], d))
                elif r() < 0.05:
                    rcpts.append("%s%d@%s" % (LAST[int(r() * 36)], int(r() * 99), LOCAL_DOMAIN))
                else:
                    rcpts.append(users[int(r() * len(users))])
            first = None
            count = 0
        helo = c.helo
        cm[2 * C_MAIL + 1] += 1
        yield 0.01 + r() * 0.1
        # MAIL stage rejects
        x = r()
        if retry is None and x < 0.004:
            # MAIL FROM ... SIZE=n over message_size_limit (real Postfix: 552 5.3.4)
            big = r() < 0.75
            self.reject("smtpd", pre, svc, "NOQUEUE", "MAIL", hip, "552" if big else "452",
                        "5.3.4" if big else "4.3.4", "Message size exceeds fixed limit", "size",
                        "; from=<%s> proto=ESMTP helo=<%s>" % (sender, helo), None, tls)
            return False
        if retry is None and x < 0.008 and c.kind != "good":
            self.reject("smtpd", pre, svc, "NOQUEUE", "MAIL", hip, "450", "4.7.1",
                        "Error: too much mail from %s" % c.ip, "rate_limit",
                        "; from=<%s> proto=ESMTP helo=<%s>" % (sender, helo), None, tls)
            return False
        cm[2 * C_MAIL] += 1
        if r() < 0.004:
            self.emit("smtpd", pre, "lost connection after MAIL from " + hip)
            self.inc(("postfix_smtpd_lost_connections_total", "MAIL", svc))
            return True
        q = None
        accepted = []
        greylisted = []
        pw_verdict = None
        for rc in rcpts:
            cm[2 * C_RCPT + 1] += 1
            yield 0.005 + r() * 0.08
            tail = "; from=<%s> to=<%s> proto=ESMTP helo=<%s>" % (sender, rc, helo)
            qq = q or "NOQUEUE"
            rdom = rc[rc.index("@") + 1:]
            if rdom != LOCAL_DOMAIN:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "554", "5.7.1",
                            "<%s>: Relay access denied" % rc, "relay_denied", tail, rc, tls)
                continue
            if rc not in self.userset:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "550", "5.1.1",
                            "<%s>: Recipient address rejected: User unknown in virtual mailbox "
                            "table" % rc, "unknown_recipient", tail, rc, tls)
                continue
            if c.kind == "spam" and retry is None and r() < 0.18:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "554", "",
                            RBL_TEXT[4:].format(ip=c.ip), "rbl", tail, rc, tls)
                continue
            if not c.helo_ok and retry is None and r() < 0.2:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "504", "5.5.2",
                            "<%s>: Helo command rejected: need fully-qualified hostname" % helo,
                            "helo", tail, rc, tls)
                continue
            if c.kind == "spam" and retry is None and r() < 0.03:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "554", "5.7.1",
                            "<%s>: Client host rejected: Access denied" % hip, "client", tail,
                            rc, tls)
                continue
            # ---- policyd-weight
            pw_verdict = self.policyd_weight(c, sender, rc, pw_verdict, retry is not None)
            if pw_verdict in ("spam", "spam_cached", "spam_multi", "spam_cached_multi"):
                txt = self.pw_reject_text(c, pw_verdict)
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "550", "5.7.1",
                            "<%s>: Recipient address rejected: %s" % (rc, txt[4:]), "policy",
                            tail, rc, tls)
                continue
            if pw_verdict == "defer":
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "450", "4.7.1",
                            "<%s>: Recipient address rejected: %s" % (rc, PW_REJECT), "policy",
                            tail, rc, tls)
                continue
            # ---- postgrey
            pgq = (q + ": ") if q else ""
            info = "client_name=%s, client_address=%s, sender=%s, recipient=%s" % (
                c.name, c.ip, sender, rc) if sender else \
                "client_name=%s, client_address=%s, recipient=%s" % (c.name, c.ip, rc)
            trip = (c.ip, sender, rc)
            if c.wl:
                self.emit("postgrey", self.pg_pre, "%saction=pass, reason=client whitelist, %s"
                          % (pgq, info))
                self.inc(("postgrey_actions_total", "pass", "client_whitelist"))
            else:
                g0 = self.greylist.get(trip)
                grey = False
                if g0 is not None:
                    waited = self.now - g0
                    if waited < GREYLIST_MIN:
                        self.emit("postgrey", self.pg_pre, "%saction=greylist, reason=early-retry "
                                  "(%ds missing), %s" % (pgq, GREYLIST_MIN - int(waited), info))
                        self.inc(("postgrey_actions_total", "greylist", "early_retry"))
                        grey = True
                    else:
                        self.emit("postgrey", self.pg_pre, "%saction=pass, reason=triplet found, "
                                  "delay=%d, %s" % (pgq, int(waited), info))
                        self.inc(("postgrey_actions_total", "pass", "triplet_found"))
                        del self.greylist[trip]
                elif retry is None and (c.kind != "good" or r() < 0.12) and r() < 0.6:
                    self.greylist[trip] = self.now
                    self.emit("postgrey", self.pg_pre, "%saction=greylist, reason=new, %s"
                              % (pgq, info))
                    self.inc(("postgrey_actions_total", "greylist", "new"))
                    grey = True
                else:
                    self.emit("postgrey", self.pg_pre, "%saction=pass, reason=triplet found, %s"
                              % (pgq, info))
                    self.inc(("postgrey_actions_total", "pass", "triplet_found"))
                if grey:
                    self.reject("smtpd", pre, svc, qq, "RCPT", hip, "450", "4.2.0",
                                "<%s>: Recipient address rejected: Greylisted, see "
                                "http://postgrey.schweikert.ch/help/%s.html" % (rc, rdom),
                                "greylist", tail, rc, tls)
                    greylisted.append(rc)
                    continue
            # ---- SPF
            if c.kind != "good" and sender and r() < 0.05:
                self.reject("smtpd", pre, svc, qq, "RCPT", hip, "550", "5.7.23",
                            "<%s>: Recipient address rejected: Message rejected due to: SPF fail "
                            "- not authorized. Please see http://www.openspf.net/Why?s=mfrom;"
                            "id=%s;ip=%s;r=<UNKNOWN>" % (rc, sender.replace("@", "%40"), c.ip),
                            "spf", tail, rc, tls)
                continue
            cm[2 * C_RCPT] += 1
            accepted.append(rc)
            if q is None:
                q = self.qid()
                self.emit("smtpd", pre, "%s: client=%s" % (q, hip))
                self.inc(("postfix_messages_received_total", svc))
        if greylisted and retry is None and r() < 0.85:
            first = self.now
            early = r() < 0.12
            d = (60 + r() * 200) if early else (GREYLIST_MIN + 20 + r() * 900)
            self.spawn(self.session25(c, (sender, greylisted, first, 0)), d)
        elif greylisted and retry is not None and retry[3] < 2:
            # came back too early: try again later
            self.spawn(self.session25(c, (sender, greylisted, first, retry[3] + 1)),
                       GREYLIST_MIN + r() * 300)
        if not accepted:
            if r() < 0.5:
                cm[2 * C_RSET] += 1
                cm[2 * C_RSET + 1] += 1
            return False
        # ---- DATA
        yield 0.01 + r() * 0.1
        cm[2 * C_DATA + 1] += 1
        tail = "; from=<%s> to=<%s> proto=ESMTP helo=<%s>" % (sender, accepted[0], helo)
        if r() < 0.003:
            self.reject("smtpd", pre, svc, "NOQUEUE" if q is None else q, "DATA", hip, "554",
                        "5.5.0", "<DATA>: Data command rejected: Improper use of SMTP command "
                        "pipelining", "other", tail, accepted[0], tls)
            return False
        if r() < 0.004:
            self.emit("smtpd", pre, "lost connection after DATA (%d bytes) from %s" % (
                int(r() * 20000), hip))
            self.inc(("postfix_smtpd_lost_connections_total", "DATA", svc))
            return True
        yield 0.05 + r() * 1.5
        size = 900 + int((r() ** 3) * 3000000)
        cpre = "postfix/cleanup[%d]: " % self.cleanup_pids[int(r() * 4)]
        mid = self.msgid(c.dom)
        self.emit("cleanup", cpre, "%s: message-id=%s" % (q, mid))
        y = r()
        if len(accepted) == 1 and y < 0.003:
            self.emit("cleanup", cpre, "%s: reject: header Subject: %s from %s; from=<%s> to=<%s> "
                      "proto=ESMTP helo=<%s>: 550 5.7.1 Message content rejected" % (
                          q, SUBJECTS_BAD[int(r() * 4)], hip, sender, accepted[0], helo))
            self.inc(("postfix_rejects_total", "550", "header_body_check", "cleanup", "HEADER"))
            self.inc(("outcome", tls, "rejected"))
            cm[2 * C_DATA] += 0
            return False
        if len(accepted) == 1 and y < 0.006:
            if r() < 0.5:
                # what Postfix 3.7 really logs for a body over message_size_limit
                self.emit("smtpd", pre, "warning: %s: queue file size limit exceeded" % q)
                self.emit("cleanup", cpre, "warning: %s: queue file size limit exceeded" % q)
                self.emit("cleanup", cpre, "warning: mail_stream_cleanup: close error")
            else:
                self.reject("smtpd", pre, svc, q, "END-OF-MESSAGE", hip, "552", "5.3.4",
                            "Message size exceeds fixed limit", "size", tail, accepted[0], tls)
            return False
        if c.kind == "good" and r() < 0.7:
            self.emit("other", self.opendkim_pre, "%s: DKIM verification successful" % q)
        # rspamd (milter)
        yield 0.05 + r() * 0.4
        ai = self.wpick(RSPAMD_W_IN) if c.kind != "good" else (0 if r() < 0.95 else 1)
        if len(accepted) > 1 and ai >= 3:
            ai = 1
        self.rspamd_line(q, mid, c.ip, sender, accepted, size, ai, None)
        if ai >= 3:
            # greylist / soft reject -> 4.7.1, reject -> 5.7.1, logged by cleanup at EOM
            if ai == 5:
                enh, txt, code = "5.7.1", "Spam message rejected", "550"
            else:
                enh, txt, code = "4.7.1", "Try again later", "450"
            self.emit("cleanup", cpre, "%s: milter-reject: END-OF-MESSAGE from %s: %s %s%s" % (
                q, hip, enh, txt, tail))
            self.inc(("postfix_rejects_total", code, "milter", "cleanup", "END-OF-MESSAGE"))
            if code == "550":
                self.inc(("outcome", tls, "rejected"))
            return False
        cm[2 * C_DATA] += 1
        rc2 = [(a, None) for a in accepted]
        self.spawn(self.queue(q, sender, rc2, size, tls, self.now - 1.0, fates=True),
                   0.001 + r() * 0.01)
        return False

    def pw_reject_text(self, c, verdict):
        if verdict.startswith("spam_cached"):
            t = "550 %s [cached] - retrying too fast. penalty: 30 seconds x 0 retries." % \
                PW_REJECT
            return t + " (multirecipient mail)" if verdict == "spam_cached_multi" else t
        if verdict == "spam_multi":
            return "550 %s (multirecipient mail)" % PW_REJECT
        return "550 %s; MTA helo: %s, MTA hostname: %s[%s] (helo/hostname mismatch)" % (
            PW_REJECT, c.helo.lower(), c.name, c.ip)

    def policyd_weight(self, c, sender, rc, prev, is_retry):
        """Logs the policyd-weight lines for one recipient; returns the verdict."""
        r = self.rng.random
        pre = self.pw_pres[int(r() * len(self.pw_pres))]
        trace = ("<client=%s[%s]> <helo=%s> <from=%s> <to=%s>" % (
            c.name, c.ip, c.helo, sender, rc)).lower()
        delay = "; %s; delay: %ds" % (trace, int(r() * 3))

        def decided(action, key_action, cached):
            self.emit("policyd-weight", pre, "decided action=%s%s" % (action, delay))
            self.inc(("policyd_weight_decisions_total", key_action, cached))

        if prev in ("spam", "spam_multi"):
            decided(self.pw_reject_text(c, "spam_multi"), "reject", "false")
            return "spam_multi"
        if prev in ("spam_cached", "spam_cached_multi"):
            decided(self.pw_reject_text(c, "spam_cached_multi"), "reject", "true")
            return "spam_cached_multi"
        if prev == "defer":
            decided("450 %s (multirecipient mail)" % PW_REJECT, "defer", "false")
            return "defer"
        if prev in ("ham", "ham_cached", "ham_multi", "null", "pm"):
            decided("DUNNO multirecipient-mail - already accepted by previous query", "accept",
                    "false")
            return "ham_multi"
        if not sender:
            decided("DUNNO NULL (<>) Sender", "accept", "false")
            return "null"
        if rc.startswith("postmaster@") or rc.startswith("abuse@"):
            decided("DUNNO mail for %s" % rc, "accept", "false")
            return "pm"
        if c.pw_state == 1 and r() < 0.8:
            decided("PREPEND X-policyd-weight: using cached result; rate: %s" % (
                fnum(-7.6 + int(r() * 5) * 0.5)), "prepend", "true")
            return "ham_cached"
        if c.pw_state == 2 and not is_retry:
            decided(self.pw_reject_text(c, "spam_cached"), "reject", "true")
            return "spam_cached"
        f = sender[sender.index("@") + 1:]
        fd = "." + strip_tld(f).split(".")[-1] + "."
        th = strip_tld(c.helo.lower())
        hd = "." + th.split(".")[-1] + "."
        th = "." + th + "."
        chk = " (check from: %s - helo: %s - helo-domain: %s) " % (fd, th, hd)
        x = r()
        if c.kind == "good" or (c.kind == "dyn" and x < 0.5) or is_retry:
            if r() < 0.25:
                ret = " NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_FROM_MX=-3.1"
                rate = -6.1
            elif r() < 0.5:
                ret = " NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_HELO_IP=-2" + \
                    chk + " FROM/MX_MATCHES_HELO(DOMAIN)=-2"
                rate = -7
            else:
                ret = " NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 CL_IP_EQ_HELO_MX=-3.1" + \
                    chk + " FROM/MX_MATCHES_HELO(DOMAIN)=-2"
                rate = -8.1
            self.emit("policyd-weight", pre, "weighted check: %s; %s; rate: %s" % (
                ret, trace, fnum(rate)))
            decided("PREPEND X-policyd-weight: %s; rate: %s" % (ret, fnum(rate)), "prepend",
                    "false")
            c.pw_state = 1
            return "ham"
        if x < 0.75:
            ret = " NOT_IN_SBL_XBL_SPAMHAUS=-1.5 IN_SPAMCOP=3.75 CL_IP_EQ_HELO_IP=-2" + chk + \
                " FROM/MX_MATCHES_NOT_HELO(DOMAIN)=1.938"
            rate = 2.188
            self.emit("policyd-weight", pre, "weighted check: %s; %s; rate: %s" % (
                ret, trace, fnum(rate)))
            decided("450 " + PW_REJECT, "defer", "false")
            return "defer"
        ret = " IN_DYN_PBL_SPAMHAUS=3.25 NOT_IN_SBL_XBL_SPAMHAUS=-1.5 NOT_IN_SPAMCOP=-1.5 " \
              "CL_IP_NE_HELO=4.75 RESOLVED_IP_IS_NOT_HELO=1.5" + chk + \
              " FROM_NOT_FAILED_HELO(DOMAIN)=6.25"
        rate = 12.75
        self.emit("policyd-weight", pre, "weighted check: %s; %s; rate: %s" % (
            ret, trace, fnum(rate)))
        decided(self.pw_reject_text(c, "spam"), "reject", "false")
        c.pw_state = 2
        return "spam"

    def rspamd_line(self, q, mid, ip, sender, rcpts, size, ai, user):
        r = self.rng.random
        action = RSPAMD_ACTIONS[ai]
        if ai == 0:
            score = -4.0 + r() * 5.5
        elif ai == 1:
            score = 6.0 + r() * 5.9
        elif ai == 2:
            score = 8.0 + r() * 3.0
        elif ai == 3:
            score = 4.0 + r() * 2.0
        elif ai == 4:
            score = 12.0 + r() * 2.9
        else:
            score = 15.0 + r() * 15.0
        dom = sender[sender.index("@") + 1:] if sender else "example.com"
        syms = SYMS_HAM if ai == 0 else SYMS_SPAM
        n = 3 + int(r() * 4)
        start = int(r() * len(syms))
        parts = []
        for i in range(n):
            s = syms[(start + i) % len(syms)]
            if "%s" in s:
                if "ipnet" in s:
                    o = ip.split(".")
                    s = s % ("%s.%s.0.0" % (o[0], o[1]))
                else:
                    s = s % (ip if "ip4" in s or "XBL" in s else dom)
            parts.append(s)
        pre = self.rspamd_pres[int(r() * 2)]
        self.emit("rspamd", pre, "<%06x>; proxy; rspamd_task_write_log: id: %s, qid: <%s>, "
                  "ip: %s, %sfrom: <%s>, (default: %s (%s): [%.2f/15.00] [%s]), len: %d, "
                  "time: %.3fms, dns req: %d, digest: <%032x>, rcpts: <%s>, mime_rcpts: <%s>" % (
                      self.rng.getrandbits(24), mid, q, ip,
                      ("user: %s, " % user) if user else "", sender, "T" if ai >= 3 else "F",
                      action, score, ",".join(parts), size, 20 + r() * 900, int(r() * 40),
                      self.rng.getrandbits(128), ",".join(rcpts), rcpts[0]))
        self.inc(("rspamd_actions_total", action.replace(" ", "_")))

    # ..................................................................... submission
    def submission(self, s):
        user, hip, ip, helo = s
        r = self.rng.random
        p = self.smtpd_acquire(True)
        pre = "postfix/submission/smtpd[%d]: " % p[0]
        svc = "submission/smtpd"
        self.emit("smtpd", pre, "connect from " + hip)
        self.inc(("postfix_smtpd_connections_total", svc))
        cm = [0] * 18
        tls = "none"
        yield 0.02 + r() * 0.2
        try:
            cm[2 * C_EHLO] += 1
            cm[2 * C_EHLO + 1] += 1
            yield 0.01 + r() * 0.1
            if r() < 0.04:
                # client without STARTTLS: smtpd_tls_security_level=encrypt
                cm[2 * C_MAIL + 1] += 1
                self.reject("smtpd", pre, svc, "NOQUEUE", "MAIL", hip, "530", "5.7.0",
                            "Must issue a STARTTLS command first", "tls_required",
                            "; from=<%s> proto=ESMTP helo=<%s>" % (user, helo), None, tls)
                yield 0.05
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            cm[2 * C_STLS] += 1
            cm[2 * C_STLS + 1] += 1
            t = TLS_IN[0] if r() < 0.8 else TLS_IN[3]
            self.emit("smtpd", pre, "Anonymous TLS connection established from %s: %s with "
                      "cipher %s (%s bits)%s" % (hip, t[0], t[1], t[2], t[3]))
            self.inc(("postfix_tls_connections_total", t[1], "inbound", t[0], svc, "anonymous"))
            tls = t[0]
            cm[2 * C_EHLO] += 1
            cm[2 * C_EHLO + 1] += 1
            yield 0.02 + r() * 0.1
            cm[2 * C_AUTH + 1] += 1
            x = r()
            if x < 0.03:
                meth = "LOGIN" if r() < 0.6 else "PLAIN"
                self.emit("smtpd", pre, "warning: %s: SASL %s authentication failed: %s, "
                          "sasl_username=%s" % (hip, meth, "UGFzc3dvcmQ6" if meth == "LOGIN"
                                                else "(reason unavailable)", user))
                self.inc(("postfix_smtpd_sasl_auth_failures_total", meth, svc))
                yield 1.0 + r() * 2
                if r() < 0.4:
                    self.emit("smtpd", pre, "lost connection after AUTH from " + hip)
                    self.inc(("postfix_smtpd_lost_connections_total", "AUTH", svc))
                else:
                    cm[2 * C_QUIT] += 1
                    cm[2 * C_QUIT + 1] += 1
                return
            if x < 0.04:
                self.emit("smtpd", pre, "lost connection after AUTH from " + hip)
                self.inc(("postfix_smtpd_lost_connections_total", "AUTH", svc))
                return
            cm[2 * C_AUTH] += 1
            yield 0.01 + r() * 0.1
            cm[2 * C_MAIL + 1] += 1
            sender = user
            forged = r() < 0.02
            if forged:
                sender = self.users[int(r() * 2500)]
            if r() < 0.005:
                self.reject("smtpd", pre, svc, "NOQUEUE", "MAIL", hip, "450", "4.7.1",
                            "Error: too much mail from %s" % ip, "rate_limit",
                            "; from=<%s> proto=ESMTP helo=<%s>" % (sender, helo), None, tls)
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            if forged and r() < 0.3:
                self.reject("smtpd", pre, svc, "NOQUEUE", "MAIL", hip, "553", "5.7.1",
                            "<%s>: Sender address rejected: not owned by user %s" % (
                                sender, user), "sender",
                            "; from=<%s> proto=ESMTP helo=<%s>" % (sender, helo), None, tls)
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            cm[2 * C_MAIL] += 1
            k = 1 if r() < 0.7 else 2 + int(r() * 5)
            q = None
            accepted = []
            for _ in range(k):
                if r() < 0.35:
                    rc = self.users[int(r() * 2500)]
                    rdom = None
                else:
                    rdom = self.domains[int(r() * len(self.domains))]
                    rc = "%s.%s@%s" % (FIRST[int(r() * 40)], LAST[int(r() * 36)], rdom)
                cm[2 * C_RCPT + 1] += 1
                yield 0.005 + r() * 0.05
                if forged:
                    self.reject("smtpd", pre, svc, q or "NOQUEUE", "RCPT", hip, "553", "5.7.1",
                                "<%s>: Sender address rejected: not owned by user %s" % (
                                    sender, user), "sender",
                                "; from=<%s> to=<%s> proto=ESMTP helo=<%s>" % (sender, rc, helo),
                                rc, tls)
                    continue
                cm[2 * C_RCPT] += 1
                accepted.append((rc, rdom))
                if q is None:
                    q = self.qid()
                    self.emit("smtpd", pre, "%s: client=%s, sasl_method=PLAIN, sasl_username=%s"
                              % (q, hip, user))
                    self.inc(("postfix_messages_received_total", svc))
            if not accepted:
                cm[2 * C_QUIT] += 1
                cm[2 * C_QUIT + 1] += 1
                return
            cm[2 * C_DATA + 1] += 1
            yield 0.05 + r() * 1.0
            if r() < 0.003:
                self.emit("smtpd", pre, "lost connection after DATA (%d bytes) from %s" % (
                    int(r() * 200000), hip))
                self.inc(("postfix_smtpd_lost_connections_total", "DATA", svc))
                return
            cm[2 * C_DATA] += 1
            size = 700 + int((r() ** 3) * 5000000)
            cpre = "postfix/cleanup[%d]: " % self.cleanup_pids[int(r() * 4)]
            mid = self.msgid(LOCAL_DOMAIN)
            self.emit("cleanup", cpre, "%s: message-id=%s" % (q, mid))
            self.emit("other", self.opendkim_pre, "%s: DKIM-Signature field added (s=mail, "
                      "d=%s)" % (q, LOCAL_DOMAIN))
            yield 0.03 + r() * 0.2
            self.rspamd_line(q, mid, ip, sender, [a for a, _ in accepted], size,
                             0 if r() < 0.97 else 1, user)
            self.spawn(self.queue(q, sender, accepted, size, tls, self.now - 0.5, fates=True),
                       0.001 + r() * 0.01)
            cm[2 * C_QUIT] += 1
            cm[2 * C_QUIT + 1] += 1
        finally:
            self.emit("smtpd", pre, "disconnect from %s %s" % (hip, fmt_disconnect(cm)))
            self.smtpd_release(True, p)

    # ..................................................................... queue / delivery
    def queue(self, q, sender, rcpts, size, tls, arrival, fates):
        """qmgr + delivery of one queued message. rcpts: list of (address, remote domain|None).
        fates=False: everything is delivered at the first attempt."""
        r = self.rng.random
        yield 0.002 + r() * 0.05
        # predetermine fates. per rcpt: [addr, dom, state, defers_left, final]
        # final: 'sent' | 'bounced' | 'expire'
        st = []
        dom_fail = {}
        for addr, dom in rcpts:
            final = "sent"
            ndef = 0
            how = None
            if fates and sender:
                if dom is None:
                    x = r()
                    if x < 0.008:
                        final = "bounced"
                    elif x < 0.025:
                        ndef = 1 + int(r() * 2)
                        how = "quota"
                else:
                    if dom not in dom_fail:
                        x = r()
                        if x < 0.02:
                            dom_fail[dom] = ("refused", 5)  # will expire
                        elif x < 0.06:
                            dom_fail[dom] = ("refused", 1 + int(r() * 2))
                        else:
                            dom_fail[dom] = None
                    df = dom_fail[dom]
                    x = r()
                    if df is not None:
                        ndef = df[1]
                        how = df[0]
                        if ndef >= 5:
                            final = "expire"
                    elif x < 0.03:
                        final = "bounced"
                    elif x < 0.06:
                        ndef = 1
                        how = "greylisted"
            st.append([addr, dom, ndef, how, final])
        attempts = 0
        pending = st
        while True:
            attempts += 1
            act = self.now
            self.emit("qmgr", self.qmgr_pre, "%s: from=<%s>, size=%d, nrcpt=%d (queue active)" % (
                q, sender, size, len(rcpts) if attempts == 1 else len(pending)))
            yield 0.01 + r() * 0.3
            still = []
            bounced_now = 0
            # local recipients via lmtp (one connection), remote grouped per domain
            groups = []
            loc = [x for x in pending if x[1] is None]
            if loc:
                groups.append((None, loc))
            seen = {}
            for x in pending:
                if x[1] is not None:
                    if x[1] not in seen:
                        seen[x[1]] = []
                        groups.append((x[1], seen[x[1]]))
                    seen[x[1]].append(x)
            for dom, grp in groups:
                if dom is None:
                    pre = "postfix/lmtp[%d]: " % self.lmtp_pids[int(r() * 3)]
                    svc = "lmtp"
                    relay = LMTP_RELAY
                else:
                    pre = "postfix/smtp[%d]: " % self.smtp_pids[int(r() * 6)]
                    svc = "smtp"
                    mxn, mxip, trust = self.mx[dom]
                    relay = "%s[%s]:25" % (mxn, mxip)
                    refused = grp[0][3] == "refused" and grp[0][2] > 0
                    if refused:
                        self.emit("smtp", pre, "connect to %s: Connection refused" % relay)
                    if not refused and trust >= 0:
                        t = TLS_OUT[self.wpick(TLS_OUT_W)]
                        tr = TRUST_OUT[trust]
                        self.emit("smtp", pre, "%s TLS connection established to %s: %s with "
                                  "cipher %s (%s bits)%s" % (tr[0], relay, t[0], t[1], t[2], t[3]))
                        self.inc(("postfix_tls_connections_total", t[1], "outbound", t[0], "smtp",
                                  tr[1]))
                    yield 0.05 + r() * 0.5
                for x in grp:
                    addr = x[0]
                    delay = self.now - arrival
                    dl = split_delays(delay, r, act - arrival)
                    if x[2] > 0:
                        x[2] -= 1
                        if x[3] == "refused":
                            a = min(delay, act - arrival)
                            line = "%s: to=<%s>, relay=none, delay=%s, delays=%s/0/%s/0, " \
                                   "dsn=4.4.1, status=deferred (connect to %s: Connection " \
                                   "refused)" % (q, addr, fsec(delay), fsec(a), fsec(delay - a),
                                                 relay)
                        elif x[3] == "greylisted":
                            line = "%s: to=<%s>, relay=%s, delay=%s, %s, " \
                                   "dsn=4.2.0, status=deferred (host %s said: 450 4.2.0 <%s>: " \
                                   "Recipient address rejected: Greylisted, see " \
                                   "http://postgrey.schweikert.ch/help/%s.html (in reply to RCPT " \
                                   "TO command))" % (q, addr, relay, fsec(delay), dl,
                                                     relay[:-3], addr, dom)
                        else:
                            line = "%s: to=<%s>, relay=%s, delay=%s, %s, " \
                                   "dsn=4.2.2, status=deferred (host %s said: 452 4.2.2 <%s> " \
                                   "Quota exceeded (mailbox for user is full) (in reply to end " \
                                   "of DATA command))" % (q, addr, relay, fsec(delay), dl,
                                                          relay, addr)
                        self.emit(svc, pre, line)
                        self.inc(("postfix_deliveries_total", svc, "deferred"))
                        if x[4] == "expire" and x[2] == 0:
                            x[2] = 1  # never succeeds; expire at the end of this pass
                            x[3] = "expire_now"
                        still.append(x)
                    elif x[4] == "bounced":
                        if dom is None:
                            det = "host %s said: 550 5.1.1 <%s> User doesn't exist: %s (in reply " \
                                  "to RCPT TO command)" % (relay, addr, addr)
                        else:
                            det = "host %s said: 550 5.1.1 <%s>: Recipient address rejected: " \
                                  "User unknown in virtual mailbox table (in reply to RCPT TO " \
                                  "command)" % (relay[:-3], addr)
                        self.emit(svc, pre, "%s: to=<%s>, relay=%s, delay=%s, %s, "
                                  "dsn=5.1.1, status=bounced (%s)" % (
                                      q, addr, relay, fsec(delay), dl, det))
                        self.inc(("postfix_deliveries_total", svc, "bounced"))
                        self.inc(("outcome", tls, "bounced"))
                        bounced_now += 1
                    else:
                        if dom is None:
                            det = "250 2.0.0 <%s> %s Saved" % (addr, "%x" % self.rng.getrandbits(88))
                        else:
                            det = "250 2.0.0 Ok: queued as %X" % self.rng.getrandbits(40)
                        self.emit(svc, pre, "%s: to=<%s>, relay=%s, delay=%s, %s, "
                                  "dsn=2.0.0, status=sent (%s)" % (
                                      q, addr, relay, fsec(delay), dl, det))
                        self.inc(("postfix_deliveries_total", svc, "sent"))
                        self.inc(("outcome", tls, "delivered"))
                        if dom is None and r() < 0.5:
                            self.emit("other", "dovecot: ", "lmtp(%s)<%d><%x>: msgid=<%x@%s>: "
                                      "saved mail to INBOX" % (addr, self.newpid(),
                                                               self.rng.getrandbits(64),
                                                               self.rng.getrandbits(32),
                                                               LOCAL_DOMAIN))
                    yield 0.002 + r() * 0.05
            expired = [x for x in still if x[3] == "expire_now"]
            still = [x for x in still if x[3] != "expire_now"]
            if expired:
                self.emit("qmgr", self.qmgr_pre, "%s: from=<%s>, status=expired, returned to "
                          "sender" % (q, sender))
                self.inc(("postfix_qmgr_expired_total",))
                self.inc(("outcome", tls, "expired"), len(expired))
            if (bounced_now or expired) and sender:
                yield 0.01 + r() * 0.1
                nq = self.qid()
                cpre = "postfix/cleanup[%d]: " % self.cleanup_pids[int(r() * 4)]
                self.emit("cleanup", cpre, "%s: message-id=<%s.%s@%s.%s>" % (
                    nq, time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now)), nq, self.host,
                    LOCAL_DOMAIN))
                bpre = "postfix/bounce[%d]: " % self.bounce_pids[int(r() * 2)]
                self.emit("bounce", bpre, "%s: sender non-delivery notification: %s" % (q, nq))
                self.inc(("postfix_bounces_total",))
                sdom = sender[sender.index("@") + 1:]
                if sdom == LOCAL_DOMAIN:
                    brc = [(sender, None)]
                else:
                    if sdom not in self.mx:
                        self.mx[sdom] = ("mx1." + sdom, "198.51.100.%d" % (1 + int(r() * 250)),
                                         -1)
                    brc = [(sender, sdom)]
                self.spawn(self.queue(nq, "", brc, 2000 + int(r() * 4000), "local",
                                      self.now, fates=False), 0.005 + r() * 0.02)
            if not still:
                yield 0.001 + r() * 0.01
                self.emit("qmgr", self.qmgr_pre, "%s: removed" % q)
                return
            pending = still
            yield 60.0 + r() * 600.0 * attempts


# ---------------------------------------------------------------------- expected output
def expected_lines(g):
    """Prometheus text sample lines (labels sorted by name, lines sorted)."""
    out = {}

    def put(name, labels, v):
        s = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
        out["%s{%s}" % (name, s)] = v

    for prog, n in g.plines.items():
        put("pflog_lines_total", {"program": prog,
                                  "result": "ignored" if prog == "other" else "parsed"}, n)
    for key, n in g.counts.items():
        name = key[0]
        if name == "postfix_smtpd_connections_total":
            put(name, {"postfix_instance": INST, "service": key[1]}, n)
        elif name == "postfix_smtpd_lost_connections_total":
            put(name, {"after": key[1], "postfix_instance": INST, "service": key[2]}, n)
        elif name == "postfix_smtpd_sasl_auth_failures_total":
            put(name, {"method": key[1], "postfix_instance": INST, "service": key[2]}, n)
        elif name == "postfix_tls_connections_total":
            put(name, {"cipher": key[1], "direction": key[2], "protocol": key[3],
                       "service": key[4], "trust": key[5], "postfix_instance": INST}, n)
        elif name == "postfix_rejects_total":
            put(name, {"code": key[1], "reason": key[2], "service": key[3], "stage": key[4],
                       "postfix_instance": INST}, n)
        elif name == "postfix_deliveries_total":
            put(name, {"service": key[1], "status": key[2], "postfix_instance": INST}, n)
        elif name == "postfix_messages_received_total":
            put(name, {"service": key[1], "postfix_instance": INST}, n)
        elif name in ("postfix_bounces_total", "postfix_qmgr_expired_total"):
            put(name, {"postfix_instance": INST}, n)
        elif name == "postgrey_actions_total":
            put(name, {"action": key[1], "reason": key[2]}, n)
        elif name == "policyd_weight_decisions_total":
            put(name, {"action": key[1], "cached": key[2]}, n)
        elif name == "rspamd_actions_total":
            put(name, {"action": key[1]}, n)
        elif name == "outcome":
            put("postfix_message_outcomes_total", {"inbound_tls": key[1], "outcome": key[2],
                                                    "postfix_instance": INST}, n)
        else:
            raise AssertionError(name)
    return ["%s %d" % (k, out[k]) for k in sorted(out)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, required=True, help="approximate number of lines")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=("bsd", "rfc3339"), default="bsd")
    ap.add_argument("--out", required=True, help="log file to write ('-' = stdout)")
    ap.add_argument("--expected", help="write expected metric samples here")
    ap.add_argument("--rate", type=float, default=30.0,
                    help="new SMTP sessions per second of log time (default 30)")
    ap.add_argument("--long-qid-ratio", type=float, default=0.15,
                    help="share of long (enable_long_queue_ids) queue IDs")
    ap.add_argument("--policyd-ident", choices=("mixed", "postfix", "plain"), default="mixed",
                    help="syslog ident of policyd-weight: postfix/policyd-weight (Debian), "
                         "policyd-weight, or both (per child process)")
    ap.add_argument("--hostname", default="mx1")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    f = sys.stdout if a.out == "-" else open(a.out, "w", buffering=1 << 22, encoding="utf-8",
                                             newline="\n")
    g = Gen(a.seed, a.format, a.lines, f, hostname=a.hostname, rate=a.rate,
            long_qid=a.long_qid_ratio, pw_ident=a.policyd_ident)
    g.run()
    if f is not sys.stdout:
        f.close()
    if a.expected:
        with open(a.expected, "w", encoding="utf-8", newline="\n") as e:
            e.write("# generated by tools/genlog.py --lines %d --seed %d --format %s\n" % (
                a.lines, a.seed, a.format))
            for line in expected_lines(g):
                e.write(line + "\n")
    dt = time.perf_counter() - t0
    if not a.quiet:
        sys.stderr.write("genlog: %d lines in %.1fs (%.0f lines/s)\n" % (
            g.nl, dt, g.nl / dt if dt > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
