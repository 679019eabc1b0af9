#!/usr/bin/env python3
"""check_expected.py EXPECTED ACTUAL - compare pflog's exposition with genlog's expected totals.

EXPECTED: sample lines `name{labels} value` written by tools/genlog.py --expected.
ACTUAL:   a Prometheus text / OpenMetrics exposition (e.g. `pflog replay FILE --format
          prometheus`), or '-' for stdin.

For every series in EXPECTED the value in ACTUAL must be equal (a missing series counts as 0).
For every metric family that EXPECTED mentions, a series in ACTUAL with a non-zero value that
EXPECTED does not list is reported as unexpected (EXPECTED is complete for its families).
Label order does not matter. Prints one line per mismatch, a per-family summary, and exits 1 when
there is any mismatch (0 otherwise).

A comment line `# sum-by: FAMILY LABEL,LABEL...` in EXPECTED sums ACTUAL's series of FAMILY over
those labels (dropping the others, as PromQL's `sum by`) before the comparison, so that EXPECTED
can fix a family's values for some labels while the family may carry more.
"""

import argparse
import collections
import re
import signal
import sys

SUM_BY = re.compile(r'^#\s*sum-by:\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s+([a-zA-Z_][a-zA-Z0-9_]*(?:\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*)*)\s*$')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_labels(s):
    out = []
    pos = 0
    s = s or ""
    while pos < len(s):
        m = LABEL.match(s, pos)
        if not m:
            if s[pos:].strip() in ("", ","):
                break
            raise ValueError("bad labels: %r" % s)
        v = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        out.append((m.group(1), v))
        pos = m.end()
    return tuple(sorted(out))


def parse(path):
    series = {}
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                raise SystemExit("%s:%d: cannot parse %r" % (path, n, line))
            name, labels, value = m.groups()
            try:
                v = float(value)
            except ValueError:
                raise SystemExit("%s:%d: bad value %r" % (path, n, value))
            series[(name, parse_labels(labels))] = v
    return series


def sum_by_directives(path):
    """FAMILY -> set of labels, from the `# sum-by:` lines of EXPECTED."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = SUM_BY.match(line.strip())
            if m:
                out[m.group(1)] = {x.strip() for x in m.group(2).split(",")}
    return out


def aggregate(series, by):
    """Sum the series of every family in `by` over its labels (the others are kept as they are)."""
    out = collections.defaultdict(float)
    for (name, labels), v in series.items():
        if name in by:
            labels = tuple(kv for kv in labels if kv[0] in by[name])
        out[(name, labels)] += v
    return dict(out)


def show(key):
    name, labels = key
    return "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels))


def fmtv(v):
    return "%d" % v if v == int(v) else repr(v)


def main(argv=None):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--ignore", action="append", default=[], metavar="REGEX",
                    help="skip series whose text matches REGEX (repeatable)")
    ap.add_argument("--max-lines", type=int, default=200,
                    help="print at most this many mismatch lines (default 200)")
    a = ap.parse_args(argv)
    exp = parse(a.expected)
    act = parse(a.actual)
    if a.expected != "-":
        act = aggregate(act, sum_by_directives(a.expected))
    ign = [re.compile(x) for x in a.ignore]

    def ignored(key):
        t = show(key)
        return any(r.search(t) for r in ign)

    families = sorted({k[0] for k in exp})
    problems = []  # (family, text)
    per_family = collections.OrderedDict((f, [0, 0]) for f in families)  # [checked, bad]
    for key in sorted(exp):
        if ignored(key):
            continue
        per_family[key[0]][0] += 1
        want = exp[key]
        got = act.get(key)
        if got is None:
            if want != 0:
                problems.append((key[0], "MISSING    %s expected %s, pflog has no such series" % (
                    show(key), fmtv(want))))
                per_family[key[0]][1] += 1
        elif got != want:
            problems.append((key[0], "WRONG      %s expected %s, pflog %s (%+g)" % (
                show(key), fmtv(want), fmtv(got), got - want)))
            per_family[key[0]][1] += 1
    fams = set(families)
    for key in sorted(act):
        if key[0] in fams and key not in exp and act[key] != 0 and not ignored(key):
            problems.append((key[0], "UNEXPECTED %s = %s (expected no such series / 0)" % (
                show(key), fmtv(act[key]))))
            per_family[key[0]][1] += 1
    for i, (_, text) in enumerate(problems):
        if i >= a.max_lines:
            print("... %d more" % (len(problems) - a.max_lines))
            break
        print(text)
    print()
    print("%-45s %8s %8s" % ("family", "series", "bad"))
    for f, (n, bad) in per_family.items():
        print("%-45s %8d %8s" % (f, n, bad if bad else "ok"))
    if problems:
        print("\nMISMATCH: %d problem(s) in %d of %d families" % (
            len(problems), sum(1 for v in per_family.values() if v[1]), len(per_family)))
        return 1
    print("\nOK: all %d expected series match" % sum(v[0] for v in per_family.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
