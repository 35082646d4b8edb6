#!/usr/bin/env bash
# Benchmark (not a test): M4 end to end on a fresh tenant of dev_min with the scheduler's start delay
# and the soak/stabilization windows at zero, against the CPU time the moto server spends answering
# it (utime+stime of its process from /proc, before and after). Prints wall, moto CPU, their ratio,
# API calls by service and m4host's peak memory. Needs the substrate up (tests/substrate/up.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_start
tenant="bench-$(date +%s)"
dir=$(mktemp -d)
seed_tenant "$tenant" "$dir" '{"start_delay": 0, "crash_after": 1, "restart_delay": 0}'
hz=$(getconf CLK_TCK)
before=$(moto_ticks)
start=$(date +%s%N)
/usr/bin/time -f '%M' -o "$dir/maxrss" ./target/release/m4host scripts/m4/main.rhai --env "$dir/local.toml" \
  --output json --set soak_ms=0 --set stabilization_interval_ms=0 >"$dir/out.json" 2>"$dir/err.txt" || true
end=$(date +%s%N)
after=$(moto_ticks)
python3 - "$dir" "$before" "$after" "$hz" "$start" "$end" <<'PY'
import json, sys
d, before, after, hz, start, end = sys.argv[1], *map(int, sys.argv[2:])
out = json.loads(open(f"{d}/out.json").read().strip().splitlines()[-1])
wall = (end - start) / 1e9
moto = (after - before) / hz
calls = out["api_calls"]
print(f"verdict {out['verdict']}  wall {wall:.2f} s  moto cpu {moto:.2f} s  ratio {wall / moto if moto else float('inf'):.2f}x")
print(f"api calls {sum(calls.values())}: " + " ".join(f"{k}={v}" for k, v in sorted(calls.items())))
print(f"m4host peak memory {int(open(f'{d}/maxrss').read().split()[-1]) / 1024:.1f} MiB")
tape = out.get("tape") or {}
if tape:
    spent = tape["recording_ms"] / 1000
    print(f"tape {tape['bytes'] / 1e6:.2f} MB, recording {spent:.3f} s = {100 * spent / wall:.1f}% of wall")
PY
stop_tenant "$tenant"
