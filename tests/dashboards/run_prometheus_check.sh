#!/usr/bin/env bash
# Start a throw-away Prometheus that scrapes an exporter and has the pflog rule
# files loaded, then run every dashboard query against it (query_panels.py).
#
#   tests/dashboards/run_prometheus_check.sh EXPORTER_ADDR [query_panels.py options]
#
#   EXPORTER_ADDR   host:port (path /metrics), or a URL http://host:port/path
#   options         passed to query_panels.py, e.g. --allow-empty, --instance X
#
# Prometheus listens on 127.0.0.1 on a free port, stores into a temporary
# directory, scrapes every second (job "pflog") and evaluates the rules every
# second. The script waits until the target is up with at least 3 scrapes and
# the rule groups were evaluated, fails if any rule reports an evaluation error,
# runs query_panels.py, and always stops Prometheus (trap EXIT, kill by PID).
# Environment: PROMETHEUS (binary, default: prometheus), WAIT_SECONDS (default 60).
set -euo pipefail

if (( $# < 1 )) || [[ "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
addr="$1"; shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
prometheus_bin="${PROMETHEUS:-prometheus}"
wait_seconds="${WAIT_SECONDS:-60}"

if ! command -v "$prometheus_bin" >/dev/null 2>&1; then
    echo "run_prometheus_check: '$prometheus_bin' not found (apt-get install prometheus)" >&2
    exit 2
fi

scheme=http
rest="$addr"
if [[ "$addr" == *://* ]]; then
    scheme="${addr%%://*}"
    rest="${addr#*://}"
fi
hostport="${rest%%/*}"
if [[ "$rest" == */* ]]; then
    metrics_path="/${rest#*/}"
else
    metrics_path=/metrics
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pflog-prom.XXXXXX")"
prom_pid=""
show_log=1   # print the tail of Prometheus' log when failing before the queries run
cleanup() {
    local rc=$?
    if [[ -n "$prom_pid" ]] && kill -0 "$prom_pid" 2>/dev/null; then
        kill "$prom_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$prom_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$prom_pid" 2>/dev/null || true
        wait "$prom_pid" 2>/dev/null || true
    fi
    if (( rc != 0 && show_log )) && [[ -s "$tmp/prometheus.log" ]]; then
        echo "---- last lines of the Prometheus log" >&2
        tail -n 20 "$tmp/prometheus.log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
prom="http://127.0.0.1:$port"

{
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    echo "  evaluation_interval: 1s"
    echo "rule_files:"
    for f in "$repo"/alerts/*.yml; do
        echo "  - '$f'"
    done
    echo "scrape_configs:"
    echo "  - job_name: pflog"
    echo "    scheme: '$scheme'"
    echo "    metrics_path: '$metrics_path'"
    echo "    static_configs:"
    echo "      - targets: ['$hostport']"
} > "$tmp/prometheus.yml"

"$prometheus_bin" \
    --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/data" \
    --storage.tsdb.retention.time=1h \
    --web.listen-address="127.0.0.1:$port" \
    --log.level=warn \
    >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
echo "run_prometheus_check: Prometheus pid $prom_pid on $prom, scraping $scheme://$hostport$metrics_path"

# query EXPR -> prints the first sample value of an instant query, or nothing
query() {
    curl -fsS --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
        python3 -c 'import json,sys
d=json.load(sys.stdin)
r=d.get("data",{}).get("result",[])
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}

deadline=$((SECONDS + wait_seconds))
until curl -fsS --max-time 2 "$prom/-/ready" >/dev/null 2>&1; do
    if ! kill -0 "$prom_pid" 2>/dev/null; then
        echo "run_prometheus_check: Prometheus exited early" >&2
        exit 1
    fi
    if (( SECONDS > deadline )); then
        echo "run_prometheus_check: Prometheus not ready after ${wait_seconds}s" >&2
        exit 1
    fi
    sleep 0.5
done

# At least 3 successful scrapes of the exporter.
while :; do
    n="$(query 'sum_over_time(up{job="pflog"}[1m])')"
    if [[ -n "$n" ]] && python3 -c "import sys; sys.exit(0 if float('$n') >= 3 else 1)"; then
        break
    fi
    if (( SECONDS > deadline )); then
        echo "run_prometheus_check: fewer than 3 successful scrapes of $hostport after ${wait_seconds}s" >&2
        curl -fsS "$prom/api/v1/targets" 2>/dev/null | python3 -c 'import json,sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("  target", t["scrapeUrl"], t["health"], t.get("lastError",""))' >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "run_prometheus_check: $(query 'sum_over_time(up{job="pflog"}[1m])') scrapes in"

# Rule groups evaluated (twice, so rules reading other recording rules have input), no errors.
sleep 2
rules_report="$(curl -fsS --max-time 5 "$prom/api/v1/rules" | python3 -c 'import json,sys
d=json.load(sys.stdin)["data"]["groups"]
bad=[]; n=0; unevaluated=0
for g in d:
    for r in g["rules"]:
        n+=1
        if r.get("health")=="err": bad.append("%s: %s: %s" % (g["name"], r.get("name"), r.get("lastError")))
        if r.get("health")=="unknown": unevaluated+=1
print("rules: %d loaded, %d with errors, %d not evaluated yet" % (n, len(bad), unevaluated))
for b in bad: print("  RULE ERROR " + b)
sys.exit(1 if bad or n==0 else 0)')" && rules_ok=1 || rules_ok=0
echo "run_prometheus_check: $rules_report"
if (( rules_ok == 0 )); then
    echo "run_prometheus_check: rule evaluation failed" >&2
    exit 1
fi

show_log=0
python3 "$here/query_panels.py" "$prom" "$@"
