#!/usr/bin/env bash
# Starts the local substrate on loopback, idempotently, and seeds it.
#   tests/substrate/up.sh            start what is not answering, seed examples (idempotent)
#   tests/substrate/up.sh --reset    stop what this script started, start afresh, seed
# Servers this script starts are recorded by PID in tests/substrate/.state/ and stopped by down.sh.
# Today: moto_server (AWS APIs) on 127.0.0.1:4566. The Kafka broker and PostgreSQL join here (issue 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state="$here/.state"
mkdir -p "$state"

MOTO_PORT=${M4HOST_MOTO_PORT:-4566}
MOTO_URL="http://127.0.0.1:$MOTO_PORT"

log() { printf 'substrate: %s\n' "$*" >&2; }

if [[ "${1:-}" == "--reset" ]]; then
  "$here/down.sh"
fi

# --- installs (only what is missing) -------------------------------------------------------------
if ! python3 -c 'import moto, flask, flask_cors' 2>/dev/null; then
  log "installing moto[server]"
  python3 -m pip install --quiet 'moto[server]==5.2.1'
fi

# --- moto ----------------------------------------------------------------------------------------
moto_up() { curl -s -o /dev/null -m 2 "$MOTO_URL/moto-api/" ; }
if moto_up; then
  log "moto already answering on $MOTO_URL"
else
  log "starting moto_server on $MOTO_URL"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" \
    >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  for _ in $(seq 1 100); do
    moto_up && break
    sleep 0.1
  done
  moto_up || { log "moto did not answer on $MOTO_URL; see $state/moto.log"; exit 1; }
fi

# --- seed ----------------------------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-west-2}
for seed in "$repo"/examples/*/seed.toml; do
  [[ -f "$seed" ]] || continue
  python3 "$here/seed.py" --endpoint "$MOTO_URL" "$seed"
done
log "ready: moto $MOTO_URL"
