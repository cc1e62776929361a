#!/usr/bin/env bash
# Checks the layering of crates/tollgate-gateway/src: every `crate::<module>` a module names
# (in `use` lines or inline paths, outside its `#[cfg(test)]` part and `tests.rs` files) must sit in a lower layer
# than the module itself, so that the crate has no import circle. Fails on an upward or
# sideways import and names it. The layers, lowest first (one line per layer):
set -euo pipefail
cd "$(dirname "$0")/../crates/tollgate-gateway/src"

LAYERS=(
  "error ids wire logging router proxy_protocol threads response alloc_count idle"
  "io metrics responses"
  "body client accesslog http1 bufpool"
  "auth"
  "snapshot"
  "shared"
  "state"
  "pipeline"
  "conn h2"
  "tls"
  "worker"
  "admin"
  "lib"
)

declare -A rank
for i in "${!LAYERS[@]}"; do
  for m in ${LAYERS[$i]}; do
    rank[$m]=$i
  done
done

fail=0
while IFS= read -r file; do
  # The top-level module a file belongs to: src/auth/iam/mod.rs -> auth, src/conn.rs -> conn.
  top=${file%%/*}
  top=${top%.rs}
  if [[ -z "${rank[$top]:-}" ]]; then
    echo "check-layers: $file: module '$top' is in no layer (add it to scripts/check-layers.sh)" >&2
    fail=1
    continue
  fi
  # Code before the test module, comments dropped; `crate::{a, b::c}` lists flattened.
  deps=$(awk '/^#\[cfg\(test\)\]/ { exit } { sub(/\/\/.*/, ""); print }' "$file" |
    grep -oE 'crate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)' |
    sed -E 's/^crate:://; s/[{}]//g' | tr ',' '\n' | sed -E 's/^[[:space:]]*//; s/::.*//' |
    grep -v '^$' | sort -u || true)
  for dep in $deps; do
    [[ "$dep" == "$top" || "$dep" == "self" ]] && continue
    # `crate::Name` (an item of the crate root) counts as the root.
    if [[ "$dep" =~ ^[A-Z] || -z "${rank[$dep]:-}" ]]; then
      if [[ -f "$dep.rs" || -d "$dep" ]]; then
        echo "check-layers: $file: module '$dep' is in no layer" >&2
        fail=1
        continue
      fi
      dep=lib
    fi
    if (( ${rank[$dep]} >= ${rank[$top]} )); then
      echo "check-layers: $file ($top, layer ${rank[$top]}) imports crate::$dep (layer ${rank[$dep]}): not below it" >&2
      fail=1
    fi
  done
done < <(find . -name '*.rs' ! -name tests.rs | sed 's|^\./||' | sort)

if (( fail )); then
  exit 1
fi
echo "check-layers: tollgate-gateway modules import only lower layers"
