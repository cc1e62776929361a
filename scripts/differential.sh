#!/usr/bin/env bash
# Standing differential tests against independent implementations (issue 13):
#
#   * IAM: generated identity and resource policies, callers and requests, sent end to end
#     through the real gateway (SigV4-signed by the aws-sigv4 crate) and compared with
#     @cloud-copilot/iam-simulate, combined by API Gateway's Tables A/B (docs/policies.md).
#   * JWT: generated Cognito tokens and systematic mutations, verified by the gateway's
#     Cognito authorizer and by aws-jwt-verify's CognitoJwtVerifier (docs/authorizers.md).
#
# The node packages are test-only oracles, pinned in scripts/differential/package-lock.json
# and never linked into tollgate. The run fails when any disagreement is unexplained.
#
# Usage: scripts/differential.sh [--cases N] [--jwt-cases M] [--seed S] [--verbose]
#   --cases N      IAM cases (default 1200); JWT cases default to N/3 (400)
#   --jwt-cases M  JWT cases
#   --seed S       generator seed (default 20261130): the same seed gives the same cases
#   --verbose      print every disagreement (explained ones too) and per-mutation counts
set -euo pipefail
cd "$(dirname "$0")/.."

iam_cases=1200
jwt_cases=""
seed=20261130
verbose=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) iam_cases="${2:?--cases needs a number}"; shift 2 ;;
    --jwt-cases) jwt_cases="${2:?--jwt-cases needs a number}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --verbose) verbose=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "differential.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$iam_cases" "$seed" ${jwt_cases:+"$jwt_cases"}; do
  case "$n" in ''|*[!0-9]*) echo "differential.sh: not a number: $n" >&2; exit 2 ;; esac
done
jwt_cases="${jwt_cases:-$((iam_cases / 3))}"

# node (>= 18) and npm: install them on a fresh machine when we may.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== differential: installing nodejs and npm (apt-get)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
  else
    echo "differential.sh: node and npm are required (install nodejs >= 18)" >&2
    exit 1
  fi
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  echo "differential.sh: node >= 18 is required, found $(node --version)" >&2
  exit 1
fi

echo "== differential: npm ci (scripts/differential)"
(cd scripts/differential && npm ci --no-audit --no-fund --loglevel=error)

echo "== differential: build"
cargo build -p tollgate --bin tollgate --test differential

summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
echo "== differential: iam $iam_cases cases, jwt $jwt_cases cases, seed $seed"
start=$(date +%s)
status=0
DIFF_SEED="$seed" DIFF_IAM_CASES="$iam_cases" DIFF_JWT_CASES="$jwt_cases" \
  DIFF_VERBOSE="$verbose" DIFF_SUMMARY="$summary" \
  cargo test -p tollgate --test differential -- --ignored --nocapture --test-threads 1 \
  || status=$?
elapsed=$(( $(date +%s) - start ))

line() {
  awk -v k="$1" '$1 == k { printf "%s %s cases, %s unexplained", k, $2, $3; found = 1 }
                 END { if (!found) printf "%s not completed", k }' "$summary"
}
echo "differential: $(line iam); $(line jwt) (seed $seed, ${elapsed}s)"
exit "$status"
