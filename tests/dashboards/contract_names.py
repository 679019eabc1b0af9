#!/usr/bin/env python3
"""Print the metric family names of the metrics contract (docs/metrics.md), one per line, sorted.

    python3 tests/dashboards/contract_names.py [PATH/TO/metrics.md]

Without an argument it reads $METRICS_MD, else the repository's docs/metrics.md. Reads the
first cell of every table row of the "| family | type | ..." tables; a cell may list several
names separated by commas. Exits 2 when no contract file is found.
"""
import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def find(argv):
    for c in argv[:1] + [os.environ.get("METRICS_MD", ""), os.path.join(REPO, "docs", "metrics.md")]:
        if c and os.path.isfile(c):
            return c
    return None


def names(text):
    out = set()
    for line in text.splitlines():
        m = re.match(r"^\|\s*([^|]+?)\s*\|\s*(counter|gauge|histogram|summary|info)\b", line)
        if m:
            for n in m.group(1).split(","):
                n = n.strip().strip("`")
                if re.fullmatch(r"[a-z_][a-z0-9_]*", n):
                    out.add(n)
    return sorted(out)


if __name__ == "__main__":
    path = find(sys.argv[1:])
    if not path:
        print("contract_names: docs/metrics.md not found", file=sys.stderr)
        sys.exit(2)
    for n in names(open(path, encoding="utf-8").read()):
        print(n)
