#!/usr/bin/env python3
"""Check that every alert in alerts/*.yml has a promtool test showing it firing
and one showing it not firing (an alert_rule_test with empty exp_alerts).

Usage: python3 alerts/tests/coverage.py [ALERTS_DIR]
Line-based on purpose (no PyYAML needed); it relies on the layout used in
alerts/tests/*.yml: 'alertname: X' followed by 'exp_alerts: []' or by
'exp_alerts:' and a '- exp_labels:' list.
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

alerts = []
for path in sorted(glob.glob(os.path.join(root, "*.yml")) + glob.glob(os.path.join(root, "*.yaml"))):
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*-\s*alert:\s*['\"]?([A-Za-z0-9_:]+)", line)
        if m:
            alerts.append(m.group(1))

firing, quiet = set(), set()
for path in sorted(glob.glob(os.path.join(root, "tests", "*.yml"))):
    current = None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*alertname:\s*['\"]?([A-Za-z0-9_:]+)", line)
        if m:
            current = m.group(1)
            continue
        if current is None:
            continue
        if re.match(r"\s*exp_alerts:\s*\[\s*\]", line):
            quiet.add(current)
            current = None
        elif re.match(r"\s*-\s*exp_labels:", line):
            firing.add(current)
            current = None

problems = []
for a in alerts:
    if a not in firing:
        problems.append(f"{a}: no test shows it firing")
    if a not in quiet:
        problems.append(f"{a}: no test shows it not firing")
for a in sorted((firing | quiet) - set(alerts)):
    problems.append(f"{a}: tested but not defined in any rule file")
if not alerts:
    problems.append("no alerts found")

for p in problems:
    print("coverage:", p, file=sys.stderr)
print(f"coverage: {len(alerts)} alerts, {len(alerts) - len({p.split(':')[0] for p in problems})} fully tested (firing + not firing)")
sys.exit(1 if problems else 0)
