#!/usr/bin/env bash
# The whole test suite, on a fresh machine of this kind or a warm one: installs what is missing,
# brings the local substrate up (stopping at the end only what it started), then checks format,
# lints and runs every test. Exit status is the first failure's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf 'tests: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { log "cargo not found: install the Rust toolchain (rustup)"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

moto_port=${M4HOST_MOTO_PORT:-4566}
owns_substrate=0
if ! curl -s -o /dev/null -m 2 "http://127.0.0.1:$moto_port/moto-api/"; then
  owns_substrate=1
fi
cleanup() {
  if [[ $owns_substrate == 1 ]]; then tests/substrate/down.sh; fi
}
trap cleanup EXIT
tests/substrate/up.sh

export M4HOST_TEST_ENDPOINT="http://127.0.0.1:$moto_port"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
log "cargo test"
cargo test --all-targets 2>&1
