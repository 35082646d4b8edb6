#!/usr/bin/env bash
# The demo: M4 "P2 daemons ready" end to end on the local substrate.
#   1. a fresh substrate with dev_min seeded (evidence is write-once per platform run, so a
#      re-run of M4 for the same run would rightly hold at M4.H: the demo starts afresh);
#   2. scripts/m4/main.rhai with short stabilization windows -> ADVANCE_TO_M5, the 11 artifacts
#      under runs/dev_substrate/m4/<stamp>/ and in s3://fraud-platform-dev-min-evidence/.
# Extra arguments go to m4host (e.g. --plan, --output json).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
tests/substrate/up.sh --reset
# moto accepts any credentials; these never reach a real account (the env file pins the endpoint).
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
cargo build --quiet
exec ./target/debug/m4host scripts/m4/main.rhai --env examples/dev_min/local.toml \
  --set soak_ms=2000 --set stabilization_interval_ms=1000 "$@"
