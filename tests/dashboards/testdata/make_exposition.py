#!/usr/bin/env python3
"""Writes the hand-made test expositions next to this script:

  exposition.openmetrics.txt  OpenMetrics, as prometheus-client renders it
                              (# TYPE foo counter + foo_total samples, # EOF)
  exposition.prom             Prometheus text format 0.0.4
                              (# TYPE foo_total counter)

They contain every family of docs/metrics.md (the pflog metrics
contract) plus the pflog self-metrics, with label values that the dashboards
and alerts filter on, so every dashboard query returns data when Prometheus
scrapes one of them. Values are arbitrary but consistent (count == +Inf bucket).

    python3 tests/dashboards/testdata/make_exposition.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

LATENCY = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400]
SIZE = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
RCPT = [1, 2, 3, 5, 10, 20, 50, 100, 500, 1000]
POLICYD = list(range(-10, 11))
RSPAMD = [-10 + 2.5 * i for i in range(17)]

PI = {"postfix_instance": "postfix"}
PO = {"postfix_instance": "postfix-out"}


def lbl(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}" if d else ""


def num(x):
    if isinstance(x, float) and x.is_integer():
        return str(int(x)) + ".0"
    return str(x)


def le_str(b):
    return "+Inf" if b == "+Inf" else num(float(b))


FAMILIES = []  # (name, type, help, samples) samples: list of (suffix, labels, value)


def counter(name, help_, series):
    assert name.endswith("_total")
    FAMILIES.append((name[: -len("_total")], "counter", help_, [("_total", l, v) for l, v in series]))


def gauge(name, help_, series):
    FAMILIES.append((name, "gauge", help_, [("", l, v) for l, v in series]))


def histogram(name, help_, buckets, series):
    """series: list of (labels, [observations])"""
    samples = []
    for labels, obs in series:
        for b in buckets + ["+Inf"]:
            n = len(obs) if b == "+Inf" else sum(1 for o in obs if o <= b)
            samples.append(("_bucket", {**labels, "le": le_str(b)}, n))
        samples.append(("_sum", labels, float(sum(obs))))
        samples.append(("_count", labels, len(obs)))
    FAMILIES.append((name, "histogram", help_, samples))


def S(inst, service, **kw):
    return {**inst, "service": service, **kw}


# ---- connections and TLS
counter("postfix_smtpd_connections_total", "smtpd connect from", [
    (S(PI, "smtpd"), 1200), (S(PI, "submission/smtpd"), 80), (S(PO, "smtpd"), 300)])
counter("postfix_smtpd_lost_connections_total", "smtpd lost connection after X", [
    (S(PI, "smtpd", after="CONNECT"), 40), (S(PI, "smtpd", after="STARTTLS"), 5),
    (S(PI, "submission/smtpd", after="AUTH"), 12), (S(PI, "smtpd", after="DATA"), 2)])
counter("postfix_tls_connections_total", "TLS connection established", [
    (S(PI, "smtpd", direction="inbound", trust="anonymous", protocol="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384"), 700),
    (S(PI, "smtpd", direction="inbound", trust="anonymous", protocol="TLSv1.2", cipher="ECDHE-RSA-AES256-GCM-SHA384"), 150),
    (S(PI, "submission/smtpd", direction="inbound", trust="anonymous", protocol="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256"), 80),
    (S(PI, "smtpd", direction="inbound", trust="anonymous", protocol="TLSv1", cipher="ECDHE-RSA-AES256-SHA"), 3),
    (S(PI, "smtp", direction="outbound", trust="trusted", protocol="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384"), 320),
    (S(PI, "smtp", direction="outbound", trust="untrusted", protocol="TLSv1.2", cipher="ECDHE-RSA-AES128-GCM-SHA256"), 90),
    (S(PI, "smtp", direction="outbound", trust="verified", protocol="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384"), 40),
    (S(PO, "relay/smtp", direction="outbound", trust="anonymous", protocol="TLSv1.3", cipher="TLS_CHACHA20_POLY1305_SHA256"), 25)])
counter("postfix_smtpd_sasl_auth_failures_total", "SASL authentication failed", [
    (S(PI, "submission/smtpd", method="LOGIN"), 30), (S(PI, "submission/smtpd", method="PLAIN"), 7)])

# ---- rejections
counter("postfix_rejects_total", "reject lines", [
    (S(PI, "smtpd", stage="RCPT", code="450", reason="greylist"), 300),
    (S(PI, "postscreen", stage="CONNECT", code="550", reason="rbl"), 500),
    (S(PI, "smtpd", stage="RCPT", code="554", reason="rbl"), 60),
    (S(PI, "smtpd", stage="RCPT", code="550", reason="unknown_recipient"), 110),
    (S(PI, "smtpd", stage="RCPT", code="554", reason="relay_denied"), 25),
    (S(PI, "smtpd", stage="EHLO", code="504", reason="helo"), 14),
    (S(PI, "smtpd", stage="MAIL", code="530", reason="tls_required"), 2),
    (S(PI, "cleanup", stage="END-OF-MESSAGE", code="554", reason="milter"), 9),
    (S(PI, "cleanup", stage="DATA", code="550", reason="header_body_check"), 4),
    (S(PI, "smtpd", stage="RCPT", code="550", reason="spf"), 17),
    (S(PI, "cleanup", stage="END-OF-MESSAGE", code="550", reason="dmarc"), 3)])
counter("postfix_milter_actions_total", "milter actions", [
    (S(PI, "cleanup", stage="END-OF-MESSAGE", action="reject"), 9),
    (S(PI, "cleanup", stage="END-OF-MESSAGE", action="discard"), 1),
    (S(PI, "smtpd", stage="END-OF-MESSAGE", action="tempfail"), 2)])

# ---- messages and deliveries
counter("postfix_messages_received_total", "new queue IDs", [
    (S(PI, "smtpd"), 900), (S(PI, "submission/smtpd"), 70), (S(PI, "pickup"), 20), (S(PO, "smtpd"), 250)])
histogram("postfix_message_size_bytes", "qmgr size=", SIZE, [
    (PI, [2000, 5000, 30000, 150000, 2000000]), (PO, [8000, 40000])])
histogram("postfix_message_recipients", "qmgr nrcpt=", RCPT, [(PI, [1, 1, 1, 2, 7]), (PO, [1, 3])])
counter("postfix_deliveries_total", "delivery status", [
    (S(PI, "lmtp", status="sent"), 800), (S(PI, "smtp", status="sent"), 420), (S(PI, "smtp", status="deferred"), 60),
    (S(PI, "smtp", status="bounced"), 12), (S(PI, "smtp", status="expired"), 1), (S(PI, "local", status="sent"), 30),
    (S(PO, "relay/smtp", status="sent"), 240), (S(PO, "relay/smtp", status="deferred"), 9)])
histogram("postfix_delivery_delay_seconds", "delay=", LATENCY, [
    (S(PI, "lmtp", status="sent"), [0.3, 0.8, 1.2, 2.0]), (S(PI, "smtp", status="sent"), [1.5, 3.0, 700.0]),
    (S(PI, "smtp", status="deferred"), [30.0, 1900.0]), (S(PO, "relay/smtp", status="sent"), [0.9, 1.1])])
histogram("postfix_delivery_stage_delay_seconds", "delays=a/b/c/d", LATENCY, [
    (S(PI, "smtp", stage="before_qmgr"), [0.1, 0.2]), (S(PI, "smtp", stage="in_qmgr"), [0.01, 0.02]),
    (S(PI, "smtp", stage="conn_setup"), [0.5, 1.5]), (S(PI, "smtp", stage="transmission"), [0.2, 0.3])])
counter("postfix_bounces_total", "sender non-delivery notification", [(PI, 11), (PO, 1)])
counter("postfix_qmgr_expired_total", "status=expired, returned to sender", [(PI, 1)])

# ---- correlated
counter("postfix_message_outcomes_total", "final outcome per recipient", [
    ({**PI, "outcome": "delivered", "inbound_tls": "TLSv1.3"}, 700), ({**PI, "outcome": "delivered", "inbound_tls": "TLSv1.2"}, 150),
    ({**PI, "outcome": "delivered", "inbound_tls": "none"}, 90), ({**PI, "outcome": "delivered", "inbound_tls": "unknown"}, 20),
    ({**PI, "outcome": "bounced", "inbound_tls": "none"}, 10), ({**PI, "outcome": "expired", "inbound_tls": "TLSv1.2"}, 1),
    ({**PI, "outcome": "rejected", "inbound_tls": "none"}, 30), ({**PI, "outcome": "discarded", "inbound_tls": "TLSv1.3"}, 1),
    ({**PO, "outcome": "delivered", "inbound_tls": "none"}, 240)])
histogram("postfix_message_end_to_end_seconds", "first log line to final delivery", LATENCY, [
    ({**PI, "outcome": "delivered"}, [0.4, 0.9, 2.2, 8.0, 650.0]), ({**PI, "outcome": "bounced"}, [3.0]),
    ({**PO, "outcome": "delivered"}, [0.5, 1.0])])
histogram("postgrey_pass_delay_seconds", "postgrey delay= on pass after greylist", LATENCY, [({}, [310, 420, 900, 3700])])
counter("postgrey_abandoned_triplets_total", "greylisted triplets that never passed", [({}, 180)])

# ---- policy daemons and rspamd
counter("postgrey_actions_total", "postgrey decisions", [
    ({"action": "greylist", "reason": "new"}, 290), ({"action": "greylist", "reason": "early_retry"}, 10),
    ({"action": "pass", "reason": "triplet_found"}, 400), ({"action": "pass", "reason": "client_whitelist"}, 120)])
counter("policyd_weight_decisions_total", "policyd-weight decisions", [
    ({"action": "accept", "cached": "false"}, 500), ({"action": "accept", "cached": "true"}, 200),
    ({"action": "prepend", "cached": "false"}, 40), ({"action": "defer", "cached": "false"}, 5),
    ({"action": "reject", "cached": "false"}, 30)])
histogram("policyd_weight_score", "policyd-weight rate:", POLICYD, [({}, [-5.3, -4.0, -3.1, 0.5, 2.0, 6.5, 8.2])])
counter("rspamd_actions_total", "rspamd actions", [
    ({"action": a}, v) for a, v in [("no_action", 800), ("greylist", 40), ("add_header", 60),
                                    ("rewrite_subject", 5), ("soft_reject", 8), ("reject", 45)]])
histogram("rspamd_score", "rspamd score", RSPAMD, [
    ({"action": "no_action"}, [-2.0, 0.5, 1.7, 3.2]), ({"action": "add_header"}, [6.5, 7.1]),
    ({"action": "reject"}, [15.2, 22.0, 31.0])])
histogram("rspamd_scan_duration_seconds", "rspamd time:", LATENCY, [({}, [0.08, 0.2, 0.35, 1.4, 3.0])])

# ---- mail authentication (policyd-spf, opendkim, opendmarc, rspamd)
def AR(daemon, check, result):
    return {"daemon": daemon, "check": check, "result": result}


counter("mail_auth_results_total", "SPF/DKIM/DMARC/ARC verification results", [
    (AR("policyd-spf", "spf", "pass"), 610), (AR("policyd-spf", "spf", "softfail"), 45),
    (AR("policyd-spf", "spf", "fail"), 17), (AR("policyd-spf", "spf", "none"), 120),
    (AR("policyd-spf", "spf", "neutral"), 6), (AR("policyd-spf", "spf", "temperror"), 2),
    (AR("policyd-spf", "spf_helo", "pass"), 400), (AR("policyd-spf", "spf_helo", "none"), 390),
    (AR("opendkim", "dkim", "pass"), 640), (AR("opendkim", "dkim", "fail"), 12),
    (AR("opendkim", "dkim", "none"), 150), (AR("opendkim", "dkim", "temperror"), 1),
    (AR("opendmarc", "dmarc", "pass"), 590), (AR("opendmarc", "dmarc", "fail"), 21),
    (AR("opendmarc", "dmarc", "none"), 190),
    (AR("rspamd", "spf", "pass"), 700), (AR("rspamd", "spf", "fail"), 20), (AR("rspamd", "spf", "none"), 130),
    (AR("rspamd", "dkim", "pass"), 660), (AR("rspamd", "dkim", "fail"), 14), (AR("rspamd", "dkim", "none"), 170),
    (AR("rspamd", "dmarc", "pass"), 600), (AR("rspamd", "dmarc", "fail"), 25), (AR("rspamd", "dmarc", "none"), 200),
    (AR("rspamd", "arc", "pass"), 30), (AR("rspamd", "arc", "none"), 800), (AR("rspamd", "arc", "permerror"), 2)])
counter("mail_dkim_signatures_total", "DKIM-Signature field added", [
    ({"daemon": "opendkim", "domain": "example.org"}, 380), ({"daemon": "opendkim", "domain": "example.net"}, 42)])
counter("mail_dmarc_dispositions_total", "DMARC policy applied", [
    ({"daemon": "opendmarc", "disposition": "none"}, 790), ({"daemon": "opendmarc", "disposition": "quarantine"}, 8),
    ({"daemon": "opendmarc", "disposition": "reject"}, 3)])
AUTH_OUTCOMES = [
    ("delivered", "spf", "pass", 560), ("delivered", "spf", "softfail", 40), ("delivered", "spf", "none", 150),
    ("delivered", "dkim", "pass", 600), ("delivered", "dkim", "none", 150), ("delivered", "dmarc", "pass", 560),
    ("delivered", "dmarc", "fail", 18), ("delivered", "dmarc", "none", 150), ("delivered", "dmarc", "unknown", 90),
    ("bounced", "dmarc", "unknown", 10), ("rejected", "dmarc", "fail", 3)]
counter("postfix_message_auth_outcomes_total", "final outcome per recipient by authentication result", [
    ({**PI, "outcome": o, "check": c, "result": r}, v) for o, c, r, v in AUTH_OUTCOMES] + [
    ({**PO, "outcome": "delivered", "check": c, "result": "unknown"}, 240) for c in ("spf", "dkim", "dmarc")])

# ---- self-observability
counter("pflog_lines_total", "log lines by program and result", [
    ({"program": "smtpd", "result": "parsed"}, 5000), ({"program": "smtpd", "result": "unsupported"}, 12),
    ({"program": "qmgr", "result": "parsed"}, 1300), ({"program": "rspamd", "result": "parsed"}, 958),
    ({"program": "postgrey", "result": "parsed"}, 820),
    ({"program": "opendkim", "result": "parsed"}, 1225), ({"program": "opendmarc", "result": "parsed"}, 801),
    ({"program": "policyd-spf", "result": "parsed"}, 1590), ({"program": "other", "result": "ignored"}, 300),
    ({"program": "other", "result": "unsupported"}, 3)])
gauge("pflog_tracked_messages", "messages held by the correlator", [({}, 42)])
counter("pflog_correlation_evictions_total", "correlation state dropped", [({"reason": "capacity"}, 0), ({"reason": "expired"}, 7)])
gauge("pflog_last_log_timestamp_seconds", "timestamp of the newest log line", [({}, 1767225600.0)])
counter("pflog_source_rotations_total", "log rotations", [({"source": "/var/log/mail.log"}, 2)])
counter("pflog_source_errors_total", "log source errors", [({"source": "/var/log/mail.log"}, 0)])
counter("pflog_label_overflow_total", "label values reported as other", [
    ({"metric": "postfix_tls_connections_total", "label": "cipher"}, 0)])
gauge("pflog_build_info", "pflog's version", [({"version": "0.1.0"}, 1)])


def render(openmetrics):
    out = []
    for name, typ, help_, samples in FAMILIES:
        fam = name if (openmetrics or typ != "counter") else name + "_total"
        out.append(f"# HELP {fam} {help_}.")
        out.append(f"# TYPE {fam} {typ}")
        if openmetrics and name.endswith("_seconds"):
            out.append(f"# UNIT {fam} seconds")
        elif openmetrics and name.endswith("_bytes"):
            out.append(f"# UNIT {fam} bytes")
        for suffix, labels, value in samples:
            out.append(f"{name}{suffix}{lbl(labels)} {value}")
    if openmetrics:
        out.append("# EOF")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for fname, om in (("exposition.openmetrics.txt", True), ("exposition.prom", False)):
        with open(os.path.join(HERE, fname), "w") as f:
            f.write(render(om))
        print("wrote", os.path.join(HERE, fname))
