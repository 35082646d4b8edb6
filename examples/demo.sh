#!/usr/bin/env bash
# The demo on the local substrate: bring it up (idempotent), then run the furthest runbook that
# has landed. Today that is examples/hello; scripts/m4/main.rhai takes its place when it lands.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
tests/substrate/up.sh
# moto accepts any credentials; these never reach a real account (the env file pins the endpoint).
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
cargo build --quiet
./target/debug/m4host examples/hello/hello.rhai --env examples/hello/m4host.toml "$@"
