#!/usr/bin/env bash
# Live ingestion rate of `pflog serve`: follow an empty file, append a whole log to it in one
# `cat >>`, and poll /metrics until sum(pflog_lines_total) equals the log's line count.
#
#   benches/serve_ingest.sh LOG [--pflog BIN] [--runs N] [--timeout SECONDS]
#
# Prints per run: lines, seconds from the start of the append until every line was counted,
# lines/s, and the serve process's RSS at the end (`ps -o rss=`) and peak RSS (VmHWM). The time
# includes the append itself and up to one poll interval of the follower (250 ms) and of this
# script (20 ms), so it is a lower bound of the ingest rate. Everything runs on 127.0.0.1: the
# server listens on a free loopback port and only curl on loopback talks to it; every wait is
# bounded and the server is stopped at the end (also on failure).
set -euo pipefail

usage() { echo "usage: $0 LOG [--pflog BIN] [--runs N] [--timeout SECONDS]" >&2; exit 2; }
[ $# -ge 1 ] || usage
LOG=$1; shift
BIN=target/release/pflog
RUNS=1
TIMEOUT=120
while [ $# -gt 0 ]; do
    case $1 in
        --pflog) BIN=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        *) usage ;;
    esac
done
[ -r "$LOG" ] || { echo "$LOG: not readable" >&2; exit 2; }
[ -x "$BIN" ] || { echo "$BIN: not executable (cargo build --release)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }

LINES=$(wc -l < "$LOG")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pflog-serve-ingest.XXXXXX")
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sum(pflog_lines_total) of the exposition on stdin ("" when there is none yet).
lines_total() {
    awk '/^pflog_lines_total\{/ { s += $NF; n = 1 } END { if (n) printf "%d\n", s }'
}

now() { date +%s.%N; }

cat "$LOG" > /dev/null # page cache

for run in $(seq "$RUNS"); do
    FOLLOWED=$WORK/mail.log
    : > "$FOLLOWED"
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT/metrics"
    "$BIN" serve --log "$FOLLOWED" --web.listen-address "127.0.0.1:$PORT" \
        > "$WORK/serve.out" 2>&1 &
    PID=$!
    # Up once /metrics answers (at most 10 s).
    for _ in $(seq 500); do
        curl -sf --max-time 1 "$URL" > /dev/null 2>&1 && break
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out" >&2; exit 1; }
        sleep 0.02
    done
    curl -sf --max-time 1 "$URL" > /dev/null || { echo "serve did not come up" >&2; exit 1; }
    # The follower starts at the end of the (empty) file; give it one poll to open it.
    sleep 0.5

    START=$(now)
    cat "$LOG" >> "$FOLLOWED"
    SEEN=0
    DEADLINE=$(echo "$START + $TIMEOUT" | bc)
    while :; do
        SEEN=$(curl -sf --max-time 5 "$URL" | lines_total || true)
        [ "${SEEN:-0}" -ge "$LINES" ] && break
        if [ "$(echo "$(now) > $DEADLINE" | bc)" = 1 ]; then
            echo "timeout: $SEEN of $LINES lines after ${TIMEOUT}s" >&2
            exit 1
        fi
        sleep 0.02
    done
    END=$(now)
    RSS=$(ps -o rss= -p "$PID" | tr -d ' ')
    HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    awk -v l="$LINES" -v s="$START" -v e="$END" -v r="$RSS" -v h="$HWM" -v run="$run" 'BEGIN {
        t = e - s
        printf "run %d: %d lines in %.3f s = %.0f lines/s; serve RSS %.1f MiB (peak %.1f MiB)\n",
            run, l, t, l / t, r / 1024, h / 1024
    }'
done
