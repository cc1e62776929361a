#!/usr/bin/env bash
# Runs Debian's testssl.sh against an HTTPS listener of the gateway and fails on any HIGH or
# CRITICAL finding, except the ones about the throwaway test certificate listed in ALLOWED.
#
# The gateway (the debug build `cargo test` leaves in the target directory) serves a mock
# route on 127.0.0.1 with an ECDSA P-256 and an RSA-2048 certificate for `localhost` from a
# private CA made here (`--add-ca` makes testssl trust it). The certificates carry a CRL
# distribution point URL that nothing serves: testssl's revocation finding is about this test
# certificate, not about the gateway's TLS.
set -euo pipefail
cd "$(dirname "$0")/.."

# Findings (testssl ids) that concern the test certificate only:
# - cert_revocation / cert_crlDistributionPoints / cert_ocspURL: the private test CA runs no
#   CRL or OCSP service;
# - cert_chain_of_trust: kept in case a testssl version ignores --add-ca for one of its
#   checks (the CA is made here, so no public store knows it).
ALLOWED="cert_revocation cert_crlDistributionPoints cert_ocspURL cert_chain_of_trust"

TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$TESTSSL" ]; then
  echo "testssl: testssl.sh is not installed (apt-get install -y testssl.sh)" >&2
  exit 1
fi
BIN="${CARGO_TARGET_DIR:-target}/debug/tollgate"
[ -x "$BIN" ] || cargo build -p tollgate
BIN=$(realpath "$BIN")
work=$(mktemp -d)
gw_pid=""
cleanup() {
  if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 400 -subj "/CN=tollgate testssl CA" 2>/dev/null
cat > leaf.ext <<EXT
subjectAltName=DNS:localhost,IP:127.0.0.1
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
crlDistributionPoints=URI:http://127.0.0.1:9/testssl.crl
EXT
for kind in ec rsa; do
  if [ "$kind" = ec ]; then key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else key=(-newkey rsa:2048); fi
  openssl req "${key[@]}" -nodes -keyout "$kind.key" -out "$kind.csr" -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$kind.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$kind.pem" \
    -days 365 -extfile leaf.ext 2>/dev/null
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > config.yaml <<CFG
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:$port"
      tls:
        certificates:
          - { cert_file: ec.pem, key_file: ec.key }
          - { cert_file: rsa.pem, key_file: rsa.key }
  admin: { bind: "127.0.0.1:$admin" }
  access_log: off
apis:
  - id: testssl001
    hosts: ["*"]
    stages: { prod: { variables: {} } }
    routes:
      - { path: /, methods: [GET, HEAD], authorization: NONE, integration: { type: mock, status: 200, body: ok } }
CFG
"$BIN" serve --config config.yaml 2> gateway.log &
gw_pid=$!
for _ in $(seq 1 100); do
  if curl -s --cacert ca.pem --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/prod/" >/dev/null; then break; fi
  sleep 0.1
done

echo "== testssl ($TESTSSL) against https://localhost:$port"
"$TESTSSL" --quiet --color 0 --warnings off --add-ca ca.pem --ip 127.0.0.1 \
  --jsonfile "$work/testssl.json" "localhost:$port" > testssl.txt 2>&1 || true
if ! kill -0 "$gw_pid" 2>/dev/null; then cat gateway.log >&2; fi
python3 - "$work/testssl.json" "$ALLOWED" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
allowed = set(sys.argv[2].split())
bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
for f in bad:
    tag = "allowed (test certificate)" if f["id"] in allowed else "FAIL"
    print(f"testssl: {f['severity']} {f['id']}: {f.get('finding', '')} [{tag}]")
failing = [f for f in bad if f["id"] not in allowed]
checks = len(findings)
if checks < 20:
    print(f"testssl: only {checks} results: the scan did not run", file=sys.stderr)
    sys.exit(1)
if failing:
    sys.exit(1)
print(f"testssl: {checks} results, no HIGH or CRITICAL finding beyond the test certificate's")
PY
