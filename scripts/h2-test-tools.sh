#!/usr/bin/env bash
# Installs the independent HTTP/2 clients that `cargo test -p tollgate-h2` drives (curl with
# HTTP/2, nghttp from nghttp2-client, Python with the h2 package) when they are missing, on a
# machine where we may (root with apt-get). Meant to run before the test suite.
set -euo pipefail

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nghttp >/dev/null 2>&1 || need+=(nghttp2-client)
have_py_h2=false
for py in python3 /usr/bin/python3; do
  if "$py" -c "import h2, hpack, hyperframe" >/dev/null 2>&1; then have_py_h2=true; break; fi
done
$have_py_h2 || need+=(python3-h2)

if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== h2 test tools: installing ${need[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "h2-test-tools.sh: missing ${need[*]} (apt-get install -y ${need[*]})" >&2
  exit 1
fi
