#!/usr/bin/env bash
# Measure the gateway's memory per idle keep-alive connection at a larger size than the
# default test (2,000): opens N connections (default 9,000), each after one request, and
# reports VmRSS before/after and KiB per connection (debug build); fails above 10 KiB per
# connection or if a normal client is slowed. The gateway keeps half of its descriptors for
# upstream connections, so one worker takes about (nofile - 72) / 2 clients: N needs
# nofile >= 2*N + 200 (a hard limit of 20,000 allows N up to ~9,900).
#
#   scripts/idle-connections.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-9000}"
need=$(( 2 * n + 200 ))
if [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "idle-connections: ulimit -n is below $need" >&2; exit 1; }
fi
TOLLGATE_IDLE_CONNS="$n" cargo test -p tollgate --test e2e_hardening -- \
    --nocapture --exact idle_keep_alive_connections_hold_little_memory 2>&1 |
    grep -E "idle keep-alive|latency beside|test result|panicked|FAILED"
