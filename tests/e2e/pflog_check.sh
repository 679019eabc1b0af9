#!/usr/bin/env bash
# Hooks that make mailstack.sh check pflog against the real daemons' logs.
#
#   pflog_check.sh serve MAIL RSPAMD          exec pflog serve following both logs from the start
#   pflog_check.sh live MAIL RSPAMD EXPECTED  scrape that pflog once it has read every line, compare
#   pflog_check.sh replay MAIL RSPAMD EXPECTED  pflog replay of the captured logs; compare with
#                                             EXPECTED; replay of the lines the live pflog had
#                                             read must give exactly its /metrics
#
# Environment: PFLOG_BIN (the binary), PFLOG_E2E_PORT (the live observer's port on 127.0.0.1),
# PFLOG_E2E_OUT (a directory for the scrape and replay outputs), PFLOG_E2E_COUNT_LINES=1 (also
# check pflog_lines_total: every line of the logs read is "parsed", per program, as counted here
# from the logs' syslog tags with awk, not by pflog).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${PFLOG_BIN:?PFLOG_BIN must name the pflog binary}
port=${PFLOG_E2E_PORT:?PFLOG_E2E_PORT must be set}
out=${PFLOG_E2E_OUT:?PFLOG_E2E_OUT must be set}
mode=$1 mail=$2 rspamd=$3
check="python3 $root/benches/check_expected.py"

# Left out of the live-vs-replay comparison: pflog_source_* (only serve has sources). The
# rspamd and authentication outcomes are in it: serve holds an outcome back for a verdict read
# after it (--join-window), so the order in which it polls the two files does not change them.
# Compared with EXPECTED but for postfix_log_messages_total: every warning line counts now, and
# a live run's warnings depend on the machine (a milter slow to answer, a client that hangs
# up); the live-vs-replay comparison below still checks it, and tests/numbers.rs checks it
# against grep counts of the captured fixture.
RUN_DEPENDENT='^postfix_log_messages_total'
samples() {
    grep -v '^#' "$1" | grep -v -e '^pflog_source_' | LC_ALL=C sort
}

# lines_expected MAIL RSPAMD: pflog_lines_total as it must be if every line is parsed: the
# program of a syslog line is its tag without [pid] and without a "postfix/..." prefix (so
# postfix/submission/smtpd is smtpd, postfix/policyd-weight is policyd-weight); every line of
# rspamd's own log is rspamd.
lines_expected() {
    {
        awk '{ t = $5; sub(/\[.*$/, "", t); sub(/:$/, "", t); n = split(t, p, "/"); print p[n] }' "$1"
        awk '{ print "rspamd" }' "$2"
    } | LC_ALL=C sort | uniq -c | awk '{ printf "pflog_lines_total{program=\"%s\",result=\"parsed\"} %d\n", $2, $1 }'
}
check_lines() { # MAIL RSPAMD PROM
    [[ ${PFLOG_E2E_COUNT_LINES:-} == 1 ]] || return 0
    lines_expected "$1" "$2" >"$out/lines-expected.prom"
    echo "pflog_lines_total of $3 vs the lines of each program in the logs"
    $check "$out/lines-expected.prom" "$3"
}

case $mode in
serve)
    exec "$bin" serve --from-start --log "$mail" --log "$rspamd" \
        --web.listen-address "127.0.0.1:$port"
    ;;
live)
    # Scrape once pflog has read every line and reported every outcome it held back for a
    # late rspamd verdict (after --join-window without a line: 30 s, checked every 10 s);
    # snapshot the logs as they were at that moment (the daemons keep writing), so that replay
    # can be compared with exactly what was read.
    have=0 want=-1 held=-1
    for _ in $(seq 1 900); do
        cp "$mail" "$out/live-mail.log"
        cp "$rspamd" "$out/live-rspamd.log"
        want=$(($(wc -l <"$out/live-mail.log") + $(wc -l <"$out/live-rspamd.log")))
        if curl -sf "http://127.0.0.1:$port/metrics" -o "$out/live.prom"; then
            have=$(awk '/^pflog_lines_total/ { n += $NF } END { print n + 0 }' "$out/live.prom")
            held=$(awk '/^pflog_held_outcomes / { n = $NF } END { print n + 0 }' "$out/live.prom")
            after=$(($(wc -l <"$mail") + $(wc -l <"$rspamd")))
            ((have == want && after == want && held == 0)) && break
        fi
        sleep 0.1
    done
    ((have == want)) || { echo "live pflog read $have lines, the logs have $want" >&2; exit 1; }
    ((held == 0)) || { echo "live pflog still holds $held outcomes for late verdicts" >&2; exit 1; }
    echo "live pflog read all $want lines; comparing its /metrics with $4"
    # both comparisons run (and print what differs) before the verdict
    rc=0
    $check --ignore "$RUN_DEPENDENT" "$4" "$out/live.prom" || rc=1
    check_lines "$out/live-mail.log" "$out/live-rspamd.log" "$out/live.prom" || rc=1
    exit $rc
    ;;
replay)
    "$bin" replay --format prometheus "$mail" --rspamd-log "$rspamd" >"$out/replay.prom"
    echo "replay of the captured logs vs $4"
    rc=0
    $check --ignore "$RUN_DEPENDENT" "$4" "$out/replay.prom" || rc=1
    check_lines "$mail" "$rspamd" "$out/replay.prom" || rc=1
    "$bin" replay --format prometheus "$out/live-mail.log" --rspamd-log "$out/live-rspamd.log" \
        >"$out/replay-snapshot.prom"
    if ! diff <(samples "$out/live.prom") <(samples "$out/replay-snapshot.prom") >"$out/live-vs-replay.diff"; then
        echo "live /metrics and replay differ (< live, > replay):" >&2
        cat "$out/live-vs-replay.diff" >&2
        exit 1
    fi
    echo "live /metrics and replay of the same lines agree on every series"
    exit $rc
    ;;
*)
    echo "usage: $0 serve|live|replay MAIL RSPAMD [EXPECTED]" >&2
    exit 2
    ;;
esac
