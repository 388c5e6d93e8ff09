#!/usr/bin/env bash
# appofapps.sh — Argo CD's app-of-apps pattern and multi-source values, end
# to end against a real control plane and real Git repositories: a root
# Application whose folder holds child Applications (and an
# ApplicationSet) makes them wavesync applications (`wavesync apps` shows
# the parent); `wavesync sync root` syncs each child in the root's wave
# order — the operator child (wave -1) Healthy before the serving child
# (wave 1) starts — and applies no Application custom resource; a cycle
# of applications is refused; a Helm chart in Git takes a values file from
# another repository through `ref: values` and `$values/…`; a missing
# `$values` file is exit 2 naming it; and `wavesync serve` runs the
# children as runs of their own, in order, when the root is triggered.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
start_fakectl
helm_bin=$("$DEVCLUSTER" build-helm 2>/dev/null | tail -n 1)
if [ ! -x "$helm_bin" ]; then
	echo "Bail out! cannot build the pinned helm"
	exit 1
fi
export PATH="$(dirname "$helm_bin"):$PATH"

repo=$E2E_DIR/platform
vals=$E2E_DIR/values
mkdir -p "$repo/roots" "$repo/children" "$repo/operators" "$repo/serving" "$repo/models/ranker" \
	"$repo/models/embedder" "$repo/charts/valued/templates" "$vals/envs/prod"
app() { # name path wave [kind-extra]
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $1
  annotations: {argocd.argoproj.io/sync-wave: "$3"}
spec:
  source: {repoURL: "file://$repo", targetRevision: HEAD, path: $2}
  destination: {server: "$DEVCLUSTER_SERVER", namespace: aoa}
  syncPolicy: {automated: {prune: true}, syncOptions: [CreateNamespace=true]}
YAML
}
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: "%s"}\n' "$1" "$2"; }
app root children 0 >"$repo/roots/root.yaml"
app operators operators -1 >"$repo/children/operators.yaml"
app serving serving 1 >"$repo/children/serving.yaml"
# Argo CD's cascade: removing this child from Git deletes what it applied
sed -i 's|^  annotations:|  finalizers: [resources-finalizer.argocd.argoproj.io]\n  annotations:|' "$repo/children/serving.yaml"
# a manual child: Argo CD's root sync leaves it OutOfSync, so does wavesync's
app notebook notebook 1 | grep -v syncPolicy >"$repo/children/notebook.yaml"
mkdir -p "$repo/notebook"
cm notebook 1 >"$repo/notebook/cm.yaml"
cat >"$repo/children/models.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: models
  annotations: {argocd.argoproj.io/sync-wave: "2"}
spec:
  generators:
    - list: {elements: [{model: ranker}, {model: embedder}]}
  template:
    metadata: {name: "model-{{model}}"}
    spec:
      source: {repoURL: "file://$repo", targetRevision: HEAD, path: "models/{{model}}"}
      destination: {server: "$DEVCLUSTER_SERVER", namespace: aoa}
      syncPolicy: {automated: {}}
YAML
# the operator takes ~2 s to become ready (fakectl)
cat >"$repo/operators/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: training-operator
  annotations: {e2e.wavesync.dev/ready-after: 2s}
spec:
  replicas: 1
  selector: {matchLabels: {app: training-operator}}
  template:
    metadata: {labels: {app: training-operator}}
    spec: {containers: [{name: main, image: registry.local/training-operator:1.8}]}
YAML
cm model-server 1 >"$repo/serving/cm.yaml"
cm ranker 1 >"$repo/models/ranker/cm.yaml"
cm embedder 1 >"$repo/models/embedder/cm.yaml"
# multi-source: a chart in Git, its production values in another repository
cat >"$repo/roots/valued.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: valued}
spec:
  sources:
    - repoURL: "file://$repo"
      path: charts/valued
      helm: {valueFiles: [values.yaml, \$values/envs/prod/valued.yaml]}
    - {repoURL: "file://$vals", targetRevision: HEAD, ref: values}
  destination: {server: "$DEVCLUSTER_SERVER", namespace: aoa}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
printf 'apiVersion: v2\nname: valued\nversion: 0.1.0\n' >"$repo/charts/valued/Chart.yaml"
printf 'replicas: 1\ntier: default\n' >"$repo/charts/valued/values.yaml"
cat >"$repo/charts/valued/templates/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: valued}
data: {tier: "{{ .Values.tier }}", replicas: "{{ .Values.replicas }}"}
YAML
printf 'tier: production\nreplicas: 3\n' >"$vals/envs/prod/valued.yaml"
for r in "$repo" "$vals"; do git init -q -b main "$r" && git -C "$r" add -A && git -C "$r" commit -qm init; done
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - {name: platform, url: "file://$repo"}
  - {name: values, url: "file://$vals"}
clusters:
  - {name: dev, kubeconfig: "$DEVCLUSTER_KUBECONFIG"}
applications:
  - {repository: platform, path: roots}
settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state}
YAML
kget() { curl -s --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }

# --- the children are applications -------------------------------------------------
run_ws apps --config "$cfg" apps -o json
ok $rc "wavesync apps (rc $rc)"
parents=$(jget '",".join(sorted(a["name"]+"<"+(a.get("parent") or "") for a in d["applications"]))' <"$E2E_DIR/apps.out")
[ "$parents" = "model-embedder<root,model-ranker<root,notebook<root,operators<root,root<,serving<root,valued<" ]
ok $? "children listed with their parent: $parents"
run_ws appst --config "$cfg" apps
grep -q "PARENT" "$E2E_DIR/appst.out" && grep -E "^serving .* root$" -q "$E2E_DIR/appst.out"
ok $? "the table has a PARENT column"

# --- the root syncs its children in its waves ---------------------------------------
run_ws root --config "$cfg" sync root -o json
ok $rc "wavesync sync root (rc $rc)"
for n in training-operator model-server ranker embedder; do
	kind=configmaps
	[ "$n" = training-operator ] && kind=deployments
	api=/api/v1
	[ $kind = deployments ] && api=/apis/apps/v1
	kget "$api/namespaces/aoa/$kind/$n" | grep -q "\"name\": \"$n\""
	ok $? "child object $n is in the cluster"
done
kget /apis/argoproj.io/v1alpha1/namespaces/aoa/applications | grep -q '"kind": "ApplicationList"'
[ $? -ne 0 ]
ok $? "no Application custom resource was applied (the dev cluster has no such CRD)"
python3 - "$E2E_DIR/root.out" <<'PY'
import json, sys
root = json.load(open(sys.argv[1]))
d = root["children"]
objs = {o["object"].split()[-1]: o for o in root["objects"]}
op, sv, md = objs["aoa/operators"], objs["aoa/serving"], objs["aoa/models"]
assert all(o["result"] == "Synced" for o in (op, sv, md)), objs
# the operator child (wave -1) was Healthy before the serving child (wave 1) was started
assert op["healthyMs"] <= sv["appliedMs"], (op, sv)
assert sv["healthyMs"] <= md["appliedMs"], (sv, md)
assert op["healthyMs"] >= 1500, op  # it waited for the Deployment's readiness
nb = objs["aoa/notebook"]
assert nb["result"] == "Skipped" and "manual sync policy" in nb["message"], nb
names = sorted(r["application"] for r in d)
assert names == ["model-embedder", "model-ranker", "operators", "serving"], names
PY
ok $? "children synced in wave order: operators Healthy before serving starts, then the ApplicationSet's two; the manual child skipped"
[ "$(kget /api/v1/namespaces/aoa/configmaps/notebook | jget 'd.get("code")')" = 404 ]
ok $? "the manual child applied nothing"

# --- a second sync changes nothing and still follows the waves ---------------------
run_ws root2 --config "$cfg" sync root -o json
ok $rc "second sync of root (rc $rc)"
unchanged=$(jget 'sum(1 for r in d["children"] for o in r["objects"] if o["result"]=="Unchanged")' <"$E2E_DIR/root2.out")
[ "$unchanged" = 4 ]
ok $? "the children's objects are Unchanged ($unchanged)"

# --- multi-source values --------------------------------------------------------------
run_ws valued --config "$cfg" sync valued
ok $rc "sync of the multi-source application (rc $rc)"
kget /api/v1/namespaces/aoa/configmaps/valued | grep -q '"tier": "production"' &&
	kget /api/v1/namespaces/aoa/configmaps/valued | grep -q '"replicas": "3"'
ok $? "the \$values file from the other repository overrides the chart's values"
git -C "$vals" mv envs/prod/valued.yaml envs/prod/renamed.yaml && git -C "$vals" commit -qm rename
run_ws valued_missing --config "$cfg" sync valued
[ $rc -eq 2 ] && grep -q 'values file "\$values/envs/prod/valued.yaml"' "$E2E_DIR/valued_missing.err" &&
	grep -q "has no file envs/prod/valued.yaml" "$E2E_DIR/valued_missing.err"
ok $? "a missing \$values file: exit 2 naming it (rc $rc): $(grep -m1 -o "values file.*" "$E2E_DIR/valued_missing.err" | head -c 300)"
git -C "$vals" mv envs/prod/renamed.yaml envs/prod/valued.yaml && git -C "$vals" commit -qm back

# --- a cycle is refused -----------------------------------------------------------------
mkdir -p "$repo/loop"
app loop loop 3 >"$repo/children/loop.yaml"
app root children 0 >"$repo/loop/root-again.yaml"
git -C "$repo" add -A && git -C "$repo" commit -qm cycle
run_ws cycle --config "$cfg" apps -o json
grep -q "a cycle of applications is refused" "$E2E_DIR/cycle.out"
ok $? "a child defining its own ancestor is refused: $(grep -o '"error": "[^"]*cycle[^"]*"' "$E2E_DIR/cycle.out" | head -c 300)"
git -C "$repo" rm -q -r loop children/loop.yaml && git -C "$repo" commit -qm "no cycle"

# --- a child removed from Git ------------------------------------------------------------
git -C "$repo" rm -q children/serving.yaml children/operators.yaml && git -C "$repo" commit -qm "retire two children"
run_ws removed --config "$cfg" sync root -o json
ok $rc "sync of root after two children left Git (rc $rc)"
pruned=$(jget '";".join(sorted(p["object"] + "=" + p["result"] for p in d["pruned"]))' <"$E2E_DIR/removed.out")
[ "$pruned" = "argoproj.io/v1alpha1 Application aoa/operators=Pruned;argoproj.io/v1alpha1 Application aoa/serving=Pruned" ]
ok $? "both children pruned from the root: $pruned"
[ "$(kget /api/v1/namespaces/aoa/configmaps/model-server | jget 'd.get("code")')" = 404 ]
ok $? "the child with the resources finalizer took what it applied with it"
kget /apis/apps/v1/namespaces/aoa/deployments/training-operator | grep -q '"name": "training-operator"'
ok $? "the child without it left its Deployment running, as in Argo CD"
jget 'd["pruned"][0]["message"]' <"$E2E_DIR/removed.out" | grep -q "stays"
ok $? "and the report says so"
run_ws apps2 --config "$cfg" apps -o json
[ "$(jget '",".join(sorted(a["name"] for a in d["applications"]))' <"$E2E_DIR/apps2.out")" = "model-embedder,model-ranker,notebook,root,valued" ]
ok $? "the removed children are no longer applications"
git -C "$repo" revert --no-edit HEAD >/dev/null

# --- the service: children are runs of their own, in the root's order --------------------
port=$(free_port)
token=e2e-token-$RANDOM$RANDOM
printf '%s' "$token" >"$E2E_DIR/api.token"
secret=e2e-secret-$RANDOM$RANDOM
cat >>"$cfg" <<YAML
server: {listen: "127.0.0.1:$port", apiToken: "file:$E2E_DIR/api.token"}
YAML
sed -i "s|  - {name: platform, url: \"file://$repo\"}|  - {name: platform, url: \"file://$repo\", webhook: {secret: \"$secret\"}}|" "$cfg"
sed -i "s|settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state}|settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state, concurrency: 1, pollInterval: 0}|" "$cfg"
"$WAVESYNC" --config "$cfg" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 20 curl -sf "http://127.0.0.1:$port/readyz" >/dev/null
ok $? "serve is ready"
curl -sf -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/applications/root/sync" >"$E2E_DIR/trigger.out"
ok $? "root triggered through the API"
done_runs() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/runs?limit=50" |
	jget 'len([r for r in (d["runs"] if isinstance(d, dict) else d) if r.get("state") not in ("running", None) or r.get("result")])'; }
wait_for 60 sh -c "grep -q 'run [0-9]* of root at [0-9a-f]*: ' '$E2E_DIR/serve.err'"
ok $? "the root's run ended (with concurrency 1: the waiting parent lets its children run)"
grep -E "run [0-9]+ of root at [0-9a-f]+: Succeeded" -q "$E2E_DIR/serve.err"
ok $? "the root's run Succeeded: $(grep -E 'run [0-9]+ of root at' "$E2E_DIR/serve.err" | tail -n 1)"
for c in operators serving model-ranker model-embedder; do
	grep -qE "run [0-9]+ of $c at [0-9a-f]+: Succeeded" "$E2E_DIR/serve.err"
	ok $? "child $c ran as a run of its own and Succeeded"
done
l_op=$(grep -nE "run [0-9]+ of operators at [0-9a-f]+: Succeeded" "$E2E_DIR/serve.err" | head -n 1 | cut -d: -f1)
l_sv=$(grep -nE "run [0-9]+ of serving started" "$E2E_DIR/serve.err" | head -n 1 | cut -d: -f1)
[ -n "$l_op" ] && [ -n "$l_sv" ] && [ "$l_op" -lt "$l_sv" ]
ok $? "serving started after operators succeeded (log lines $l_op < $l_sv)"
succeeded() { grep -cE "run [0-9]+ of $1 at [0-9a-f]+: Succeeded" "$E2E_DIR/serve.err"; }
deliver() { # before after: a signed GitHub push of main
	"$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "http://127.0.0.1:$port/api/webhook/github" \
		--secret "$secret" --repo-url "file://$repo" --ref refs/heads/main --before "$1" --after "$2" \
		--git-dir "$repo" | cut -c1-3
}
idle() {
	wait_for 60 sh -c "curl -s -H 'Authorization: Bearer $token' http://127.0.0.1:$port/api/v1/applications |
		python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[\"routing\"] + sum(a[\"state\"] != \"Idle\" for a in d[\"applications\"]))'"
}
idle
n_root=$(succeeded root) n_serving=$(succeeded serving) n_ranker=$(succeeded model-ranker)
before=$(git -C "$repo" rev-parse HEAD)
cm model-server 2 >"$repo/serving/cm.yaml"
git -C "$repo" commit -qam "serving: model-server 2"
[ "$(deliver "$before" "$(git -C "$repo" rev-parse HEAD)")" = 202 ]
ok $? "a push under the serving child's own path is accepted"
wait_for 30 sh -c "[ \$(grep -cE 'run [0-9]+ of serving at [0-9a-f]+: Succeeded' '$E2E_DIR/serve.err') -gt $n_serving ]"
ok $? "it syncs the child"
idle
[ "$(succeeded root)" = "$n_root" ] && [ "$(succeeded model-ranker)" = "$n_ranker" ]
ok $? "and neither its parent nor its siblings"
[ "$(kget /api/v1/namespaces/aoa/configmaps/model-server | jget 'd["data"]["k"]')" = 2 ]
ok $? "the child's change is live"
mkdir -p "$repo/extra"
cm extra 1 >"$repo/extra/cm.yaml"
app extra extra 3 >"$repo/children/extra.yaml"
before=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" add -A && git -C "$repo" commit -qm "a new child: extra"
[ "$(deliver "$before" "$(git -C "$repo" rev-parse HEAD)")" = 202 ]
ok $? "a push adding a child to the root's folder is accepted"
wait_for 60 sh -c "grep -qE 'run [0-9]+ of extra at [0-9a-f]+: Succeeded' '$E2E_DIR/serve.err'"
ok $? "the applications are read again and the root's sync runs the new child"
[ "$(kget /api/v1/namespaces/aoa/configmaps/extra | jget 'd["data"]["k"]')" = 1 ]
ok $? "the new child's object is live"
idle
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/applications/serving" >"$E2E_DIR/api-serving.json"
[ "$(jget 'd.get("parent")' <"$E2E_DIR/api-serving.json")" = root ]
ok $? "the API names the child's parent"
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null
serve_pid=
! grep -lE "AddressSanitizer|LeakSanitizer|runtime error" "$E2E_DIR"/*.err >/dev/null 2>&1
ok $? "no sanitizer reports from wavesync"
tap_end
