#!/usr/bin/env bash
# A/B of two tollgate builds on the mock (or proxy) scenario, alternating runs on the same
# machine state: the gateway on CPU 1, the generators on CPU 0, 6 s per run, tollgate-load then
# wrk. Used for docs/benchmarks/tuning.md ("The request-pipeline restructure").
#
#   scripts/bench/ab.sh BEFORE_BINARY AFTER_BINARY [mock|proxy] [RUNS]
#
# The proxy scenario starts `tollgate-load origin` on CPU 0. Binds 127.0.0.1:27080/27081/27090.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=$1 after=$2 scn=${3:-mock} runs=${4:-3}
load=${TOLLGATE_LOAD:-target/release/tollgate-load}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
sed 's/@@LISTEN@@/127.0.0.1:27080/; s/@@ADMIN@@/127.0.0.1:27081/; s/@@ORIGIN@@/127.0.0.1:27090/' \
  "bench/peers/tollgate/$scn.yaml" > "$work/gw.yaml"
if [ "$scn" = proxy ]; then
  taskset -c 0 "$load" origin --bind 127.0.0.1:27090 >/dev/null 2>&1 &
  sleep 0.5
fi
one() {
  taskset -c 1 "$2" serve --config "$work/gw.yaml" --workers 1 2>/dev/null &
  local gp=$!
  sleep 0.7
  taskset -c 0 "$load" run --url http://127.0.0.1:27080/prod/bench --concurrency 64 \
    --duration 6s --warmup 1s --quiet --json "$work/load.json" >/dev/null 2>&1
  local r
  r=$(python3 -c "import json,sys;print(round(json.load(open(sys.argv[1]))['throughput_rps']))" "$work/load.json")
  local w
  w=$(taskset -c 0 wrk -t1 -c64 -d6s http://127.0.0.1:27080/prod/bench | awk '/Requests\/sec/ {print $2}')
  kill "$gp"; wait "$gp" 2>/dev/null || true
  echo "$1 $scn tollgate-load=$r wrk=$w"
}
for _ in $(seq "$runs"); do
  one before "$before"
  one after "$after"
done
