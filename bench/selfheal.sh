#!/usr/bin/env bash
# bench/selfheal.sh — drift → reverted: how long after someone changes a field
# Git sets (as `kubectl set image` does) is the live object back to what Git
# says? (Design target: p50 < 1 s, p99 < 2 s; Argo CD waits at least its 5 s
# self-heal timeout.)
#
# Usage: bench/selfheal.sh [N]
#
# A minimal tests/devcluster (kube-apiserver + etcd) and tests/e2e/fakectl
# (playing the controllers) in a temporary directory; a Git repository with one
# automated application with selfHeal (a ConfigMap, a Service and a GPU
# model-server Deployment); `wavesync serve` on it, synced once through the
# API. Then N times (default 20) a client (Python, over the same admin client
# certificate, one keep-alive connection) PATCHes the Deployment's image with
# its own field manager, then GETs the Deployment every 5 ms until the image is
# Git's again: the time from the PATCH response to the first GET that sees it
# reverted. The first drift comes 5 s after the first sync; successive drifts are 65 s apart so each one is "new drift" for
# wavesync's backoff (a minute Synced starts it over); set GAP=SECONDS to
# change that (a shorter gap measures the backoff instead). A run only counts
# if the image came back; the exit status is 1 otherwise.
#
# Environment: WAVESYNC, FAKECTL (binaries; default: build the tree like
# scripts/check), GAP (seconds between drifts, default 65), BENCH_KEEP=1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N=${1:-20}
GAP=${GAP:-65}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number (got '$N')"
bench_init wavesync-bench-selfheal
bench_wavesync
bench_cluster_up "$T/cluster"
bench_fakectl

work=$T/repo
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/model"
cat >"$work/apps/model.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: model}
spec:
  source: {repoURL: "file://$work", targetRevision: HEAD, path: model}
  destination: {name: in-cluster, namespace: bench-heal}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
YAML
cat >"$work/model/all.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: model-config}
data: {threshold: "0.7"}
---
apiVersion: v1
kind: Service
metadata: {name: model}
spec: {selector: {app: model}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: model}
spec:
  replicas: 1
  selector: {matchLabels: {app: model}}
  template:
    metadata: {labels: {app: model}}
    spec:
      containers:
        - name: server
          image: registry.local/model-server:1.0
          resources: {limits: {nvidia.com/gpu: 1}}
YAML
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@wavesync.invalid commit -q -m model

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'bench-token-%s' "$RANDOM$RANDOM" >"$T/token"
cat >"$T/wavesync.yaml" <<YAML
repositories: [{name: bench, url: "file://$work"}]
clusters: [{name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}]
applications: [{repository: bench, path: apps}]
settings: {stateDir: $T/state}
server: {listen: "127.0.0.1:$port", apiToken: "file:$T/token"}
YAML
"$WS" --config "$T/wavesync.yaml" serve >"$T/serve.out" 2>"$T/serve.err" &
ws_pid=$!
stop_ws() { kill "$ws_pid" 2>/dev/null && wait "$ws_pid" 2>/dev/null || true; }
bench_on_exit stop_ws
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
"$WS" --config "$T/wavesync.yaml" trigger model --wait >&2 || die "the first sync failed"
for _ in $(seq 100); do
	curl -s "http://127.0.0.1:$port/api/v1/applications/model" | grep -q '"syncStatus": *"Synced"' && break
	sleep 0.1
done

CPU=$(bench_cpu_model)
cat <<EOF
wavesync selfHeal: drift -> reverted
machine:   $(nproc) cores, $CPU
wavesync:  $FROM
cluster:   minimal tests/devcluster ($DEVCLUSTER_K8S_VERSION), fakectl as the controllers
drifts:    $N, $GAP s apart (PATCH of the Deployment's image by another field manager)
EOF
python3 - "$DEVCLUSTER_SERVER" "$DEVCLUSTER_CA" "$DEVCLUSTER_CLIENT_CERT" "$DEVCLUSTER_CLIENT_KEY" "$N" "$GAP" <<'PY'
import http.client, json, ssl, sys, time, urllib.parse
server, ca, cert, key, n, gap = sys.argv[1:7]
n, gap = int(n), float(gap)
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
path = "/apis/apps/v1/namespaces/bench-heal/deployments/model"
def req(method, p, body=None, ctype=None):
    conn.request(method, p, body=body, headers={"Content-Type": ctype} if ctype else {})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {p}: HTTP {r.status}: {data[:200]!r}")
    return json.loads(data)
def image():
    return req("GET", path)["spec"]["template"]["spec"]["containers"][0]["image"]
want = "registry.local/model-server:1.0"
assert image() == want, "not synced at the start"
times = []
time.sleep(5)  # drift does not come the moment a sync ends (wavesync waits 3 s for the sync's own events)
for i in range(n):
    if i:
        time.sleep(gap)
    patch = json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "server", "image": f"registry.local/model-server:drift-{i}"}]}}}})
    req("PATCH", path + "?fieldManager=bench-drift", patch, "application/strategic-merge-patch+json")
    t0 = time.monotonic()
    deadline = t0 + 30
    while image() != want:
        if time.monotonic() > deadline:
            raise SystemExit(f"drift {i}: not reverted after 30 s")
        time.sleep(0.005)
    ms = (time.monotonic() - t0) * 1000
    times.append(ms)
    print(f"drift {i + 1:3d}: reverted in {ms:7.1f} ms", flush=True)
times.sort()
def pct(p):
    return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]
print(f"RESULT: p50 {pct(50):.0f} ms, p99 {pct(99):.0f} ms, max {times[-1]:.0f} ms over {n} drifts "
      f"(target p50 < 1000 ms, p99 < 2000 ms: {'met' if pct(50) < 1000 and pct(99) < 2000 else 'NOT met'})")
PY
