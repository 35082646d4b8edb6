#!/usr/bin/env bash
# Benchmark (not a test): how many AWS round trips sit on a whole M4 run's critical path. The run
# goes through tests/substrate/fault_proxy.py in front of moto, once with no added latency and once
# with DELAY_MS (default 50) added to every AWS call, each on a fresh tenant of dev_min with zero
# scheduler delays, zero soak and zero stabilization interval. Prints, per run: wall time, moto's
# CPU time, calls by service; then (added wall) / (added latency) = round trips on the critical
# path. Needs the substrate up (tests/substrate/up.sh); stops the proxies it starts, by PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
delay=${DELAY_MS:-50}
bench_start
work=$(mktemp -d)

run_once() { # added latency (ms) -> one JSON line of figures
  local added=$1 tenant dir
  tenant="lat-$added-$(date +%s%N | tail -c 7)"
  dir="$work/$tenant"
  seed_tenant "$tenant" "$dir" '{"start_delay": 0, "crash_after": 1, "restart_delay": 0, "stop_delay": 0}'
  start_proxy "$dir" "$added" --trace "$dir/trace.jsonl"
  local before after start end
  before=$(moto_ticks); start=$(date +%s%N)
  ./target/release/m4host scripts/m4/main.rhai --env "$dir/local.toml" --output json \
    --set soak_ms=0 --set stabilization_interval_ms=0 >"$dir/out.json" 2>"$dir/err.txt" || true
  end=$(date +%s%N); after=$(moto_ticks)
  curl -s "http://127.0.0.1:$proxy_port/fault-proxy/stats" >"$dir/stats.json"
  stop_proxy
  python3 - "$dir" "$added" "$before" "$after" "$(getconf CLK_TCK)" "$start" "$end" <<'PY'
import json, sys
d, added, before, after, hz, start, end = sys.argv[1], *map(int, sys.argv[2:])
out = json.loads(open(f"{d}/out.json").read().strip().splitlines()[-1])
stats = json.load(open(f"{d}/stats.json"))
calls = [json.loads(line) for line in open(f"{d}/trace.jsonl")]
print(json.dumps({"trace": f"{d}/trace.jsonl", "added_ms": added, "verdict": out["verdict"], "wall_s": (end - start) / 1e9,
                  "moto_cpu_s": (after - before) / hz, "calls": stats["calls"],
                  "phases": {p["phase"]: p["elapsed_ms"] for p in out["phases"]}}))
PY
  stop_tenant "$tenant"
}

base=$(run_once 0)
slow=$(run_once "$delay")
python3 - "$base" "$slow" <<'PY'
import json, sys
base, slow = (json.loads(a) for a in sys.argv[1:])
for r in (base, slow):
    calls = r["calls"]
    print(f"+{r['added_ms']:>3} ms: {r['verdict']}  wall {r['wall_s']:.2f} s  moto cpu {r['moto_cpu_s']:.2f} s  "
          f"wall/cpu {r['wall_s'] / max(r['moto_cpu_s'], 1e-9):.2f}x  calls {sum(calls.values())}: "
          + " ".join(f"{k}={v}" for k, v in sorted(calls.items())))
per_phase = {p: (slow["phases"][p] - base["phases"].get(p, 0)) / slow["added_ms"] for p in slow["phases"]}
print("round trips by phase: " + " ".join(f"{p}={t:.1f}" for p, t in per_phase.items()))
# The longest chain of calls each sent after the one before it was answered: which calls the
# critical path is made of (the figure above counts time; this one says where it goes).
calls = sorted((json.loads(line) for line in open(slow["trace"])), key=lambda c: c["end"])
depth, before = [], []
for i, c in enumerate(calls):
    best = max(range(i), key=lambda j: depth[j] if calls[j]["end"] <= c["start"] else -1, default=None)
    ok = best is not None and calls[best]["end"] <= c["start"]
    depth.append(depth[best] + 1 if ok else 1)
    before.append(best if ok else None)
chain, i = [], max(range(len(calls)), key=lambda k: depth[k]) if calls else None
while i is not None:
    chain.append(f"{calls[i]['service']}:{calls[i]['operation']}")
    i = before[i]
chain.reverse()
runs = []
for op in chain:
    if runs and runs[-1][0] == op:
        runs[-1][1] += 1
    else:
        runs.append([op, 1])
print(f"longest chain of calls one after another ({len(chain)}): "
      + ", ".join(op if n == 1 else f"{op} x{n}" for op, n in runs))
trips = (slow["wall_s"] - base["wall_s"]) / (slow["added_ms"] / 1000)
print(f"round trips on the critical path: {trips:.1f}  ((wall +{slow['added_ms']} ms - wall +0) / {slow['added_ms']} ms)")
PY
