#!/usr/bin/env python3
"""Generates the pflog Grafana dashboards (Grafana 10+ JSON model).

    python3 dashboards/generate.py          # (re)writes dashboards/*.json
    python3 dashboards/generate.py --check  # exits 1 if the committed JSON is out of date

The JSON files are the deliverable (import them into Grafana); this script is
their source so that panels stay consistent. Edit here, regenerate, commit both.

Conventions used by every query:
  * data source: the dashboard variable ${datasource} (type prometheus), so the
    same JSON works for UI import and for file provisioning;
  * instance=~"$instance" selects pflog scrape targets (variable from
    label_values(pflog_build_info, instance)), postfix_instance=~"$postfix_instance"
    the Postfix instance (postfix, postfix-out, ...); postgrey/policyd-weight/rspamd
    families have no postfix_instance label;
  * series named pflog:* come from alerts/pflog.recording.yml, which must be
    loaded into the Prometheus behind the data source.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'instance=~"$instance"'
P = 'instance=~"$instance",postfix_instance=~"$postfix_instance"'
RI = "$__rate_interval"


def sel(base, extra=""):
    return "{" + base + ("," + extra if extra else "") + "}"


SEL_DELIVERED_PLAIN = sel(P, 'outcome="delivered",inbound_tls="none"')
SEL_DELIVERED_KNOWN = sel(P, 'outcome="delivered",inbound_tls!="unknown"')
SEL_DELIVERED = sel(P, 'outcome="delivered"')
SEL_IN = sel(P, 'direction="inbound"')
SEL_OUT = sel(P, 'direction="outbound"')
SEL_SENT = sel(P, 'status="sent"')
SEL_IN_TLS13 = sel(P, 'direction="inbound",protocol="TLSv1.3"')
SEL_LEGACY = sel(P, 'protocol=~"SSLv2|SSLv3|TLSv1|TLSv1.1"')
SEL_OUT_UNAUTH = sel(P, 'direction="outbound",trust=~"anonymous|untrusted"')


# --------------------------------------------------------------------------- panels


class Board:
    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.y = 0
        self.x = 0
        self.row_h = 0

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        self._newline()
        self.panels.append({
            "type": "row",
            "title": title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "id": self._id(),
            "panels": [],
        })
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for n, t in enumerate(panel.get("targets", [])):
            t.setdefault("refId", refs[n])
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        if self.x >= 24:
            self._newline()


def target(expr, legend="__auto", instant=False, fmt=None):
    t = {"datasource": DS, "editorMode": "code", "expr": expr, "legendFormat": legend}
    if instant:
        t.update({"instant": True, "range": False, "format": fmt or "table"})
    else:
        t.update({"instant": False, "range": True})
        if fmt:
            t["format"] = fmt
    return t


def thresholds(*steps):
    """thresholds(("green", None), ("orange", 0.1), ("red", 0.25))"""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


GREEN = thresholds(("green", None))


def timeseries(title, targets, unit="short", desc="", stack=None, min_=0, max_=None, legend_calcs=None,
               overrides=None, fill=10, thresholds_line=None, decimals=None):
    custom = {
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        "barAlignment": 0,
        "drawStyle": "line",
        "fillOpacity": fill,
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "pointSize": 5,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": stack or "none"},
        "thresholdsStyle": {"mode": "line" if thresholds_line else "off"},
    }
    if stack:
        custom["fillOpacity"] = max(fill, 60)
    defaults = {
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "mappings": [],
        "thresholds": thresholds_line or GREEN,
        "unit": "percentunit" if stack == "percent" else unit,
    }
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {
                "calcs": legend_calcs if legend_calcs is not None else ["mean", "max", "lastNotNull"],
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def color_override(name, color):
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"fixedColor": color, "mode": "fixed"}}],
    }


def stat(title, targets, unit="short", desc="", th=None, decimals=None, mappings=None, graph="none",
         text_mode="auto", color_mode="value"):
    defaults = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": th or GREEN,
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": desc,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": color_mode,
            "graphMode": graph,
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": text_mode,
        },
        "targets": targets,
    }


def heatmap(title, expr, yunit="s", desc="", scheme="Oranges", decimals=None):
    y_axis = {"axisPlacement": "left", "reverse": False, "unit": yunit}
    if decimals is not None:
        y_axis["decimals"] = decimals
    return {
        "type": "heatmap",
        "title": title,
        "description": desc,
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "scaleDistribution": {"type": "linear"},
                }
            },
            "overrides": [],
        },
        "options": {
            "calculate": False,
            "cellGap": 1,
            "cellValues": {"unit": "short"},
            "color": {
                "exponent": 0.5,
                "fill": "dark-orange",
                "mode": "scheme",
                "reverse": False,
                "scale": "exponential",
                "scheme": scheme,
                "steps": 64,
            },
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-09},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto", "value": "count"},
            "showValue": "never",
            "tooltip": {"show": True, "yHistogram": True},
            "yAxis": y_axis,
        },
        "targets": [target(expr, legend="{{le}}", fmt="heatmap")],
        "maxDataPoints": 100,
    }


def piechart(title, targets, desc="", unit="short"):
    return {
        "type": "piechart",
        "title": title,
        "description": desc,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "palette-classic"},
                "custom": {"hideFrom": {"legend": False, "tooltip": False, "viz": False}},
                "mappings": [],
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "displayLabels": ["percent"],
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                       "values": ["value", "percent"]},
            "pieType": "donut",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": targets,
    }


def table(title, targets, value_name, desc="", unit="short", order=None):
    index = {name: i for i, name in enumerate(order or [])}
    if order:
        index[value_name] = len(order)
    return {
        "type": "table",
        "title": title,
        "description": desc,
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                "mappings": [],
                "thresholds": GREEN,
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "cellHeight": "sm",
            "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": value_name}],
        },
        "targets": targets,
        "transformations": [
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {("Value" if k == value_name else k): v for k, v in index.items()},
                "renameByName": {"Value": value_name},
            }},
        ],
    }


def quantiles(metric, labels, by="", qs=(0.5, 0.9, 0.99), window=RI, legend_suffix=""):
    by_clause = ("le, " + by) if by else "le"
    out = []
    for q in qs:
        leg = f"p{int(q * 100)}" + (" {{" + by + "}}" if by else "") + legend_suffix
        out.append(target(
            f"histogram_quantile({q}, sum by ({by_clause}) (rate({metric}_bucket{labels}[{window}])))", leg))
    return out


# --------------------------------------------------------------------------- variables


def variables(with_postfix_instance=True):
    v = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "options": [],
            "refresh": 1,
            "regex": "",
            "skipUrlSync": False,
        },
        {
            "name": "instance",
            "label": "pflog instance",
            "description": "pflog scrape targets (label instance of pflog_build_info)",
            "type": "query",
            "datasource": DS,
            "definition": "label_values(pflog_build_info, instance)",
            "query": {"query": "label_values(pflog_build_info, instance)",
                      "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
        },
    ]
    if with_postfix_instance:
        q = 'label_values(postfix_deliveries_total{instance=~"$instance"}, postfix_instance)'
        v.append({
            "name": "postfix_instance",
            "label": "Postfix instance",
            "description": "Postfix instance (syslog name prefix: postfix, postfix-out, ...)",
            "type": "query",
            "datasource": DS,
            "definition": q,
            "query": {"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
        })
    return v


def dashboard(uid, title, description, board, tags, links):
    return {
        "__inputs": [],
        "__elements": {},
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
            {"type": "panel", "id": "heatmap", "name": "Heatmap", "version": ""},
            {"type": "panel", "id": "piechart", "name": "Pie chart", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""},
        ],
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": links,
        "liveNow": False,
        "panels": board.panels,
        "refresh": "1m",
        "schemaVersion": 38,
        "style": "dark",
        "tags": tags,
        "templating": {"list": variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def link_to(title, uid_tag):
    return {"asDropdown": False, "icon": "dashboard", "includeVars": True, "keepTime": True,
            "tags": [uid_tag], "targetBlank": False, "title": title, "type": "dashboards"}


# --------------------------------------------------------------------------- overview


def overview():
    b = Board()
    deliv = "pflog:postfix_deliveries:rate5m"
    range_incr = lambda metric, extra="": f"sum(increase({metric}{sel(P, extra)}[$__range]))"

    # ---------------------------------------------------------------- mail flow
    b.row("Mail flow")
    b.add(stat("Received", [target(range_incr("postfix_messages_received_total"), "received", True, "time_series")],
               desc="New queue IDs (smtpd client=, pickup) in the selected time range.",
               th=thresholds(("blue", None)), decimals=0), 4, 4)
    b.add(stat("Delivered", [target(range_incr("postfix_deliveries_total", 'status="sent"'), "sent", True, "time_series")],
               desc="Recipients delivered (status=sent) in the selected time range.",
               th=thresholds(("green", None)), decimals=0), 4, 4)
    b.add(stat("Deferred", [target(range_incr("postfix_deliveries_total", 'status="deferred"'), "deferred", True, "time_series")],
               desc="Delivery attempts with status=deferred in the selected time range (one recipient can be deferred many times).",
               th=thresholds(("orange", None)), decimals=0), 4, 4)
    b.add(stat("Bounced", [target(range_incr("postfix_deliveries_total", 'status="bounced"'), "bounced", True, "time_series")],
               desc="Recipients bounced (status=bounced) in the selected time range.",
               th=thresholds(("red", None)), decimals=0), 4, 4)
    b.add(stat("Rejected", [target(range_incr("postfix_rejects_total"), "rejected", True, "time_series")],
               desc="Reject lines of all Postfix services (smtpd, postscreen, cleanup, milter) in the selected time range.",
               th=thresholds(("purple", None)), decimals=0), 4, 4)
    b.add(stat("Delivered mail that arrived in plaintext", [target(
        f'(sum(increase(postfix_message_outcomes_total{SEL_DELIVERED_PLAIN}[$__range])) or vector(0))'
        f' / sum(increase(postfix_message_outcomes_total{SEL_DELIVERED_KNOWN}[$__range]))',
        "plaintext", True, "time_series")],
        unit="percentunit", decimals=1,
        desc="Share of delivered recipients whose message was received over an unencrypted SMTP session "
             "(postfix_message_outcomes_total inbound_tls=\"none\"), among those with a known inbound session.",
        th=thresholds(("green", None), ("orange", 0.2), ("red", 0.5))), 4, 4)

    b.add(timeseries("Mail flow", [
        target(f"sum(pflog:postfix_messages_received:rate5m{{{P}}})", "received"),
        target(f'sum({deliv}{{{P},status="sent"}})', "delivered"),
        target(f'sum({deliv}{{{P},status="deferred"}})', "deferred"),
        target(f'sum({deliv}{{{P},status="bounced"}})', "bounced"),
        target(f"sum(rate(postfix_qmgr_expired_total{{{P}}}[{RI}]))", "expired"),
        target(f"sum(pflog:postfix_rejects:rate5m{{{P}}})", "rejected"),
    ], unit="mps", desc="Messages received, recipients delivered/deferred/bounced and reject lines per second "
                        "(5 minute rates from the pflog:* recording rules), and messages qmgr returned to "
                        "sender as expired (status=expired is logged by qmgr, not by the delivery agents).",
        overrides=[color_override("received", "blue"), color_override("delivered", "green"),
                   color_override("deferred", "orange"), color_override("bounced", "red"),
                   color_override("expired", "dark-red"), color_override("rejected", "purple")]), 16, 9)
    b.add(timeseries("Deferred and bounced share of delivery attempts", [
        target(f"pflog:postfix_deliveries_deferred:ratio_rate5m{{{P}}}", "deferred {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_deliveries_bounced:ratio_rate5m{{{P}}}", "bounced {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", max_=1, desc="Alerts PflogDeferredRatioHigh (25%) and PflogBounceRatioHigh (10%) use these series.",
        thresholds_line=thresholds(("transparent", None), ("orange", 0.1), ("red", 0.25)), legend_calcs=["mean", "max"]), 8, 9)

    b.add(timeseries("Received by service", [
        target(f"sum by (postfix_instance, service) (pflog:postfix_messages_received:rate5m{{{P}}})",
               "{{postfix_instance}} {{service}}"),
    ], unit="mps", stack="normal", desc="New messages per second by receiving service (smtpd, submission/smtpd, pickup, ...)."), 8, 8)
    b.add(timeseries("SMTP connections", [
        target(f"sum by (service) (rate(postfix_smtpd_connections_total{{{P}}}[{RI}]))", "connect {{service}}"),
        target(f"sum by (after) (rate(postfix_smtpd_lost_connections_total{{{P}}}[{RI}]))", "lost after {{after}}"),
    ], unit="suffix: conn/s", desc="smtpd 'connect from' per service, and 'lost connection after X' by the SMTP stage "
                                  "where the client went away (many after STARTTLS: TLS problems; after AUTH: password guessing)."), 8, 8)
    b.add(timeseries("SASL authentication failures", [
        target(f"sum by (service, method) (rate(postfix_smtpd_sasl_auth_failures_total{{{P}}}[{RI}]))",
               "{{service}} {{method}}"),
    ], unit="suffix: fail/s", desc="'SASL X authentication failed' per service and mechanism. A sustained rate is "
                                  "password guessing: consider fail2ban / postscreen / anvil rate limits."), 8, 8)

    # ---------------------------------------------------------------- TLS
    b.row("TLS")
    b.add(piechart("Inbound TLS protocols", [target(
        f'sum by (protocol) (increase(postfix_tls_connections_total{SEL_IN}[$__range]))',
        "{{protocol}}", True, "time_series")],
        desc="TLS sessions established by smtpd (inbound) in the selected time range, by protocol version."), 6, 8)
    b.add(piechart("Outbound TLS protocols", [target(
        f'sum by (protocol) (increase(postfix_tls_connections_total{SEL_OUT}[$__range]))',
        "{{protocol}}", True, "time_series")],
        desc="TLS sessions established by the smtp/lmtp client (outbound) in the selected time range, by protocol version."), 6, 8)
    b.add(timeseries("TLS sessions by trust level", [
        target(f"sum by (direction, trust) (pflog:postfix_tls_connections:rate5m{{{P}}})", "{{direction}} {{trust}}"),
    ], unit="suffix: conn/s", desc="anonymous: no certificate; untrusted: certificate not verified; trusted: chain "
                                  "verified against the CA bundle; verified: chain and name matched (or DANE)."), 12, 8)

    b.add(timeseries("Delivered mail by inbound transport security", [
        target(f'sum by (inbound_tls) (rate(postfix_message_outcomes_total{SEL_DELIVERED}[{RI}]))',
               "{{inbound_tls}}"),
    ], unit="mps", stack="normal",
        desc="Delivered recipients by how their message came in: TLS protocol of the receiving smtpd session, "
             "none = plaintext SMTP, unknown = no smtpd session (pickup/sendmail, locally generated, correlation lost)."), 12, 8)
    b.add(timeseries("Delivered mail that arrived in plaintext", [
        target(f"pflog:postfix_message_outcomes_delivered_plaintext:ratio_rate1h{{{P}}}", "last hour {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_message_outcomes_delivered_plaintext:ratio_rate1d{{{P}}}", "last 24h {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", max_=1, legend_calcs=["mean", "max", "lastNotNull"],
        desc="Share of delivered recipients (known inbound session) that arrived without TLS. "
             "PflogInboundPlaintextShareRising fires when the 1h share is 15 points above the 24h share."), 12, 8)

    b.add(timeseries("Outbound TLS coverage and trust", [
        target(f"pflog:postfix_smtp_tls_coverage:ratio_rate1h{{{P}}}", "TLS sessions per smtp delivery (1h) {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_smtp_tls_coverage:ratio_rate1d{{{P}}}", "TLS sessions per smtp delivery (24h) {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_tls_connections_outbound_unauthenticated:ratio_rate1h{{{P}}}",
               "unauthenticated share (1h) {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", legend_calcs=["mean", "lastNotNull"],
        desc="Outbound TLS sessions per SMTP delivery attempt (approximate TLS coverage: cached connections carry "
             "several deliveries), and the share of outbound TLS sessions with trust anonymous/untrusted. "
             "Used by PflogOutboundTLSShareDropped and PflogOutboundTLSTrustDegraded."), 12, 9)
    b.add(table("TLS ciphers", [target(
        f"sort_desc(sum by (direction, protocol, cipher) (increase(postfix_tls_connections_total{{{P}}}[$__range])))",
        "", True, "table")], "sessions", order=["direction", "protocol", "cipher"],
        desc="TLS sessions in the selected time range by direction, protocol and cipher."), 12, 9)

    # ---------------------------------------------------------------- rejections
    b.row("Rejections")
    b.add(timeseries("Rejects by reason", [
        target(f"sum by (reason) (pflog:postfix_rejects:rate5m{{{P}}})", "{{reason}}"),
    ], unit="suffix: rejects/s", stack="normal",
        desc="Reject lines per second by reason class (greylist, rbl, unknown_recipient, relay_denied, ...). "
             "PflogRejectSpike fires when one reason runs at 3x its 24h average."), 12, 9)
    b.add(timeseries("Rejects by stage", [
        target(f"sum by (stage) (pflog:postfix_rejects:rate5m{{{P}}})", "{{stage}}"),
    ], unit="suffix: rejects/s", stack="normal",
        desc="SMTP stage of the reject (CONNECT, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, ...)."), 12, 9)
    b.add(table("Top rejects", [target(
        f"topk(25, sum by (postfix_instance, service, stage, code, reason) (increase(postfix_rejects_total{{{P}}}[$__range])))",
        "", True, "table")], "rejects", order=["postfix_instance", "service", "stage", "code", "reason"],
        desc="Most frequent reject classes in the selected time range."), 12, 9)
    b.add(timeseries("Milter actions", [
        target(f"sum by (service, action) (rate(postfix_milter_actions_total{{{P}}}[{RI}]))", "{{service}} {{action}}"),
    ], unit="suffix: actions/s", desc="milter-reject/discard/hold/... from smtpd and cleanup."), 12, 9)

    # ---------------------------------------------------------------- authentication
    b.row("Authentication (SPF, DKIM, DMARC, ARC)")
    checks = 'check=~"spf|dkim|dmarc|arc"'
    for result, color in (("pass", "green"), ("fail", "red")):
        b.add(stat(f"Inbound {result} share by check", [target(
            f'(sum by (check) (increase(mail_auth_results_total{{{I},{checks},result="{result}"}}[$__range]))'
            f' or 0 * sum by (check) (increase(mail_auth_results_total{{{I},{checks}}}[$__range])))'
            f' / sum by (check) (increase(mail_auth_results_total{{{I},{checks}}}[$__range]))',
            "{{check}}", True, "time_series")], unit="percentunit", decimals=1, th=thresholds((color, None)),
            desc=f"Share of the verification results (mail_auth_results_total: policyd-spf, opendkim, opendmarc, "
                 f"rspamd) that were {result}, per check, in the selected time range. Every result counts "
                 f"(none = no SPF record / no signature / no DMARC record); opendkim logs one result per "
                 f"signature, and a site running two checkers counts a message once per checker."), 12, 4)
    auth_colors = [color_override("pass", "green"), color_override("fail", "red"),
                   color_override("softfail", "orange"), color_override("neutral", "blue"),
                   color_override("none", "gray"), color_override("temperror", "yellow"),
                   color_override("permerror", "purple"), color_override("policy", "dark-red"),
                   color_override("other", "text")]
    for check, name, note in (
            ("spf", "SPF", "policyd-spf 'Received-SPF:' (MAIL FROM identity) and rspamd R_SPF_*. HELO checks are "
                           "check=\"spf_helo\" (see the table)."),
            ("dkim", "DKIM", "opendkim verification (one result per signature; 'no signature data' = none) and "
                             "rspamd R_DKIM_*."),
            ("dmarc", "DMARC", "opendmarc 'DOMAIN pass|fail|none' and rspamd DMARC_POLICY_* / DMARC_NA."),
            ("arc", "ARC", "rspamd ARC_* symbols.")):
        b.add(timeseries(f"Inbound {name} results", [
            target(f'sum by (result) (pflog:mail_auth_results:rate5m{{{I},check="{check}"}})', "{{result}}"),
        ], stack="percent", max_=1, legend_calcs=["mean", "lastNotNull"], overrides=auth_colors,
            desc=f"Share of {name} results by result (5 minute rates, all checking daemons): {note}"), 6, 8)
    b.add(timeseries("DMARC fail share", [
        target(f"pflog:mail_auth_results_dmarc_fail:ratio_rate1h{{{I}}}", "last hour {{instance}} {{daemon}}"),
        target(f"pflog:mail_auth_results_dmarc_fail:ratio_rate1d{{{I}}}", "last 24h {{instance}} {{daemon}}"),
    ], unit="percentunit", max_=1, legend_calcs=["mean", "lastNotNull"],
        thresholds_line=thresholds(("transparent", None), ("red", 0.2)),
        desc="Share of DMARC results that are fail, per checking daemon. PflogDMARCFailShareRising fires when the "
             "1h share is above 20% and 10 points above the 24h share, with more than 20 results in the hour."), 8, 8)
    b.add(timeseries("DMARC dispositions", [
        target(f"sum by (daemon, disposition) (rate(mail_dmarc_dispositions_total{{{I}}}[{RI}]))",
               "{{daemon}} {{disposition}}"),
    ], unit="mps", stack="normal", desc="The policy applied to inbound mail after its DMARC check: none (delivered "
                                        "as usual), quarantine, reject.",
        overrides=[color_override("opendmarc none", "green"), color_override("opendmarc quarantine", "orange"),
                   color_override("opendmarc reject", "red")]), 8, 8)
    b.add(timeseries("Outbound DKIM signatures", [
        target(f"sum by (domain) (rate(mail_dkim_signatures_total{{{I}}}[{RI}]))", "signed {{domain}}"),
        target(f'sum(pflog:postfix_deliveries:rate5m{{{P},service=~"(.+/)?smtp",status="sent"}})',
               "outbound SMTP deliveries (sent)"),
    ], unit="mps", desc="'DKIM-Signature field added (s=..., d=DOMAIN)' per second by signing domain (capped label), "
                        "next to outbound SMTP deliveries. Signing happens once per message on submission, deliveries "
                        "count per recipient and attempt, so the lines differ; signatures dropping to zero while "
                        "deliveries go on is what PflogDKIMSigningStopped alerts on.",
        overrides=[color_override("outbound SMTP deliveries (sent)", "text")]), 8, 8)
    b.add(timeseries("Delivered mail by DMARC result", [
        target(f'sum by (result) (rate(postfix_message_auth_outcomes_total{{{P},outcome="delivered",check="dmarc"}}[{RI}]))',
               "{{result}}"),
    ], unit="mps", stack="normal", overrides=auth_colors + [color_override("unknown", "light-blue")],
        desc="Recipients delivered, by the DMARC result joined to their message by queue ID; unknown: no DMARC "
             "result was logged for the message (outbound or local mail, no DMARC checker)."), 8, 8)
    b.add(timeseries("Rejects for SPF and DMARC", [
        target(f'sum by (reason, service) (rate(postfix_rejects_total{{{P},reason=~"spf|dmarc"}}[{RI}]))',
               "{{reason}} {{service}}"),
    ], unit="suffix: rejects/s", stack="normal",
        desc="Postfix reject lines classified as spf (policyd-spf 'Message rejected due to: SPF fail', 'Rejected "
             "by SPF') or dmarc (milter-reject 'rejected by DMARC policy')."), 8, 8)
    b.add(table("Authentication results", [target(
        f"sort_desc(sum by (daemon, check, result) (increase(mail_auth_results_total{{{I}}}[$__range])))",
        "", True, "table")], "results", order=["daemon", "check", "result"],
        desc="Verification results in the selected time range by daemon, check (spf, spf_helo, dkim, dmarc, arc) "
             "and result."), 8, 8)

    # ---------------------------------------------------------------- greylisting
    b.row("Greylisting (postgrey)")
    b.add(timeseries("Greylist vs pass", [
        target(f"sum by (action) (pflog:postgrey_actions:rate5m{{{I}}})", "postgrey {{action}}"),
        target(f'sum(pflog:postfix_rejects:rate5m{{{P},reason="greylist"}})', "Postfix greylist rejects"),
    ], unit="suffix: /s", desc="postgrey decisions per second, next to Postfix rejects classified as greylist.",
        overrides=[color_override("postgrey pass", "green"), color_override("postgrey greylist", "orange")]), 8, 8)
    b.add(timeseries("Pass ratio", [
        target(f"pflog:postgrey_pass:ratio_rate1h{{{I}}}", "last hour {{instance}}"),
        target(f"pflog:postgrey_pass:ratio_rate1d{{{I}}}", "last 24h {{instance}}"),
    ], unit="percentunit", max_=1, legend_calcs=["mean", "lastNotNull"],
        desc="pass / (pass + greylist). PflogGreylistPassRatioCollapsed fires when the 1h ratio drops below half the 24h ratio."), 8, 8)
    b.add(timeseries("Decisions by reason", [
        target(f"sum by (action, reason) (pflog:postgrey_actions:rate5m{{{I}}})", "{{action}} {{reason}}"),
    ], unit="suffix: /s", stack="normal", desc="postgrey reasons: new, early_retry, triplet_found, client/recipient whitelist, ..."), 8, 8)
    b.add(heatmap("Time to pass after greylisting", f"sum by (le) (increase(postgrey_pass_delay_seconds_bucket{{{I}}}[{RI}]))",
                  desc="postgrey's delay= on action=pass after an earlier greylist: how long legitimate senders "
                       "needed to retry."), 12, 9)
    b.add(timeseries("Abandoned triplets", [
        target(f"sum(increase(postgrey_abandoned_triplets_total{{{I}}}[1h]))", "abandoned per hour"),
        target(f'sum(increase(postgrey_actions_total{{{I},action="greylist"}}[1h]))', "greylisted per hour"),
    ], unit="short", desc="Greylisted triplets that never passed within the greylist window (default 24 h of log "
                          "time) - mostly spam that greylisting stopped - next to all greylist decisions.",
        overrides=[color_override("abandoned per hour", "red")]), 12, 9)

    # ---------------------------------------------------------------- policyd-weight
    b.row("policyd-weight")
    b.add(timeseries("Decisions", [
        target(f"sum by (action) (rate(policyd_weight_decisions_total{{{I}}}[{RI}]))", "{{action}}"),
    ], unit="suffix: /s", stack="normal", desc="policyd-weight 'decided action=...' per second.",
        overrides=[color_override("accept", "green"), color_override("prepend", "yellow"),
                   color_override("defer", "orange"), color_override("reject", "red")]), 9, 8)
    b.add(stat("Cache hit ratio", [target(
        f'(sum(increase(policyd_weight_decisions_total{{{I},cached="true"}}[$__range])) or vector(0))'
        f" / sum(increase(policyd_weight_decisions_total{{{I}}}[$__range]))", "cached", True, "time_series")],
        unit="percentunit", decimals=1, desc="Share of decisions answered from policyd-weight's cache in the selected range."), 3, 8)
    b.add(heatmap("Score distribution", f"sum by (le) (increase(policyd_weight_score_bucket{{{I}}}[{RI}]))",
                  yunit="short", decimals=0, scheme="RdYlGn",
                  desc="policyd-weight 'rate: X' scores (buckets -10..10); positive scores are bad."), 12, 8)

    # ---------------------------------------------------------------- rspamd
    b.row("rspamd")
    b.add(timeseries("Actions", [
        target(f"sum by (action) (pflog:rspamd_actions:rate5m{{{I}}})", "{{action}}"),
    ], unit="mps", stack="normal", desc="rspamd scan results per second by action.",
        overrides=[color_override("no_action", "green"), color_override("add_header", "yellow"),
                   color_override("rewrite_subject", "light-orange"), color_override("greylist", "orange"),
                   color_override("soft_reject", "dark-orange"), color_override("reject", "red")]), 8, 9)
    b.add(heatmap("Score distribution", f"sum by (le) (increase(rspamd_score_bucket{{{I}}}[{RI}]))",
                  yunit="short", decimals=1, scheme="RdYlGn", desc="rspamd scores (buckets -10..30 by 2.5)."), 8, 9)
    b.add(timeseries("Scan time", quantiles("rspamd_scan_duration_seconds", "{" + I + "}") + [
        target(f"sum(rate(rspamd_scan_duration_seconds_sum{{{I}}}[{RI}])) / sum(rate(rspamd_scan_duration_seconds_count{{{I}}}[{RI}]))", "avg"),
    ], unit="s", desc="rspamd 'time: ...' per scanned message: quantiles and average."), 8, 9)
    b.add(timeseries("Average score by action", [
        target(f"sum by (action) (rate(rspamd_score_sum{{{I}}}[{RI}])) / sum by (action) (rate(rspamd_score_count{{{I}}}[{RI}]))", "{{action}}"),
    ], unit="short", min_=None, decimals=1, desc="Mean rspamd score of the messages that got each action."), 12, 8)
    b.add(timeseries("Reject share", [
        target(f'sum by (instance) (pflog:rspamd_actions:rate5m{{{I},action="reject"}}) / sum by (instance) (pflog:rspamd_actions:rate5m{{{I}}})',
               "{{instance}}"),
    ], unit="percentunit", max_=1, desc="Share of scanned messages rejected by rspamd (PflogRspamdRejectSpike watches the rate)."), 12, 8)

    # ---------------------------------------------------------------- delivery
    b.row("Delivery")
    b.add(timeseries("Delivery status by service", [
        target(f"sum by (postfix_instance, service, status) ({deliv}{{{P}}})", "{{postfix_instance}} {{service}} {{status}}"),
    ], unit="mps", desc="Delivery attempts per second by delivery agent (smtp, lmtp, local, relay/smtp, ...) and status."), 12, 9)
    b.add(heatmap("Delivery delay (sent)", f'sum by (le) (increase(postfix_delivery_delay_seconds_bucket{SEL_SENT}[{RI}]))',
                  desc="Postfix delay= (arrival to delivery) of sent recipients."), 12, 9)
    b.add(timeseries("Delivery delay p95 (sent)", [
        target(f"pflog:postfix_delivery_delay_seconds:p95_rate15m{{{P}}}", "p95 {{instance}} {{postfix_instance}}"),
    ] + quantiles("postfix_delivery_delay_seconds", sel(P, 'status="sent"'), qs=(0.5,), legend_suffix=" (all selected)"),
        unit="s", desc="p95 over 15 minutes (alert PflogDeliveryLatencyHigh at 10 minutes) and the median.",
        thresholds_line=thresholds(("transparent", None), ("red", 600))), 8, 8)
    b.add(timeseries("Stage delays (sent)", [
        target(f"sum by (stage) (rate(postfix_delivery_stage_delay_seconds_sum{{{P}}}[{RI}])) / "
               f"sum by (stage) (rate(postfix_delivery_stage_delay_seconds_count{{{P}}}[{RI}]))", "avg {{stage}}"),
    ] + quantiles("postfix_delivery_stage_delay_seconds", "{" + P + "}", by="stage", qs=(0.9,)),
        unit="s", desc="delays=a/b/c/d of sent recipients: before_qmgr (incl. content filter), in_qmgr, "
                       "conn_setup (DNS, connect, HELO, TLS), transmission."), 8, 8)
    b.add(timeseries("End-to-end latency (delivered)", quantiles(
        "postfix_message_end_to_end_seconds", sel(P, 'outcome="delivered"')),
        unit="s", desc="First log line of the message (smtpd client=, pickup, cleanup) to its final delivery, per "
                       "recipient, across content-filter re-injection: p50/p90/p99."), 8, 8)
    b.add(timeseries("Final outcomes", [
        target(f"sum by (outcome) (rate(postfix_message_outcomes_total{{{P}}}[{RI}]))", "{{outcome}}"),
    ], unit="mps", stack="normal", desc="Recipients reaching their final outcome (counted once per recipient).",
        overrides=[color_override("delivered", "green"), color_override("bounced", "red"),
                   color_override("expired", "dark-red"), color_override("rejected", "purple"),
                   color_override("discarded", "gray")]), 6, 8)
    b.add(timeseries("Bounce notifications and expiries", [
        target(f"sum(rate(postfix_bounces_total{{{P}}}[{RI}]))", "non-delivery notifications"),
        target(f"sum(rate(postfix_qmgr_expired_total{{{P}}}[{RI}]))", "expired (returned to sender)"),
    ], unit="mps", desc="bounce 'sender non-delivery notification' and qmgr 'status=expired, returned to sender'."), 6, 8)
    b.add(timeseries("Message size", quantiles("postfix_message_size_bytes", "{" + P + "}") + [
        target(f"sum(rate(postfix_message_size_bytes_sum{{{P}}}[{RI}])) / sum(rate(postfix_message_size_bytes_count{{{P}}}[{RI}]))", "avg"),
    ], unit="bytes", desc="qmgr size= per message."), 6, 8)
    b.add(timeseries("Recipients per message", quantiles("postfix_message_recipients", "{" + P + "}", qs=(0.5, 0.99)) + [
        target(f"sum(rate(postfix_message_recipients_sum{{{P}}}[{RI}])) / sum(rate(postfix_message_recipients_count{{{P}}}[{RI}]))", "avg"),
    ], unit="short", decimals=1, desc="qmgr nrcpt= per message."), 6, 8)

    # ---------------------------------------------------------------- exporter health
    b.row("Exporter health")
    b.add(stat("Exporter up", [target(f'min(up{{job=~".*pflog.*",{I}}})', "up", True, "time_series")],
               mappings=[{"type": "value", "options": {"0": {"text": "DOWN", "color": "red", "index": 0},
                                                       "1": {"text": "UP", "color": "green", "index": 1}}}],
               th=thresholds(("red", None), ("green", 1)), color_mode="background",
               desc="Prometheus' up for the selected pflog targets (job name must contain 'pflog')."), 4, 4)
    b.add(stat("Version", [target(f"count by (version) (pflog_build_info{{{I}}})", "{{version}}", True, "time_series")],
               text_mode="name", desc="pflog_build_info versions of the selected targets."), 4, 4)
    b.add(stat("Lag behind the log", [target(f"max(time() - pflog_last_log_timestamp_seconds{{{I}}})", "lag", True, "time_series")],
               unit="s", decimals=0, th=thresholds(("green", None), ("orange", 120), ("red", 600)),
               desc="Now minus the timestamp of the newest log line read. A constant offset of whole hours is a "
                    "time-zone mismatch."), 4, 4)
    b.add(stat("Unsupported lines", [target(f"max(pflog:pflog_lines_unsupported:ratio_rate5m{{{I}}})", "unsupported", True, "time_series")],
               unit="percentunit", decimals=2, th=thresholds(("green", None), ("orange", 0.01), ("red", 0.05)),
               desc="Share of log lines pflog recognised the program of but could not parse (last 5 minutes)."), 4, 4)
    b.add(stat("Tracked messages", [target(f"sum(pflog_tracked_messages{{{I}}})", "tracked", True, "time_series")],
               decimals=0, th=thresholds(("blue", None)), desc="Messages currently held by pflog's correlator."), 4, 4)
    b.add(stat("Capacity evictions", [target(
        f'sum(increase(pflog_correlation_evictions_total{{{I},reason="capacity"}}[$__range])) or vector(0)', "evicted", True, "time_series")],
        decimals=0, th=thresholds(("green", None), ("red", 1)),
        desc="Messages dropped from the correlator because it was full, in the selected range. Should be 0."), 4, 4)

    b.add(timeseries("Log lines by program and result", [
        target(f"sum by (program, result) (pflog:pflog_lines:rate5m{{{I}}})", "{{program}} {{result}}"),
    ], unit="suffix: lines/s", stack="normal", desc="Lines read per second: parsed, ignored (known but uninteresting "
                                                    "or foreign programs), unsupported (known program, unknown format)."), 12, 8)
    b.add(timeseries("Unsupported-line ratio", [
        target(f"pflog:pflog_lines_unsupported:ratio_rate5m{{{I}}}", "{{instance}}"),
    ], unit="percentunit", desc="PflogUnsupportedLinesHigh fires above 5% for 30 minutes.",
        thresholds_line=thresholds(("transparent", None), ("red", 0.05))), 12, 8)
    b.add(timeseries("Lag behind the log", [
        target(f"time() - pflog_last_log_timestamp_seconds{{{I}}}", "{{instance}}"),
    ], unit="s", min_=None, desc="PflogLogLagging fires above 10 minutes while lines are being read.",
        thresholds_line=thresholds(("transparent", None), ("red", 600))), 8, 8)
    b.add(timeseries("Tracked messages", [
        target(f"pflog_tracked_messages{{{I}}}", "{{instance}}"),
    ], unit="short", desc="Correlator size; compare with the configured capacity."), 8, 8)
    b.add(timeseries("Correlation evictions", [
        target(f"sum by (instance, reason) (rate(pflog_correlation_evictions_total{{{I}}}[{RI}]))", "{{instance}} {{reason}}"),
    ], unit="suffix: msg/s", desc="capacity: correlator full (raise its capacity; alert PflogCorrelationEvictions); "
                                  "expired: message idle longer than the TTL in log time."), 8, 8)
    b.add(timeseries("Label overflow", [
        target(f"sum by (metric, label) (rate(pflog_label_overflow_total{{{I}}}[{RI}]))", "{{metric}} {{label}}"),
    ], unit="suffix: /s", desc="Label values reported as 'other' because the label hit its cardinality cap."), 12, 8)
    b.add(timeseries("Log source rotations and errors", [
        target(f"sum by (source) (increase(pflog_source_rotations_total{{{I}}}[1h]))", "rotations/h {{source}}"),
        target(f"sum by (source) (increase(pflog_source_errors_total{{{I}}}[1h]))", "errors/h {{source}}"),
    ], unit="short", desc="Log rotations seen and read errors per log source, per hour."), 12, 8)

    return dashboard(
        "pflog-overview", "pflog / Postfix overview",
        "Postfix mail flow, TLS, rejections, authentication (SPF/DKIM/DMARC), greylisting, policyd-weight, rspamd, delivery and pflog health.",
        b, ["pflog", "postfix", "mail"],
        [link_to("pflog dashboards", "pflog")])


# --------------------------------------------------------------------------- TLS / security


def tls_security():
    b = Board()
    tls = "pflog:postfix_tls_connections:rate5m"
    b.row("Transport encryption")
    b.add(stat("Delivered mail that arrived in plaintext", [target(
        f'(sum(increase(postfix_message_outcomes_total{SEL_DELIVERED_PLAIN}[$__range])) or vector(0))'
        f' / sum(increase(postfix_message_outcomes_total{SEL_DELIVERED_KNOWN}[$__range]))',
        "plaintext", True, "time_series")], unit="percentunit", decimals=1,
        th=thresholds(("green", None), ("orange", 0.2), ("red", 0.5)),
        desc="Share of delivered recipients received without TLS (known inbound session) in the selected range."), 6, 4)
    b.add(stat("Inbound TLS 1.3 share", [target(
        f'(sum(increase(postfix_tls_connections_total{SEL_IN_TLS13}[$__range])) or vector(0))'
        f' / sum(increase(postfix_tls_connections_total{SEL_IN}[$__range]))',
        "TLSv1.3", True, "time_series")], unit="percentunit", decimals=1, th=thresholds(("blue", None)),
        desc="Share of inbound TLS sessions that negotiated TLSv1.3."), 6, 4)
    b.add(stat("Legacy protocol sessions", [target(
        f'sum(increase(postfix_tls_connections_total{SEL_LEGACY}[$__range])) or vector(0)',
        "legacy", True, "time_series")], decimals=0, th=thresholds(("green", None), ("orange", 1)),
        desc="TLS sessions (both directions) that used SSLv3, TLSv1 or TLSv1.1 in the selected range."), 6, 4)
    b.add(stat("Unauthenticated outbound TLS", [target(
        f'(sum(increase(postfix_tls_connections_total{SEL_OUT_UNAUTH}[$__range])) or vector(0))'
        f' / sum(increase(postfix_tls_connections_total{SEL_OUT}[$__range]))',
        "unauthenticated", True, "time_series")], unit="percentunit", decimals=1, th=thresholds(("blue", None)),
        desc="Share of outbound TLS sessions whose peer certificate was not verified (anonymous/untrusted)."), 6, 4)

    b.add(timeseries("Inbound TLS protocols", [
        target(f'sum by (protocol) ({tls}{{{P},direction="inbound"}})', "{{protocol}}"),
    ], stack="percent", max_=1, desc="Share of inbound TLS sessions by protocol version."), 12, 8)
    b.add(timeseries("Outbound TLS protocols", [
        target(f'sum by (protocol) ({tls}{{{P},direction="outbound"}})', "{{protocol}}"),
    ], stack="percent", max_=1, desc="Share of outbound TLS sessions by protocol version."), 12, 8)
    b.add(timeseries("Inbound trust levels", [
        target(f'sum by (trust) ({tls}{{{P},direction="inbound"}})', "{{trust}}"),
    ], stack="percent", max_=1, desc="Inbound: mostly anonymous unless client certificates are requested."), 12, 8)
    b.add(timeseries("Outbound trust levels", [
        target(f'sum by (trust) ({tls}{{{P},direction="outbound"}})', "{{trust}}"),
    ], stack="percent", max_=1, desc="Outbound: untrusted = certificate not verified; trusted = CA-verified; "
                                     "verified = CA/DANE verified and name matched."), 12, 8)
    b.add(timeseries("Inbound SMTP sessions using TLS", [
        target(f'sum by (instance) ({tls}{{{P},direction="inbound",service=~"(.+/)?smtpd"}}) / '
               f"sum by (instance) (rate(postfix_smtpd_connections_total{{{P}}}[5m]))", "{{instance}}"),
    ], unit="percentunit", desc="Inbound TLS sessions per smtpd connection (connections dropped before STARTTLS "
                                "- bots, postscreen rejects - lower this)."), 12, 8)
    b.add(timeseries("Delivered mail that arrived in plaintext", [
        target(f"pflog:postfix_message_outcomes_delivered_plaintext:ratio_rate1h{{{P}}}", "last hour {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_message_outcomes_delivered_plaintext:ratio_rate1d{{{P}}}", "last 24h {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", max_=1, desc="Alert PflogInboundPlaintextShareRising compares these two."), 12, 8)
    b.add(timeseries("Outbound TLS coverage", [
        target(f"pflog:postfix_smtp_tls_coverage:ratio_rate1h{{{P}}}", "last hour {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_smtp_tls_coverage:ratio_rate1d{{{P}}}", "last 24h {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", desc="Outbound TLS sessions per SMTP delivery attempt (alert PflogOutboundTLSShareDropped)."), 12, 8)
    b.add(timeseries("Unauthenticated outbound TLS", [
        target(f"pflog:postfix_tls_connections_outbound_unauthenticated:ratio_rate1h{{{P}}}", "last hour {{instance}} {{postfix_instance}}"),
        target(f"pflog:postfix_tls_connections_outbound_unauthenticated:ratio_rate1d{{{P}}}", "last 24h {{instance}} {{postfix_instance}}"),
    ], unit="percentunit", max_=1, desc="Share of outbound TLS sessions with trust anonymous/untrusted "
                                        "(alert PflogOutboundTLSTrustDegraded)."), 12, 8)
    b.add(table("TLS ciphers", [target(
        f"sort_desc(sum by (direction, service, protocol, cipher) (increase(postfix_tls_connections_total{{{P}}}[$__range])))",
        "", True, "table")], "sessions", order=["direction", "service", "protocol", "cipher"],
        desc="TLS sessions in the selected range by direction, service, protocol and cipher."), 24, 10)

    b.row("Authentication and abuse")
    b.add(timeseries("SASL authentication failures", [
        target(f"sum by (service, method) (rate(postfix_smtpd_sasl_auth_failures_total{{{P}}}[{RI}]))", "{{service}} {{method}}"),
    ], unit="suffix: fail/s", desc="Password guessing shows up here first."), 12, 8)
    b.add(timeseries("Lost connections by stage", [
        target(f"sum by (after) (rate(postfix_smtpd_lost_connections_total{{{P}}}[{RI}]))", "after {{after}}"),
    ], unit="suffix: conn/s", stack="normal", desc="Clients that dropped the connection; after STARTTLS usually "
                                                  "means a failed handshake, after AUTH a failed login."), 12, 8)
    b.add(timeseries("Security-relevant rejects", [
        target(f'sum by (reason) (pflog:postfix_rejects:rate5m{{{P},reason=~"rbl|relay_denied|tls_required|spf|dmarc|client|helo|sender|rate_limit"}})',
               "{{reason}}"),
    ], unit="suffix: rejects/s", stack="normal", desc="Rejects for blocklisted clients, relay attempts, missing TLS, "
                                                      "SPF, DMARC, client/HELO/sender restrictions and rate limits."), 12, 8)
    b.add(table("Top rejects", [target(
        f"topk(20, sum by (service, stage, code, reason) (increase(postfix_rejects_total{{{P}}}[$__range])))",
        "", True, "table")], "rejects", order=["service", "stage", "code", "reason"],
        desc="Most frequent reject classes in the selected time range."), 12, 8)

    return dashboard(
        "pflog-tls-security", "pflog / TLS and security",
        "Focused view on transport encryption (inbound/outbound TLS, plaintext mail, trust, ciphers) and abuse signals.",
        b, ["pflog", "postfix", "mail", "tls"],
        [link_to("pflog dashboards", "pflog")])


DASHBOARDS = {
    "pflog-overview.json": overview,
    "pflog-tls-security.json": tls_security,
}


def render(fn):
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(HERE, name)
        text = render(fn)
        if check:
            try:
                current = open(path, encoding="utf-8").read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote", path)
    if stale:
        print("out of date (run python3 dashboards/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
