#!/usr/bin/env bash
# All checks of dashboards/, alerts/ and tests/dashboards/ in one go.
#
#   tests/dashboards/run_tests.sh            # offline checks + live Prometheus checks if installed
#   tests/dashboards/run_tests.sh --offline  # skip everything that starts prometheus
#
# Steps:
#   1. dashboards/generate.py --check           committed JSON matches its generator
#   2. lint_dashboards.py                       Grafana model sanity (datasource, variables, grid, units, ...)
#   3. testdata is in sync with make_exposition.py
#   4. extract_names.py == families of docs/metrics.md (the metric contract)
#   5. check_names.sh passes on both test expositions (OpenMetrics and 0.0.4)
#   6. check_names.sh fails, naming them, when families are missing
#   7. alerts/check.sh                          promtool check rules + promtool test rules + coverage
#   8. run_prometheus_check.sh against the test expositions served by python3 -m http.server
#      on 127.0.0.1 (0.0.4 and OpenMetrics files), and negative runs that must fail (no rspamd
#      families; no mail authentication families)
# Ends with "N passed, M failed"; exits 1 if anything failed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
offline=0
[[ "${1:-}" == "--offline" ]] && offline=1

passed=0
failed=0
skipped=0
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pflog-dash-tests.XXXXXX")"
server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

ok()   { echo "PASS  $1"; passed=$((passed + 1)); }
nok()  { echo "FAIL  $1"; failed=$((failed + 1)); }
skip() { echo "SKIP  $1"; skipped=$((skipped + 1)); }
run()  { local n="$1"; shift; if "$@" >"$tmp/out" 2>&1; then ok "$n"; else cat "$tmp/out"; nok "$n"; fi; }

run "dashboards/generate.py --check" python3 "$repo/dashboards/generate.py" --check
run "lint_dashboards.py" python3 "$here/lint_dashboards.py"

mkdir -p "$tmp/gen"
cp "$here/testdata/make_exposition.py" "$tmp/gen/"
if python3 "$tmp/gen/make_exposition.py" >/dev/null &&
   cmp -s "$tmp/gen/exposition.prom" "$here/testdata/exposition.prom" &&
   cmp -s "$tmp/gen/exposition.openmetrics.txt" "$here/testdata/exposition.openmetrics.txt"; then
    ok "testdata in sync with make_exposition.py"
else
    nok "testdata in sync with make_exposition.py (run python3 tests/dashboards/testdata/make_exposition.py)"
fi

python3 "$here/extract_names.py" > "$tmp/names" || true
if [[ ! -s "$tmp/names" ]]; then
    nok "extract_names.py prints names"
elif python3 "$here/contract_names.py" > "$tmp/contract" 2>/dev/null; then
    if diff -u "$tmp/contract" "$tmp/names" > "$tmp/diff"; then
        ok "dashboards+rules use exactly the $(wc -l < "$tmp/names") contract families"
    else
        # Using fewer families is allowed; using names outside the contract is not.
        extra="$(comm -13 "$tmp/contract" "$tmp/names")"
        unused="$(comm -23 "$tmp/contract" "$tmp/names" | tr '\n' ' ')"
        if [[ -n "$extra" ]]; then
            echo "names used but not in docs/metrics.md:"; echo "$extra"
            nok "dashboards+rules only use contract families"
        else
            ok "dashboards+rules only use contract families (unused: $unused)"
        fi
    fi
else
    nok "contract_names.py reads docs/metrics.md"
fi

run "check_names.sh testdata/exposition.openmetrics.txt" "$here/check_names.sh" "$here/testdata/exposition.openmetrics.txt"
run "check_names.sh testdata/exposition.prom" "$here/check_names.sh" "$here/testdata/exposition.prom"

grep -v -E '^# (TYPE|HELP) (postfix_bounces|rspamd_score|pflog_tracked_messages) ' \
    "$here/testdata/exposition.openmetrics.txt" > "$tmp/broken.txt"
"$here/check_names.sh" "$tmp/broken.txt" >"$tmp/out" 2>&1
rc=$?
if (( rc == 1 )) && grep -q postfix_bounces_total "$tmp/out" && grep -q rspamd_score "$tmp/out" \
        && grep -q pflog_tracked_messages "$tmp/out"; then
    ok "check_names.sh exits 1 and names missing families"
else
    cat "$tmp/out"; nok "check_names.sh exits 1 and names missing families (rc=$rc)"
fi

if command -v promtool >/dev/null 2>&1 || [[ "${CI:-}" == "true" ]]; then
    run "alerts/check.sh" "$repo/alerts/check.sh"
else
    skip "alerts/check.sh (promtool not installed)"
fi

# serve FILE -> serves FILE as /metrics on 127.0.0.1, sets $served_addr
serve() {
    stop_server
    rm -rf "$tmp/www" && mkdir -p "$tmp/www"
    cp "$1" "$tmp/www/metrics"
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 1 50); do
        curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
        sleep 0.1
    done
    served_addr="127.0.0.1:$port"
}

if (( offline )); then
    skip "live Prometheus checks (--offline)"
elif ! command -v prometheus >/dev/null 2>&1; then
    skip "live Prometheus checks (prometheus not installed)"
else
    for f in exposition.prom exposition.openmetrics.txt; do
        serve "$here/testdata/$f"
        run "run_prometheus_check.sh on testdata/$f (all panel queries return data)" \
            "$here/run_prometheus_check.sh" "$served_addr"
        [[ "$f" == exposition.prom ]] && tail -n 4 "$tmp/out"
    done
    # Negative: without the rspamd families the rspamd panels must be reported empty.
    grep -v '^rspamd_' "$here/testdata/exposition.prom" > "$tmp/no-rspamd.prom"
    serve "$tmp/no-rspamd.prom"
    "$here/run_prometheus_check.sh" "$served_addr" >"$tmp/out" 2>&1
    rc=$?
    if (( rc == 1 )) && grep -q "^EMPTY .*Scan time" "$tmp/out"; then
        ok "run_prometheus_check.sh fails and lists empty queries when families are missing"
    else
        cat "$tmp/out"; nok "run_prometheus_check.sh fails on missing families (rc=$rc)"
    fi
    "$here/run_prometheus_check.sh" "$served_addr" --allow-empty >"$tmp/out" 2>&1
    run "run_prometheus_check.sh --allow-empty tolerates empty queries" test "$?" -eq 0
    # Negative: without the mail authentication families every panel of that row is reported empty.
    grep -v -E '^(mail_auth_results|mail_dkim_signatures|mail_dmarc_dispositions|postfix_message_auth_outcomes)_total' \
        "$here/testdata/exposition.prom" > "$tmp/no-auth.prom"
    serve "$tmp/no-auth.prom"
    "$here/run_prometheus_check.sh" "$served_addr" >"$tmp/out" 2>&1
    rc=$?
    missing=""
    for title in "Inbound pass share by check" "Inbound fail share by check" "Inbound SPF results" \
            "Inbound DKIM results" "Inbound DMARC results" "Inbound ARC results" "DMARC fail share" \
            "DMARC dispositions" "Outbound DKIM signatures" "Delivered mail by DMARC result" "Authentication results"; do
        grep -q "^EMPTY .*'$title'" "$tmp/out" || missing="$missing '$title'"
    done
    if (( rc == 1 )) && [[ -z "$missing" ]]; then
        ok "run_prometheus_check.sh reports every Authentication panel empty without the auth families"
    else
        cat "$tmp/out"; nok "Authentication panels reported empty without the auth families (rc=$rc, not reported:$missing)"
    fi
    stop_server
fi

echo "tests/dashboards: ${passed} passed, ${failed} failed, ${skipped} skipped"
(( failed == 0 ))
