#!/usr/bin/env bash
# Run every fuzz target in fuzz/ for a short time (cargo-fuzz / libFuzzer).
#
#   scripts/fuzz.sh                 # every target, 20 s each
#   scripts/fuzz.sh 300             # every target, 300 s each
#   scripts/fuzz.sh 60 jws chunked  # some targets
#
# Installs cargo-fuzz if it is missing. cargo-fuzz needs nightly-only flags
# (-Zsanitizer=address); on the stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# The committed corpus in fuzz/corpus/<target>/ is read as seeds only: new inputs go to
# target/fuzz/corpus/<target>/ (outside git), crashes to fuzz/artifacts/<target>/
# (ignored by git; a crash makes this script exit non-zero and prints its reproducer).
# Reproduce one:  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${1:-20}"
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

tdir="$root/target/fuzz"
start=$(date +%s)
(cd fuzz && cargo fuzz build -O --target-dir "$tdir")
echo "fuzz: build took $(( $(date +%s) - start )) s" >&2

# Extra seeds from the conformance data in testdata/: RFC 7515 tokens, the developer guide's
# policies, the SigV4 suite's Authorization headers.
shared="$root/testdata"
if [ -d "$shared" ]; then
    python3 - "$shared" "$tdir/corpus" <<'PY'
import json, pathlib, re, sys
shared, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def put(target, name, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
jws = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")
def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
for f in (shared / "rfc7515-appendix-a").glob("*.json"):
    for i, s in enumerate(s for s in strings(json.loads(f.read_text())) if jws.match(s)):
        put("jws", f"shared-rfc7515-{i}", s.encode())
for f in (shared / "apigw-devguide-examples" / "json").glob("*.json"):
    put("policy_parse", "shared-" + f.name, f.read_bytes())
for f in (shared / "aws-sig-v4-test-suite" / "botocore-aws4_testsuite-legacy").glob("*/*.authz"):
    put("sigv4_authorization", "shared-" + f.name, f.read_bytes())
PY
fi

failed=()
for t in "${targets[@]}"; do
    work="$tdir/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t"
    echo "fuzz: $t for ${secs}s" >&2
    if ! (cd fuzz && cargo fuzz run -O --target-dir "$tdir" "$t" "$work" "corpus/$t" -- \
            -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 2>&1 | grep -v -E '^ +(#?[0-9]+:? |at )' | tail -n 25); then
        failed+=("$t")
    fi
done
echo "fuzz: ${#targets[@]} targets, ${secs}s each, total $(( $(date +%s) - start )) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
