#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (libFuzzer, via cargo-fuzz on stable
# with RUSTC_BOOTSTRAP=1; no sanitizer: pflog is #![forbid(unsafe_code)], so ASan would only
# slow it down; overflow checks and debug assertions are on). New inputs go to fuzz/work/<target> (not committed); the committed,
# minimized seeds in fuzz/corpus/<target> are read too. Crashes land in fuzz/artifacts/<target>.
#
#   fuzz/run.sh                  # the default budget: 10.5 M executions in all
#   RUNS_SCALE=10 fuzz/run.sh    # ten times more
#   fuzz/run.sh pipeline         # only the named targets
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
scale=${RUNS_SCALE:-1}
only=" ${*:-envelope parsers pipeline} "
run() {
  local target=$1 runs=$2; shift 2
  [[ $only == *" $target "* ]] || return 0
  mkdir -p "work/$target"
  echo "== $target: $((runs * scale)) executions"
  cargo fuzz run --sanitizer none "$target" "work/$target" "corpus/$target" -- \
    -runs=$((runs * scale)) -timeout=10 -print_final_stats=1 "$@"
}
run envelope 3000000 -max_len=4096
run parsers 4500000 -max_len=4096
# The pipeline interns label values for the life of the process (bounded by the label cap in a
# real run; here every input gets a fresh Pipeline), so leak detection is off.
run pipeline 3000000 -max_len=16384 -detect_leaks=0 -rss_limit_mb=6144
