#!/usr/bin/env bash
# cli.sh — the real wavesync binary against a real control plane (with the
# fixture CRDs): apply the sample ML platform, idempotence, exit codes, and
# bad input that must change nothing in the cluster.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up --crds
data=$WS_SRCDIR/tests/e2e/data
kc=$DEVCLUSTER_KUBECONFIG

http_status() { # path -> HTTP status of a GET with the admin certificate
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}

run_ws version --kubeconfig "$kc" version
ok $rc "version against the cluster exits 0"
grep -q "server $DEVCLUSTER_K8S_VERSION" "$E2E_DIR/version.out"
ok $? "version prints the server's version"

run_ws apply1 --kubeconfig "$kc" apply "$WS_SRCDIR/fixtures/plain"
ok $rc "apply the sample ML platform exits 0"
n=$(grep -c '^applied ' "$E2E_DIR/apply1.out" || true)
[ "$n" -eq 11 ]
ok $? "all 11 objects applied (got $n)"
grep -q '^11 applied, 0 failed' "$E2E_DIR/apply1.out"
ok $? "summary line counts them"
for p in /api/v1/namespaces/ml-platform \
	/apis/apps/v1/namespaces/ml-platform/deployments/resnet50-server \
	/apis/kubeflow.org/v1/namespaces/ml-platform/pytorchjobs/resnet50-finetune \
	/apis/serving.kserve.io/v1beta1/namespaces/ml-platform/inferenceservices/sklearn-iris \
	/apis/batch/v1/namespaces/ml-platform/cronjobs/materialize-features; do
	[ "$(http_status "$p")" = 200 ]
	ok $? "exists: $p"
done

run_ws apply2 --kubeconfig "$kc" apply "$WS_SRCDIR/fixtures/plain"
ok $rc "applying again exits 0"
# kube-apiserver rewrites a Job's managedFields once on its first re-apply (it
# takes over the generated selector labels), so idempotence is checked from
# the second apply on: a third apply must change nothing at all.
run_ws apply3 --kubeconfig "$kc" apply "$WS_SRCDIR/fixtures/plain"
diff <(grep '^applied' "$E2E_DIR/apply2.out") <(grep '^applied' "$E2E_DIR/apply3.out") >/dev/null
ok $? "applying unchanged manifests leaves every resourceVersion unchanged"

run_ws json --kubeconfig "$kc" --output json apply "$data/ok_configmap.yaml"
ok $rc "--output json exits 0"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["objects"][0]["object"]=="v1 ConfigMap default/cli-probe"' \
	"$E2E_DIR/json.out"
ok $? "--output json is a JSON report naming each object"

run_ws dry --kubeconfig "$kc" apply --dry-run "$data/err_unknown_kind.yaml"
[ $rc -eq 2 ]
ok $? "dry run with an unknown kind exits 2"

# Bad input: a clear error naming the file and place, exit 2, nothing changed.
run_ws malformed --kubeconfig "$kc" apply "$data/err_malformed.yaml"
[ $rc -eq 2 ]
ok $? "malformed YAML exits 2"
grep -qE "err_malformed.yaml:[78]:[0-9]+: .*line 7" "$E2E_DIR/malformed.err"
ok $? "malformed YAML: the error names file:line ($(head -c 200 "$E2E_DIR/malformed.err"))"
[ "$(http_status /api/v1/namespaces/default/configmaps/should-not-exist)" = 404 ]
ok $? "malformed YAML: nothing applied"

run_ws unknown --kubeconfig "$kc" apply "$data/err_unknown_kind.yaml"
[ $rc -eq 2 ]
ok $? "unknown kind exits 2"
grep -q 'no matches for kind "ModelThatDoesNotExist" in version "ml.example.com/v1"' "$E2E_DIR/unknown.err"
ok $? "unknown kind: the error names kind and version"
grep -q 'ml.example.com/v1 ModelThatDoesNotExist default/ghost' "$E2E_DIR/unknown.err"
ok $? "unknown kind: the error names the object"
[ "$(http_status /api/v1/namespaces/default/configmaps/should-not-exist-either)" = 404 ]
ok $? "unknown kind: the valid objects beside it were not applied either"

run_ws nokind --kubeconfig "$kc" apply "$data/err_no_kind.yaml"
[ $rc -eq 2 ] && grep -q "err_no_kind.yaml:5: object has no kind" "$E2E_DIR/nokind.err"
ok $? "object without kind: exit 2 naming file:line"

# Cluster trouble: exit 3 with a clear message.
sed "s/^\(    token: \).*/\1wrong-token/" "$DEVCLUSTER_KUBECONFIG_TOKEN" >"$E2E_DIR/kc-wrong-token"
run_ws wrongtoken --kubeconfig "$E2E_DIR/kc-wrong-token" apply "$data/ok_configmap.yaml"
[ $rc -eq 3 ] && grep -q "401 Unauthorized" "$E2E_DIR/wrongtoken.err"
ok $? "wrong token: exit 3, 401 Unauthorized in the message"
if grep -q "wrong-token" "$E2E_DIR/wrongtoken.err" "$E2E_DIR/wrongtoken.out"; then false; else true; fi
ok $? "wrong token: the token never appears in the output"

sed "s#server: .*#server: https://127.0.0.1:1#" "$kc" >"$E2E_DIR/kc-unreachable"
run_ws unreachable --kubeconfig "$E2E_DIR/kc-unreachable" apply "$data/ok_configmap.yaml"
[ $rc -eq 3 ] && grep -q "cannot reach https://127.0.0.1:1" "$E2E_DIR/unreachable.err"
ok $? "unreachable server: exit 3 naming the server"

run_ws nocfg --kubeconfig "$E2E_DIR/does-not-exist" apply "$data/ok_configmap.yaml"
[ $rc -eq 2 ] && grep -q "does-not-exist" "$E2E_DIR/nocfg.err"
ok $? "missing kubeconfig: exit 2 naming the file"

run_ws badcmd frobnicate
[ $rc -eq 2 ] && grep -q 'unknown command "frobnicate"' "$E2E_DIR/badcmd.err"
ok $? "unknown command: exit 2"

tap_end
