#!/usr/bin/env bash
# The whole test suite, on a fresh machine of this kind or a warm one: installs what is missing,
# brings the local substrate up (and stops at the end only the servers it started), then checks
# format, lints and runs every test. Exit status is the first failure's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"
state=tests/substrate/.state

log() { printf 'tests: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { log "cargo not found: install the Rust toolchain (rustup)"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

if ! command -v tmux >/dev/null; then  # the REPL's terminal tests drive it through tmux
  log "installing tmux"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
fi
# `m4host report --svg` is rendered by a real browser in the tests: Debian's Chromium, headless,
# and pillow to read its screenshot. Test-only, so the demo does not wait for them.
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! python3 -c 'import PIL' 2>/dev/null; then
  log "installing pillow"
  python3 -m pip install --quiet --disable-pip-version-check 'pillow==11.3.0'
fi

mkdir -p "$state"
before=$(cd "$state" && ls ./*.pid 2>/dev/null | xargs -r -n1 basename | sed 's/\.pid$//' || true)
started=()
cleanup() {
  if (( ${#started[@]} )); then tests/substrate/down.sh "${started[@]}"; fi
}
trap cleanup EXIT
tests/substrate/up.sh
for pidfile in "$state"/*.pid; do
  [[ -f "$pidfile" ]] || continue
  name=$(basename "$pidfile" .pid)
  grep -qx "$name" <<<"$before" || started+=("$name")
done

export M4HOST_TEST_ENDPOINT="http://127.0.0.1:${M4HOST_MOTO_PORT:-4566}"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
log "cargo test"
cargo test --all-targets 2>&1
