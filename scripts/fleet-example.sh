#!/usr/bin/env bash
# A fleet on one host: etcd and three tollgate nodes on loopback (free ports), one config
# pushed to etcd, every node serving it, a second revision pushed and followed by all, then
# everything stopped. Needs etcd (Debian: apt-get install etcd-server) and a built tollgate
# (`cargo build -p tollgate`; TOLLGATE=/path/to/tollgate to choose another binary).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
tollgate="${TOLLGATE:-}"
if [ -z "$tollgate" ]; then
  for t in "$target/release/tollgate" "$target/debug/tollgate"; do
    if [ -x "$t" ]; then tollgate="$t"; break; fi
  done
fi
[ -n "$tollgate" ] || { echo "build tollgate first: cargo build -p tollgate" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd not found: apt-get install etcd-server" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport="$(free_port)"; pport="$(free_port)"
etcd --name fleet --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "fleet=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
pids+=("$!")
url="etcd://127.0.0.1:$cport/tollgate/config"
echo "etcd on 127.0.0.1:$cport; the config key: $url"

config() { # $1: the body /prod/hello answers
  cat <<YAML
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{ bind: "127.0.0.1:8080" }]   # each node replaces it with --bind
  access_log: "off"
apis:
  - id: fleet00001
    stages: { prod: {} }
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration: { type: mock, status: 200, body: '$1' }
YAML
}
config 'first revision' >"$work/config.yaml"
for _ in $(seq 100); do   # etcd takes a moment to elect itself leader
  rev="$("$tollgate" push --config "$work/config.yaml" "$url" --expect-revision 0 2>/dev/null)" && break
  sleep 0.1
done
[ -n "${rev:-}" ] || { echo "push failed; etcd log:" >&2; cat "$work/etcd.log" >&2; exit 1; }
echo "pushed revision $rev"

listen=(); admin=()
for n in 1 2 3; do
  "$tollgate" serve --config "$url" --bind 127.0.0.1:0 --admin-bind 127.0.0.1:0 \
    --workers 1 --no-pin 2>"$work/node$n.log" &
  pids+=("$!")
  for _ in $(seq 100); do
    l="$(sed -n 's#.*listening on http://\([0-9.:]*\).*#\1#p' "$work/node$n.log" | head -1)"
    a="$(sed -n 's#.*admin on http://\([0-9.:]*\).*#\1#p' "$work/node$n.log" | head -1)"
    [ -n "$l" ] && [ -n "$a" ] && break
    sleep 0.1
  done
  [ -n "$l" ] && [ -n "$a" ] || { echo "node $n did not start:" >&2; cat "$work/node$n.log" >&2; exit 1; }
  listen+=("$l"); admin+=("$a")
  echo "node $n: traffic on $l, admin on $a"
done

show() {
  for i in 0 1 2; do
    printf 'node %d: %s  %s\n' "$((i + 1))" "$(curl -s "http://${listen[$i]}/prod/hello")" \
      "$(curl -s "http://${admin[$i]}/config")"
  done
}
show

config 'second revision' >"$work/config.yaml"
rev2="$("$tollgate" push --config "$work/config.yaml" "$url" --expect-revision "$rev")"
echo "pushed revision $rev2 (compare-and-swap on $rev)"
for _ in $(seq 100); do
  done_=0
  for i in 0 1 2; do
    curl -s "http://${admin[$i]}/config" | grep -q "\"revision\":$rev2" && done_=$((done_ + 1))
  done
  [ "$done_" -eq 3 ] && break
  sleep 0.05
done
show
if "$tollgate" push --config "$work/config.yaml" "$url" --expect-revision "$rev" >/dev/null; then
  echo "a stale push was accepted" >&2; exit 1
fi
echo "a push expecting the old revision $rev was refused (exit 3)"
echo "stopping"
