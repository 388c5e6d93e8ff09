#!/usr/bin/env bash
# idle.sh — memory of `wavesync serve` with N Applications registered, idle
# (DESIGN.md budget: < 50 MB RSS with 1,000 applications).
#
#   bench/idle.sh [APPS]          (default 1000)
#
# Makes a Git repository with APPS Argo CD Applications (each its own folder
# with a ConfigMap, a third with manifest-generate-paths globs), starts
# `wavesync serve` on it, waits until it is ready and has been idle for 5 s,
# and prints its resident memory (VmRSS, and the peak VmHWM) and how long the
# start took. No cluster is contacted while idle, so none is started.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
apps=${1:-1000}
bin=${WAVESYNC:-}
if [ -z "$bin" ]; then
	build=$("$src/scripts/build" wavesync | tail -n 1)
	bin=$build/wavesync
fi
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

repo=$tmp/repo
mkdir -p "$repo/apps"
for i in $(seq -w 1 "$apps"); do
	team=team$((10#$i % 25))
	mkdir -p "$repo/$team/app$i"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app%s}\ndata: {rev: "1"}\n' "$i" \
		>"$repo/$team/app$i/cm.yaml"
	mgp=
	[ $((10#$i % 3)) = 0 ] && mgp="  annotations: {argocd.argoproj.io/manifest-generate-paths: \".;/shared/$team/**/*.yaml\"}"
	cat >"$repo/apps/app$i.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: app$i
$mgp
spec:
  source: {repoURL: file://$repo, targetRevision: HEAD, path: $team/app$i}
  destination: {name: far, namespace: ns$team}
  syncPolicy: {automated: {prune: true}}
YAML
done
git -C "$repo" init -q -b main
git -C "$repo" add -A
GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x git -C "$repo" commit -qm apps
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/wavesync.yaml" <<YAML
repositories:
  - {name: platform, url: "file://$repo", webhook: {secret: bench}}
clusters:
  - {name: far, server: "https://127.0.0.1:1", insecure: true, token: unused}
applications:
  - {repository: platform, path: apps}
settings: {stateDir: $tmp/state}
server: {listen: "127.0.0.1:$port"}
YAML

echo "# wavesync serve, idle, with $apps Applications"
echo "# machine: $(nproc) CPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "# command: bench/idle.sh $apps"
t0=$(date +%s%N)
"$bin" --config "$tmp/wavesync.yaml" serve 2>"$tmp/serve.err" &
pid=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.err" >&2; exit 1; }
	sleep 0.02
done
t1=$(date +%s%N)
n=$(curl -s "http://127.0.0.1:$port/api/v1/applications" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["applications"]))')
[ "$n" = "$apps" ] || { echo "expected $apps applications, the service lists $n" >&2; exit 1; }
sleep 5
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
printf 'applications       %d\n' "$apps"
printf 'ready after        %d ms (read and index every Application from Git)\n' $(((t1 - t0) / 1000000))
awk -v r="$rss" -v h="$hwm" 'BEGIN { printf "RSS idle           %.1f MB\nRSS peak (VmHWM)   %.1f MB\n", r / 1024, h / 1024 }'
