#!/usr/bin/env bash
# benches/compare.sh - pflog against other Postfix log tools on one generated log, plus a check
# of pflog's numbers against the generator's exact expected totals.
#
#   benches/compare.sh [--lines N] [--runs K] [--min-time S] [--skip TOOL]... [--seed S]
#                      [--format bsd|rfc3339] [--workdir DIR] [--pflog BIN] [--no-check]
#
# Tools (names for --skip, comma-separated or repeated):
#   pflog      target/release/pflog replay FILE --format prometheus   (built if missing;
#              --pflog BIN uses another binary, e.g. one built from a branch, and never builds)
#              (every tool's stdout goes to a file in the work dir, not /dev/null: GNU grep
#              stops reading at the first match when stdout is /dev/null)
#   pflogsumm  pflogsumm FILE
#   mtail      mtail --one_shot --one_shot_format prometheus --progs DIR --logs FILE, with the
#              postfix.mtail that Debian's mtail package ships in its examples
#   kumina     prometheus-postfix-exporter (kumina) tailing a file: time from appending FILE to a
#              fresh, empty tailed file until a sentinel line appended after FILE is counted on
#              its /metrics (127.0.0.1, free port); peak RSS = VmHWM of the exporter process
#   grep       grep -c . FILE (the floor: reading the file once)
#
# Method: the log (tools/genlog.py, cached in the work dir, regenerated when genlog.py changes)
# is read once to warm the page cache; each tool runs K times (default 3) under
# /usr/bin/time -v, and more until its runs add up to S seconds (default 3, as hyperfine does:
# the speed of a shared machine wanders over seconds, and five runs of a fast tool would
# otherwise all fall in the same second); wall = median of its runs (measured around the
# command), peak RSS = largest "Maximum resident set size" of its runs. kumina runs K times.
# Output: a Markdown table.
# The check runs pflog once more and compares every series of the expected .prom file
# (benches/check_expected.py). Mismatches are printed loudly; the table is printed anyway.
# Exit status: 0 all good, 2 pflog's numbers mismatch (or pflog failed), 1 usage/setup error.
set -euo pipefail

LINES=1000000
RUNS=3
MIN_TIME=3
SEED=1
FORMAT=bsd
SKIP=""
CHECK=1
PFLOG_BIN=""
WORKDIR="${PFLOG_BENCH_DIR:-${TMPDIR:-/tmp}/pflog-bench}"

usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --lines) LINES="$2"; shift 2 ;;
    --lines=*) LINES="${1#*=}"; shift ;;
    --runs) RUNS="$2"; shift 2 ;;
    --runs=*) RUNS="${1#*=}"; shift ;;
    --min-time) MIN_TIME="$2"; shift 2 ;;
    --min-time=*) MIN_TIME="${1#*=}"; shift ;;
    --skip) SKIP="$SKIP,$2"; shift 2 ;;
    --skip=*) SKIP="$SKIP,${1#*=}"; shift ;;
    --seed) SEED="$2"; shift 2 ;;
    --format) FORMAT="$2"; shift 2 ;;
    --workdir) WORKDIR="$2"; shift 2 ;;
    --pflog) PFLOG_BIN="$2"; shift 2 ;;
    --no-check) CHECK=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; usage 1 >&2 ;;
  esac
done
[[ "$LINES" =~ ^[0-9]+$ && "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 && "$MIN_TIME" =~ ^[0-9]+$ ]] || { echo "compare.sh: --lines/--runs/--min-time must be positive integers (--min-time may be 0)" >&2; exit 1; }

skipped() { [[ ",$SKIP," == *",$1,"* ]] || { [[ "$1" == kumina && ",$SKIP," == *",postfix-exporter,"* ]]; }; }
log() { printf '%s\n' "$*" >&2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd)"
BASE="$WORKDIR/genlog-$LINES-s$SEED-$FORMAT"
LOGF="$BASE.log"
EXPF="$BASE.prom"
RESULTS="$WORKDIR/results.tsv"
NOTES="$WORKDIR/notes.txt"
: > "$RESULTS"
: > "$NOTES"
note() { printf '%s\n' "$*" >> "$NOTES"; }

# ---------------------------------------------------------------- the log
GEN_SHA="$(sha256sum "$ROOT/tools/genlog.py" | cut -d' ' -f1)"
if [[ ! -s "$LOGF" || ! -s "$EXPF" || "$(cat "$BASE.stamp" 2>/dev/null)" != "$GEN_SHA" ]]; then
  log "== generating $LOGF ($LINES lines, seed $SEED, $FORMAT)"
  python3 "$ROOT/tools/genlog.py" --lines "$LINES" --seed "$SEED" --format "$FORMAT" \
    --out "$LOGF.tmp" --expected "$EXPF.tmp"
  mv "$LOGF.tmp" "$LOGF"; mv "$EXPF.tmp" "$EXPF"
  echo "$GEN_SHA" > "$BASE.stamp"
else
  log "== using cached $LOGF"
fi
NL=$(wc -l < "$LOGF")
SIZE=$(stat -c %s "$LOGF")
log "== $NL lines, $((SIZE / 1048576)) MiB; warming the page cache"
cat "$LOGF" > /dev/null; cat "$LOGF" > /dev/null

# ---------------------------------------------------------------- measuring
# measure NAME CMD...: K runs of CMD (stdout to a file) under /usr/bin/time -v, and more (up
# to 100) until they add up to MIN_TIME seconds.
measure() {
  local name="$1"; shift
  local i s e rss rc total=0
  log "== $name: $* (x$RUNS, at least ${MIN_TIME} s)"
  for ((i = 1; i <= 100 && (i <= RUNS || total < MIN_TIME * 1000000000); i++)); do
    s=$(date +%s%N)
    rc=0
    # stdout goes to a file, not /dev/null: GNU grep stops at the first match when its output
    # is /dev/null, which would make the floor meaningless
    /usr/bin/time -v -o "$WORKDIR/time.$name" "$@" > "$WORKDIR/stdout.$name" 2> "$WORKDIR/stderr.$name" || rc=$?
    e=$(date +%s%N)
    if [[ $rc -ne 0 ]]; then
      log "   run $i FAILED (exit $rc); stderr: $(tail -c 300 "$WORKDIR/stderr.$name")"
      note "$name: failed with exit status $rc (see $WORKDIR/stderr.$name)"
      printf '%s\t%d\tFAILED\t0\n' "$name" "$i" >> "$RESULTS"
      return 0
    fi
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORKDIR/time.$name")
    total=$((total + e - s))
    printf '%s\t%d\t%d\t%s\n' "$name" "$i" "$((e - s))" "${rss:-0}" >> "$RESULTS"
    log "   run $i: $(awk -v n=$((e - s)) 'BEGIN {printf "%.3f s", n / 1e9}'), ${rss:-?} KiB"
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

metric() {  # metric PORT NAME -> value of the unlabelled sample NAME (empty if absent)
  { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } \
    | awk -v n="$2" '$1 == n {v = $2} END {if (v != "") print v}' || true
}

KPID=""
cleanup() {
  if [[ -n "$KPID" ]] && kill -0 "$KPID" 2>/dev/null; then kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# kumina's exporter only tails files. Per run: a fresh exporter on an empty file; append the log
# and then one sentinel line that no generated line resembles (`warning: hostname ... does not
# resolve to address`, counted in postfix_smtpd_forward_confirmed_reverse_dns_errors_total);
# lines are processed in order by one reader, so the sentinel being counted means every line was.
measure_kumina() {
  local bin=/usr/bin/prometheus-postfix-exporter i port tail s e v hwm deadline conn want
  log "== kumina: $bin, tailing a file on 127.0.0.1 (x$RUNS)"
  want=$(awk '/^postfix_smtpd_connections_total\{postfix_instance="postfix",service="smtpd"\}/ {print $2}' "$EXPF")
  local sentinel
  if [[ "$FORMAT" == bsd ]]; then
    sentinel="Dec 31 23:59:59 mx1 postfix/smtpd[99999]: warning: hostname sentinel.invalid does not resolve to address 127.0.0.1"
  else
    sentinel="2026-12-31T23:59:59.000000+00:00 mx1 postfix/smtpd[99999]: warning: hostname sentinel.invalid does not resolve to address 127.0.0.1"
  fi
  for ((i = 1; i <= RUNS; i++)); do
    tail="$WORKDIR/kumina-tailed.log"
    : > "$tail"
    port=$(free_port)
    "$bin" --web.listen-address="127.0.0.1:$port" --postfix.logfile_path="$tail" \
      --postfix.showq_path="$WORKDIR/no-showq-socket" > "$WORKDIR/kumina.out" 2>&1 &
    KPID=$!
    deadline=$((SECONDS + 20))
    until [[ -n "$(metric "$port" postfix_smtpd_connects_total)" ]]; do
      if ! kill -0 "$KPID" 2>/dev/null || ((SECONDS > deadline)); then
        log "   kumina did not come up: $(tail -c 300 "$WORKDIR/kumina.out")"
        note "kumina: exporter did not start (see $WORKDIR/kumina.out)"
        cleanup; KPID=""
        printf 'kumina\t%d\tFAILED\t0\n' "$i" >> "$RESULTS"
        return 0
      fi
      sleep 0.1
    done
    sleep 0.3  # let the tailer settle on the empty file
    s=$(date +%s%N)
    cat "$LOGF" >> "$tail"
    printf '%s\n' "$sentinel" >> "$tail"
    deadline=$((SECONDS + 3600))
    while :; do
      v=$(metric "$port" postfix_smtpd_forward_confirmed_reverse_dns_errors_total)
      [[ "$v" == 1 ]] && break
      if ((SECONDS > deadline)) || ! kill -0 "$KPID" 2>/dev/null; then
        note "kumina: gave up waiting for the sentinel (last value '$v')"
        break
      fi
      sleep 0.02
    done
    e=$(date +%s%N)
    conn=$(metric "$port" postfix_smtpd_connects_total)
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$KPID/status" 2>/dev/null || echo 0)
    cleanup; KPID=""
    if [[ "$v" != 1 ]]; then
      printf 'kumina\t%d\tFAILED\t0\n' "$i" >> "$RESULTS"
      return 0
    fi
    printf 'kumina\t%d\t%d\t%s\n' "$i" "$((e - s))" "${hwm:-0}" >> "$RESULTS"
    log "   run $i: $(awk -v n=$((e - s)) 'BEGIN {printf "%.3f s", n / 1e9}'), VmHWM ${hwm:-?} KiB, postfix_smtpd_connects_total=$conn (expected smtpd connects: ${want:-?})"
    if [[ -n "$want" && "$conn" != "$want" ]]; then
      note "kumina: postfix_smtpd_connects_total=$conn but the log has $want postfix/smtpd connects"
    fi
  done
  rm -f "$WORKDIR/kumina-tailed.log"
}

# ---------------------------------------------------------------- pflog binary
PFLOG="${PFLOG_BIN:-$ROOT/target/release/pflog}"
PFLOG_OK=0
if ! skipped pflog; then
  if [[ -z "$PFLOG_BIN" ]] && ! "$PFLOG" replay --help > /dev/null 2>&1; then
    log "== building pflog (cargo build --release)"
    (cd "$ROOT" && cargo build --release >&2) || true
  fi
  if "$PFLOG" replay --help > /dev/null 2>&1; then
    PFLOG_OK=1
  else
    log "!! pflog ($PFLOG) is not buildable/runnable; it is skipped"
    note "pflog: $PFLOG not buildable or 'replay --help' fails; skipped"
  fi
fi

# ---------------------------------------------------------------- check pflog's numbers
CHECK_RC=0
CHECK_OUT="$WORKDIR/check.txt"
if [[ $PFLOG_OK == 1 && $CHECK == 1 ]]; then
  log "== checking pflog's exposition against $EXPF"
  if "$PFLOG" replay "$LOGF" --format prometheus > "$WORKDIR/pflog.prom" 2> "$WORKDIR/pflog.stderr"; then
    python3 "$ROOT/benches/check_expected.py" "$EXPF" "$WORKDIR/pflog.prom" > "$CHECK_OUT" || CHECK_RC=$?
  else
    CHECK_RC=3
    echo "pflog replay failed: $(tail -c 500 "$WORKDIR/pflog.stderr")" > "$CHECK_OUT"
  fi
  if [[ $CHECK_RC -ne 0 ]]; then
    {
      echo
      echo "################################################################################"
      echo "##  PFLOG MISMATCH: its numbers differ from the generator's expected totals    ##"
      echo "################################################################################"
      cat "$CHECK_OUT"
      echo "################################################################################"
      echo
    } >&2
  else
    log "   $(tail -n 1 "$CHECK_OUT")"
  fi
fi

# ---------------------------------------------------------------- runs
if [[ $PFLOG_OK == 1 ]]; then
  measure pflog "$PFLOG" replay "$LOGF" --format prometheus
fi

if ! skipped pflogsumm; then
  if command -v pflogsumm > /dev/null; then
    measure pflogsumm pflogsumm "$LOGF"
    # sanity: did pflogsumm read everything? ("received" = smtpd client= + pickup lines)
    ps_recv=$(awk '$2 == "received" {print $1; exit}' "$WORKDIR/stdout.pflogsumm" 2>/dev/null || true)
    want_recv=$(awk '/^postfix_messages_received_total/ {s += $2} END {print s + 0}' "$EXPF")
    [[ "$ps_recv" == "$want_recv" ]] || note "pflogsumm: reports $ps_recv messages received, the log has $want_recv"
  else
    note "pflogsumm: not installed; skipped"
  fi
fi

if ! skipped mtail; then
  MTPROG=$(dpkg -L mtail 2>/dev/null | grep -iE 'postfix[^/]*\.mtail(\.gz)?$' | sed -n 1p || true)
  if [[ -n "$MTPROG" && -f "$MTPROG" ]] && command -v mtail > /dev/null; then
    mkdir -p "$WORKDIR/mtail-progs"
    rm -f "$WORKDIR/mtail-progs/"*
    if [[ "$MTPROG" == *.gz ]]; then zcat "$MTPROG" > "$WORKDIR/mtail-progs/postfix.mtail"; else cp "$MTPROG" "$WORKDIR/mtail-progs/postfix.mtail"; fi
    note "mtail: program $MTPROG (from the Debian mtail package)"
    measure mtail mtail --one_shot --one_shot_format prometheus --logtostderr \
      --progs "$WORKDIR/mtail-progs" --logs "$LOGF"
    # sanity: did mtail read everything?
    mt_conn=$(mtail --one_shot --one_shot_format prometheus --progs "$WORKDIR/mtail-progs" --logs "$LOGF" 2>/dev/null \
      | awk '/^postfix_smtpd_connects_total/ {v = $2} END {print v}' || true)
    want_all=$(awk '/^postfix_smtpd_connections_total/ {s += $2} END {print s + 0}' "$EXPF")
    [[ "$mt_conn" == "$want_all" ]] || note "mtail: postfix_smtpd_connects_total=$mt_conn, the log has $want_all smtpd connects"
  else
    note "mtail: no postfix .mtail program in the Debian mtail package (dpkg -L mtail); skipped"
  fi
fi

if ! skipped kumina; then
  if [[ -x /usr/bin/prometheus-postfix-exporter ]] && command -v curl > /dev/null; then
    measure_kumina
  else
    note "kumina: /usr/bin/prometheus-postfix-exporter or curl missing; skipped"
  fi
fi

if ! skipped grep; then
  measure grep grep -c . "$LOGF"
fi

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$NL" "$SIZE" "$RUNS" "$MIN_TIME" <<'PY'
import collections, statistics, sys
path, nl, size, runs, min_time = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
walls = collections.OrderedDict()
rss = collections.defaultdict(int)
failed = set()
for line in open(path):
    name, _, wall, kb = line.rstrip("\n").split("\t")
    walls.setdefault(name, [])
    if wall == "FAILED":
        failed.add(name)
        continue
    walls[name].append(int(wall) / 1e9)
    rss[name] = max(rss[name], int(kb or 0))
labels = {
    "pflog": "pflog replay --format prometheus",
    "pflogsumm": "pflogsumm",
    "mtail": "mtail --one_shot (Debian postfix.mtail)",
    "kumina": "prometheus-postfix-exporter (kumina), tail ingestion",
    "grep": "grep -c . (floor)",
}
lps = {}
for n, w in walls.items():
    if w and n not in failed:
        lps[n] = nl / statistics.median(w)
base = lps.get("pflog")
print()
print("%d lines, %.0f MiB; median of each tool's runs (at least %d, and at least %s s of them)"
      % (nl, size / 1048576, runs, min_time))
print()
print("| tool | runs | median wall s | lines/s | peak RSS MiB | lines/s ÷ pflog |")
print("|---|---:|---:|---:|---:|---:|")
for n, w in walls.items():
    if n in failed or not w:
        print("| %s | | failed | | | |" % labels.get(n, n))
        continue
    med = statistics.median(w)
    ratio = "%.2f" % (lps[n] / base) if base else "n/a"
    print("| %s | %d | %.3f | %s | %.1f | %s |" % (labels.get(n, n), len(w), med,
                                                  format(int(lps[n]), ","), rss[n] / 1024.0, ratio))
PY
if [[ -s "$NOTES" ]]; then
  echo
  echo "Notes:"
  sed 's/^/- /' "$NOTES"
fi
if [[ $PFLOG_OK == 1 && $CHECK == 1 ]]; then
  echo
  if [[ $CHECK_RC -ne 0 ]]; then
    echo "**PFLOG CHECK FAILED** against $EXPF: $(grep -c '^\(MISSING\|WRONG\|UNEXPECTED\)' "$CHECK_OUT" || true) mismatching series (details above and in $CHECK_OUT)"
    exit 2
  else
    echo "pflog check: $(tail -n 1 "$CHECK_OUT")"
  fi
fi
exit 0
