#!/usr/bin/env bash
# install.sh — wavesync installed in a cluster, end to end on a real control
# plane: deploy/install.yaml is what deploy/base generates; `wavesync apply`
# (server-side, fieldValidation=Strict: a misspelt field is refused) puts it
# in the cluster and every object is there. Then wavesync runs as its
# ServiceAccount the way a pod does — a token from the TokenRequest API,
# KUBERNETES_SERVICE_HOST/PORT, and token, ca.crt and namespace mounted at
# /var/run/secrets/kubernetes.io/serviceaccount (a private mount namespace) —
# with `inCluster: true` in wavesync.yaml: it syncs the whole fixture platform
# (proof the ClusterRole is enough), and its own installation (the self/
# Application: wavesync managing wavesync), and `serve` starts with the
# shipped configuration. Last, the namespaced variant: bound to team-a, a sync
# there works and one into team-b is refused with a 403 that names the
# object, the namespace and the verb, and leaves team-b empty.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
start_fakectl
pinned_tools_on_path
kget() { curl -s --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }
kstatus() { curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
	--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }
deploy=$WS_SRCDIR/deploy

# ---- the manifests -------------------------------------------------------------
KUBECTL=$kubectl_bin "$WS_SRCDIR/scripts/gen-install" --check 2>"$E2E_DIR/gen.err"
ok $? "deploy/install.yaml and namespaced-install.yaml are what scripts/gen-install generates $(head -c 300 "$E2E_DIR/gen.err")"

# strict field validation: a misspelt field is an error, and nothing is created
cat >"$E2E_DIR/typo.yaml" <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata: {name: typo, namespace: default}
automountServiceAcountToken: false
YAML
run_ws typo apply --kubeconfig "$DEVCLUSTER_KUBECONFIG" -f "$E2E_DIR/typo.yaml"
[ "$rc" -ne 0 ] && grep -q '500 Invalid: .*automountServiceAcountToken: field not declared in schema (a field the API server does not know' "$E2E_DIR/typo.err" &&
	[ "$(kstatus /api/v1/namespaces/default/serviceaccounts/typo)" = 404 ]
ok $? "wavesync apply refuses a misspelt field (rc $rc): $(head -c 200 "$E2E_DIR/typo.err")"

run_ws install apply --kubeconfig "$DEVCLUSTER_KUBECONFIG" -f "$deploy/install.yaml" -o json
ok $rc "wavesync apply -f deploy/install.yaml (rc $rc) $(head -c 300 "$E2E_DIR/install.err")"
"$py" - "$E2E_DIR/install.out" "$deploy/install.yaml" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
docs = [d for d in open(sys.argv[2]).read().split("\n---\n") if "kind:" in d]
assert out["ok"] and len(out["objects"]) == len(docs) == 9, (len(out["objects"]), len(docs))
assert all(o["ok"] for o in out["objects"]), [o for o in out["objects"] if not o["ok"]]
PY
ok $? "the API server accepted all 9 objects"
for path in /api/v1/namespaces/wavesync /api/v1/namespaces/wavesync/serviceaccounts/wavesync \
	/apis/rbac.authorization.k8s.io/v1/clusterroles/wavesync \
	/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/wavesync \
	/api/v1/namespaces/wavesync/configmaps/wavesync-config /api/v1/namespaces/wavesync/secrets/wavesync-secrets \
	/apis/apps/v1/namespaces/wavesync/statefulsets/wavesync /api/v1/namespaces/wavesync/services/wavesync \
	/apis/networking.k8s.io/v1/namespaces/wavesync/networkpolicies/wavesync; do
	[ "$(kstatus "$path")" = 200 ]
	ok $? "in the cluster: $path"
done
[ "$(kget /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync |
	jget 'd["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]')" = True ]
ok $? "the StatefulSet kept its security context (read-only root filesystem)"

# ---- wavesync as its ServiceAccount, the way a pod runs -----------------------
sa=$E2E_DIR/serviceaccount
mkdir -p "$sa"
"$kubectl_bin" --kubeconfig "$DEVCLUSTER_KUBECONFIG" -n wavesync create token wavesync --duration 2h \
	>"$sa/token" 2>"$E2E_DIR/token.err"
ok $? "a token for ServiceAccount wavesync/wavesync from the TokenRequest API $(head -c 200 "$E2E_DIR/token.err")"
cp "$DEVCLUSTER_CA" "$sa/ca.crt"
printf wavesync >"$sa/namespace"
hostport=${DEVCLUSTER_SERVER#https://}
# in_pod NAME ARGS...: run_ws with only what a pod has — no kubeconfig; the
# service account folder mounted where kubelet mounts it, on a tmpfs over /run
# in a private mount namespace (nothing is left on the host's /run)
in_pod() {
	local name=$1
	shift
	env -u KUBECONFIG KUBERNETES_SERVICE_HOST="${hostport%:*}" KUBERNETES_SERVICE_PORT="${hostport##*:}" \
		unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs -o mode=755 tmpfs /run &&
			mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
			mount --bind -o ro "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"' \
		"$sa" "$WAVESYNC" "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err"
	rc=$?
}
if ! unshare -m true 2>/dev/null; then
	echo "Bail out! unshare -m needs root (CAP_SYS_ADMIN) to mount the service account as a pod sees it"
	exit 1
fi

fixture_chart_repo
ok $? "the operator charts packaged into a Helm repository"
cfg=$(FIXTURE_CHARTS_URL=$charts_url FIXTURE_APPLICATIONS="bootstrap self" FIXTURE_IN_CLUSTER=1 \
	"$WS_SRCDIR/tests/make-fixture-repo" "$E2E_DIR/fx" -) || {
	echo "Bail out! make-fixture-repo failed"
	exit 1
}

run_ws outside --config "$cfg" apps
[ "$rc" -eq 2 ] && grep -q 'clusters\[0\] "in-cluster": in-cluster: KUBERNETES_SERVICE_HOST' "$E2E_DIR/outside.err"
ok $? "outside a pod, inCluster: true is a configuration error naming the variables (rc $rc)"

in_pod apps --config "$cfg" apps -o json
ok $rc "in the pod: wavesync apps (rc $rc) $(head -c 300 "$E2E_DIR/apps.err")"
[ "$(jget '",".join(a["name"] + "=" + a.get("cluster", "?") for a in d["applications"] if a["name"] in ("platform", "wavesync"))' \
	<"$E2E_DIR/apps.out")" = "platform=in-cluster,wavesync=in-cluster" ]
ok $? "destination name in-cluster and server https://kubernetes.default.svc are the in-cluster cluster: $(jget '[(a["name"], a.get("cluster")) for a in d["applications"]][:3]' <"$E2E_DIR/apps.out")"

in_pod sync --config "$cfg" sync platform -o json
ok $rc "as ServiceAccount wavesync: wavesync sync platform (rc $rc) $(grep -m1 -iE 'error|fail|forbidden' "$E2E_DIR/sync.err" | head -c 300)"
"$py" - "$E2E_DIR/sync.out" <<'PY'
import json, sys
root = json.load(open(sys.argv[1]))
assert root["result"] == "Succeeded", root.get("message")
children = sorted(r["application"] for r in root["children"])
assert children == ["features", "kserve", "model-registry", "monitoring", "nlp-classifier-production",
                    "recommendation-v2-production", "serving", "training-operator"], children
assert all(r["result"] == "Succeeded" for r in root["children"]), [(r["application"], r["message"]) for r in root["children"]]
PY
ok $? "every automated application of the platform synced, as the ServiceAccount"
for path in /apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferenceservices.serving.kserve.io \
	/apis/apps/v1/namespaces/kubeflow/deployments/training-operator \
	/api/v1/namespaces/wavesync/configmaps/wavesync-inventory-serving; do
	[ "$(kstatus "$path")" = 200 ]
	ok $? "written by the ServiceAccount: $path"
done
[ "$(kget /apis/apps/v1/namespaces/ml-serving/deployments | jget 'len(d["items"])')" -ge 1 ]
ok $? "the model servers are in the cluster"
[ "$(kget /apis/apps/v1/namespaces/kubeflow/deployments/training-operator |
	jget '[f["manager"] for f in d["metadata"]["managedFields"] if f["operation"] == "Apply"][0]')" = wavesync ]
ok $? "applied server-side by field manager wavesync"

# wavesync apply in a pod with no kubeconfig uses the service account, as kubectl does
cat >"$E2E_DIR/podapply.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: applied-from-pod, namespace: wavesync}
data: {by: serviceaccount}
YAML
HOME=$E2E_DIR/home in_pod podapply apply -f "$E2E_DIR/podapply.yaml"
[ "$rc" -eq 0 ] && [ "$(kget /api/v1/namespaces/wavesync/configmaps/applied-from-pod |
	jget '[f["manager"] for f in d["metadata"]["managedFields"]][0]')" = wavesync ]
ok $? "in the pod, wavesync apply without a kubeconfig uses the service account (rc $rc) $(head -c 200 "$E2E_DIR/podapply.err")"

# wavesync syncs its own installation (fixtures/ml-platform/self/wavesync.yaml)
in_pod self --config "$cfg" sync wavesync -o json
ok $rc "as ServiceAccount wavesync: wavesync sync wavesync, its own installation (rc $rc) $(grep -m1 -iE 'error|fail|forbidden' "$E2E_DIR/self.err" | head -c 300)"
"$py" - "$E2E_DIR/self.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["result"] == "Succeeded", r.get("message")
kinds = sorted(o["object"].split()[1] for o in r["objects"])
assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Namespace", "NetworkPolicy", "Secret",
                 "Service", "ServiceAccount", "StatefulSet"], kinds
assert all(o["result"] == "Synced" for o in r["objects"]), r["objects"]
PY
ok $? "all nine objects of the installation synced and Healthy (the StatefulSet's status from fakectl)"
kget /api/v1/namespaces/wavesync/configmaps/wavesync-config | jget 'd["data"]["wavesync.yaml"]' >"$E2E_DIR/live.yaml"
grep -q 'path: self' "$E2E_DIR/live.yaml" && grep -q 'inCluster: true' "$E2E_DIR/live.yaml"
ok $? "the live wavesync.yaml is now the platform's (its repository, in-cluster, bootstrap and self)"
[ "$(kget /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync |
	jget 'd["metadata"]["annotations"].get("wavesync.dev/tracking-id", "")')" = "wavesync:apps/StatefulSet:wavesync/wavesync" ]
ok $? "the StatefulSet is tracked as the wavesync application's: $(kget /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync | jget 'd["metadata"].get("annotations")' | head -c 200)"

# serve starts in the pod with the shipped configuration (stateDir and port
# moved: the pod's volume and port are not here)
port=$(free_port)
"$py" - "$deploy/install.yaml" "$E2E_DIR/shipped.yaml" "$E2E_DIR/shipped-state" "$port" <<'PY'
import sys
text = open(sys.argv[1]).read()
doc = next(d for d in text.split("\n---\n") if "name: wavesync-config" in d)
body = doc.split("wavesync.yaml: |\n", 1)[1]
lines = []
for l in body.splitlines():
    if l.strip() and not l.startswith("    "):
        break
    lines.append(l[4:])
cfg = "\n".join(lines).replace("/var/lib/wavesync", sys.argv[3]).replace("0.0.0.0:8080", "127.0.0.1:" + sys.argv[4])
open(sys.argv[2], "w").write(cfg + "\n")
PY
env -u KUBECONFIG KUBERNETES_SERVICE_HOST="${hostport%:*}" KUBERNETES_SERVICE_PORT="${hostport##*:}" \
	unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs -o mode=755 tmpfs /run &&
		mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
		mount --bind -o ro "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"' \
	"$sa" "$WAVESYNC" --config "$E2E_DIR/shipped.yaml" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 20 curl -sf "http://127.0.0.1:$port/readyz" -o /dev/null
ok $? "the shipped wavesync.yaml: serve in the pod answers /readyz $(tail -n 2 "$E2E_DIR/serve.err" | tr "\n" " " | head -c 300)"
[ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ]
ok $? "and /healthz (the liveness probe)"
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null
serve_pid=

# ---- the namespaced variant ----------------------------------------------------
# Switch variants: without the ClusterRoleBinding the ServiceAccount keeps only
# what namespaced-install.yaml grants (team-a, and the inventory).
"$kubectl_bin" --kubeconfig "$DEVCLUSTER_KUBECONFIG" delete clusterrolebinding wavesync >/dev/null 2>&1
run_ws nsinstall apply --kubeconfig "$DEVCLUSTER_KUBECONFIG" -f "$deploy/namespaced-install.yaml" -o json
ok $rc "wavesync apply -f deploy/namespaced-install.yaml (rc $rc) $(head -c 300 "$E2E_DIR/nsinstall.err")"
[ "$(kstatus /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles/wavesync)" = 200 ] &&
	[ "$(kstatus /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/wavesync)" = 404 ]
ok $? "a Role in team-a, no cluster-wide binding"
"$kubectl_bin" --kubeconfig "$DEVCLUSTER_KUBECONFIG" create namespace team-b >/dev/null
team=$E2E_DIR/team
mkdir -p "$team/apps" "$team/a" "$team/b"
for t in a b; do
	cat >"$team/apps/team-$t.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: team-$t}
spec:
  source: {repoURL: "file://$team", targetRevision: HEAD, path: $t}
  destination: {server: https://kubernetes.default.svc, namespace: team-$t}
  syncPolicy: {automated: {prune: true}}
YAML
	cat >"$team/$t/app.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: features}
data: {window: 7d}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: scorer}
spec:
  replicas: 1
  selector: {matchLabels: {app: scorer}}
  template:
    metadata: {labels: {app: scorer}}
    spec: {containers: [{name: scorer, image: registry.local/scorer:1}]}
YAML
done
git -C "$team" init -q -b main && git -C "$team" add -A && git -C "$team" commit -q -m teams
cat >"$E2E_DIR/team.yaml" <<YAML
repositories:
  - {name: team, url: "file://$team"}
clusters:
  - inCluster: true
applications:
  - {repository: team, path: apps}
settings:
  stateDir: $E2E_DIR/team-state
  inventoryNamespace: wavesync
  waveTimeout: 1m
YAML
in_pod team-a --config "$E2E_DIR/team.yaml" sync team-a
ok $rc "namespaced: a sync into team-a works (rc $rc) $(grep -m1 -iE 'error|forbidden' "$E2E_DIR/team-a.err" | head -c 300)"
[ "$(kstatus /apis/apps/v1/namespaces/team-a/deployments/scorer)" = 200 ] &&
	[ "$(kstatus /api/v1/namespaces/wavesync/configmaps/wavesync-inventory-team-a)" = 200 ]
ok $? "namespaced: the Deployment in team-a and the inventory in wavesync"
in_pod team-b --config "$E2E_DIR/team.yaml" sync team-b
ok $([ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; echo $?) "namespaced: a sync into team-b fails (rc $rc)"
msg=$(cat "$E2E_DIR/team-b.out" "$E2E_DIR/team-b.err")
diag "$(grep -m1 -i forbidden <<<"$msg" | head -c 400)"
grep -q '403' <<<"$msg" && grep -q 'team-b' <<<"$msg" && grep -qE 'cannot patch resource "(configmaps|deployments)"' <<<"$msg" &&
	grep -qE 'ConfigMap team-b/features|Deployment team-b/scorer' <<<"$msg"
ok $? "namespaced: the 403 names the object, the namespace and the verb"
grep -q 'system:serviceaccount:wavesync:wavesync' <<<"$msg"
ok $? "namespaced: and who was refused"
[ "$(kget /api/v1/namespaces/team-b/configmaps | jget '[i["metadata"]["name"] for i in d["items"] if i["metadata"]["name"] == "features"]')" = "[]" ] &&
	[ "$(kget /apis/apps/v1/namespaces/team-b/deployments | jget 'len(d["items"])')" = 0 ]
ok $? "namespaced: nothing was written to team-b"

sed 's/namespace: wavesync/namespace: team-b/' "$E2E_DIR/podapply.yaml" >"$E2E_DIR/podapply-b.yaml"
HOME=$E2E_DIR/home in_pod podapply-b apply -f "$E2E_DIR/podapply-b.yaml"
[ "$rc" -ne 0 ] && grep -q 'User "system:serviceaccount:wavesync:wavesync" cannot patch resource "configmaps"' \
	"$E2E_DIR/podapply-b.err"
ok $? "namespaced: wavesync apply in the pod is the ServiceAccount, refused in team-b (rc $rc)"

! grep -lE "AddressSanitizer|LeakSanitizer|runtime error" "$E2E_DIR"/*.err >/dev/null 2>&1
ok $? "no sanitizer reports from wavesync"
tap_end
