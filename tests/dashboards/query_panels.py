#!/usr/bin/env python3
"""Run every dashboard query against a live Prometheus.

    python3 tests/dashboards/query_panels.py PROM_URL [options] [DASHBOARD.json ...]

    PROM_URL            e.g. http://127.0.0.1:9090 (the Prometheus that scrapes pflog and
                        has alerts/pflog.recording.yml loaded)
    --allow-empty       only fail on query errors, not on queries that return no data
    --instance VALUE    value for $instance (default: the regex .*)
    --var NAME=VALUE    value for any other dashboard variable (default .* ; repeatable)
    --time RFC3339|UNIX evaluation time (default: now)
    --timeout SECONDS   per-request timeout (default 10)
    -v, --verbose       also print the queries that passed

Loads dashboards/*.json (or the given files), substitutes Grafana variables
($datasource; $instance / ${instance} / ${instance:regex} / [[instance]] and every
other templating variable; $__rate_interval -> 1m, $__interval -> 30s,
$__range -> 5m, $__range_s -> 300, $__interval_ms -> 30000, ...), runs each panel
target's expr through /api/v1/query, and checks the template variable queries
(label_values(SELECTOR, LABEL) through /api/v1/label/LABEL/values?match[]=SELECTOR).

Exit status: 0 when every query succeeded (and returned data, unless --allow-empty),
1 otherwise (each failing query is listed), 2 on usage errors.
Uses only the Python standard library.
"""
import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__interval_ms": "30000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}


def walk_panels(panels, parent=None):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"), p)


def substitute(text, values):
    """Replace Grafana variables; longest names first so $postfix_instance beats $instance."""
    for name in sorted(values, key=len, reverse=True):
        v = values[name]
        text = re.sub(r"\$\{" + re.escape(name) + r"(?::[A-Za-z]+)?\}", lambda _m: v, text)
        text = re.sub(r"\[\[" + re.escape(name) + r"(?::[A-Za-z]+)?\]\]", lambda _m: v, text)
        text = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _m: v, text)
    return text


class Prom:
    def __init__(self, url, timeout, at):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.at = at

    def get(self, path, params):
        q = urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(f"{self.url}{path}?{q}", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                body = r.read()
        except urllib.error.HTTPError as e:  # Prometheus answers 400/422 with a JSON error
            body = e.read()
            try:
                return json.loads(body)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}: {body[:200]!r}"}
        except (urllib.error.URLError, OSError) as e:
            return {"status": "error", "error": f"request failed: {e}"}
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "error": f"not JSON: {body[:200]!r}"}

    def query(self, expr):
        params = {"query": expr}
        if self.at:
            params["time"] = self.at
        return self.get("/api/v1/query", params)

    def label_values(self, label, selector):
        params = {"match[]": [selector]}
        return self.get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params)


def count_results(data):
    t = data.get("resultType")
    r = data.get("result")
    if t in ("vector", "matrix"):
        return len(r or [])
    if t in ("scalar", "string"):
        return 1
    return 0


def variable_check(query):
    """(label, selector) for label_values(selector, label); None for queries we run as PromQL."""
    if isinstance(query, dict):
        query = query.get("query", "")
    m = re.match(r"^\s*label_values\s*\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", query or "", re.S)
    if m:
        return m.group(2), m.group(1).strip()
    return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prom_url")
    ap.add_argument("dashboards", nargs="*")
    ap.add_argument("--allow-empty", action="store_true")
    ap.add_argument("--instance")
    ap.add_argument("--var", action="append", default=[])
    ap.add_argument("--time")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    files = args.dashboards or sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json")))
    if not files:
        print("query_panels: no dashboards found", file=sys.stderr)
        return 2
    given = {}
    for kv in args.var:
        if "=" not in kv:
            print(f"query_panels: --var wants NAME=VALUE, got {kv!r}", file=sys.stderr)
            return 2
        k, v = kv.split("=", 1)
        given[k] = v
    if args.instance is not None:
        given["instance"] = args.instance

    prom = Prom(args.prom_url, args.timeout, args.time)
    # Fail fast when Prometheus is not there at all.
    probe = prom.query("vector(1)")
    if probe.get("status") != "success":
        print(f"query_panels: Prometheus at {args.prom_url} not usable: {probe.get('error')}", file=sys.stderr)
        return 1

    passed, failures = 0, []
    for path in files:
        dash = json.load(open(path, encoding="utf-8"))
        if "dashboard" in dash and "panels" not in dash:
            dash = dash["dashboard"]
        dname = os.path.basename(path)
        values = dict(BUILTINS)
        for v in (dash.get("templating") or {}).get("list") or []:
            name = v.get("name")
            if not name:
                continue
            if name in given:
                values[name] = given[name]
            elif v.get("type") == "datasource":
                values[name] = "prometheus"
            elif v.get("type") in ("constant", "textbox") and v.get("query"):
                values[name] = str(v["query"])
            elif v.get("type") == "interval":
                values[name] = "5m"
            else:
                values[name] = ".*"

        checks = []  # (label for report, kind, payload)
        for v in (dash.get("templating") or {}).get("list") or []:
            if v.get("type") != "query":
                continue
            q = v.get("query") or v.get("definition")
            lv = variable_check(q)
            where = f"{dname} / variable ${v.get('name')}"
            if lv:
                checks.append((where, "label_values", (lv[0], substitute(lv[1], values))))
            else:
                raw = q.get("query") if isinstance(q, dict) else q
                m = re.match(r"^\s*query_result\s*\((.*)\)\s*$", raw or "", re.S)
                if m:
                    checks.append((where, "query", substitute(m.group(1), values)))
        for p in walk_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                expr = t.get("expr")
                if not expr:
                    continue
                where = f"{dname} / {p.get('title')!r} / {t.get('refId', '?')}"
                checks.append((where, "query", substitute(expr, values)))

        for where, kind, payload in checks:
            if kind == "label_values":
                label, selector = payload
                shown = f"label_values({selector}, {label})"
                if "$" in selector:
                    failures.append(f"ERROR {where}: unsubstituted variable in {shown}")
                    continue
                res = prom.label_values(label, selector)
                n = len(res.get("data") or []) if res.get("status") == "success" else 0
            else:
                shown = payload
                if re.search(r"\$\{?[A-Za-z_]", payload) or "[[" in payload:
                    failures.append(f"ERROR {where}: unsubstituted variable in: {payload}")
                    continue
                res = prom.query(payload)
                n = count_results(res.get("data") or {}) if res.get("status") == "success" else 0
            if res.get("status") != "success":
                failures.append(f"ERROR {where}: {res.get('errorType', '')} {res.get('error')}\n      {shown}")
            elif n == 0 and not args.allow_empty:
                failures.append(f"EMPTY {where}: no data\n      {shown}")
            else:
                passed += 1
                for w in res.get("warnings") or []:
                    print(f"WARN  {where}: {w}")
                if args.verbose:
                    print(f"OK    {where}: {n} result(s)")

    for f in failures:
        print(f)
    print(f"query_panels: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
