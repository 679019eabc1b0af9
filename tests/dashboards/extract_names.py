#!/usr/bin/env python3
"""Print every metric family name used by the pflog dashboards and rule files.

    python3 tests/dashboards/extract_names.py                 # repo's dashboards/*.json + alerts/*.yml
    python3 tests/dashboards/extract_names.py FILE...         # given .json dashboards / .yml rule files
    python3 tests/dashboards/extract_names.py --with-source   # "name<TAB>file: where" for debugging

Sources of PromQL: every panel target's "expr" (rows' nested panels included),
annotation queries, and template variable queries (label_values(SELECTOR, label),
query_result(EXPR)) of the dashboards; every "expr" of the rule files (alerts/*.yml;
alerts/tests/ is not read).

Output: one name per line, sorted, unique. Names are base family names:
_bucket, _sum and _count are stripped (histograms), _total is kept. Left out:
recording-rule outputs and any other name containing ':' (pflog:...), the
synthetic series up / scrape_* / ALERTS*, PromQL functions, aggregations and keywords.

PromQL is tokenised, not fully parsed: strings, label matchers {...}, ranges
[...] and grouping label lists by/without/on/ignoring/group_left/group_right (...)
are skipped, an identifier followed by "(" is a function.
"""
import glob
import json
import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
KEYWORDS = AGGREGATIONS | {"and", "or", "unless", "atan2", "offset", "bool", "inf", "nan", "start", "end"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
SYNTHETIC = re.compile(r"^(up|ALERTS|ALERTS_FOR_STATE|scrape_[a-z_]+)$")
HIST_SUFFIX = re.compile(r"_(bucket|sum|count)$")

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(?:\d+(?:ms|[smhdwy]))+|0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[^\]]*\]\]")


def _skip_string(s, i):
    q = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and q != "`":
            i += 2
            continue
        if s[i] == q:
            return i + 1
        i += 1
    return i


def _skip_balanced(s, i, open_, close):
    """s[i] == open_; returns the index after the matching close (strings respected)."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = _skip_string(s, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def metric_names(expr):
    """Raw metric names (with _bucket/_sum/_count) referenced by one PromQL expression."""
    names = []
    s, i = expr, 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = _skip_string(s, i)
        elif c == "#":
            j = s.find("\n", i)
            i = len(s) if j < 0 else j
        elif c == "{":
            i = _skip_balanced(s, i, "{", "}")
        elif c == "[" and not s.startswith("[[", i):
            i = _skip_balanced(s, i, "[", "]")
        elif c == "$" or s.startswith("[[", i):
            m = VARIABLE.match(s, i)
            i = m.end() if m else i + 1
        elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
            m = NUMBER.match(s, i)
            i = m.end() if m else i + 1
        elif c.isalpha() or c in "_:":
            m = IDENT.match(s, i)
            word = m.group(0)
            i = m.end()
            j = i
            while j < len(s) and s[j].isspace():
                j += 1
            nxt = s[j] if j < len(s) else ""
            if word.lower() in GROUPING:
                if nxt == "(":
                    i = _skip_balanced(s, j, "(", ")")
            elif nxt == "(":
                pass  # function or aggregation call
            elif word.lower() in KEYWORDS:
                pass
            else:
                names.append(word)
        else:
            i += 1
    return names


def family(name):
    if name.endswith("_total"):
        return name
    return HIST_SUFFIX.sub("", name)


def wanted(name):
    return ":" not in name and not SYNTHETIC.match(name)


# --------------------------------------------------------------------------- dashboards


def variable_exprs(query):
    """PromQL inside a Grafana Prometheus variable query."""
    if isinstance(query, dict):
        query = query.get("query", "")
    query = (query or "").strip()
    m = re.match(r"^label_values\s*\((.*)\)\s*$", query, re.S)
    if m:
        inner = m.group(1)
        # label_values(label) has no selector; label_values(selector, label) has one.
        depth, split = 0, None
        k = 0
        while k < len(inner):
            ch = inner[k]
            if ch in "\"'`":
                k = _skip_string(inner, k)
                continue
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            elif ch == "," and depth == 0:
                split = k
            k += 1
        return [inner[:split]] if split is not None else []
    m = re.match(r"^query_result\s*\((.*)\)\s*$", query, re.S)
    if m:
        return [m.group(1)]
    if re.match(r"^(metrics|label_names)\s*\(", query):
        return []
    return [query] if query else []


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def dashboard_exprs(path):
    d = json.load(open(path, encoding="utf-8"))
    if "dashboard" in d and "panels" not in d:  # API envelope
        d = d["dashboard"]
    out = []
    for p in walk_panels(d.get("panels")):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((f"panel {p.get('title')!r} {t.get('refId', '')}", t["expr"]))
    for v in (d.get("templating") or {}).get("list") or []:
        if v.get("type") == "query":
            for e in variable_exprs(v.get("query") or v.get("definition")):
                out.append((f"variable {v.get('name')}", e))
    for a in (d.get("annotations") or {}).get("list") or []:
        if a.get("expr"):
            out.append((f"annotation {a.get('name')}", a["expr"]))
    return out


# --------------------------------------------------------------------------- rule files


def _rule_exprs_fallback(text):
    """Minimal YAML reader for 'expr:' values (plain, quoted, | and > block scalars)."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        value = m.group(2).strip()
        i += 1
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out.append("\n".join(block))
        elif value[:1] == "'":
            out.append(value[1:-1].replace("''", "'"))
        elif value[:1] == '"':
            out.append(json.loads(value))
        else:
            parts = [value]
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent \
                    and not re.match(r"^\s*[\w-]+:", lines[i]):
                parts.append(lines[i].strip())
                i += 1
            out.append(" ".join(parts))
    return out


def rule_exprs(path):
    text = open(path, encoding="utf-8").read()
    try:
        import yaml  # PyYAML, if installed
    except ImportError:
        return [("expr", e) for e in _rule_exprs_fallback(text)]
    doc = yaml.safe_load(text) or {}
    out = []
    for g in doc.get("groups") or []:
        for r in g.get("rules") or []:
            if r.get("expr") is not None:
                out.append((r.get("alert") or r.get("record") or "expr", str(r["expr"])))
    return out


# --------------------------------------------------------------------------- main


def default_files():
    return sorted(glob.glob(os.path.join(REPO, "dashboards", "*.json"))) + \
        sorted(glob.glob(os.path.join(REPO, "alerts", "*.yml")) + glob.glob(os.path.join(REPO, "alerts", "*.yaml")))


def collect(files):
    """{family name: [(file, where), ...]}"""
    found = {}
    for f in files:
        exprs = dashboard_exprs(f) if f.endswith(".json") else rule_exprs(f)
        for where, e in exprs:
            for n in metric_names(e):
                if wanted(n):
                    found.setdefault(family(n), []).append((os.path.relpath(f, REPO), where))
    return found


def main(argv):
    with_source = "--with-source" in argv
    files = [a for a in argv if not a.startswith("--")] or default_files()
    if not files:
        print("extract_names: no dashboards or rule files found", file=sys.stderr)
        return 2
    found = collect(files)
    for name in sorted(found):
        if with_source:
            f, where = found[name][0]
            print(f"{name}\t{f}: {where}")
        else:
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
