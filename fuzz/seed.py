#!/usr/bin/env python3
"""Writes unminimized seed corpora for the fuzz targets from fixtures/ into fuzz/seeds/<target>/.

Then minimize into the committed corpora (see docs/reliability.md):
    RUSTC_BOOTSTRAP=1 cargo fuzz cmin <target> fuzz/seeds/<target>   # in fuzz/, merges into corpus/
"""
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The order of harness::DAEMONS.
DAEMONS = ["smtpd", "postscreen", "cleanup", "qmgr", "pickup", "bounce", "postsuper",
           "delivery", "misc", "postgrey", "policyd-weight", "rspamd", "foreign"]
DELIVERY = {"smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "relay"}
MISC = {"master", "anvil", "scache", "tlsmgr", "tlsproxy", "verify", "trivial-rewrite", "proxymap",
        "dnsblog", "postfix-script", "postlog", "postlogd", "sendmail", "postdrop", "postqueue",
        "postmap", "postalias"}
TAG = re.compile(r" ([^ \[:]+)(?:\[\d+\])?: (.*)$")
RSPAMD_FILE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? #\d+\([^)]*\) (.*)$")


def daemon_of(program):
    d = program.rsplit("/", 1)[-1]
    if d in ("defer", "trace"):
        d = "bounce"
    if d in ("nqmgr", "oqmgr"):
        d = "qmgr"
    if d in DELIVERY:
        return "delivery"
    if d in MISC:
        return "misc"
    if d in DAEMONS:
        return d
    return "delivery" if program.startswith("postfix") and "/" in program else "foreign"


def write(target, data):
    out = os.path.join(ROOT, "fuzz", "seeds", target)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    logs = []
    for sub in ("scenarios", "mailstack", "corpus"):
        d = os.path.join(ROOT, "fixtures", sub)
        logs += [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".log")]
    for path in logs:
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        # pipeline: whole small logs, and windows of 24 lines of the long ones.
        if len(lines) <= 40:
            write("pipeline", data)
        else:
            for i in range(0, len(lines), 24):
                write("pipeline", b"\n".join(lines[i:i + 24]))
        for line in lines:
            if not line:
                continue
            write("envelope", line)
            text = line.decode("utf-8", "replace")
            m = RSPAMD_FILE.match(text)
            if m:
                daemon, message = "rspamd", m.group(1)
            else:
                m = TAG.search(text)
                if not m:
                    continue
                daemon, message = daemon_of(m.group(1)), m.group(2)
            write("parsers", bytes([DAEMONS.index(daemon)]) + message.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
