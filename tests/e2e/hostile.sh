#!/usr/bin/env bash
# hostile.sh — what whoever can push (or reach the webhook port) must never
# be able to do, against a real control plane:
#   - a Helm valueFiles entry naming a host file, a URL, or ../ out of the
#     repository; an Application whose repoURL is not a configured repository;
#     a destination that matches no cluster: each refused by validate (the
#     pre-receive hook's check), plan and sync with a message naming the file
#     and line, and nothing applied;
#   - a 1 MB targetRevision: refused with the Application named, the revision
#     cut;
#   - a delivery with a forged signature and a newline in a field: 401 before
#     the body is read (a malformed body is a 401 too, not a 400), and no
#     forged line in the service log;
#   - a 429 storm: an apiserver with an in-flight limit of 1 for a non-exempt
#     user answers most of a 60-object sync with 429 Too Many Requests; the
#     sync still succeeds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DEVCLUSTER_APISERVER_ARGS="--max-requests-inflight=1 --max-mutating-requests-inflight=1" cluster_up
trap services_down EXIT

kapi() { # method path [body] -> body (as the admin: system:masters, exempt from the in-flight limit)
	curl -s -X "$1" --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		${3:+-H "Content-Type: application/json" --data "$3"} "$DEVCLUSTER_SERVER$2"
}
status_of() { # path -> HTTP status (admin)
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
throttled_total() { # 429s the apiserver has answered so far
	kapi GET /metrics | awk '/^apiserver_request_total\{/ && /code="429"/ { n += $NF } END { printf "%d\n", n }'
}

# wavesync's user: any verb (a ClusterRoleBinding to cluster-admin), but not in
# system:masters, so the in-flight limit applies to it
kapi POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion": "rbac.authorization.k8s.io/v1",
 "kind": "ClusterRoleBinding", "metadata": {"name": "wavesync-e2e-nobody-admin"},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}]}' >/dev/null

work=$E2E_DIR/repo
elsewhere=$E2E_DIR/elsewhere
app() { # name path [extra source lines] [destination name]
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source:
    repoURL: file://$work
    targetRevision: HEAD
    path: $2
${3:-}
  destination: {name: ${4:-in-cluster}, namespace: hostile-$1}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
YAML
}
git init -q -b main "$work"
git init -q -b main "$elsewhere"
mkdir -p "$work/apps" "$work/chart/templates" "$work/storm" "$elsewhere/stolen"
printf 'apiVersion: v2\nname: chart\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\ndata: {v: {{ .Values | toJson | quote }}}\n' \
	>"$work/chart/templates/cm.yaml"
printf 'a: 1\n' >"$work/chart/values.yaml"
for i in $(seq 0 59); do
	printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: storm-%d}\ndata: {i: "%d"}\n' "$i" "$i"
done >"$work/storm/all.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\ndata: {x: "1"}\n' >"$elsewhere/stolen/cm.yaml"
git -C "$elsewhere" add -A && git -C "$elsewhere" commit -q -m "not a configured repository"

app hostfile chart "    helm:
      valueFiles: [values.yaml, $DEVCLUSTER_KUBECONFIG]" >"$work/apps/hostfile.yaml"
app url chart "    helm:
      valueFiles: ['http://169.254.169.254/latest/meta-data/']" >"$work/apps/url.yaml"
app escape chart "    helm:
      valueFiles: ['../../../../../../..$DEVCLUSTER_KUBECONFIG']" >"$work/apps/escape.yaml"
app foreign stolen | sed "s#repoURL: file://$work#repoURL: file://$elsewhere#" >"$work/apps/foreign.yaml"
app nowhere storm "" no-such-cluster >"$work/apps/nowhere.yaml"
app storm storm "" limited >"$work/apps/storm.yaml"
app bigrev storm >"$work/apps/bigrev.yaml"
"$py" - "$work/apps/bigrev.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("targetRevision: HEAD", "targetRevision: " + "r" * (1 << 20))
open(p, "w").write(s)
PY
git -C "$work" add -A && git -C "$work" commit -q -m "applications, some hostile"

# the same apiserver under another name for the limited user (one server URL per cluster)
sed 's#https://127\.0\.0\.1:#https://localhost:#' "$DEVCLUSTER_KUBECONFIG_NOBODY" >"$E2E_DIR/kubeconfig-limited"
ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
secret=hook-secret-$RANDOM$RANDOM
printf '%s' "$secret" >"$E2E_DIR/hook.secret"
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - name: platform
    url: "file://$work"
    webhook: {secret: "file:$E2E_DIR/hook.secret"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
  - {name: limited, kubeconfig: $E2E_DIR/kubeconfig-limited}
applications:
  - {repository: platform, path: apps}
settings: {waveTimeout: 120s, stateDir: $E2E_DIR/state}
server: {listen: 127.0.0.1:$ws_port}
YAML

# ---- what a pushed Application may not do ------------------------------------------------------
run_ws validate --config "$cfg" validate
[ $rc -eq 2 ] &&
	grep -q "apps/hostfile.yaml:[0-9]*: .*valueFiles\[1\] \"$DEVCLUSTER_KUBECONFIG\": only files of the repository" "$E2E_DIR/validate.err" &&
	grep -q "apps/url.yaml:[0-9]*: .*valueFiles\[0\] \"http://169.254.169.254/latest/meta-data/\": only files of the repository" "$E2E_DIR/validate.err" &&
	grep -q "apps/escape.yaml:[0-9]*: .*valueFiles\[0\] .* escapes the repository" "$E2E_DIR/validate.err"
ok $? "validate: a host path, a URL and a ../ escape in valueFiles are refused, naming file and line ($(grep -c valueFiles "$E2E_DIR/validate.err") errors)"
grep -q "apps/foreign.yaml:[0-9]*: Application \"foreign\": source repoURL \"file://$elsewhere\" is not one of the repositories in wavesync.yaml" "$E2E_DIR/validate.err"
ok $? "validate: a repoURL outside wavesync.yaml's repositories is refused ($(grep -m1 -o 'source repoURL.*' "$E2E_DIR/validate.err" | head -c 120))"
grep -q "apps/nowhere.yaml:[0-9]*: Application \"nowhere\": destination name \"no-such-cluster\" matches no cluster" "$E2E_DIR/validate.err"
ok $? "validate: a destination that matches no cluster is refused (as the pre-receive hook runs it)"
run_ws plan_nowhere --config "$cfg" plan nowhere
[ $rc -eq 2 ] && grep -q "matches no cluster" "$E2E_DIR/plan_nowhere.err"
ok $? "plan of that application: exit 2, same message"
for a in hostfile url escape foreign; do
	run_ws "sync_$a" --config "$cfg" sync "$a"
	[ $rc -eq 2 ] || break
done
[ $rc -eq 2 ] && [ "$(status_of /api/v1/namespaces/hostile-hostfile/configmaps/leak)" = 404 ] &&
	[ "$(status_of /api/v1/namespaces/hostile-escape/configmaps/leak)" = 404 ] &&
	[ "$(status_of /api/v1/namespaces/hostile-foreign/configmaps/stolen)" = 404 ] &&
	[ "$(status_of /api/v1/namespaces/hostile-hostfile)" = 404 ]
ok $? "sync of each: exit 2, nothing created (no leaked ConfigMap, not even the namespace)"
! grep -rq "client-certificate-data\|BEGIN CERTIFICATE" "$E2E_DIR"/sync_*.out "$E2E_DIR"/sync_*.err
ok $? "no kubeconfig content in any output"

# an applications folder in which no file is a valid Application: not a sync that succeeded
sed "s#path: apps}#path: storm}#" "$cfg" >"$E2E_DIR/notapps.yaml"
run_ws notapps --config "$E2E_DIR/notapps.yaml" sync
[ $rc -eq 2 ] && grep -q "no applications to sync (none of them is valid)" "$E2E_DIR/notapps.err" &&
	grep -q "storm/all.yaml:[0-9]*: ConfigMap storm-0 is not an Application" "$E2E_DIR/notapps.err"
ok $? "sync with no valid Application in the folder: exit 2, naming the files ($(grep -m1 -o 'no applications.*' "$E2E_DIR/notapps.err"))"

# a 1 MB targetRevision: refused, the Application named, the revision cut
run_ws bigrev --config "$cfg" sync bigrev
[ $rc -eq 2 ] && [ "$(wc -c <"$E2E_DIR/bigrev.err")" -lt 4096 ] &&
	grep -q 'apps/bigrev.yaml:[0-9]*: Application "bigrev": spec.source.targetRevision "rrr[r]*\.\.\." is longer than' "$E2E_DIR/bigrev.err"
ok $? "a 1 MB targetRevision: an error naming the Application, the revision cut ($(wc -c <"$E2E_DIR/bigrev.err") bytes: $(head -c 200 "$E2E_DIR/bigrev.err"))"

# ---- a 429 storm ----------------------------------------------------------------------------------
before=$(throttled_total)
run_ws storm --config "$cfg" sync storm
after=$(throttled_total)
n=$(kapi GET /api/v1/namespaces/hostile-storm/configmaps | "$py" -c 'import json,sys; print(len([i for i in json.load(sys.stdin)["items"] if i["metadata"]["name"].startswith("storm-")]))')
[ $rc -eq 0 ] && [ "$n" = 60 ] && [ $((after - before)) -gt 0 ]
ok $? "a sync answered with 429s ($((after - before)) of them, in-flight limit 1) still succeeds: $n of 60 objects ($(tail -n 1 "$E2E_DIR/storm.err" | head -c 120))"

# ---- deliveries that are not signed by a configured secret -----------------------------------------
"$WS_BUILDDIR/wavesync" --config "$cfg" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
for _ in $(seq 100); do curl -sf "$ws_url/readyz" -o /dev/null && break; sleep 0.1; done
head=$(git -C "$work" rev-parse HEAD)
forged='{"ref":"refs/heads/main\n2026-01-01T00:00:00.000Z error FORGED line","before":"'$head'","after":"'$head'","repository":{"clone_url":"file://'$work'"}}'
sig=$(printf '%s' "$forged" | openssl dgst -sha256 -hmac "not-the-secret" | awk '{print $NF}')
code=$(curl -s -o "$E2E_DIR/forged.body" -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' \
	-H 'X-GitHub-Delivery: forged-1' -H "X-Hub-Signature-256: sha256=$sig" -H 'Content-Type: application/json' \
	--data-binary "$forged" "$ws_url/api/webhook")
[ "$code" = 401 ] && ! grep -q '^[^ ]* error FORGED' "$E2E_DIR/serve.err"
ok $? "a forged signature with a newline in a field: 401, and no forged line in the log ($(cat "$E2E_DIR/forged.body"))"
code=$(curl -s -o "$E2E_DIR/garbage.body" -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' \
	-H "X-Hub-Signature-256: sha256=$(printf '%064d' 0)" -H 'Content-Type: application/json' \
	--data-binary '{"ref": [[[[[[[[ not json' "$ws_url/api/webhook")
[ "$code" = 401 ]
ok $? "a malformed body with a wrong signature: 401, not 400 (the body is not read before the signature)"
sig=$(printf '%s' "$forged" | openssl dgst -sha256 -hmac "$secret" | awk '{print $NF}')
code=$(curl -s -o "$E2E_DIR/signed.body" -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' \
	-H 'X-GitHub-Delivery: signed-1' -H "X-Hub-Signature-256: sha256=$sig" -H 'Content-Type: application/json' \
	--data-binary "$forged" "$ws_url/api/webhook")
! grep -q '^[^ ]* error FORGED' "$E2E_DIR/serve.err" && kill -0 "$serve_pid"
ok $? "the same body correctly signed (HTTP $code): whatever is logged about its ref stays on one line"
kill "$serve_pid" && wait "$serve_pid"
ok $? "SIGTERM: stopped cleanly"
serve_pid=
! grep -q 'AddressSanitizer\|runtime error' "$E2E_DIR/serve.err" "$E2E_DIR"/*.err
ok $? "no sanitizer reports"
tap_end
