#!/usr/bin/env bash
# Fuzzes the input parsers (environment file, handles registry, terraform outputs) for a bounded
# time: the property test of src/config/inputs_fuzz.rs with many iterations and fresh seeds. A
# benchmark, not a CI test. Usage: tests/bench/fuzz_inputs.sh [SECONDS] (default 120).
# Prints execs, seeds and any failure (the failing input is in the test's panic message: make it
# a regression test).
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=${1:-120}
end=$((SECONDS + budget))
execs=0; runs=0; failures=0
cargo test --quiet --lib inputs_fuzz --no-run 2>/dev/null
while (( SECONDS < end )); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  if M4HOST_FUZZ_SEED=$seed M4HOST_FUZZ_ITERATIONS=5000 cargo test --quiet --lib inputs_fuzz >/tmp/m4host-fuzz.log 2>&1; then
    :
  else
    failures=$((failures + 1)); echo "seed $seed failed:"; grep -m3 "panicked\|iteration" /tmp/m4host-fuzz.log || true
  fi
  execs=$((execs + 5000)); runs=$((runs + 1))
done
echo "fuzz_inputs: $execs execs in $runs runs (${budget}s), $failures failing seed(s)"
