#!/usr/bin/env bash
# live_errors.sh — live state in `wavesync serve` when it cannot see what it
# tracks: a cluster whose user RBAC forbids listing and watching one resource
# type (the objects of that type are Unknown, saying why, the others Synced;
# once allowed, the next sync watches again and the application is Synced),
# and a resource type that disappears (a CRD deleted under a Synced custom
# resource: the object is no longer Synced, with the reason, and the service
# and its other applications carry on). Never a silent gap.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT

kapi() { # method path [body] [content-type] -> body (as the admin)
	curl -s -X "$1" --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		${3:+-H "Content-Type: ${4:-application/json}" --data "$3"} "$DEVCLUSTER_SERVER$2"
}
nobody_can() { # path: the HTTP status of a GET as the user "nobody" is 200
	[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" \
		-H "Authorization: Bearer $(cat "$DEVCLUSTER_NOBODY_TOKEN_FILE")" "$DEVCLUSTER_SERVER$1")" = 200 ]
}
appj() { curl -s "$ws_url/api/v1/applications/$1" | jget "$2"; }
res() { # app kind expression: of the resource of that kind, r (r["status"], r["health"]["message"]...)
	appj "$1" "[$3 for r in d['resources'] if r['kind'] == '$2'][0]"
}
is_status() { [ "$(appj "$1" 'd["syncStatus"]')" = "$2" ]; }
trigger() { run_ws "trigger_$1_$2" --config "$cfg" trigger "$1" --wait --timeout 60s --token "file:$E2E_DIR/api.token"; }

# ---- a user that may do what the sync does, but not list or watch Services --------------------
role() { # the verbs on services
	cat <<JSON
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "wavesync-e2e-limited"},
 "rules": [
  {"apiGroups": [""], "resources": ["namespaces", "configmaps"],
   "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
  {"apiGroups": [""], "resources": ["services"], "verbs": $1}]}
JSON
}
kapi POST /apis/rbac.authorization.k8s.io/v1/clusterroles \
	"$(role '["get", "create", "patch", "update", "delete"]')" >/dev/null
kapi POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion": "rbac.authorization.k8s.io/v1",
 "kind": "ClusterRoleBinding", "metadata": {"name": "wavesync-e2e-limited"},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "wavesync-e2e-limited"},
 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}]}' >/dev/null
wait_for 10 nobody_can /api/v1/configmaps && ! nobody_can /api/v1/services
ok $? "RBAC: nobody may list ConfigMaps, not Services"

# ---- a CRD whose type will vanish ----------------------------------------------------------------
kapi POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions '{"apiVersion": "apiextensions.k8s.io/v1",
 "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.e2e.wavesync.dev"},
 "spec": {"group": "e2e.wavesync.dev", "scope": "Namespaced",
  "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
  "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object",
   "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}}' >/dev/null
crd_established() {
	kapi GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.wavesync.dev |
		jget '[c["status"] for c in d["status"]["conditions"] if c["type"] == "Established"][0]' | grep -q True
}
wait_for 20 crd_established
ok $? "CRD widgets.e2e.wavesync.dev is Established"

# ---- three manual applications: rbac on the limited cluster, widgets and bystander on the admin's --
work=$E2E_DIR/repo
app() { # name cluster namespace
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: file://$work, targetRevision: HEAD, path: $1}
  destination: {name: $2, namespace: $3}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
YAML
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/rbac" "$work/widgets" "$work/bystander"
app rbac limited errs-rbac >"$work/apps/rbac.yaml"
app widgets in-cluster errs-widgets >"$work/apps/widgets.yaml"
app bystander in-cluster errs-bystander >"$work/apps/bystander.yaml"
cat >"$work/rbac/all.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: rbac-config}
data: {threshold: "0.7"}
---
apiVersion: v1
kind: Service
metadata: {name: rbac-svc}
spec:
  selector: {app: rbac}
  ports: [{port: 80, targetPort: 8080}]
YAML
cat >"$work/widgets/all.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: widgets-config}
data: {size: "3"}
---
apiVersion: e2e.wavesync.dev/v1
kind: Widget
metadata: {name: gear}
spec: {teeth: 12}
YAML
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bystander}\ndata: {mode: "git"}\n' >"$work/bystander/cm.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m "three applications"

ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
printf 'token-%s' "$RANDOM$RANDOM" >"$E2E_DIR/api.token"
# the same apiserver under another name: two clusters may not answer to one server URL
sed 's#https://127\.0\.0\.1:#https://localhost:#' "$DEVCLUSTER_KUBECONFIG_NOBODY" >"$E2E_DIR/kubeconfig-limited"
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - {name: errs, url: "file://$work"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
  - {name: limited, kubeconfig: $E2E_DIR/kubeconfig-limited}
applications:
  - {repository: errs, path: apps}
settings: {waveTimeout: 30s, stateDir: $E2E_DIR/state}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$E2E_DIR/api.token"
YAML

"$WS_BUILDDIR/wavesync" --config "$cfg" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 10 curl -sf "$ws_url/readyz" -o /dev/null
ok $? "serve: ready"

# ---- RBAC forbids listing and watching Services -------------------------------------------------
svc_forbidden() { # verb: the Service is Unknown, the reason names the type and the verb refused
	local m
	m=$(res rbac Service 'r["status"] + " " + r["health"]["status"] + ": " + r["health"]["message"]')
	case "$m" in "Unknown Unknown: cannot watch v1 Service: "*) ;; *) return 1 ;; esac
	grep -qi 'forbidden' <<<"$m" && grep -qF "cannot $1 resource \"services\"" <<<"$m"
}
svc_reason() { res rbac Service 'r["health"]["message"]' | head -c 220; }
wait_for 20 svc_forbidden list
ok $? "at startup: the Service rbac-svc is Unknown, with why ($(svc_reason))"

trigger rbac 1
[ "$rc" = 0 ]
ok $? "trigger rbac --wait: the sync itself succeeds (get/create/patch are allowed; rc=$rc $(tail -n 2 "$E2E_DIR/trigger_rbac_1.err" | tr '\n' ' '))"
wait_for 20 svc_forbidden list && is_status rbac Unknown
ok $? "after the sync: rbac is Unknown, not Synced ($(appj rbac 'd["syncStatus"]'))"
appj rbac 'd["comparedTo"]["message"]' >"$E2E_DIR/rbac.message"
grep -qi 'forbidden' "$E2E_DIR/rbac.message" && grep -qF 'cannot watch v1 Service' "$E2E_DIR/rbac.message"
ok $? "the application's message says why, naming the resource type ($(head -c 220 "$E2E_DIR/rbac.message"))"
[ "$(res rbac ConfigMap 'r["status"] + " " + r["health"]["status"]')" = "Synced Healthy" ]
ok $? "the ConfigMap, whose type may be watched, is Synced ($(res rbac ConfigMap 'r["status"]'))"
grep -Eq '^wavesync_live_watches\{state="failed"\} [1-9]' <<<"$(curl -s "$ws_url/metrics")"
ok $? "metrics: a failed watch is counted ($(curl -s "$ws_url/metrics" | grep '^wavesync_live_watches{state="failed"}'))"
run_ws status_rbac --config "$cfg" status rbac
grep -q '^Sync status: *Unknown' "$E2E_DIR/status_rbac.out" && grep -qi 'forbidden' "$E2E_DIR/status_rbac.out"
ok $? "wavesync status rbac: Unknown, and forbidden"

# list allowed, watch not: the list alone must not make it Synced
kapi PUT /apis/rbac.authorization.k8s.io/v1/clusterroles/wavesync-e2e-limited \
	"$(role '["get", "list", "create", "patch", "update", "delete"]')" >/dev/null
wait_for 10 nobody_can /api/v1/services && ! nobody_can '/api/v1/services?watch=1&timeoutSeconds=1'
ok $? "RBAC: nobody may list Services now, not watch them"
trigger rbac 2
[ "$rc" = 0 ] && wait_for 20 svc_forbidden watch && is_status rbac Unknown
ok $? "after the next sync: the watch is tried again, and refused: still Unknown ($(svc_reason))"

# allowed now: the next sync of the application watches again
kapi PUT /apis/rbac.authorization.k8s.io/v1/clusterroles/wavesync-e2e-limited \
	"$(role '["get", "list", "watch", "create", "patch", "update", "delete"]')" >/dev/null
wait_for 10 nobody_can '/api/v1/services?watch=1&timeoutSeconds=1'
ok $? "RBAC: nobody may watch Services now"
trigger rbac 3
[ "$rc" = 0 ] && wait_for 20 is_status rbac Synced
ok $? "after the next sync: rbac is Synced ($(appj rbac 'd["syncStatus"], d["comparedTo"]["message"]'))"
[ "$(res rbac Service 'r["status"] + " " + r["health"]["status"]')" = "Synced Healthy" ]
ok $? "and its Service Synced and Healthy ($(res rbac Service 'r["status"] + " " + r["health"]["status"] + ": " + r["health"]["message"]'))"
grep -q '^wavesync_live_watches{state="failed"} 0' <<<"$(curl -s "$ws_url/metrics")" # not a pipe: grep -q quitting early would fail curl (pipefail)
ok $? "metrics: no failed watch left"

# ---- a resource type that disappears ------------------------------------------------------------
trigger widgets 1
r1=$rc
trigger bystander 1
[ "$r1" = 0 ] && [ "$rc" = 0 ] && wait_for 20 is_status widgets Synced && wait_for 20 is_status bystander Synced
ok $? "widgets and bystander synced: Synced ($(appj widgets 'd["syncStatus"]') $(appj bystander 'd["syncStatus"]'))"
[ "$(res widgets Widget 'r["status"]')" = Synced ]
ok $? "the Widget gear is Synced"

kapi DELETE /apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.wavesync.dev >/dev/null
crd_gone() { [ "$(kapi GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.e2e.wavesync.dev |
	jget 'd.get("code")')" = 404 ]; }
wait_for 20 crd_gone
ok $? "the CRD is deleted"
widget_state() { res widgets Widget 'r["status"] + " " + r["health"]["status"] + ": " + r["health"]["message"]'; }
widget_not_synced() { # Missing (its objects deleted with the CRD) or Unknown (the type is gone), saying why
	case "$(widget_state)" in
	"OutOfSync Missing: "?* | "Unknown Unknown: "?*) ;;
	*) return 1 ;;
	esac
}
wait_for 20 widget_not_synced
ok $? "the Widget is no longer Synced, with a reason ($(widget_state))"
! is_status widgets Synced && appj widgets 'd["comparedTo"]["message"]' | grep -q .
ok $? "the application says so ($(appj widgets 'd["syncStatus"], d["comparedTo"]["message"]'))"
widget_type_gone() { case "$(widget_state)" in "Unknown Unknown: cannot watch e2e.wavesync.dev/v1 Widget: "?*) ;; *) return 1 ;; esac; }
wait_for 20 widget_type_gone && is_status widgets Unknown
ok $? "once its type is no longer served: Unknown, naming the type and why ($(widget_state))"
[ "$(res widgets ConfigMap 'r["status"]')" = Synced ]
ok $? "its ConfigMap is still Synced"

curl -sf "$ws_url/readyz" -o /dev/null && kill -0 "$serve_pid"
ok $? "the service keeps running (readyz)"
is_status bystander Synced && is_status rbac Synced
ok $? "the other applications are fine ($(appj bystander 'd["syncStatus"]') $(appj rbac 'd["syncStatus"]'))"
kapi PATCH /api/v1/namespaces/errs-bystander/configmaps/bystander?fieldManager=kubectl-edit '{"data":{"mode":"hand"}}' \
	application/merge-patch+json >/dev/null
wait_for 10 is_status bystander OutOfSync
ok $? "and still watched: a change by hand makes bystander OutOfSync"

! grep -q 'ERROR\|AddressSanitizer\|runtime error' "$E2E_DIR/serve.err"
ok $? "no sanitizer reports or errors from the service"
kill "$serve_pid" && wait "$serve_pid"
ok $? "SIGTERM: stopped cleanly"
# a start with the type already gone: what Git says cannot be planned; the
# API says why instead of "not tracked yet"
"$WS_BUILDDIR/wavesync" --config "$cfg" serve >>"$E2E_DIR/serve.out" 2>>"$E2E_DIR/serve2.err" &
serve_pid=$!
wait_for 10 curl -sf "$ws_url/readyz" -o /dev/null
wait_for 20 eval 'appj widgets "d[\"comparedTo\"][\"message\"]" | grep -q "cannot tell what Git says.*Widget"'
ok $? "restarted without the CRD: widgets says why its live state is unknown ($(appj widgets 'd["syncStatus"], d["comparedTo"]["message"][:160]'))"
kill "$serve_pid" && wait "$serve_pid"
ok $? "SIGTERM: stopped cleanly again"
serve_pid=
tap_end
