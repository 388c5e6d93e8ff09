#!/usr/bin/env bash
# multi.sh — several clusters and dependencies between applications, end to
# end: two control planes from tests/devcluster at once, applications for
# each synced concurrently in one run; an ApplicationSet generating one
# Application per model and per cluster; wavesync.dev/depends-on orders two
# applications; ML health on a real apiserver: a PyTorchJob's wave waits until
# the test marks the job Succeeded, a crash-looping worker fails its wave
# early, a CronJob past its SLA fails its wave; with one cluster stopped the
# other cluster's applications still sync, and the exit code (3) and message
# name the stopped one; a depends-on cycle is refused before anything is
# applied.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up --crds
one_kubeconfig=$DEVCLUSTER_KUBECONFIG
one_server=$DEVCLUSTER_SERVER
two=$E2E_DIR/two
if ! "$DEVCLUSTER" up --dir "$two" >"$E2E_DIR/up-two.log" 2>&1; then
	echo "Bail out! the second control plane did not start"
	sed 's/^/# /' "$E2E_DIR/up-two.log" | tail -n 20
	exit 1
fi
diag "$(grep 'is up at' "$E2E_DIR/up-two.log")"
two_kubeconfig=$(. "$two/env" && echo "$DEVCLUSTER_KUBECONFIG")
two_server=$(. "$two/env" && echo "$DEVCLUSTER_SERVER")
two_ca=$(. "$two/env" && echo "$DEVCLUSTER_CA")
two_cert=$(. "$two/env" && echo "$DEVCLUSTER_CLIENT_CERT")
two_key=$(. "$two/env" && echo "$DEVCLUSTER_CLIENT_KEY")
ctl_pid=
cleanup() {
	[ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null
	"$DEVCLUSTER" down --dir "$two" >/dev/null 2>&1
	cluster_down
}
trap cleanup EXIT
"$WS_BUILDDIR/tests/e2e/fakectl" "$E2E_DIR/fakectl.log" 2>"$E2E_DIR/fakectl.err" &
ctl_pid=$!
[ "$one_server" != "$two_server" ]
ok $? "two control planes: $one_server and $two_server"

export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
repo=$E2E_DIR/repo
mkdir -p "$repo/apps"
app() { # name cluster path [depends-on]
	local ann=
	[ -n "${4:-}" ] && ann="  annotations: {wavesync.dev/depends-on: \"$4\"}"
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $1
$ann
spec:
  source: {repoURL: "file://$repo", targetRevision: HEAD, path: $3}
  destination: {name: $2, namespace: multi}
  syncPolicy: {automated: {prune: true}, syncOptions: [CreateNamespace=true]}
YAML
}
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: "%s"}\n' "$1" "$2"; }
mkdir -p "$repo/feature-store" "$repo/model-server" "$repo/edge" "$repo/registry"
# the feature store takes ~2 s to become ready (fakectl); the model server
# depends on it; edge and registry go to the second cluster
cat >"$repo/feature-store/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: feature-store
  annotations: {e2e.wavesync.dev/ready-after: 2s}
spec:
  replicas: 1
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec: {containers: [{name: main, image: registry.local/feast:0.40}]}
YAML
cm model-server 1 >"$repo/model-server/cm.yaml"
cm edge 1 >"$repo/edge/cm.yaml"
cm registry 1 >"$repo/registry/cm.yaml"
app feature-store one feature-store >"$repo/apps/feature-store.yaml"
app model-server one model-server feature-store >"$repo/apps/model-server.yaml"
app edge two edge >"$repo/apps/edge.yaml"
app registry two registry >"$repo/apps/registry.yaml"
# one Application per model and per cluster
mkdir -p "$repo/models/ranker" "$repo/models/embedder"
cm ranker 1 >"$repo/models/ranker/cm.yaml"
cm embedder 1 >"$repo/models/embedder/cm.yaml"
cat >"$repo/apps/models.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: models}
spec:
  generators:
    - matrix:
        generators:
          - clusters: {}
          - list:
              elements:
                - {model: ranker, gpus: "4"}
                - {model: embedder, gpus: "2"}
  template:
    metadata: {name: "{{model}}-{{name}}"}
    spec:
      source: {repoURL: "file://$repo", targetRevision: HEAD, path: "models/{{model}}"}
      destination: {name: "{{name}}", namespace: models}
      syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
git init -q -b main "$repo" && git -C "$repo" add -A && git -C "$repo" commit -qm apps
mkdir -p "$E2E_DIR/two-creds" # kept when cluster two is stopped (its folder goes)
cp "$two_ca" "$E2E_DIR/two-creds/ca.crt"
cp "$two_cert" "$E2E_DIR/two-creds/client.crt"
cp "$two_key" "$E2E_DIR/two-creds/client.key"
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - {name: platform, url: "file://$repo"}
clusters:
  - {name: one, kubeconfig: "$one_kubeconfig", labels: {env: production, gpu: "true"}}
  - name: two                    # inline: server, CA and client certificate
    server: "$two_server"
    caFile: "$E2E_DIR/two-creds/ca.crt"
    certFile: "$E2E_DIR/two-creds/client.crt"
    keyFile: "$E2E_DIR/two-creds/client.key"
    labels: {env: staging}
applications:
  - {repository: platform, path: apps}
settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state, concurrency: 4}
health:
  scripts:
    # Argo CD's health.lua contract, for a core kind: a ConfigMap marked broken is Degraded
    ConfigMap: |
      hs = {status = "Healthy", message = "ok"}
      if obj.data ~= nil and obj.data.broken == "true" then
        hs.status = "Degraded"
        hs.message = "marked broken by " .. (obj.metadata.labels and obj.metadata.labels.owner or "someone")
      end
      return hs
YAML

kapi() { # cluster path
	if [ "$1" = one ]; then
		curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$one_server$2"
	else
		curl -sf --cacert "$two_ca" --cert "$two_cert" --key "$two_key" "$two_server$2"
	fi
}
created() { # cluster kind-path name -> creationTimestamp as Unix seconds
	kapi "$1" "$2/$3" | python3 -c 'import json,sys,datetime
d=json.load(sys.stdin)["metadata"]["creationTimestamp"]
print(int(datetime.datetime.strptime(d,"%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()))'
}

run_ws apps --config "$cfg" --output json apps
python3 - "$E2E_DIR/apps.out" <<'PY'
import json, sys
apps = {a["name"]: a for a in json.load(open(sys.argv[1]))["applications"]}
want = {"ranker-one", "ranker-two", "embedder-one", "embedder-two"}
sys.exit(0 if want <= set(apps) and all(apps[n]["applicationSet"] == "models" for n in want) else 1)
PY
ok $? "the ApplicationSet generates one Application per model and per cluster (wavesync apps)"
run_ws sync --config "$cfg" --output json sync
[ "$rc" = 0 ] && ! grep -q "warn" "$E2E_DIR/sync.err"
ok $? "one run syncs eight applications over two clusters (exit $rc)"
kapi one /api/v1/namespaces/models/configmaps/ranker >/dev/null && kapi two /api/v1/namespaces/models/configmaps/ranker >/dev/null &&
	kapi one /api/v1/namespaces/models/configmaps/embedder >/dev/null && kapi two /api/v1/namespaces/models/configmaps/embedder >/dev/null
ok $? "the generated Applications reached both clusters"
kapi one /api/v1/namespaces/multi/configmaps/model-server >/dev/null &&
	kapi two /api/v1/namespaces/multi/configmaps/edge >/dev/null &&
	kapi two /api/v1/namespaces/multi/configmaps/registry >/dev/null
ok $? "each application reached its own cluster"
! kapi one /api/v1/namespaces/multi/configmaps/edge >/dev/null && ! kapi two /apis/apps/v1/namespaces/multi/deployments/feature-store >/dev/null
ok $? "and not the other one"
fs=$(created one /apis/apps/v1/namespaces/multi/deployments feature-store)
ms=$(created one /api/v1/namespaces/multi/configmaps model-server)
edge=$(created two /api/v1/namespaces/multi/configmaps edge)
[ $((ms - fs)) -ge 2 ]
ok $? "depends-on: model-server applied after feature-store was Healthy ($((ms - fs)) s later)"
[ $((edge - fs)) -le 1 ]
ok $? "the second cluster's applications did not wait (edge applied $((edge - fs)) s after feature-store)"
python3 - "$E2E_DIR/sync.out" <<'PY'
import json, sys
reports = {r["application"]: r for r in json.load(open(sys.argv[1]))}
sys.exit(0 if all(reports[a]["result"] == "Succeeded" for a in ("feature-store", "model-server", "edge", "registry")) else 1)
PY
ok $? "every report says Succeeded"

# --- ML health on the real apiserver ---------------------------------------------
kpatch() { # path json: merge-patch on cluster one
	curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' --data "$2" --cacert "$DEVCLUSTER_CA" \
		--cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$one_server$1" >/dev/null
}
kpost() { # path json: create on cluster one
	curl -sf -X POST -H 'Content-Type: application/json' --data "$2" --cacert "$DEVCLUSTER_CA" \
		--cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$one_server$1" >/dev/null
}
wait_for() { # seconds command...
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do "$@" >/dev/null && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}
pytorchjob() { # name
	cat <<YAML
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: $1}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec: {containers: [{name: pytorch, image: registry.local/resnet-train:1}]}
    Worker:
      replicas: 2
      template:
        spec: {containers: [{name: pytorch, image: registry.local/resnet-train:1}]}
YAML
}
mkdir -p "$repo/train" "$repo/train-crash" "$repo/pipeline"
pytorchjob resnet >"$repo/train/job.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: serve-after-training\n  annotations: {argocd.argoproj.io/sync-wave: "1"}\ndata: {model: resnet}\n' \
	>"$repo/train/serve.yaml"
pytorchjob crashy >"$repo/train-crash/job.yaml"
cat >"$repo/pipeline/cronjob.yaml" <<'YAML'
apiVersion: batch/v1
kind: CronJob
metadata:
  name: materialize-features
  annotations: {wavesync.dev/sla: 1h}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: main, image: registry.local/feast:0.40}]}
YAML
app train one train >"$repo/apps/train.yaml"
app train-crash one train-crash >"$repo/apps/train-crash.yaml"
app pipeline one pipeline >"$repo/apps/pipeline.yaml"
git -C "$repo" add -A && git -C "$repo" commit -qm "training and a pipeline"

"$WAVESYNC" --config "$cfg" sync train >"$E2E_DIR/train.out" 2>"$E2E_DIR/train.err" &
train_pid=$!
wait_for 30 kapi one /apis/kubeflow.org/v1/namespaces/multi/pytorchjobs/resnet
ok $? "the PyTorchJob is applied"
sleep 1.5
! kapi one /api/v1/namespaces/multi/configmaps/serve-after-training >/dev/null && kill -0 "$train_pid"
ok $? "its wave waits: the next wave is not applied while the job runs"
kpatch /apis/kubeflow.org/v1/namespaces/multi/pytorchjobs/resnet/status \
	'{"status": {"conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"}, {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded", "message": "PyTorchJob resnet is successfully completed."}]}}'
wait "$train_pid"
trc=$?
[ "$trc" = 0 ] && kapi one /api/v1/namespaces/multi/configmaps/serve-after-training >/dev/null
ok $? "marked Succeeded: the wave is Healthy and the next one applied (exit $trc)"

"$WAVESYNC" --config "$cfg" sync train-crash >"$E2E_DIR/crash.out" 2>"$E2E_DIR/crash.err" &
crash_pid=$!
t0=$(date +%s)
wait_for 30 kapi one /apis/kubeflow.org/v1/namespaces/multi/pytorchjobs/crashy
uid=$(kapi one /apis/kubeflow.org/v1/namespaces/multi/pytorchjobs/crashy | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["uid"])')
kpatch /apis/kubeflow.org/v1/namespaces/multi/pytorchjobs/crashy/status \
	'{"status": {"conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"}, {"type": "Running", "status": "True", "reason": "PyTorchJobRunning"}]}}'
kpost /api/v1/namespaces/multi/pods "{\"metadata\": {\"name\": \"crashy-worker-0\", \"labels\": {\"training.kubeflow.org/job-name\": \"crashy\", \"training.kubeflow.org/replica-type\": \"worker\"}, \"ownerReferences\": [{\"apiVersion\": \"kubeflow.org/v1\", \"kind\": \"PyTorchJob\", \"name\": \"crashy\", \"uid\": \"$uid\", \"controller\": true}]}, \"spec\": {\"containers\": [{\"name\": \"pytorch\", \"image\": \"registry.local/resnet-train:1\"}]}}"
ok $? "a worker pod of the job"
kpatch /api/v1/namespaces/multi/pods/crashy-worker-0/status \
	'{"status": {"phase": "Running", "containerStatuses": [{"name": "pytorch", "ready": false, "restartCount": 4, "image": "registry.local/resnet-train:1", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=pytorch"}}, "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}'
wait "$crash_pid"
crc=$?
t1=$(date +%s)
[ "$crc" = 1 ] && grep -q "CrashLoopBackOff" "$E2E_DIR/crash.out" && [ $((t1 - t0)) -lt 30 ]
ok $? "a crash-looping worker fails the wave early (exit $crc after $((t1 - t0)) s, deadline 60 s)"

run_ws pipeline-new --config "$cfg" --output json sync pipeline
[ "$rc" = 0 ] && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["objects"][0]["health"] == "Healthy" else 1)' "$E2E_DIR/pipeline-new.out"
ok $? "a new CronJob with an SLA has not missed it yet: its first sync succeeds (exit $rc)"
three_h_ago=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
kpatch /apis/batch/v1/namespaces/multi/cronjobs/materialize-features/status \
	"{\"status\": {\"lastScheduleTime\": \"$three_h_ago\", \"lastSuccessfulTime\": \"$three_h_ago\"}}"
run_ws pipeline --config "$cfg" sync pipeline
prc=$rc
[ "$prc" = 1 ] && grep -q "SLA 1h" "$E2E_DIR/pipeline.out"
ok $? "a CronJob whose last success is older than its SLA fails its wave (exit $prc: $(grep -m1 -o 'last success[^;]*' "$E2E_DIR/pipeline.out"))"

# --- a Lua health script decides in a real sync -------------------------------------
mkdir -p "$repo/lua-check"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags, labels: {owner: ml-oncall}}\ndata: {broken: "true"}\n' \
	>"$repo/lua-check/cm.yaml"
app lua-check one lua-check >"$repo/apps/lua-check.yaml"
git -C "$repo" add -A && git -C "$repo" commit -qm "lua-check"
run_ws lua --config "$cfg" sync lua-check
[ "$rc" = 1 ] && grep -q "Degraded: marked broken by ml-oncall" "$E2E_DIR/lua.out"
ok $? "the Lua script in wavesync.yaml overrides the built-in ConfigMap rule (exit $rc)"
run_ws lua-cli --config "$cfg" health "$repo/lua-check/cm.yaml"
[ "$rc" = 0 ] && grep -q "Degraded" "$E2E_DIR/lua-cli.out" && grep -q "marked broken" "$E2E_DIR/lua-cli.out"
ok $? "wavesync health runs the same script on a file: $(head -c 120 "$E2E_DIR/lua-cli.out")"

# --- a cycle is refused before anything is applied --------------------------------
app feature-store one feature-store model-server >"$repo/apps/feature-store.yaml"
cm model-server 2 >"$repo/model-server/cm.yaml"
git -C "$repo" commit -qam "a cycle"
run_ws cycle --config "$cfg" sync feature-store model-server
[ "$rc" = 2 ] && grep -q "depends-on cycle: .*feature-store.*model-server\|depends-on cycle: .*model-server.*feature-store" "$E2E_DIR/cycle.err"
ok $? "a depends-on cycle: exit 2 naming the cycle (rc $rc: $(head -c 200 "$E2E_DIR/cycle.err"))"
[ "$(kapi one /api/v1/namespaces/multi/configmaps/model-server | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["k"])')" = 1 ]
ok $? "nothing was applied"
git -C "$repo" revert --no-edit HEAD >/dev/null

# --- one cluster stopped: the other's applications still sync ------------------------
cm edge 2 >"$repo/edge/cm.yaml"
cm model-server 3 >"$repo/model-server/cm.yaml"
git -C "$repo" commit -qam "edge 2, model-server 3"
"$DEVCLUSTER" down --dir "$two" >/dev/null 2>&1
# the applications of the multi-cluster part (the ML ones above fail on purpose)
run_ws down --config "$cfg" sync feature-store model-server edge registry ranker-one ranker-two embedder-one embedder-two
[ "$rc" = 3 ]
ok $? "with cluster two stopped: exit 3 (got $rc)"
grep -q "edge: .*cannot reach cluster \"two\" ($two_server)" "$E2E_DIR/down.err" &&
	grep -q "registry: .*cannot reach cluster \"two\"" "$E2E_DIR/down.err"
ok $? "the message names the stopped cluster and its applications ($(grep -m1 'edge: FAILED' "$E2E_DIR/down.err" | head -c 200))"
[ "$(kapi one /api/v1/namespaces/multi/configmaps/model-server | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["k"])')" = 3 ]
ok $? "cluster one's applications still synced"
tap_end
