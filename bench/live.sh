#!/usr/bin/env bash
# bench/live.sh — live state at scale: A applications × P objects (default
# 100 × 100 = 10,000 managed objects) tracked by one `wavesync serve`: its RSS
# once every application is Synced, its CPU while idle, and a burst of B
# (default 1,000) changes to objects it does not manage, which must be
# absorbed without applying anything. (Design targets: < 100 MB RSS, < 1 % CPU
# idle.)
#
# Usage: bench/live.sh [A [P [B]]]
#
# A minimal tests/devcluster and tests/e2e/fakectl (the controllers) in a
# temporary directory; a Git repository with A automated applications, each a
# namespace of P objects (60 % ConfigMaps of about 1 KB, 20 % headless Services (a dev cluster
# has a /24 of service IPs), 20 %
# model-server Deployments); one `wavesync sync` applies all of them; then
# `wavesync serve` starts, rebuilds the live state from the cluster (plan-only
# runs, one list+watch per resource type) and must report every application
# Synced and Healthy. Measured: the time until then, RSS (VmRSS, and VmHWM the
# peak), CPU over IDLE seconds (default 60), then B ConfigMaps created and
# changed in a namespace no application uses: CPU during the burst, and no run
# may start (the runs count is checked). The exit status is 1 when a check
# fails.
#
# Environment: WAVESYNC, FAKECTL (binaries; default: build the tree like
# scripts/check), IDLE (seconds, default 60), BENCH_KEEP=1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
A=${1:-100}
P=${2:-100}
B=${3:-1000}
IDLE=${IDLE:-60}
for v in A P B IDLE; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number (got '${!v}')"; done
calc() { python3 -c "print(round($1, 2))"; }
bench_init wavesync-bench-live
bench_wavesync
bench_cluster_up "$T/cluster"
bench_fakectl

work=$T/repo
log "generating $A applications x $P objects"
python3 - "$work" "$A" "$P" <<'PY'
import os, sys
work, a, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{work}/apps", exist_ok=True)
for i in range(a):
    name = f"app{i:03d}"
    os.makedirs(f"{work}/{name}", exist_ok=True)
    with open(f"{work}/apps/{name}.yaml", "w") as f:
        f.write(f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {name}}}
spec:
  source: {{repoURL: "file://{work}", targetRevision: HEAD, path: {name}}}
  destination: {{name: in-cluster, namespace: bench-{name}}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
    syncOptions: [CreateNamespace=true]
""")
    docs = []
    for j in range(p):
        kind = j % 5
        if kind < 3:
            docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{j}}}\ndata:\n"
                        f"  features: \"{'x' * 900}\"\n  index: \"{j}\"\n")
        elif kind == 3:
            docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{j}}}\n"
                        f"spec: {{clusterIP: None, selector: {{app: m-{j}}}, ports: [{{port: 80, targetPort: 8080}}]}}\n")
        else:
            docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: m-{j}}}\nspec:\n"
                        f"  replicas: 1\n  selector: {{matchLabels: {{app: m-{j}}}}}\n"
                        f"  template:\n    metadata: {{labels: {{app: m-{j}}}}}\n"
                        f"    spec: {{containers: [{{name: server, image: registry.local/model:{j}, "
                        f"resources: {{requests: {{cpu: 100m, memory: 256Mi}}}}}}]}}\n")
    with open(f"{work}/{name}/all.yaml", "w") as f:
        f.write("---\n".join(docs))
PY
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@wavesync.invalid commit -q -m apps

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/wavesync.yaml" <<YAML
repositories: [{name: bench, url: "file://$work"}]
clusters: [{name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}]
applications: [{repository: bench, path: apps}]
settings: {stateDir: $T/state, concurrency: 8, pollInterval: 0}
server: {listen: "127.0.0.1:$port"}
YAML
log "syncing $((A * P)) objects with wavesync sync"
t0=$(date +%s.%N)
"$WS" --config "$T/wavesync.yaml" sync --quiet >"$T/sync.out" 2>"$T/sync.err" || die "the first sync failed: $(tail -3 "$T/sync.err")"
t_sync=$(calc "$(date +%s.%N) - $t0")

"$WS" --config "$T/wavesync.yaml" serve >"$T/serve.out" 2>"$T/serve.err" &
ws_pid=$!
stop_ws() { kill "$ws_pid" 2>/dev/null && wait "$ws_pid" 2>/dev/null || true; }
bench_on_exit stop_ws
t0=$(date +%s.%N)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
state() { curl -s "http://127.0.0.1:$port/api/v1/applications" | python3 -c '
import json, sys
d = json.load(sys.stdin)["applications"]
s = sum(a["syncStatus"] == "Synced" for a in d); h = sum(a["health"]["status"] == "Healthy" for a in d)
runs = sum(a["lastRun"] for a in d)
print(s, h, len(d), runs)'; }
for _ in $(seq 1200); do
	read -r synced healthy total _ < <(state)
	[[ $synced == "$A" && $healthy == "$A" ]] && break
	sleep 0.5
done
t_ready=$(calc "$(date +%s.%N) - $t0")
read -r synced healthy total runs0 < <(state)
[[ $synced == "$A" && $healthy == "$A" ]] || die "only $synced of $A applications Synced, $healthy Healthy after 10 minutes"
objects=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^wavesync_live_objects /{print $2}')
watches=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^wavesync_live_watches\{state="running"\}/{print $2}')
rss() { awk '/^VmRSS/{print $2}' "/proc/$ws_pid/status"; }
hwm() { awk '/^VmHWM/{print $2}' "/proc/$ws_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$ws_pid/stat"; }
hz=$(getconf CLK_TCK)
rss_settled=$(rss)
c0=$(cpu_ticks)
sleep "$IDLE"
c1=$(cpu_ticks)
idle_pct=$(calc "100 * ($c1 - $c0) / $hz / $IDLE")

log "burst: $B changes to objects no application manages"
curl -s -o /dev/null --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
	-H 'Content-Type: application/json' -X POST "$DEVCLUSTER_SERVER/api/v1/namespaces" \
	--data '{"metadata":{"name":"bench-unrelated"}}'
c0=$(cpu_ticks)
tb=$(date +%s.%N)
python3 - "$DEVCLUSTER_SERVER" "$DEVCLUSTER_CA" "$DEVCLUSTER_CLIENT_CERT" "$DEVCLUSTER_CLIENT_KEY" "$B" <<'PY'
import http.client, json, ssl, sys, urllib.parse
server, ca, cert, key, n = sys.argv[1:6]
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
for i in range(int(n)):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"noise-{i % 200}"},
                       "data": {"i": str(i)}})
    conn.request("PATCH", f"/api/v1/namespaces/bench-unrelated/configmaps/noise-{i % 200}"
                 "?fieldManager=noise", body=body, headers={"Content-Type": "application/apply-patch+yaml"})
    r = conn.getresponse(); r.read()
    if r.status >= 300:
        raise SystemExit(f"noise {i}: HTTP {r.status}")
PY
burst_s=$(calc "$(date +%s.%N) - $tb")
sleep 2
c1=$(cpu_ticks)
burst_cpu=$(calc "($c1 - $c0) / $hz")
read -r synced healthy total runs1 < <(state)
[[ $runs1 == "$runs0" ]] || die "the burst started runs ($runs0 -> $runs1)"
[[ $synced == "$A" ]] || die "after the burst only $synced of $A applications are Synced"

CPU=$(bench_cpu_model)
cat <<EOF
wavesync live state: $A applications x $P objects
machine:      $(nproc) cores, $CPU
wavesync:     $FROM
cluster:      minimal tests/devcluster ($DEVCLUSTER_K8S_VERSION), fakectl as the controllers
first sync:   $((A * P)) objects by wavesync sync in ${t_sync} s
serve:        all $A applications Synced and Healthy ${t_ready} s after start (plan-only renders, $watches watches)
tracked:      $objects objects carrying the tracking annotation
RSS:          $((rss_settled / 1024)) MB settled, $(( $(hwm) / 1024 )) MB peak (target < 100 MB)
idle CPU:     ${idle_pct} % over ${IDLE} s (target < 1 %)
burst:        $B server-side applies to objects no application manages in ${burst_s} s: ${burst_cpu} CPU-s in wavesync, no run started
RESULT: RSS $((rss_settled / 1024)) MB, idle CPU ${idle_pct} %
EOF
