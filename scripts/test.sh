#!/usr/bin/env bash
# The whole test suite: every config in configs/ validates, every crate's tests pass,
# the systemd unit verifies (scripts/verify-packaging.sh), clippy (with the workspace's no-panic
# lints) is clean, and the differential tests against
# independent implementations (scripts/differential.sh) find no unexplained disagreement.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi

echo "== build"
cargo build --workspace --all-targets

echo "== validate configs/"
for f in configs/*.yaml configs/examples/*.yaml; do
  [ -e "$f" ] || continue
  "${CARGO_TARGET_DIR:-target}/debug/tollgate" validate --config "$f"
done

echo "== packaging (systemd unit)"
scripts/verify-packaging.sh

echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings
scripts/check-layers.sh
scripts/check-fn-length.sh

echo "== tests"
cargo test --workspace

echo "== differential (independent oracles: iam-simulate, aws-jwt-verify; installs node deps)"
scripts/differential.sh
