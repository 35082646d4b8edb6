#!/usr/bin/env bash
# Stops only what up.sh started, by the PIDs it recorded.
set -euo pipefail
state="$(cd "$(dirname "$0")" && pwd)/.state"
for pidfile in "$state"/*.pid; do
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" || true
    printf 'substrate: stopped %s (pid %s)\n' "$(basename "$pidfile" .pid)" "$pid" >&2
  fi
  rm -f "$pidfile"
done
