#!/usr/bin/env bash
# Stops what up.sh started, by the PIDs it recorded: all of it, or only the servers named
# (e.g. `down.sh moto tansu`).
set -euo pipefail
state="$(cd "$(dirname "$0")" && pwd)/.state"
if (( $# )); then
  pidfiles=(); for name in "$@"; do pidfiles+=("$state/$name.pid"); done
else
  pidfiles=("$state"/*.pid)
fi
for pidfile in "${pidfiles[@]}"; do
  [[ -f "$pidfile" ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    printf 'substrate: stopped %s (pid %s)\n' "$(basename "$pidfile" .pid)" "$pid" >&2
  fi
  rm -f "$pidfile"
done
