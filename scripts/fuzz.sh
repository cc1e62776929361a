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
