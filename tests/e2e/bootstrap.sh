#!/usr/bin/env bash
# bootstrap.sh — the sample ML platform from one app-of-apps root, end to end:
# fixtures/ml-platform/bootstrap/platform.yaml on a real control plane with no
# CRDs installed, its operators' charts (fixtures/helm-charts, packaged by
# tests/fixture-charts) served by a real Helm repository (chartrepo.py).
# `wavesync sync platform` installs the training operator and KServe from the
# repository (wave -1: their CRDs and controllers), then the platform's
# applications in their waves, each wave only once the one before is
# Healthy; the manual ones are left for a person; a second sync fetches no
# chart archive.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
start_fakectl
pinned_tools_on_path

fixture_chart_repo
ok $? "the operator charts packaged into a Helm repository"
cfg=$(FIXTURE_CHARTS_URL=$charts_url FIXTURE_APPLICATIONS=bootstrap \
	"$WS_SRCDIR/tests/make-fixture-repo" "$E2E_DIR/fx" "$DEVCLUSTER_KUBECONFIG") || {
	echo "Bail out! make-fixture-repo failed"
	exit 1
}
kget() { curl -s --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"; }

run_ws apps --config "$cfg" apps -o json
ok $rc "wavesync apps (rc $rc)"
kids=$(jget '",".join(sorted(a["name"] for a in d["applications"] if a.get("parent") == "platform"))' <"$E2E_DIR/apps.out")
[ "$kids" = "features,kserve,llm,model-registry,monitoring,nlp-classifier-production,recommendation-v2-production,serving,training,training-operator" ]
ok $? "every application is a child of the root: $kids"

run_ws sync --config "$cfg" sync platform -o json
ok $rc "wavesync sync platform (rc $rc): $(grep -m1 -iE 'error|fail' "$E2E_DIR/sync.err" | head -c 300)"
for crd in pytorchjobs.kubeflow.org inferenceservices.serving.kserve.io; do
	[ "$(kget "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$crd" | jget 'd["metadata"]["name"]')" = "$crd" ]
	ok $? "the operators' chart installed the CRD $crd"
done
[ "$(kget /apis/apps/v1/namespaces/kubeflow/deployments/training-operator | jget 'd["metadata"]["labels"]["helm.sh/chart"]')" = training-operator-1.8.1 ]
ok $? "the training operator is the chart's 1.8.1 (1.8.x from the repository)"
python3 - "$E2E_DIR/sync.out" <<'PY'
import json, sys
root = json.load(open(sys.argv[1]))
assert root["result"] == "Succeeded", root.get("message")
objs = {o["object"].split()[-1].split("/")[-1]: o for o in root["objects"]}
ops = [objs["training-operator"], objs["kserve"]]
wave0 = [objs[n] for n in ("features", "model-registry", "monitoring")]
wave1 = [objs["serving"], objs["ml-models"]]
assert all(o["result"] == "Synced" for o in ops + wave0 + wave1), objs
# a wave starts only once the one before is Healthy
assert max(o["healthyMs"] for o in ops) <= min(o["appliedMs"] for o in wave0), (ops, wave0)
assert max(o["healthyMs"] for o in wave0) <= min(o["appliedMs"] for o in wave1), (wave0, wave1)
for manual in ("training", "llm"):
    assert objs[manual]["result"] == "Skipped" and "manual" in objs[manual]["message"], objs[manual]
children = sorted(r["application"] for r in root["children"])
assert children == ["features", "kserve", "model-registry", "monitoring", "nlp-classifier-production",
                    "recommendation-v2-production", "serving", "training-operator"], children
assert all(r["result"] == "Succeeded" for r in root["children"]), [(r["application"], r["message"]) for r in root["children"]]
PY
ok $? "operators first, then the pipelines and registry, then the model servers; training and llm left manual"
[ "$(kget /apis/apps/v1/namespaces/ml-serving/deployments | jget 'len(d["items"])')" -ge 1 ]
ok $? "the model servers run"

archives() { grep -c '\.tgz 200' "$E2E_DIR/charts.log"; }
before=$(archives)
run_ws sync2 --config "$cfg" sync platform -o json
ok $rc "a second sync of the root (rc $rc)"
[ "$(archives)" = "$before" ]
ok $? "it fetched no chart archive again ($before before, $(archives) after)"
! grep -lE "AddressSanitizer|LeakSanitizer|runtime error" "$E2E_DIR"/*.err >/dev/null 2>&1
ok $? "no sanitizer reports from wavesync"
tap_end
