#!/usr/bin/env python3
"""A log of N distinct queue IDs that are never removed: the correlator's worst case.

Each message gets three lines (smtpd `client=`, cleanup `message-id=`, qmgr `queue active`)
and never a `removed`, so every queue ID stays tracked until the LRU evicts it; with
`--capacity C`, pflog must keep at most C messages and report N - C capacity evictions, with
its memory bounded by C, not N.

    benches/gen_unique_ids.py --ids 10000000 --out /tmp/unique10m.log
    pflog replay /tmp/unique10m.log --format prometheus --capacity 100000

Timestamps advance one second every 120 messages (10M messages span about 23 hours, well
inside the default 7-day message TTL, so evictions are by capacity, not by age). Queue IDs
are 11 upper-case hex digits (short Postfix IDs), distinct by construction. Deterministic:
the same arguments give the same bytes.
"""

import argparse
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def bsd_time(seconds: int) -> str:
    """`Nov 23 12:34:56` for Nov 23 00:00:00 + seconds (within the month, no year)."""
    day = 23 + seconds // 86400
    s = seconds % 86400
    return f"{MONTHS[10]} {day:2d} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", type=int, default=10_000_000, help="distinct queue IDs (default 10M)")
    ap.add_argument("--out", required=True, help="output log file")
    ap.add_argument("--per-second", type=int, default=120, help="messages per log second")
    args = ap.parse_args()
    if args.ids < 0 or args.per_second < 1:
        ap.error("--ids must be >= 0 and --per-second >= 1")

    started = time.monotonic()
    chunk = []
    with open(args.out, "w", encoding="ascii", newline="\n") as out:
        for i in range(args.ids):
            ts = bsd_time(i // args.per_second)
            qid = f"{i:011X}"
            smtpd_pid = 2000 + i % 500
            chunk.append(
                f"{ts} mx1 postfix/smtpd[{smtpd_pid}]: {qid}: client=mail{i % 997}.example.org[192.0.2.{i % 250 + 1}]\n"
                f"{ts} mx1 postfix/cleanup[{3000 + i % 50}]: {qid}: message-id=<{i}@example.org>\n"
                f"{ts} mx1 postfix/qmgr[1000]: {qid}: from=<sender{i % 1000}@example.org>, size={1000 + i % 50000}, nrcpt=1 (queue active)\n"
            )
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    took = time.monotonic() - started
    print(f"gen_unique_ids: {args.ids} queue IDs, {3 * args.ids} lines in {took:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
