#!/usr/bin/env bash
# bench/web.sh — the web page of `wavesync serve`, measured in Debian's
# Chromium (tests/browser/measure.mjs, playwright-core): the bytes a browser
# transfers for the page; the time from navigation to the overview drawn with
# 1,000 applications (target < 300 ms), in a new browser context and in a tab
# reloaded without its cache, beside the same two for a floor page (30 rows
# drawn by a script of their own, nothing fetched: what Chromium itself takes
# here); and the service's CPU while 50 browser pages follow the event stream
# during a burst of runs, beside the same burst with no page open.
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
#   APPS, BURST, PAGES (default 50), RUNS (page loads of each kind, default 7)
#   BENCH_KEEP=1  keep the temporary directory
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
APPS=${APPS:-1000} BURST=${BURST:-100} PAGES=${PAGES:-50} RUNS=${RUNS:-7}
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
log "the floor page"
mkdir -p "$T/floor"
cat >"$T/floor/index.html" <<'HTML'
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>floor</title>
<link rel="stylesheet" href="/floor.css"><script src="/floor.js" defer></script></head>
<body><main id="main">Loading…</main></body></html>
HTML
echo 'body { font: 14px/1.4 system-ui, sans-serif; } .r { display: grid; grid-template-columns: 200px 100px 100px 100px; }' >"$T/floor/floor.css"
cat >"$T/floor/floor.js" <<'JS'
const f = document.createDocumentFragment();
for (let i = 0; i < 30; i++) {
  const r = document.createElement('div');
  r.className = 'r';
  for (const t of [`app-${i}`, 'Synced', 'Healthy', 'Idle']) { const c = document.createElement('span'); c.textContent = t; r.append(c); }
  f.append(r);
}
document.getElementById('main').replaceChildren(f);
requestAnimationFrame(() => { const ch = new MessageChannel(); ch.port1.onmessage = () => { window.__renderedAt = performance.now(); document.body.dataset.ready = '1'; }; ch.port2.postMessage(0); });
JS
fport=$(free_port)
python3 -m http.server "$fport" --bind 127.0.0.1 --directory "$T/floor" >/dev/null 2>&1 &
FLOOR_PID=$!
stop_floor() { kill "$FLOOR_PID" 2>/dev/null || true; }
bench_on_exit stop_floor
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$fport/" >/dev/null && break; sleep 0.1; done
log "the page, $RUNS loads of each kind"
page=$(WS_URL=http://127.0.0.1:$port FLOOR_URL=http://127.0.0.1:$fport RUNS=$RUNS CHROMIUM=$CHROMIUM \
	node "$REPO/tests/browser/measure.mjs" load)
stop_floor

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
log "$PAGES browser pages on the overview, following /api/v1/events"
coproc FOLLOW { WS_URL=http://127.0.0.1:$port PAGES=$PAGES CHROMIUM=$CHROMIUM exec node "$REPO/tests/browser/measure.mjs" follow 2>"$T/follow.err"; }
fpid=$FOLLOW_PID # bash unsets FOLLOW_PID when the coprocess ends
stop_follow() { kill "$fpid" 2>/dev/null || true; }
bench_on_exit stop_follow
read -r -t 900 line <&"${FOLLOW[0]}" || die "the pages did not open: $(tail -3 "$T/follow.err")"
[[ $line == ready ]] || die "the pages: $line"
# the pages have drawn their overview: let them and the service settle
for _ in $(seq 60); do
	a=$(cpu_ticks)
	sleep 1
	b=$(cpu_ticks)
	(((b - a) * 100 / $(getconf CLK_TCK) < 5)) && break
done
log "a burst of $BURST runs, $PAGES pages"
cpu1=$(burst "$BURST")
sleep 1
echo stop >&"${FOLLOW[1]}"
read -r -t 180 follow <&"${FOLLOW[0]}" || die "the pages did not report: $(tail -3 "$T/follow.err")"
wait "$fpid" 2>/dev/null || true

python3 - "$page" "$cpu0" "$cpu1" "$follow" "$APPS" "$BURST" "$FROM" "$(bench_cpu_model)" <<'PY'
import json, sys
p, f = json.loads(sys.argv[1]), json.loads(sys.argv[4])
cpu0, cpu1, apps, burst, frm, cpu = sys.argv[2], sys.argv[3], *sys.argv[5:]
print(f"wavesync web page — {frm}; {cpu}; Chromium (playwright-core), {len(p['cold']['phases'])} loads of each kind")
print(f"  page transferred: {p['transferredBytes']} bytes in all (gzip): " +
      ", ".join(f"{x['name']} {x['size']} B ({x['body']} B unpacked)" for x in p['files']))
def line(name, s):
    return f"median {s['median']:.0f} ms (min {s['min']:.0f}, max {s['max']:.0f})"
print(f"  overview of {apps} applications drawn ({p['cold']['rows']} rows first), from navigation start; target < 300 ms:")
print(f"    new browser context:        {line('cold', p['cold'])}")
print(f"    tab reloaded without cache: {line('warm', p['warm'])}")
if 'floorCold' in p:
    print(f"  floor page (30 rows from its own script, nothing fetched):")
    print(f"    new browser context:        {line('cold', p['floorCold'])}")
    print(f"    tab reloaded without cache: {line('warm', p['floorWarm'])}")
print("  per load (new context), ms: script ran, first slice read, rows built, drawn: " +
      "; ".join(", ".join(str(x) for x in ph) for ph in p["cold"]["phases"]))
ev = sorted(f["events"])
print(f"  burst of {burst} runs: service CPU {cpu0} s with no page open, {cpu1} s with {f['pages']} browser pages "
      f"following /api/v1/events (events per page: min {ev[0]}, max {ev[-1]}; page errors: {len(f['errors'])})")
PY
