#!/usr/bin/env bash
# Crude check that no function on the gateway's request path is longer than MAX lines
# (default 80): a function starts at a line `fn NAME` (any visibility, async, const) and ends
# at the first later line holding only `}` at the same indentation. Code after a module's
# `#[cfg(test)]` and `tests.rs` files are skipped. Rustfmt's layout is assumed.
set -euo pipefail
cd "$(dirname "$0")/../crates/tollgate-gateway/src"
MAX=${MAX:-80}
FILES=(conn.rs h2.rs http1.rs response.rs responses.rs error.rs body.rs accesslog.rs io.rs wire.rs
       proxy_protocol.rs router.rs pipeline auth client)
# Known exceptions, each with why it is left (file:function).
ALLOW=(
  "auth/cognito/mod.rs:build"        # configuration time (snapshot build), not per request
  "auth/lambda/event.rs:request_event" # one JSON literal of the authorizer event
  "proxy_protocol.rs:parse_v2"       # PROXY v2 header parser, once per connection; to split
  "auth/lambda/mod.rs:cached_or_call" # cache / single-flight protocol; to split
)
fail=0
while IFS= read -r file; do
  out=$(awk -v max="$MAX" -v file="$file" '
    /^#\[cfg\(test\)\]/ { exit }
    {
      if (!infn && match($0, /^[ \t]*(pub(\([a-z]+\))? )?(const )?(async )?(unsafe )?fn [A-Za-z_][A-Za-z0-9_]*/)) {
        infn = 1; start = NR; match($0, /^[ \t]*/); indent = RLENGTH
        name = $0; sub(/^.*fn /, "", name); sub(/[^A-Za-z0-9_].*$/, "", name)
        # a one-line signature ending in ; (trait method without body) is no function body
        if ($0 ~ /;[ \t]*$/) { infn = 0 }
        next
      }
      if (infn) {
        match($0, /^[ \t]*/)
        if (RLENGTH == indent && $0 ~ /^[ \t]*\}[ \t]*$/) {
          len = NR - start + 1
          if (len > max) printf "%s:%d: fn %s is %d lines (over %d)\n", file, start, name, len, max
          infn = 0
        }
      }
    }' "$file")
  for a in "${ALLOW[@]}"; do
    out=$(grep -v "^${a%%:*}:[0-9]*: fn ${a#*:} is" <<<"$out" || true)
  done
  if [[ -n "$out" ]]; then
    echo "$out" >&2
    fail=1
  fi
done < <(find "${FILES[@]}" -name '*.rs' ! -name tests.rs | sort)
if (( fail )); then
  exit 1
fi
echo "check-fn-length: no request-path function over $MAX lines"
