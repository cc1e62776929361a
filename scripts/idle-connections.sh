#!/usr/bin/env bash
# Measure the gateway's memory per idle keep-alive connection at a larger size than the
# default test (2,000): opens N connections (default 10,000), each after one request, and
# reports VmRSS before/after and KiB per connection; fails above 16 KiB per connection or
# if a normal client is slowed. Needs about 2*N+100 file descriptors per process.
#
#   scripts/idle-connections.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
need=$(( n + 200 ))
if [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "idle-connections: ulimit -n is below $need" >&2; exit 1; }
fi
TOLLGATE_IDLE_CONNS="$n" cargo test -p tollgate --test e2e_hardening -- \
    --nocapture --exact idle_keep_alive_connections_hold_little_memory 2>&1 |
    grep -E "idle keep-alive|latency beside|test result|panicked|FAILED"
