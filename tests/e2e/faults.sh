#!/usr/bin/env bash
# faults.sh — wavesync when its surroundings fail, against a real control
# plane (fakectl plays the controllers):
#   - the apiserver paused (SIGSTOP for 6 s) while a sync waits on a wave:
#     the sync finishes, Succeeded;
#   - the apiserver killed (SIGKILL) and started again while a sync waits on
#     a wave: the watches come back and the sync finishes, Succeeded;
#   - a kill -9 soak: 30 signed deliveries, one commit each, while the
#     service is killed with SIGKILL and restarted every few deliveries;
#     every delivery answered 2xx must be in the store after the last
#     restart (lost: 0), and the application ends at the last commit.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
start_fakectl

kapi() { # path -> JSON (empty when absent)
	curl -sf --max-time 5 --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
apiserver_pid() { cat "$E2E_DIR/cluster/pids/kube-apiserver.pid"; }
exists() { [ -n "$(kapi "$1")" ]; }

# ---- a repository served over HTTP: two waves, the second slow to become Healthy ---------------
srv=$E2E_DIR/srv
work=$E2E_DIR/work
mkdir -p "$srv/org"
"$py" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/git.port" \
	--log "$E2E_DIR/githttp.log" 2>"$E2E_DIR/githttp.err" &
pids+=($!)
wait_file "$E2E_DIR/git.port" || {
	echo "Bail out! githttp.py did not start"
	exit 1
}
url="http://127.0.0.1:$(cat "$E2E_DIR/git.port")/org/ml.git"
ns=e2e-faults
app() { # name automated?
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: $url, targetRevision: HEAD, path: $1}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
YAML
	[ -z "${2:-}" ] || printf '    automated: {prune: true}\n'
}
server() { # name ready-after
	cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: $1-config, annotations: {argocd.argoproj.io/sync-wave: "0"}}
data: {model: resnet50}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  annotations: {argocd.argoproj.io/sync-wave: "1", e2e.wavesync.dev/ready-after: $2}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: server, image: registry.local/model-server:1}]}
YAML
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/paused" "$work/restarted" "$work/soak"
app paused >"$work/apps/paused.yaml"
app restarted >"$work/apps/restarted.yaml"
app soak auto >"$work/apps/soak.yaml"
server paused 4s >"$work/paused/all.yaml"
server restarted 10s >"$work/restarted/all.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: soak}\ndata: {rev: "0"}\n' >"$work/soak/cm.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m "three applications"
git clone -q --bare "$work" "$srv/org/ml.git"
git -C "$srv/org/ml.git" config http.receivepack true
git -C "$work" remote add origin "$url"

ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
secret=hook-$RANDOM$RANDOM
printf '%s' "$secret" >"$E2E_DIR/hook.secret"
printf 'token-%s' "$RANDOM$RANDOM" >"$E2E_DIR/api.token"
token=$(cat "$E2E_DIR/api.token")
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - name: ml
    url: $url
    webhook: {secret: "file:$E2E_DIR/hook.secret"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: ml, path: apps}
settings: {waveTimeout: 90s, stateDir: $E2E_DIR/state, pollInterval: 0}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$E2E_DIR/api.token"
  rateLimit: {perSecond: 1000, burst: 1000}
YAML

# ---- the apiserver paused while a wave waits ---------------------------------------------------------
run_ws_bg() { # name args...: wavesync in the background -> bg_pid
	local name=$1
	shift
	"$WS_BUILDDIR/wavesync" "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err" &
	bg_pid=$!
}
run_ws_bg paused --config "$cfg" sync paused
wait_for 30 exists "/apis/apps/v1/namespaces/$ns/deployments/paused"
ok $? "paused: wave 1 applied (the Deployment exists, Healthy only after 4 s)"
kill -STOP "$(apiserver_pid)"
sleep 6
kill -CONT "$(apiserver_pid)"
wait "$bg_pid"
rc=$?
[ $rc -eq 0 ] && grep -q "Succeeded" "$E2E_DIR/paused.out"
ok $? "the apiserver paused for 6 s mid-wave: the sync finishes, Succeeded (exit $rc: $(grep -m1 -o 'paused: [A-Z][a-z]* at.*' "$E2E_DIR/paused.out"))"

# ---- the apiserver killed and started again while a wave waits -----------------------------------------
restart_apiserver() { # SIGKILL, then the same command line again
	local pid cmd
	pid=$(apiserver_pid)
	mapfile -d '' cmd <"/proc/$pid/cmdline"
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	setsid "${cmd[@]}" >>"$E2E_DIR/cluster/logs/kube-apiserver.restarted.log" 2>&1 </dev/null &
	echo $! >"$E2E_DIR/cluster/pids/kube-apiserver.pid"
}
run_ws_bg restarted --config "$cfg" sync restarted
wait_for 30 exists "/apis/apps/v1/namespaces/$ns/deployments/restarted"
ok $? "restarted: wave 1 applied (the Deployment exists, Healthy only after 10 s)"
t0=$(date +%s)
restart_apiserver
wait_for 30 exists /readyz
ok $? "the apiserver was killed and is back after $(($(date +%s) - t0)) s"
wait "$bg_pid"
rc=$?
[ $rc -eq 0 ] && grep -q "Succeeded" "$E2E_DIR/restarted.out"
ok $? "the apiserver killed and restarted mid-wave: the sync finishes, Succeeded (exit $rc: $(tail -n 2 "$E2E_DIR/restarted.err" | head -c 200))"

# ---- kill -9 soak during a burst of pushes -------------------------------------------------------------
start_serve() {
	"$WS_BUILDDIR/wavesync" --config "$cfg" serve >>"$E2E_DIR/serve.out" 2>>"$E2E_DIR/serve.err" &
	serve_pid=$!
	wait_for 10 curl -sf "$ws_url/readyz" -o /dev/null
}
start_serve
ok $? "serve: ready"
: >"$E2E_DIR/soak.answers"
before=$(git -C "$work" rev-parse HEAD)
kills=0
for i in $(seq 1 30); do
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: soak}\ndata: {rev: "%d"}\n' "$i" >"$work/soak/cm.yaml"
	git -C "$work" commit -qam "soak: rev $i"
	git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
	after=$(git -C "$work" rev-parse HEAD)
	"$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook" --secret "$secret" \
		--repo-url "$url" --ref refs/heads/main --before "$before" --after "$after" --delivery "soak-$i" \
		--timeout 5 >>"$E2E_DIR/soak.answers" 2>>"$E2E_DIR/deliver.err" || echo "000 no answer" >>"$E2E_DIR/soak.answers"
	before=$after
	if ((i % 5 == 0)); then # right after an answer: the accepted push must be on disk already
		kill -9 "$serve_pid"
		wait "$serve_pid" 2>/dev/null
		kills=$((kills + 1))
		start_serve || break
	fi
done
accepted=$(grep -c '^20[02] ' "$E2E_DIR/soak.answers")
lost=$(grep '^20[02] ' "$E2E_DIR/soak.answers" | cut -d' ' -f2- | "$py" -c '
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
lost = 0
for line in sys.stdin:
    for t in json.loads(line).get("triggers", []):
        req = urllib.request.Request(f"{url}/api/v1/triggers/{t}", headers={"Authorization": "Bearer " + token})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except Exception:
            lost += 1
print(lost)' "$ws_url" "$token")
[ "$accepted" = 30 ] && [ "$kills" = 6 ] && [ "$lost" = 0 ]
ok $? "kill -9 soak: 30 deliveries, $kills SIGKILLs, $accepted answered 2xx, $lost lost"
rev_of_soak() { kapi "/api/v1/namespaces/$ns/configmaps/soak" | jget 'd["data"]["rev"]'; }
wait_for 60 eval '[ "$(rev_of_soak)" = 30 ]'
ok $? "the application ends at the last pushed commit (rev $(rev_of_soak))"
kill "$serve_pid" && wait "$serve_pid"
ok $? "SIGTERM: stopped cleanly"
serve_pid=
! grep -q 'AddressSanitizer\|runtime error' "$E2E_DIR"/*.err
ok $? "no sanitizer reports"
tap_end
