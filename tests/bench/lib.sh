# Sourced by the benchmarks in tests/bench/: what each of them needs before it measures, stated
# once. A benchmark sets `work` (a scratch folder) before it seeds or proxies anything.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
endpoint=http://127.0.0.1:4566
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

# The substrate must be up (tests/substrate/up.sh); the release build is what is measured.
bench_start() {
  [[ -f tests/substrate/.state/moto.pid ]] || {
    echo "start the substrate with tests/substrate/up.sh first" >&2
    exit 1
  }
  cargo build --quiet --release
}

# moto's CPU time so far (utime + stime, in clock ticks).
moto_ticks() { awk '{print $14 + $15}' "/proc/$(cat tests/substrate/.state/moto.pid)/stat"; }

# A fresh tenant of dev_min with the emulator's `timing` (JSON): its local.toml lands in `dir`.
seed_tenant() { # tenant dir timing
  python3 tests/substrate/seed.py --endpoint "$endpoint" --tenant "$1" --out "$2" --timing "$3" \
    examples/dev_min/environment.toml 2>/dev/null
}

# Starts tests/substrate/fault_proxy.py in front of moto (extra arguments go to it) and points the
# tenant's local.toml at it, adding `latency_ms` to every AWS call when it is above 0. Sets
# proxy_pid (stop_proxy stops it, by that PID) and proxy_port.
proxy_pid=
start_proxy() { # dir latency_ms [proxy arguments...]
  local dir=$1 latency=$2
  shift 2
  python3 tests/substrate/fault_proxy.py --upstream "$endpoint" "$@" >"$dir/proxy.out" 2>&1 &
  proxy_pid=$!
  for _ in $(seq 1 100); do grep -q '^listening' "$dir/proxy.out" 2>/dev/null && break; sleep 0.1; done
  proxy_port=$(sed -n 's/^listening 127.0.0.1://p' "$dir/proxy.out")
  [[ -n $proxy_port ]] || { echo "the fault proxy did not start: $(cat "$dir/proxy.out")" >&2; exit 1; }
  if ((latency > 0)); then
    curl -s -o /dev/null -X POST -d "[{\"service\": \"*\", \"kind\": \"latency\", \"delay_ms\": $latency}]" \
      "http://127.0.0.1:$proxy_port/fault-proxy/rules"
  fi
  sed -i "s#endpoint_url = \"$endpoint\"#endpoint_url = \"http://127.0.0.1:$proxy_port\"#" "$dir/local.toml"
}

stop_proxy() {
  if [[ -n $proxy_pid ]]; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  proxy_pid=
}
trap stop_proxy EXIT

# Leaves nothing of a tenant running: its stand-in consumers would load moto in the next run.
stop_tenant() { # tenant
  python3 - "$1" "$endpoint" <<'PY'
import sys, boto3
ecs = boto3.client("ecs", endpoint_url=sys.argv[2], region_name="eu-west-2")
cluster = f"fraud-platform-{sys.argv[1]}"
for arn in ecs.list_services(cluster=cluster)["serviceArns"]:
    ecs.update_service(cluster=cluster, service=arn, desiredCount=0)
PY
}
