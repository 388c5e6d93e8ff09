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
# object, the namespace and the verb, and leaves team-b empty. Then several
# replicas: deploy/replicas-install.yaml goes in (3 replicas, the disruption
# budget, the database's port), and its wavesync.yaml, pointed at a throwaway
# PostgreSQL with TLS and a password (tests/pgserver), migrates the schema and
# runs two replicas that share it.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
PGSERVER=$WS_SRCDIR/tests/pgserver
rep_pids=()
all_down() {
	for p in "${rep_pids[@]}"; do kill "$p" 2>/dev/null; done
	"$PGSERVER" down --dir "$E2E_DIR/pg" >/dev/null 2>&1
	services_down
}
trap all_down EXIT
start_fakectl
pinned_tools_on_path
kget() { curl -s --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }
kstatus() { curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
	--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }
deploy=$WS_SRCDIR/deploy

# ---- the manifests -------------------------------------------------------------
KUBECTL=$kubectl_bin "$WS_SRCDIR/scripts/gen-install" --check 2>"$E2E_DIR/gen.err"
ok $? "deploy/install.yaml, namespaced-install.yaml and replicas-install.yaml are what scripts/gen-install generates $(head -c 300 "$E2E_DIR/gen.err")"

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
all_applied() { # apply-output manifests count: every object of the file applied
	"$py" - "$@" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
docs = [d for d in open(sys.argv[2]).read().split("\n---\n") if "kind:" in d]
assert out["ok"] and len(out["objects"]) == len(docs) == int(sys.argv[3]), (len(out["objects"]), len(docs))
assert all(o["ok"] for o in out["objects"]), [o for o in out["objects"] if not o["ok"]]
PY
}
all_applied "$E2E_DIR/install.out" "$deploy/install.yaml" 9
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

# ---- several replicas on PostgreSQL ---------------------------------------------
# deploy/replicas-install.yaml: the base at 3 replicas with a store: section.
# Its StatefulSet is started in parallel (podManagementPolicy), a field the API
# server does not let change: over a one-replica installation, apply is refused
# until the StatefulSet is deleted with --cascade=orphan (deploy/README.md).
run_ws repinstall0 apply --kubeconfig "$DEVCLUSTER_KUBECONFIG" -f "$deploy/replicas-install.yaml" -o json
[ "$rc" -ne 0 ] && grep -q 'StatefulSet wavesync/wavesync' "$E2E_DIR/repinstall0.err" "$E2E_DIR/repinstall0.out" &&
	grep -qi 'forbidden' "$E2E_DIR/repinstall0.err" "$E2E_DIR/repinstall0.out"
ok $? "replicas: over the one-replica StatefulSet, apply is refused (podManagementPolicy cannot change; rc $rc) $(grep -h -m1 -io 'Forbidden: [^"]*' "$E2E_DIR/repinstall0.out" "$E2E_DIR/repinstall0.err" | head -c 160)"
sts_gone() { [ "$(kstatus /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync)" = 404 ]; }
# The garbage collector, which would drop the orphan finalizer, does not run
# here: the test does its part once the API server has marked the StatefulSet.
"$kubectl_bin" --kubeconfig "$DEVCLUSTER_KUBECONFIG" -n wavesync delete statefulset wavesync --cascade=orphan \
	--wait=false >/dev/null 2>"$E2E_DIR/orphan.err" &&
	[ "$(kget /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync | jget 'd["metadata"]["finalizers"]')" = "['orphan']" ] &&
	"$kubectl_bin" --kubeconfig "$DEVCLUSTER_KUBECONFIG" -n wavesync patch statefulset wavesync --type=merge \
		-p '{"metadata":{"finalizers":null}}' >/dev/null 2>>"$E2E_DIR/orphan.err" &&
	wait_for 10 sts_gone
ok $? "replicas: kubectl delete statefulset wavesync --cascade=orphan (its pods would stay) $(head -c 200 "$E2E_DIR/orphan.err")"
run_ws repinstall apply --kubeconfig "$DEVCLUSTER_KUBECONFIG" -f "$deploy/replicas-install.yaml" -o json
ok $rc "replicas: wavesync apply -f deploy/replicas-install.yaml (rc $rc) $(head -c 300 "$E2E_DIR/repinstall.err")"
all_applied "$E2E_DIR/repinstall.out" "$deploy/replicas-install.yaml" 10
ok $? "replicas: the API server accepted all 10 objects"
kget /apis/apps/v1/namespaces/wavesync/statefulsets/wavesync >"$E2E_DIR/rep-sts.json"
"$py" - "$E2E_DIR/rep-sts.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["spec"]
assert s["replicas"] == 3 and s["podManagementPolicy"] == "Parallel", (s["replicas"], s["podManagementPolicy"])
pod = s["template"]["spec"]
term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
assert term["topologyKey"] == "kubernetes.io/hostname", term
assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "wavesync"}, term
c = pod["containers"][0]
env = {e["name"]: e for e in c["env"]}
ref = env["WAVESYNC_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
assert (ref["name"], ref["key"]) == ("wavesync-secrets", "postgres-password"), ref
assert "GIT_PASSWORD" in env and "WAVESYNC_API_TOKEN" in env, sorted(env)
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["securityContext"]["readOnlyRootFilesystem"] is True
assert {"name": "secrets", "mountPath": "/etc/wavesync/secrets", "readOnly": True} in c["volumeMounts"]
PY
ok $? "replicas: the StatefulSet has 3 replicas, Parallel, spread by host name, the password from Secret key postgres-password, the base's probes"
[ "$(kget /apis/policy/v1/namespaces/wavesync/poddisruptionbudgets/wavesync |
	jget 'd["spec"]["maxUnavailable"], d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], d["spec"]["unhealthyPodEvictionPolicy"]')" = "1 wavesync AlwaysAllow" ]
ok $? "replicas: the PodDisruptionBudget lets one pod go at a time (and a pod that is not Ready)"
[ "$(kget /apis/networking.k8s.io/v1/namespaces/wavesync/networkpolicies/wavesync |
	jget 'sorted(p["port"] for r in d["spec"]["egress"] for p in r["ports"])')" = "[22, 53, 53, 80, 443, 5432, 6443]" ]
ok $? "replicas: the NetworkPolicy lets out to PostgreSQL (5432) as well as the base's ports"

# The live ConfigMap's wavesync.yaml, through wavesync's own loader and store.
kget /api/v1/namespaces/wavesync/configmaps/wavesync-config | jget 'd["data"]["wavesync.yaml"]' >"$E2E_DIR/rep.yaml"
grep -q 'sslmode=verify-full' "$E2E_DIR/rep.yaml" && grep -q 'password: env:WAVESYNC_DB_PASSWORD' "$E2E_DIR/rep.yaml"
ok $? "replicas: the live wavesync.yaml has the store section"
unset WAVESYNC_DB_PASSWORD
in_pod rep-nopw --config "$E2E_DIR/rep.yaml" store migrate
[ "$rc" -eq 2 ] && grep -q 'store.password: environment variable WAVESYNC_DB_PASSWORD is not set' "$E2E_DIR/rep-nopw.err"
ok $? "replicas: without the Secret key, the configuration names the missing variable (rc $rc) $(head -c 200 "$E2E_DIR/rep-nopw.err")"
WAVESYNC_DB_PASSWORD=unused in_pod rep-nodb --config "$E2E_DIR/rep.yaml" store migrate
[ "$rc" -eq 3 ] && grep -q 'postgres.wavesync.svc:5432/wavesync: connecting' "$E2E_DIR/rep-nodb.err"
ok $? "replicas: as shipped it loads, and store migrate goes to postgres.wavesync.svc (rc $rc, unreachable here) $(head -c 200 "$E2E_DIR/rep-nodb.err")"

# A real PostgreSQL with TLS (a CA made here, the server's certificate for
# localhost) and a password: the same store section, only the host, port, CA
# path and state folder changed, migrates the schema and runs two replicas.
if ! "$PGSERVER" up --dir "$E2E_DIR/pg" --password "pw-$RANDOM$RANDOM" --watch $$ >"$E2E_DIR/pg.up.log" 2>&1; then
	echo "Bail out! tests/pgserver up failed:"
	sed 's/^/# /' "$E2E_DIR/pg.up.log" | tail -n 30
	exit 1
fi
# shellcheck disable=SC1091
. "$E2E_DIR/pg/env"
tls=$E2E_DIR/pgtls
mkdir -p "$tls"
(
	cd "$tls" && set -e
	for ca in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$ca" \
			-keyout "$ca.key" -out "$ca.crt"
	done
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout server.key -out server.csr
	printf 'subjectAltName=DNS:localhost\n' >ext.cnf
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out server.crt
	owner=$(stat -c %u:%g "$PGSERVER_DIR/data")
	install -o "${owner%:*}" -g "${owner#*:}" -m 600 server.key "$PGSERVER_DIR/data/server.key"
	install -o "${owner%:*}" -g "${owner#*:}" -m 644 server.crt "$PGSERVER_DIR/data/server.crt"
) >"$E2E_DIR/pgtls.log" 2>&1 &&
	psql -X -q -A -t -w -v ON_ERROR_STOP=1 -h "$PGSERVER_SOCKET_DIR" -c "ALTER SYSTEM SET ssl = on" \
		-c "SELECT pg_reload_conf()" >>"$E2E_DIR/pgtls.log" 2>&1 &&
	wait_for 5 sh -c '[ "$(psql -X -A -t -w -h "$PGSERVER_SOCKET_DIR" -c "SHOW ssl" 2>/dev/null)" = on ]'
ok $? "replicas: PostgreSQL $PGPORT with TLS (a certificate for localhost from a test CA) and a password $(grep -m1 -iE 'error|fatal|unable' "$E2E_DIR/pgtls.log" | head -c 200)"
rewrite() { # out ca state: rep.yaml with the test server's host, port and CA, and a state folder
	sed -e "s#host=postgres.wavesync.svc port=5432#host=localhost port=$PGPORT#" \
		-e "s#/etc/wavesync/secrets/postgres-ca.crt#$2#" -e "s#/var/lib/wavesync#$3#" "$E2E_DIR/rep.yaml" >"$1"
}
rewrite "$E2E_DIR/rep-local.yaml" "$tls/ca.crt" "$E2E_DIR/rep-state-0"
rewrite "$E2E_DIR/rep-other.yaml" "$tls/other-ca.crt" "$E2E_DIR/rep-state-0"
[ "$(diff "$E2E_DIR/rep.yaml" "$E2E_DIR/rep-local.yaml" | grep -c '^>')" = 3 ] &&
	[ "$(diff "$E2E_DIR/rep.yaml" "$E2E_DIR/rep-local.yaml" | grep -c '^<')" = 3 ]
ok $? "replicas: the test's copy differs from the live wavesync.yaml only in host/port, caFile and stateDir"
WAVESYNC_DB_PASSWORD=$WS_PG_PASSWORD in_pod rep-other --config "$E2E_DIR/rep-other.yaml" store migrate
[ "$rc" -ne 0 ] && grep -q 'certificate verify failed' "$E2E_DIR/rep-other.err"
ok $? "replicas: a server whose certificate the CA did not sign is refused (rc $rc) $(head -c 200 "$E2E_DIR/rep-other.err")"
WAVESYNC_DB_PASSWORD=wrong-$RANDOM in_pod rep-badpw --config "$E2E_DIR/rep-local.yaml" store migrate
[ "$rc" -ne 0 ] && grep -q 'password authentication failed' "$E2E_DIR/rep-badpw.err"
ok $? "replicas: the password is the one from the variable (a wrong one is refused; rc $rc)"
WAVESYNC_DB_PASSWORD=$WS_PG_PASSWORD in_pod rep-migrate --config "$E2E_DIR/rep-local.yaml" store migrate
[ "$rc" -eq 0 ] && grep -q "store: PostgreSQL (localhost:$PGPORT/wavesync) migrated from schema version 0 to" \
	"$E2E_DIR/rep-migrate.out"
ok $? "replicas: wavesync store migrate over TLS with the shipped store section (rc $rc) $(cat "$E2E_DIR/rep-migrate.out" "$E2E_DIR/rep-migrate.err" | tr "\n" " " | head -c 300)"
for i in 0 1; do
	rewrite "$E2E_DIR/rep-$i.yaml" "$tls/ca.crt" "$E2E_DIR/rep-state-$i"
	rport[i]=$(free_port)
	WAVESYNC_DB_PASSWORD=$WS_PG_PASSWORD env -u KUBECONFIG KUBERNETES_SERVICE_HOST="${hostport%:*}" \
		KUBERNETES_SERVICE_PORT="${hostport##*:}" \
		unshare -m sh -c 'mount --make-rprivate / && mount -t tmpfs -o mode=755 tmpfs /run &&
			mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
			mount --bind -o ro "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"' \
		"$sa" "$WAVESYNC" --config "$E2E_DIR/rep-$i.yaml" serve --listen "127.0.0.1:${rport[$i]}" \
		>"$E2E_DIR/rep-serve-$i.out" 2>"$E2E_DIR/rep-serve-$i.err" &
	rep_pids+=($!)
done
wait_for 20 curl -sf "http://127.0.0.1:${rport[0]}/readyz" -o /dev/null &&
	wait_for 20 curl -sf "http://127.0.0.1:${rport[1]}/readyz" -o /dev/null
ok $? "replicas: two replicas with the shipped store section answer /readyz $(tail -n 2 "$E2E_DIR/rep-serve-1.err" | tr "\n" " " | head -c 300)"
live=$(psql -X -A -t -w -h "$PGSERVER_SOCKET_DIR" -c "SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM replicas" 2>&1)
ssl=$(psql -X -A -t -w -h "$PGSERVER_SOCKET_DIR" -c "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'wavesync'" 2>&1)
[ "$live" = "$(hostname):$E2E_DIR/rep-state-0,$(hostname):$E2E_DIR/rep-state-1" ]
ok $? "replicas: both registered in the shared database, named by host and state folder: $live"
[ "${ssl%|*}" -ge 2 ] && [ "${ssl%|*}" = "${ssl#*|}" ]
ok $? "replicas: every connection of theirs is TLS (with TLS|all: $ssl)"
for p in "${rep_pids[@]}"; do kill "$p" 2>/dev/null; done
for p in "${rep_pids[@]}"; do wait "$p" 2>/dev/null; done
rep_pids=()
"$PGSERVER" down --dir "$E2E_DIR/pg" >/dev/null 2>&1

! grep -lE "AddressSanitizer|LeakSanitizer|runtime error" "$E2E_DIR"/*.err >/dev/null 2>&1
ok $? "no sanitizer reports from wavesync"
tap_end
