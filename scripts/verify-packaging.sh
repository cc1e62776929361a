#!/usr/bin/env bash
# Checks packaging/tollgate.service with `systemd-analyze verify` (skipped, with a message,
# where systemd-analyze is absent). Any warning fails the check, not only a non-zero exit:
# systemd-analyze reports unknown keys and bad values on stderr and still exits 0.
# ExecStart is pointed at the binary built in this tree so that its existence is checked too.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIPPED: systemd-analyze not found; packaging/tollgate.service not verified"
  exit 0
fi
built="${CARGO_TARGET_DIR:-target}/debug/tollgate"
if [ -x "$built" ]; then bin="$(cd "$(dirname "$built")" && pwd)/tollgate"; else bin=/bin/true; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check() { # unit file -> prints systemd-analyze's complaints, exit status 1 when there are any
  local out rc=0
  out="$(systemd-analyze verify "$1" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    return 1
  fi
}

sed "s#/usr/local/bin/tollgate#$bin#g" packaging/tollgate.service > "$tmp/tollgate.service"
if ! check "$tmp/tollgate.service"; then
  echo "FAIL: packaging/tollgate.service does not verify" >&2
  exit 1
fi
# The check itself must be able to fail: a unit with an unknown key is refused.
sed 's#^\[Service\]#[Service]\nNoSuchKey=1#' "$tmp/tollgate.service" > "$tmp/broken.service"
if check "$tmp/broken.service" >/dev/null; then
  echo "FAIL: systemd-analyze verify accepted a unit with an unknown key; the check proves nothing" >&2
  exit 1
fi
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' packaging/tollgate.service
grep -q '^KillSignal=SIGTERM' packaging/tollgate.service
echo "packaging/tollgate.service: verified by systemd-analyze ($(systemd-analyze --version | head -1))"
