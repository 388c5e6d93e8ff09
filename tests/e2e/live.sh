#!/usr/bin/env bash
# live.sh — live state in `wavesync serve` against a real control plane
# (fakectl plays the controllers): sync status and health per application and
# object, selfHeal of a changed image and of a deleted ConfigMap, drift that
# only shows OutOfSync without selfHeal (naming the object and field), a
# writer that keeps fighting back (bounded re-applies, the status says it
# backs off), and a kill -9 and restart that rebuilds the state from the
# cluster without re-applying anything.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
start_fakectl

work=$E2E_DIR/repo
ns=live-e2e
app() { # name policy
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: file://$work, targetRevision: HEAD, path: $1}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    automated: $2
    syncOptions: [CreateNamespace=true]
YAML
}
workload() { # name image
	cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: $1-config}
data: {threshold: "0.7"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
        - name: server
          image: $2
          ports: [{containerPort: 8080}]
          resources: {requests: {cpu: 0.5, memory: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  selector: {app: $1}
  ports: [{port: 80, targetPort: 8080}]
YAML
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/heal" "$work/noheal" "$work/fight" "$work/scaled"
app heal '{prune: true, selfHeal: true}' >"$work/apps/heal.yaml"
app noheal '{prune: true}' >"$work/apps/noheal.yaml"
app fight '{selfHeal: true}' >"$work/apps/fight.yaml"
workload heal registry.local/model-server:1.0 >"$work/heal/all.yaml"
# scaled: an autoscaler owns spec.replicas (ignoreDifferences), selfHeal on
app scaled '{selfHeal: true}' >"$work/apps/scaled.yaml"
cat >>"$work/apps/scaled.yaml" <<'YAML'
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
YAML
workload scaled registry.local/model-server:1.0 >"$work/scaled/all.yaml"
workload noheal registry.local/model-server:1.0 >"$work/noheal/all.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fought}\ndata: {mode: "git"}\n' >"$work/fight/cm.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m "three applications"

ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
printf 'token-%s' "$RANDOM$RANDOM" >"$E2E_DIR/api.token"
token=$(cat "$E2E_DIR/api.token")
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - {name: live, url: "file://$work"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: live, path: apps}
settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$E2E_DIR/api.token"
YAML

kapi() { # method path [body] [content-type] -> body
	curl -s -X "$1" --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		${3:+-H "Content-Type: ${4:-application/strategic-merge-patch+json}" --data "$3"} "$DEVCLUSTER_SERVER$2"
}
appj() { curl -s "$ws_url/api/v1/applications/$1" | jget "$2"; }
runs() { appj "$1" 'len(d["runs"])'; }
is_status() { [ "$(appj "$1" 'd["syncStatus"]')" = "$2" ]; }
image_of() { kapi GET "/apis/apps/v1/namespaces/$ns/deployments/$1" | jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]'; }
start_serve() {
	"$WS_BUILDDIR/wavesync" --config "$cfg" serve >>"$E2E_DIR/serve.out" 2>>"$E2E_DIR/serve.err" &
	serve_pid=$!
	wait_for 10 curl -sf "$ws_url/readyz" -o /dev/null
}

start_serve
ok $? "serve: ready"
wait_for 20 is_status heal OutOfSync
ok $? "before any sync: heal is OutOfSync ($(appj heal 'd["syncStatus"], d["comparedTo"]'))"
[ "$(appj heal 'd["comparedTo"]["missing"]')" = 3 ] && [ "$(runs heal)" = 0 ]
ok $? "its three objects are Missing, and selfHeal did not sync what was never synced"
for a in heal noheal fight scaled; do
	run_ws "trigger_$a" --config "$cfg" trigger "$a" --wait --token "file:$E2E_DIR/api.token"
done
wait_for 20 is_status heal Synced && wait_for 20 is_status noheal Synced && wait_for 20 is_status fight Synced
ok $? "after a sync each: Synced ($(appj heal 'd["syncStatus"]') $(appj noheal 'd["syncStatus"]') $(appj fight 'd["syncStatus"]'))"
wait_for 20 eval '[ "$(appj heal "d[\"health\"][\"status\"]")" = Healthy ]'
ok $? "heal is Healthy ($(appj heal 'd["health"]'))"
[ "$(appj heal '[r["status"] for r in d["resources"]]')" = "['Synced', 'Synced', 'Synced']" ]
ok $? "per object: three Synced resources ($(appj heal '[(r["kind"], r["status"], r["health"]["status"]) for r in d["resources"]]'))"
# a sync of what is already live: the watches know, nothing is sent
rv=$(kapi GET "/apis/apps/v1/namespaces/$ns/deployments/heal" | jget 'd["metadata"]["resourceVersion"]')
run_ws trigger_again --config "$cfg" trigger heal --wait --token "file:$E2E_DIR/api.token"
results=$(curl -s "$ws_url/api/v1/runs/$(appj heal 'd["lastRun"]')" | jget 'sorted(o["result"] for o in d["report"]["objects"])')
[ "$rc" = 0 ] && [ "$results" = "['Unchanged', 'Unchanged', 'Unchanged']" ] &&
	[ "$(kapi GET "/apis/apps/v1/namespaces/$ns/deployments/heal" | jget 'd["metadata"]["resourceVersion"]')" = "$rv" ]
ok $? "a sync of an application already Synced applies nothing: every object Unchanged, from the live state ($results)"

# ---- selfHeal: an image changed by hand is put back ---------------------------------------
n=$(runs heal)
t0=$(date +%s%N)
kapi PATCH "/apis/apps/v1/namespaces/$ns/deployments/heal?fieldManager=kubectl-set" \
	'{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"registry.local/model-server:HACKED"}]}}}}' >/dev/null
wait_for 10 eval '[ "$(image_of heal)" = registry.local/model-server:1.0 ]'
ok $? "selfHeal: kubectl set image reverted ($(image_of heal), $((($(date +%s%N) - t0) / 1000000)) ms)"
diag "drift -> reverted: $((($(date +%s%N) - t0) / 1000000)) ms"
wait_for 10 is_status heal Synced && [ "$(runs heal)" = $((n + 1)) ]
ok $? "by one self-heal sync, and Synced again ($(runs heal) runs)"

# ---- selfHeal: a deleted ConfigMap comes back ----------------------------------------------
kapi DELETE "/api/v1/namespaces/$ns/configmaps/heal-config" >/dev/null
wait_for 10 eval 'kapi GET /api/v1/namespaces/$ns/configmaps/heal-config | grep -q threshold'
ok $? "selfHeal: a deleted ConfigMap is recreated"

# ---- without selfHeal, drift only shows -----------------------------------------------------
n=$(runs noheal)
kapi PATCH "/apis/apps/v1/namespaces/$ns/deployments/noheal?fieldManager=kubectl-set" \
	'{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"registry.local/model-server:HACKED"}]}}}}' >/dev/null
wait_for 10 is_status noheal OutOfSync
ok $? "no selfHeal: the change makes noheal OutOfSync"
sleep 2
[ "$(image_of noheal)" = registry.local/model-server:HACKED ] && [ "$(runs noheal)" = "$n" ]
ok $? "and nothing reverts it ($(image_of noheal))"
appj noheal '[(r["kind"], r["name"], [x["path"] for x in r["diff"]]) for r in d["resources"] if r["status"] == "OutOfSync"]' \
	>"$E2E_DIR/noheal.diff"
grep -q "('Deployment', 'noheal', \['/spec/template/spec/containers/0/image'\])" "$E2E_DIR/noheal.diff"
ok $? "the API names the object and the field ($(cat "$E2E_DIR/noheal.diff"))"
grep -q 'wavesync_app_sync_status{app="noheal",status="OutOfSync"} 1' <<<"$(curl -s "$ws_url/metrics")" # not a pipe: grep -q quitting early would fail curl (pipefail)
ok $? "metrics: wavesync_app_sync_status says noheal is OutOfSync"

# ---- ignoreDifferences: an autoscaler's replicas are neither drift nor reverted ---------------
wait_for 20 is_status scaled Synced
n=$(runs scaled)
kapi PATCH "/apis/apps/v1/namespaces/$ns/deployments/scaled/scale?fieldManager=hpa" '{"spec":{"replicas":3}}' \
	application/merge-patch+json >/dev/null
sleep 2
[ "$(kapi GET "/apis/apps/v1/namespaces/$ns/deployments/scaled" | jget 'd["spec"]["replicas"]')" = 3 ] &&
	[ "$(appj scaled 'd["syncStatus"]')" = Synced ] && [ "$(runs scaled)" = "$n" ]
ok $? "ignoreDifferences /spec/replicas: scaled to 3, still Synced, not reverted ($(appj scaled 'd["syncStatus"]'), $(runs scaled) runs)"

# ---- wavesync status ------------------------------------------------------------------------------
run_ws status_all --config "$cfg" status
grep -Eq '^noheal +OutOfSync +Healthy' "$E2E_DIR/status_all.out" && grep -Eq '^heal +Synced +Healthy' "$E2E_DIR/status_all.out"
ok $? "wavesync status: one row per application with sync status and health ($(grep -E '^(heal|noheal) ' "$E2E_DIR/status_all.out" | tr -s ' ' | tr '\n' ';'))"
run_ws status_one --config "$cfg" status noheal
[ "$rc" = 0 ] && grep -q '^Sync status: *OutOfSync' "$E2E_DIR/status_one.out" &&
	grep -Eq '^apps +Deployment +live-e2e +noheal +OutOfSync +Healthy +/spec/template/spec/containers/0/image' "$E2E_DIR/status_one.out"
ok $? "wavesync status APP: its objects, the drifted one with its field"
run_ws status_json --config "$cfg" status noheal -o json
[ "$rc" = 0 ] && "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["syncStatus"] == "OutOfSync"' "$E2E_DIR/status_json.out"
ok $? "wavesync status APP -o json: the API's document"
run_ws status_none --config "$cfg" status nope
[ "$rc" = 2 ] && grep -q 'no Application' "$E2E_DIR/status_none.err"
ok $? "wavesync status of an unknown application: exit 2"

# ---- a writer that fights back ----------------------------------------------------------------
n=$(runs fight)
(
	end=$(($(date +%s) + 20))
	while [ "$(date +%s)" -lt "$end" ]; do
		kapi PATCH "/api/v1/namespaces/$ns/configmaps/fought?fieldManager=fighter" '{"data":{"mode":"fighter"}}' \
			>/dev/null
		sleep 0.3
	done
) &
fighter=$!
pids+=($fighter)
sleep 12
grep -q "fight: self-heal backing off" "$E2E_DIR/serve.err" &&
	appj fight 'd["selfHealing"]["message"]' | grep -q 'backing off'
ok $? "the status says self-heal is backing off ($(appj fight 'd["selfHealing"]["message"]' | head -c 100))"
wait "$fighter"
heals=$(($(runs fight) - n))
[ "$heals" -ge 2 ] && [ "$heals" -le 6 ]
ok $? "20 s of a fighting writer: $heals self-heal syncs (bounded, not a hot loop)"

# ---- kill -9 and restart: the state comes back from the cluster, nothing is applied -------------
kapi PATCH "/apis/apps/v1/namespaces/$ns/deployments/noheal?fieldManager=kubectl-set" \
	'{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"registry.local/model-server:1.0"}]}}}}' >/dev/null
wait_for 10 is_status noheal Synced
rv_before=$(kapi GET "/api/v1/namespaces/$ns/configmaps/heal-config" | jget 'd["metadata"]["resourceVersion"]')
dep_before=$(kapi GET "/apis/apps/v1/namespaces/$ns/deployments/heal" | jget 'd["metadata"]["resourceVersion"]')
runs_before="$(runs heal) $(runs noheal)"
kill -9 "$serve_pid"
wait "$serve_pid" 2>/dev/null
start_serve
ok $? "restarted after kill -9"
wait_for 20 is_status heal Synced && wait_for 20 is_status noheal Synced
ok $? "statuses rebuilt from the cluster: heal $(appj heal 'd["syncStatus"]'), noheal $(appj noheal 'd["syncStatus"]')"
sleep 1
[ "$(kapi GET "/api/v1/namespaces/$ns/configmaps/heal-config" | jget 'd["metadata"]["resourceVersion"]')" = "$rv_before" ] &&
	[ "$(kapi GET "/apis/apps/v1/namespaces/$ns/deployments/heal" | jget 'd["metadata"]["resourceVersion"]')" = "$dep_before" ] &&
	[ "$(runs heal) $(runs noheal)" = "$runs_before" ]
ok $? "nothing was re-applied (resourceVersions and runs unchanged)"
! grep -q 'ERROR\|AddressSanitizer\|runtime error' "$E2E_DIR/serve.err"
ok $? "no sanitizer reports or errors from the service"
kill "$serve_pid" && wait "$serve_pid"
ok $? "SIGTERM: stopped cleanly"
serve_pid=
tap_end
