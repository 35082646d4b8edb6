#!/usr/bin/env bash
# Benchmark (not a test): M4's wall time as a real account would make it, scaled down so it takes
# minutes (issue #23). Each of the 13 daemons takes 30 to 60 s from RunTask/UpdateService to
# RUNNING, as Fargate tasks do ("Amazon ECS task lifecycle": PROVISIONING while the ENI attaches
# and capacity is found, PENDING while the image is pulled; users report 30-60 s for small
# images), every AWS call pays 50 ms (the fault proxy in front of moto), and the soak (30 s) and
# M4.G's interval (30 s) are the defaults. Every duration is divided by FACTOR (default 20), the
# pollers' ceiling too ([ecs] max_poll_ms 5 s -> 250 ms), so the shapes compare and the bench
# takes about a minute. Health checks are not declared (ECS's own minimum interval, 5 s, cannot
# be scaled down in a task definition).
#
# Prints M4's wall time with wave_gate = stable and = up, and the floor the plan's order allows:
# the sum over waves of the slowest service's time to RUNNING, plus one soak, plus G's interval,
# plus the critical path's round trips x 50 ms (CRITICAL_PATH_RT, else measured by
# tests/bench/m4_latency.sh). Target: "up" within 10% of the floor. Needs the substrate up
# (tests/substrate/up.sh); stops the proxies it starts, by PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
factor=${FACTOR:-20}
latency_ms=50
bench_start
work=$(mktemp -d)

if [[ -z ${CRITICAL_PATH_RT:-} ]]; then
  CRITICAL_PATH_RT=$(bash tests/bench/m4_latency.sh | sed -n 's/^round trips on the critical path: \([0-9.]*\).*/\1/p')
fi

run_once() { # wave gate -> one JSON line of figures
  local gate=$1 tenant dir
  tenant="real-$gate-$(date +%s%N | tail -c 7)"
  dir="$work/$tenant"
  seed_tenant "$tenant" "$dir" \
    "{\"start_delay\": $(python3 -c "print(45 / $factor)"), \"stop_delay\": $(python3 -c "print(30 / $factor)")}"
  # Each service its own time to RUNNING, 30-60 s spread over the packs (scaled).
  python3 - "$tenant" "$factor" "$dir/start_delays.json" "$endpoint" <<'PY'
import json, sys, urllib.request
tenant, factor, out, endpoint = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
import boto3
ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="eu-west-2")
cluster = f"fraud-platform-{tenant}"
names = sorted(a.split("/")[-1] for a in ecs.list_services(cluster=cluster)["serviceArns"])
delays = {}
for i, name in enumerate(names):
    seconds = 30 + (i * 37) % 31
    delays[name] = seconds / factor
    body = json.dumps({"cluster": cluster, "service": name, "mode": None,
                       "timing": {"start_delay": seconds / factor}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/m4host-substrate/fault", body,
                                                  {"Content-Type": "application/json"}))
json.dump(delays, open(out, "w"))
PY
  start_proxy "$dir" "$latency_ms"
  printf '\n[ecs]\nmax_poll_ms = %d\n' $((5000 / factor)) >>"$dir/local.toml"
  local start end
  start=$(date +%s%N)
  ./target/release/m4host scripts/m4/main.rhai --env "$dir/local.toml" --output json \
    --set wave_gate="$gate" --set soak_ms=$((30000 / factor)) \
    --set stabilization_interval_ms=$((30000 / factor)) >"$dir/out.json" 2>"$dir/err.txt" || true
  end=$(date +%s%N)
  stop_proxy
  python3 - "$dir" "$gate" "$start" "$end" <<'PY'
import json, sys
d, gate, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = json.loads(open(f"{d}/out.json").read().strip().splitlines()[-1])
f = json.load(open(out["artifacts"]["m4_f_daemon_start_snapshot"]["local"]))
waves = {}
delays = json.load(open(f"{d}/start_delays.json"))
for s in f["services"]:
    waves.setdefault(s["wave"], []).append(delays[s["service"]])
print(json.dumps({"gate": gate, "verdict": out["verdict"], "wall_s": (end - start) / 1e9,
                  "phases": {p["phase"]: p["elapsed_ms"] / 1000 for p in out["phases"]},
                  "slowest_per_wave": [max(v) for _, v in sorted(waves.items())]}))
PY
  stop_tenant "$tenant"
}

stable=$(run_once stable)
up=$(run_once up)
python3 - "$stable" "$up" "$factor" "$CRITICAL_PATH_RT" "$latency_ms" <<'PY'
import json, sys
stable, up = json.loads(sys.argv[1]), json.loads(sys.argv[2])
factor, rt, latency = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]) / 1000
soak = g = 30 / factor
floor = sum(up["slowest_per_wave"]) + soak + g + rt * latency
print(f"scale 1/{factor:g}: time to RUNNING 30-60 s -> {30 / factor:.2f}-{60 / factor:.2f} s, soak and "
      f"M4.G interval 30 s -> {soak:.2f} s, {latency * 1000:.0f} ms per AWS call")
for r in (stable, up):
    ph = r["phases"]
    print(f"wave_gate={r['gate']:<6} {r['verdict']}  wall {r['wall_s']:.2f} s  "
          f"(M4.F {ph.get('M4.F', 0):.2f} s, M4.G {ph.get('M4.G', 0):.2f} s)")
print(f"floor {floor:.2f} s = slowest per wave {' + '.join(f'{w:.2f}' for w in up['slowest_per_wave'])} "
      f"+ soak {soak:.2f} + G {g:.2f} + {rt:.1f} round trips x {latency * 1000:.0f} ms")
print(f"up / floor = {up['wall_s'] / floor:.2f}  (target <= 1.10); stable / up = {stable['wall_s'] / up['wall_s']:.2f}")
PY
