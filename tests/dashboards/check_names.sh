#!/usr/bin/env bash
# Check that every metric family used by the dashboards and rule files exists
# in a Prometheus text exposition.
#
#   tests/dashboards/check_names.sh EXPOSITION_FILE
#   curl -s http://127.0.0.1:9154/metrics > /tmp/m.txt && tests/dashboards/check_names.sh /tmp/m.txt
#
# Names come from extract_names.py (dashboards/*.json + alerts/*.yml). A name
# counts as present when the file has a "# TYPE <family> <type>" line for it:
#   foo_total  -> "# TYPE foo_total counter" (text format 0.0.4)
#                 or "# TYPE foo counter"     (OpenMetrics, as prometheus-client writes it)
#   foo_info   -> "# TYPE foo_info ..." or "# TYPE foo info" (OpenMetrics info)
#   foo        -> "# TYPE foo <any type>"     (gauges, histograms: foo_bucket/_sum/_count)
# Extra arguments are passed to extract_names.py (e.g. a list of files).
#
# Exit: 0 all present; 1 some missing (listed on stderr); 2 usage / input error.
set -euo pipefail

if (( $# < 1 )) || [[ "$1" == "-h" || "$1" == "--help" ]]; then
    echo "usage: $0 EXPOSITION_FILE [dashboard.json|rules.yml ...]" >&2
    exit 2
fi
exposition="$1"; shift
if [[ ! -r "$exposition" ]]; then
    echo "check_names: cannot read $exposition" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! names="$(python3 "$here/extract_names.py" "$@")"; then
    echo "check_names: extract_names.py failed" >&2
    exit 2
fi
if [[ -z "$names" ]]; then
    echo "check_names: no metric names extracted" >&2
    exit 2
fi

declare -A type_of=()
while read -r hash kw name typ _rest; do
    [[ "$hash" == "#" && "$kw" == "TYPE" && -n "${name:-}" ]] || continue
    type_of["$name"]="${typ:-untyped}"
done < <(tr -d '\r' < "$exposition")
if (( ${#type_of[@]} == 0 )); then
    echo "check_names: no '# TYPE' lines in $exposition" >&2
    exit 2
fi

missing=()
checked=0
while read -r n; do
    [[ -n "$n" ]] || continue
    checked=$((checked + 1))
    if [[ -n "${type_of[$n]+x}" ]]; then
        continue
    fi
    if [[ "$n" == *_total ]]; then
        base="${n%_total}"
        if [[ "${type_of[$base]:-}" == "counter" ]]; then
            continue
        fi
    fi
    if [[ "$n" == *_info ]]; then
        base="${n%_info}"
        if [[ "${type_of[$base]:-}" == "info" ]]; then
            continue
        fi
    fi
    missing+=("$n")
done <<< "$names"

if (( ${#missing[@]} > 0 )); then
    echo "check_names: ${#missing[@]} of ${checked} metric names used by dashboards/rules are missing from $exposition:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "check_names: note: prometheus-client leaves out a labelled family until its first series exists;" >&2
    echo "             check an exposition taken after logs that exercise every family (e.g. a replay of a full fixture)." >&2
    exit 1
fi
echo "check_names: all ${checked} metric names found in $exposition"
