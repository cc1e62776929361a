#!/usr/bin/env bash
# Runs every scenario of docs' benchmarking guide against tollgate alone, with tollgate-load
# and its stubs, and prints one table per scenario (JSON under $OUT). For side-by-side peer
# comparisons use scripts/bench-all.sh; this is the quick, tollgate-only version.
#
#   loadtest/scripts/scenarios.sh                    # all: mock proxy jwt-1 jwt-10k token ip sigv4-1 sigv4-1k hotswap
#   loadtest/scripts/scenarios.sh mock token         # only these
#
# Env (defaults): DURATION=5s WARMUP=1s RATE=2000 CONNECTIONS=16 GW_CPU=1 LOAD_CPU=0 CIDRS=1000
#   TOLLGATE=target/release/tollgate  LOAD=target/release/tollgate-load  OUT=/tmp/tollgate-scenarios
# Binds 127.0.0.1 ports 18080 (gateway), 18081 (origin), 19000 (authorizer), 19901 (admin).
# Kills only the processes it started (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-1s}"
RATE="${RATE:-2000}"
CONNECTIONS="${CONNECTIONS:-16}"
GW_CPU="${GW_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
TOLLGATE="${TOLLGATE:-$PWD/target/release/tollgate}"
LOAD="${LOAD:-$PWD/target/release/tollgate-load}"
OUT="${OUT:-/tmp/tollgate-scenarios}"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(mock proxy jwt-1 jwt-10k token ip sigv4-1 sigv4-1k hotswap)

for b in "$TOLLGATE" "$LOAD"; do
  [ -x "$b" ] || { echo "missing $b: cargo build --release -p tollgate -p tollgate-loadtest" >&2; exit 1; }
done
mkdir -p "$OUT/keys"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
# Starts "$@" in the background pinned to CPU $1, stderr to $2; records its PID (taskset
# execs the program, so the PID is the program's own).
bg() {
  local cpu=$1 log=$2; shift 2
  if command -v taskset >/dev/null; then taskset -c "$cpu" "$@" >/dev/null 2>"$log" &
  else "$@" >/dev/null 2>"$log" & fi
  PIDS+=($!)
}
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

# Keys: RSA (openssl, PKCS#8 PEM), ES256/Ed25519 (ring), and the JWKS of all three.
[ -f "$OUT/keys/rs256.der" ] || "$LOAD" keygen --out-dir "$OUT/keys"
# 1,000 access keys for one identity.
if [ ! -f "$OUT/keys.txt" ]; then
  for i in $(seq 1 1000); do printf 'AKIDLOAD%08d:loadSecret%08dForTheScenarioRuns00\n' "$i" "$i"; done >"$OUT/keys.txt"
fi
head -1 "$OUT/keys.txt" >"$OUT/key1.txt"

# IP resource policy whose condition lists N CIDRs (only the last matches 127.0.0.1).
ip_policy() {
  python3 - "$1" <<'EOF'
import json, sys
n = int(sys.argv[1])
cidrs = [f"10.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(n - 1)] + ["127.0.0.0/8"]
print(json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "arn:aws:execute-api:*:*:*/*/GET/ip",
     "Condition": {"IpAddress": {"aws:SourceIp": cidrs}}}]}))
EOF
}
ip_policy "${CIDRS:-1000}" >"$OUT/policy.json"

{
  cat <<EOF
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:18080"
  admin:
    bind: "127.0.0.1:19901"
  access_log: "off"
identities:
  - arn: "arn:aws:iam::123456789012:user/load"
    access_keys:
EOF
  sed 's/^\([^:]*\):\(.*\)$/      - { id: \1, secret: "\2" }/' "$OUT/keys.txt"
  cat <<EOF
    policies:
      - Version: "2012-10-17"
        Statement:
          - { Effect: Allow, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }
authorizers:
  - name: users
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    jwks: { file: "$OUT/keys/jwks.json" }
    identity_source: "method.request.header.Authorization"
    ttl_seconds: 300
  - name: tokens
    type: TOKEN
    function_url: "http://127.0.0.1:19000/2015-03-31/functions/function/invocations"
    identity_source: "method.request.header.Authorization"
    identity_validation_expression: "^Bearer [-0-9a-zA-Z._]*\$"
    ttl_seconds: 300
    timeout_ms: 2000
apis:
  - id: loadapi001
    name: load
    hosts: ["*"]
    stages:
      prod:
        variables: { backend: "127.0.0.1:18081" }
    routes:
      - { path: /hello, methods: [GET], authorization: NONE, integration: { type: mock, status: 200, body: '{"ok":true}' } }
      - { path: /proxy, methods: [GET], authorization: NONE, integration: { type: http_proxy, uri: "http://\${stageVariables.backend}/x" } }
      - { path: /jwt, methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: users, integration: { type: mock, status: 200, body: '{"ok":true}' } }
      - { path: /token, methods: [GET], authorization: CUSTOM, authorizer: tokens, integration: { type: mock, status: 200, body: '{"ok":true}' } }
      - { path: /iam, methods: [GET], authorization: AWS_IAM, integration: { type: mock, status: 200, body: '{"ok":true}' } }
  # Selected by Host "localhost": the same mock behind an IP resource policy.
  - id: ipapi00001
    name: ip
    hosts: ["localhost"]
    stages:
      prod:
        variables: {}
    resource_policy_file: "$OUT/policy.json"
    routes:
      - { path: /ip, methods: [GET], authorization: NONE, integration: { type: mock, status: 200, body: '{"ok":true}' } }
EOF
} >"$OUT/gateway.yaml"
"$TOLLGATE" validate --config "$OUT/gateway.yaml" >/dev/null

bg "$LOAD_CPU" "$OUT/origin.log" "$LOAD" origin --bind 127.0.0.1:18081 --lifetime 1h
bg "$LOAD_CPU" "$OUT/authorizer.log" "$LOAD" authorizer --bind 127.0.0.1:19000 --delay-ms 1 --lifetime 1h
bg "$GW_CPU" "$OUT/gateway.log" "$TOLLGATE" serve --config "$OUT/gateway.yaml" --workers 1
wait_port 18081; wait_port 19000; wait_port 18080

G=http://127.0.0.1:18080/prod
load() {
  local name=$1 url=$2; shift 2
  echo "== $name"
  pin "$LOAD_CPU" "$LOAD" run --url "$url" --rate "$RATE" --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup "$WARMUP" --quiet --json "$OUT/$name.json" "$@"
}
count() { curl -s http://127.0.0.1:19000/count 2>/dev/null || python3 -c 'import urllib.request;print(urllib.request.urlopen("http://127.0.0.1:19000/count").read().decode().strip())'; }

for s in "${SCENARIOS[@]}"; do
  case "$s" in
    mock) load mock "$G/hello" ;;
    proxy) load proxy "$G/proxy" ;;
    jwt-1) load jwt-1 "$G/jwt" --jwt-key "$OUT/keys/rs256.der" --jwt-kid rs256 --jwt-distinct 1 ;;
    jwt-10k) load jwt-10k "$G/jwt" --jwt-key "$OUT/keys/rs256.der" --jwt-kid rs256 --jwt-distinct 10000 ;;
    token)
      before=$(count)
      load token "$G/token" --token-prefix allow --token-distinct 1000
      echo "authorizer invocations: $(( $(count) - before )) (1000 distinct tokens, ttl 300 s)" ;;
    ip) load ip "http://localhost:18080/prod/ip" ;;
    sigv4-1) load sigv4-1 "$G/iam" --sigv4 --keys-file "$OUT/key1.txt" ;;
    sigv4-1k) load sigv4-1k "$G/iam" --sigv4 --keys-file "$OUT/keys.txt" ;;
    hotswap) load hotswap "$G/hello" --swap-config "$OUT/gateway.yaml" --swap-per-sec 10 \
               --admin-url http://127.0.0.1:19901/config --fail-on-errors ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
echo "JSON reports in $OUT"
