#!/usr/bin/env bash
# bench/web.sh — the web page of `wavesync serve`, measured in Debian's
# Chromium (tests/browser/measure.mjs, playwright-core): the bytes a browser
# transfers for the page, the time from navigation to the overview drawn with
# 1,000 applications (target < 300 ms), and the service's CPU while 50 readers
# follow the event stream during a burst of runs, beside the same burst with
# none.
#
# Usage: bench/web.sh
#
# The repository holds APPS (default 1000) Applications, each one ConfigMap,
# all to the dev cluster; BURST (default 100) of them are synced at once through
# the API. CPU is the service's user+system time (/proc/PID/stat) from the
# burst's first request until every run has ended.
#
# Environment:
#   WAVESYNC   binary (default: build the tree like scripts/check)
#   APPS, BURST, READERS (default 50), RUNS (page loads, default 5)
#   BENCH_KEEP=1  keep the temporary directory
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
APPS=${APPS:-1000} BURST=${BURST:-100} READERS=${READERS:-50} RUNS=${RUNS:-5}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for t in git python3 node curl; do command -v "$t" >/dev/null || die "$t not found"; done
[[ -x $CHROMIUM ]] || die "no Chromium at $CHROMIUM (scripts/install-deps installs it)"
if [[ ! -d $REPO/tests/browser/node_modules/playwright-core ]]; then
	(cd "$REPO/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null) ||
		die "npm ci in tests/browser failed"
fi

bench_init web
bench_wavesync
bench_cluster_up "$T/cluster"

log "a repository of $APPS Applications"
work=$T/repo
mkdir -p "$work/apps"
git init -q -b main "$work"
python3 - "$work" "$APPS" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = f"app-{i:04d}"
    os.makedirs(f"{root}/{name}")
    with open(f"{root}/apps/{name}.yaml", "w") as f:
        f.write(f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
  labels: {{team: team-{i % 7}, tier: {'gpu' if i % 3 == 0 else 'cpu'}}}
spec:
  source: {{repoURL: {root}, targetRevision: HEAD, path: {name}}}
  destination: {{name: in-cluster, namespace: bench-web-{i % 10}}}
  syncPolicy: {{syncOptions: [CreateNamespace=true]}}
""")
    with open(f"{root}/{name}/cm.yaml", "w") as f:
        f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: '1'}}\n")
PY
git -C "$work" add -A && git -C "$work" -c user.name=b -c user.email=b@b commit -qm apps
port=$(free_port)
token=bench-$RANDOM$RANDOM
cat >"$T/wavesync.yaml" <<YAML
repositories:
  - {name: bench, url: $work}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: bench, path: apps}
settings: {stateDir: $T/state, pollInterval: 0, concurrency: 4}
server:
  listen: 127.0.0.1:$port
  apiToken: "$token"
  rateLimit: {perSecond: 100000, burst: 100000}
YAML
"$WS" --config "$T/wavesync.yaml" --log-level warn serve 2>"$T/serve.err" &
WS_PID=$!
stop_serve() { kill "$WS_PID" 2>/dev/null || true; wait "$WS_PID" 2>/dev/null || true; }
bench_on_exit stop_serve
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || die "serve did not start: $(tail -3 "$T/serve.err")"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WS_PID/stat"; }
# the page is measured once the service has settled: at the start it renders
# every application once to follow its live state (busy for a while with 1,000)
log "waiting for the service to settle"
for _ in $(seq 300); do
	a=$(cpu_ticks)
	sleep 2
	b=$(cpu_ticks)
	(((b - a) * 100 / $(getconf CLK_TCK) / 2 < 5)) && break
done
log "the page, $RUNS loads"
page=$(WS_URL=http://127.0.0.1:$port RUNS=$RUNS CHROMIUM=$CHROMIUM node "$REPO/tests/browser/measure.mjs")

idle_all() { # every application idle
	for _ in $(seq 3000); do
		curl -s "http://127.0.0.1:$port/api/v1/applications" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(a["state"] == "Idle" for a in d["applications"]) else 1)' && return 0
		sleep 0.2
	done
	return 1
}
burst() { # first -> seconds of CPU (user+system) for BURST syncs
	local first=$1 t0 t1 i
	t0=$(cpu_ticks)
	for ((i = first; i < first + BURST; i++)); do
		curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" \
			"http://127.0.0.1:$port/api/v1/applications/$(printf 'app-%04d' "$i")/sync"
	done
	idle_all || die "the burst did not end"
	t1=$(cpu_ticks)
	python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK), 2))"
}
log "a burst of $BURST runs, no reader"
cpu0=$(burst 0)
log "$READERS readers on /api/v1/events"
rpids=()
for ((i = 0; i < READERS; i++)); do
	curl -sN "http://127.0.0.1:$port/api/v1/events" >"$T/reader-$i.sse" 2>/dev/null &
	rpids+=($!)
done
sleep 1
log "a burst of $BURST runs, $READERS readers"
cpu1=$(burst "$BURST")
sleep 0.5
events=$(grep -c '^event: ' "$T/reader-0.sse" || true)
kill "${rpids[@]}" 2>/dev/null || true
wait "${rpids[@]}" 2>/dev/null || true
bytes_each=$(stat -c %s "$T/reader-0.sse")

python3 - "$page" "$cpu0" "$cpu1" "$events" "$bytes_each" "$APPS" "$BURST" "$READERS" "$FROM" "$(bench_cpu_model)" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
cpu0, cpu1, events, per, apps, burst, readers, frm, cpu = sys.argv[2:]
print(f"wavesync web page — {frm}; {cpu}; Chromium (playwright-core), {p['runs']} loads")
print(f"  page transferred: {p['transferredBytes']} bytes in all (gzip): " +
      ", ".join(f"{f['name']} {f['size']} B ({f['body']} B unpacked)" for f in p['files']))
print(f"  overview with {p['rows']} applications drawn: median {p['medianRenderMs']:.0f} ms "
      f"(min {p['minRenderMs']:.0f}, max {p['maxRenderMs']:.0f}) from navigation start; target < 300 ms; "
      f"every row built: median {p['medianAllRowsMs']:.0f} ms")
print("    per load, ms from navigation start: script ran, list asked, list read, drawn: " +
      "; ".join(", ".join(str(x) for x in ph) for ph in p["phases"]))
print(f"  burst of {burst} runs: service CPU {cpu0} s with no reader, {cpu1} s with {readers} readers "
      f"of /api/v1/events ({events} events, {int(per) // 1024} KiB to each reader)")
PY
