#!/usr/bin/env bash
# Interleaved A/B timing: runs every command once per round, ROUNDS rounds, and prints the
# minimum, median and maximum wall time of each. Interleaving spreads the machine's slow and
# fast minutes over all commands alike.
#
#   benches/ab.sh ROUNDS 'COMMAND A' 'COMMAND B' ...
#   benches/ab.sh 10 'old/pflog replay bsd1m.log --format prometheus' \
#                    'target/release/pflog replay bsd1m.log --format prometheus'
#
# Each command runs through `bash -c`, its stdout to /dev/null; a failing command stops the script.
set -euo pipefail
if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: benches/ab.sh ROUNDS 'COMMAND' ['COMMAND'...]" >&2
  exit 2
fi
rounds=$1
shift
declare -A times
for _ in $(seq "$rounds"); do
  for cmd in "$@"; do
    start=$(date +%s%N)
    bash -c "$cmd" > /dev/null
    end=$(date +%s%N)
    times[$cmd]+="$(((end - start) / 1000000)) "
  done
done
for cmd in "$@"; do
  printf '%s\n    ' "$cmd"
  tr ' ' '\n' <<< "${times[$cmd]}" | grep . | sort -n |
    awk '{t[NR] = $1} END {printf "min %d ms, median %d ms, max %d ms (%d runs)\n", t[1], t[int((NR + 1) / 2)], t[NR], NR}'
done
