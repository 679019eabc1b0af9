#!/usr/bin/env python3
"""Tests for tools/genlog.py: determinism, and expected totals == an independent count.

    python3 -m unittest tools/test_genlog.py        (from the repository root)
    python3 tools/test_genlog.py -v

The independent count below re-derives every family of the expected file from the log text
alone (regexes and a small correlator), without using any of genlog's bookkeeping.
"""

import collections
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GENLOG = os.path.join(HERE, "genlog.py")
sys.path.insert(0, HERE)
import genlog  # noqa: E402

ENVELOPE = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00) "
    r"(\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$")
TLS_RE = re.compile(r"^(\w+) TLS connection established (from|to) \S+: (\S+) with cipher (\S+) ")
REJ_RE = re.compile(r"^(NOQUEUE|[0-9A-Za-z]+): (reject|milter-reject): (\S+) from (\S+): "
                    r"(\d{3} )?(\d\.\d{1,3}\.\d{1,3} )?(.*)$")
CLEANUP_REJ = re.compile(r"^([0-9A-Za-z]+): reject: (header|body) .*: (\d{3}) (\d\.\d+\.\d+) (.*)$")
DELIV_RE = re.compile(r"^([0-9A-Za-z]+): to=<([^>]*)>, .*status=(\w+) ")
PG_RE = re.compile(r"action=(\w+), reason=([^,]+),")
RS_RE = re.compile(r"\(default: [TF] \(([a-z ]+)\): ")

REASONS = (  # independent text classifier
    ("Greylisted", "greylist"), ("blocked using", "rbl"), ("User unknown", "unknown_recipient"),
    ("Relay access denied", "relay_denied"), ("Helo command rejected", "helo"),
    ("Sender address rejected", "sender"), ("Client host rejected", "client"),
    ("SPF fail", "spf"), ("Mail appeared to be SPAM or forged", "policy"),
    ("Message size exceeds", "size"), ("too much mail", "rate_limit"),
    ("Must issue a STARTTLS", "tls_required"),
)


def classify(text):
    for needle, reason in REASONS:
        if needle in text:
            return reason
    return "other"


def fmt(name, **labels):
    return "%s{%s}" % (name, ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)))


def naive_count(path):
    c = collections.Counter()
    pid_tls = {}      # smtpd pid -> current session TLS protocol
    qid_tls = {}      # queue id -> inbound_tls
    pending = {}      # queue id -> {rcpt: last status}
    last_ts = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ENVELOPE.match(line.rstrip("\n"))
            assert m, "bad envelope: %r" % line
            ident, pid, msg = m.group(2), m.group(3), m.group(4)
            ts = line[:32] if line[0].isdigit() else None
            if ts is not None:
                assert last_ts is None or ts >= last_ts, "time went backwards: %r" % line
                last_ts = ts
            if ident.startswith("postfix/"):
                service = ident[len("postfix/"):]
                prog = service.rsplit("/", 1)[-1]
            elif ident in ("postgrey", "policyd-weight", "rspamd"):
                service = prog = ident
            else:
                c[fmt("pflog_lines_total", program="other", result="ignored")] += 1
                continue
            c[fmt("pflog_lines_total", program=prog, result="parsed")] += 1
            inst = "postfix"
            if prog == "smtpd":
                if msg.startswith("connect from "):
                    c[fmt("postfix_smtpd_connections_total", postfix_instance=inst,
                          service=service)] += 1
                    pid_tls[pid] = "none"
                    continue
                mm = re.match(r"lost connection after (\S+)", msg)
                if mm:
                    c[fmt("postfix_smtpd_lost_connections_total", after=mm.group(1),
                          postfix_instance=inst, service=service)] += 1
                    continue
                mm = re.match(r"warning: \S+: SASL (\S+) authentication failed", msg)
                if mm:
                    c[fmt("postfix_smtpd_sasl_auth_failures_total", method=mm.group(1),
                          postfix_instance=inst, service=service)] += 1
                    continue
                mm = re.match(r"([0-9A-Za-z]+): client=", msg)
                if mm:
                    c[fmt("postfix_messages_received_total", postfix_instance=inst,
                          service=service)] += 1
                    qid_tls[mm.group(1)] = pid_tls[pid]
                    continue
            mm = TLS_RE.match(msg)
            if mm:
                if mm.group(2) == "from":
                    pid_tls[pid] = mm.group(3)
                c[fmt("postfix_tls_connections_total", cipher=mm.group(4),
                      direction="inbound" if mm.group(2) == "from" else "outbound",
                      postfix_instance=inst, protocol=mm.group(3), service=service,
                      trust=mm.group(1).lower())] += 1
                continue
            mm = REJ_RE.match(msg)
            if mm and prog in ("smtpd", "postscreen", "cleanup"):
                q, kind, stage, _peer, code, enh, text = mm.groups()
                code = code.strip() if code else ("550" if enh.startswith("5") else "450")
                reason = "milter" if kind == "milter-reject" else classify(text)
                c[fmt("postfix_rejects_total", code=code, postfix_instance=inst, reason=reason,
                      service=service, stage=stage)] += 1
                if code.startswith("5") and " to=<" in text:
                    if prog == "postscreen":
                        tls = "none"
                    elif prog == "cleanup":
                        tls = qid_tls[q]
                    else:
                        tls = pid_tls[pid]
                    c[fmt("postfix_message_outcomes_total", inbound_tls=tls, outcome="rejected",
                          postfix_instance=inst)] += 1
                continue
            mm = CLEANUP_REJ.match(msg)
            if mm:
                q, what, code, enh, text = mm.groups()
                c[fmt("postfix_rejects_total", code=code, postfix_instance=inst,
                      reason="header_body_check", service=service, stage=what.upper())] += 1
                if code.startswith("5") and " to=<" in msg:
                    c[fmt("postfix_message_outcomes_total", inbound_tls=qid_tls[q],
                          outcome="rejected", postfix_instance=inst)] += 1
                continue
            if prog == "pickup":
                mm = re.match(r"([0-9A-Za-z]+): uid=\d+ from=<", msg)
                assert mm, msg
                c[fmt("postfix_messages_received_total", postfix_instance=inst,
                      service=service)] += 1
                qid_tls[mm.group(1)] = "local"
                continue
            if prog == "bounce":
                mm = re.match(r"([0-9A-Za-z]+): sender non-delivery notification: (\S+)$", msg)
                assert mm, msg
                c[fmt("postfix_bounces_total", postfix_instance=inst)] += 1
                qid_tls[mm.group(2)] = "local"
                continue
            if prog in ("smtp", "lmtp"):
                mm = DELIV_RE.match(msg)
                if mm:
                    q, rcpt, status = mm.groups()
                    c[fmt("postfix_deliveries_total", postfix_instance=inst, service=service,
                          status=status)] += 1
                    pending.setdefault(q, {})[rcpt] = status
                    if status in ("sent", "bounced"):
                        c[fmt("postfix_message_outcomes_total", inbound_tls=qid_tls[q],
                              outcome="delivered" if status == "sent" else "bounced",
                              postfix_instance=inst)] += 1
                continue
            if prog == "qmgr":
                mm = re.match(r"([0-9A-Za-z]+): from=<[^>]*>, status=expired, returned to sender",
                              msg)
                if mm:
                    c[fmt("postfix_qmgr_expired_total", postfix_instance=inst)] += 1
                    n = sum(1 for s in pending.get(mm.group(1), {}).values() if s == "deferred")
                    c[fmt("postfix_message_outcomes_total", inbound_tls=qid_tls[mm.group(1)],
                          outcome="expired", postfix_instance=inst)] += n
                continue
            if prog == "postgrey":
                mm = PG_RE.search(msg)
                assert mm, msg
                reason = re.sub(r"\s*\(.*\)$", "", mm.group(2)).replace("-", "_").replace(" ", "_")
                c[fmt("postgrey_actions_total", action=mm.group(1), reason=reason)] += 1
                continue
            if prog == "policyd-weight":
                mm = re.match(r"decided action=(\S+)", msg)
                if mm:
                    a = mm.group(1)
                    if a == "PREPEND":
                        action = "prepend"
                    elif a in ("DUNNO", "OK"):
                        action = "accept"
                    elif a[0] == "4" or a.startswith("DEFER"):
                        action = "defer"
                    elif a[0] == "5" or a == "REJECT":
                        action = "reject"
                    else:
                        action = "other"
                    cached = "using cached result" in msg or "[cached]" in msg
                    c[fmt("policyd_weight_decisions_total", action=action,
                          cached="true" if cached else "false")] += 1
                continue
            if prog == "rspamd":
                mm = RS_RE.search(msg)
                assert mm, msg
                c[fmt("rspamd_actions_total", action=mm.group(1).replace(" ", "_"))] += 1
    return c


def read_expected(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = int(v)
    return out


def run_gen(tmp, name, lines, seed, fmt_, extra=()):
    log = os.path.join(tmp, name + ".log")
    prom = os.path.join(tmp, name + ".prom")
    subprocess.run([sys.executable, GENLOG, "--lines", str(lines), "--seed", str(seed),
                    "--format", fmt_, "--out", log, "--expected", prom, "--quiet", *extra],
                   check=True)
    return log, prom


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class GenlogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.log, cls.prom = run_gen(cls.tmp.name, "a", 60000, 7, "bsd")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_deterministic(self):
        log2, prom2 = run_gen(self.tmp.name, "b", 60000, 7, "bsd")
        self.assertEqual(sha(self.log), sha(log2))
        self.assertEqual(sha(self.prom), sha(prom2))

    def test_deterministic_across_hash_seeds(self):
        env = dict(os.environ, PYTHONHASHSEED="12345")
        log = os.path.join(self.tmp.name, "h.log")
        prom = os.path.join(self.tmp.name, "h.prom")
        subprocess.run([sys.executable, GENLOG, "--lines", "60000", "--seed", "7", "--format",
                        "bsd", "--out", log, "--expected", prom, "--quiet"], check=True, env=env)
        self.assertEqual(sha(self.log), sha(log))
        self.assertEqual(sha(self.prom), sha(prom))

    def test_other_seed_differs(self):
        log2, _ = run_gen(self.tmp.name, "c", 60000, 8, "bsd")
        self.assertNotEqual(sha(self.log), sha(log2))

    def test_line_count_and_boundary(self):
        with open(self.log, encoding="utf-8") as f:
            n = sum(1 for _ in f)
        self.assertGreaterEqual(n, 60000)
        self.assertLess(n, 60000 + 5000)
        exp = read_expected(self.prom)
        total = sum(v for k, v in exp.items() if k.startswith("pflog_lines_total{"))
        self.assertEqual(total, n)

    def test_expected_equals_independent_count(self):
        self.assertEqual(read_expected(self.prom), dict(naive_count(self.log)))

    def test_rfc3339_same_content_and_counts(self):
        log2, prom2 = run_gen(self.tmp.name, "r", 60000, 7, "rfc3339")
        self.assertEqual(read_expected(prom2), dict(naive_count(log2)))
        self.assertEqual(read_expected(prom2), read_expected(self.prom))
        with open(log2, encoding="utf-8") as f:
            first = f.readline()
        self.assertRegex(first, r"^2026-11-23T00:00:00\.\d{6}\+00:00 mx1 ")

    def test_expected_file_format(self):
        with open(self.prom, encoding="utf-8") as f:
            lines = [ln.rstrip("\n") for ln in f if not ln.startswith("#")]
        self.assertEqual(lines, sorted(lines))
        for ln in lines:
            m = re.match(r'^([a-z_]+)\{((?:[a-z_]+="[^"]*",?)*)\} (\d+)$', ln)
            self.assertIsNotNone(m, ln)
            keys = re.findall(r'([a-z_]+)="', m.group(2))
            self.assertEqual(keys, sorted(keys), ln)

    def test_every_family_and_class_present(self):
        exp = read_expected(self.prom)
        text = "\n".join(exp)
        for fam in ("pflog_lines_total", "postfix_smtpd_connections_total",
                    "postfix_tls_connections_total", "postfix_rejects_total",
                    "postfix_deliveries_total", "postfix_messages_received_total",
                    "postgrey_actions_total", "policyd_weight_decisions_total",
                    "rspamd_actions_total", "postfix_message_outcomes_total",
                    "postfix_smtpd_lost_connections_total", "postfix_bounces_total"):
            self.assertIn(fam + "{", text)
        for reason in ("greylist", "rbl", "unknown_recipient", "relay_denied", "helo", "sender",
                       "client", "spf", "policy", "size", "rate_limit", "tls_required",
                       "header_body_check", "milter"):
            self.assertIn('reason="%s"' % reason, text)
        for stage in ("RCPT", "MAIL", "EHLO", "CONNECT", "DATA", "END-OF-MESSAGE", "HEADER"):
            self.assertIn('stage="%s"' % stage, text)
        for o in ("delivered", "bounced", "expired", "rejected"):
            self.assertIn('outcome="%s"' % o, text)
        for t in ("TLSv1.3", "TLSv1.2", "none", "local"):
            self.assertIn('inbound_tls="%s"' % t, text)

    def test_queue_ids(self):
        with open(self.log, encoding="utf-8") as f:
            data = f.read()
        ids = set(re.findall(r"\]: ([0-9A-Za-z]{10,15}): client=", data))
        ids |= set(re.findall(r"\]: ([0-9A-Za-z]{10,15}): uid=", data))
        short = [i for i in ids if re.fullmatch(r"[0-9A-F]{10,11}", i)]
        long_ = [i for i in ids if re.fullmatch(r"[0-9A-Za-z]{10}z[0-9A-Za-z]{4}", i)]
        self.assertEqual(len(short) + len(long_), len(ids))
        self.assertGreater(len(short), len(long_))
        self.assertGreater(len(long_), 0)
        # a queue id is never received twice
        received = re.findall(r"\]: ([0-9A-Za-z]{10,15}): (?:client=|uid=)", data)
        self.assertEqual(len(received), len(set(received)))

    def test_helpers(self):
        self.assertEqual(genlog.fmt_disconnect([0] * 18), "commands=0")
        c = [0] * 18
        c[2 * genlog.C_EHLO] = c[2 * genlog.C_EHLO + 1] = 1
        c[2 * genlog.C_RCPT + 1] = 2
        self.assertEqual(genlog.fmt_disconnect(c), "ehlo=1 rcpt=0/2 commands=1/3")
        self.assertEqual(genlog.strip_tld("mail.river-systems.co.uk"), "mail.river-systems")
        self.assertEqual(genlog.strip_tld("mx.example.com"), "mx.example")
        self.assertEqual(genlog.fnum(-7.0), "-7")
        self.assertEqual(genlog.fnum(2.188), "2.188")


if __name__ == "__main__":
    unittest.main()
