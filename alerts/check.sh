#!/usr/bin/env bash
# Validate the Prometheus rule files and run their unit tests.
#
#   alerts/check.sh            # from anywhere; exits non-zero on any failure
#
# 1. promtool check rules  alerts/*.yml        (rule files only, not the tests)
# 2. promtool test rules   alerts/tests/*.yml  (unit tests: every alert fires / stays quiet)
# 3. alerts/tests/coverage.py                   (every alert has a firing and a not-firing test)
#
# promtool comes with Debian's "prometheus" package. If it is missing and we run
# as root in CI (CI=true) or with PFLOG_INSTALL_DEPS=1, it is installed with apt-get.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! command -v promtool >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 && ( "${CI:-}" == "true" || "${PFLOG_INSTALL_DEPS:-}" == "1" ) ]] && command -v apt-get >/dev/null 2>&1; then
        echo "check.sh: promtool not found, installing Debian package 'prometheus'" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends prometheus >&2
    fi
    if ! command -v promtool >/dev/null 2>&1; then
        echo "check.sh: promtool not found (apt-get install prometheus)" >&2
        exit 2
    fi
fi
echo "check.sh: $(promtool --version 2>&1 | head -n1)"

shopt -s nullglob
rule_files=( *.yml *.yaml )
test_files=( tests/*.yml tests/*.yaml )
if (( ${#rule_files[@]} == 0 || ${#test_files[@]} == 0 )); then
    echo "check.sh: no rule files or no test files found in $here" >&2
    exit 2
fi

passed=0
failed=0
step() {
    local name="$1"; shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "check.sh: FAILED: $name" >&2
        failed=$((failed + 1))
    fi
}

step "promtool check rules ${rule_files[*]}" promtool check rules "${rule_files[@]}"
for t in "${test_files[@]}"; do
    step "promtool test rules $t" promtool test rules "$t"
done
if command -v python3 >/dev/null 2>&1; then
    step "alert test coverage" python3 tests/coverage.py "$here"
else
    echo "check.sh: python3 not found, skipping coverage check" >&2
fi

echo "check.sh: ${passed} passed, ${failed} failed"
(( failed == 0 ))
