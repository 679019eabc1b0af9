#!/usr/bin/env python3
"""Static checks of the Grafana dashboards in dashboards/*.json (no Grafana needed).

    python3 tests/dashboards/lint_dashboards.py [DASHBOARD.json ...]

Checks: valid JSON model (uid, title, schemaVersion, panels); the ${datasource}
variable (type datasource, prometheus) and the instance variable
(label_values(pflog_build_info, instance)); every panel and target uses
${datasource}; unique panel ids; grid positions inside 24 columns without
overlaps; every target has an expr, a unique refId and a legend; every query
filters on $instance; units set on timeseries/stat/heatmap panels; heatmap
targets use format heatmap; every pflog:* series a dashboard uses is recorded
by a rule in alerts/*.yml; the overview has the rows the issue asks for.
Prints one line per problem and exits 1 if there are any.
"""
import glob
import json
import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DS = {"type": "prometheus", "uid": "${datasource}"}
OVERVIEW_ROWS = ["Mail flow", "TLS", "Rejections", "Authentication", "Greylisting", "policyd-weight", "rspamd", "Delivery",
                 "Exporter health"]


def recorded_names():
    names = set()
    for f in glob.glob(os.path.join(REPO, "alerts", "*.yml")):
        for line in open(f, encoding="utf-8"):
            m = re.match(r"\s*-?\s*record:\s*['\"]?([A-Za-z0-9_:]+)", line)
            if m:
                names.add(m.group(1))
    return names


def walk(panels):
    for p in panels or []:
        yield p
        yield from walk(p.get("panels"))


def lint(path, recorded):
    problems = []
    name = os.path.basename(path)

    def bad(msg):
        problems.append(f"{name}: {msg}")

    try:
        d = json.load(open(path, encoding="utf-8"))
    except ValueError as e:
        return [f"{name}: invalid JSON: {e}"]
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in d:
            bad(f"missing top-level {key!r}")
    if d.get("schemaVersion", 0) < 36:
        bad(f"schemaVersion {d.get('schemaVersion')} is older than Grafana 9/10 models")
    if d.get("id") is not None:
        bad("id must be null for importable dashboards")

    variables = {v.get("name"): v for v in (d.get("templating") or {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        bad("needs a variable 'datasource' of type datasource with query 'prometheus'")
    inst = variables.get("instance")
    q = inst.get("query") if inst else None
    q = q.get("query") if isinstance(q, dict) else q
    if not inst or inst.get("type") != "query" or (q or "").replace(" ", "") != "label_values(pflog_build_info,instance)":
        bad("needs a query variable 'instance' = label_values(pflog_build_info, instance)")
    for v in variables.values():
        if v.get("type") == "query" and v.get("datasource") != DS:
            bad(f"variable {v.get('name')} must use the ${{datasource}} variable")

    ids = set()
    cells = {}
    rows = []
    for p in walk(d.get("panels")):
        title = p.get("title") or "?"
        pid = p.get("id")
        if pid in ids:
            bad(f"duplicate panel id {pid} ({title})")
        ids.add(pid)
        g = p.get("gridPos") or {}
        if not all(k in g for k in ("x", "y", "w", "h")):
            bad(f"panel {title!r} lacks gridPos")
            continue
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            bad(f"panel {title!r} is outside the 24 grid columns")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    bad(f"panel {title!r} overlaps {cells[(x, y)]!r}")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
        if p.get("type") == "row":
            rows.append(title)
            continue
        if not p.get("title"):
            bad(f"panel id {pid} has no title")
        if p.get("datasource") != DS:
            bad(f"panel {title!r} must use datasource {DS}")
        targets = p.get("targets") or []
        if not targets:
            bad(f"panel {title!r} has no targets")
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refs:
                bad(f"panel {title!r}: missing or duplicate refId {ref!r}")
            refs.add(ref)
            if t.get("datasource") != DS:
                bad(f"panel {title!r} {ref}: target must use datasource {DS}")
            expr = t.get("expr") or ""
            if not expr.strip():
                bad(f"panel {title!r} {ref}: empty expr")
            if "$instance" not in expr and "${instance" not in expr:
                bad(f"panel {title!r} {ref}: query does not filter on $instance: {expr}")
            if "legendFormat" not in t:
                bad(f"panel {title!r} {ref}: no legendFormat")
            if p.get("type") == "heatmap" and t.get("format") != "heatmap":
                bad(f"panel {title!r} {ref}: heatmap target needs format heatmap")
            for rec in re.findall(r"\b(pflog:[A-Za-z0-9_:]+)", expr):
                if rec not in recorded:
                    bad(f"panel {title!r} {ref}: {rec} is not recorded by any rule in alerts/*.yml")
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if p.get("type") == "heatmap":
            unit = ((p.get("options") or {}).get("yAxis") or {}).get("unit")
        if p.get("type") in ("timeseries", "stat", "heatmap") and not unit:
            bad(f"panel {title!r} has no unit")

    if d.get("uid") == "pflog-overview":
        for want in OVERVIEW_ROWS:
            if not any(r.startswith(want) for r in rows):
                bad(f"overview lacks a row {want!r}")
    return problems


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json")))
    if not files:
        print("lint_dashboards: no dashboards found", file=sys.stderr)
        return 1
    recorded = recorded_names()
    problems = []
    for f in files:
        problems += lint(f, recorded)
    for p in problems:
        print(p)
    print(f"lint_dashboards: {len(files)} dashboards, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
