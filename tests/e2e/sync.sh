#!/usr/bin/env bash
# sync.sh — `wavesync sync` end to end: the real binary, a real control plane
# (fakectl plays the controllers by writing /status), and a real Git
# repository made from fixtures/ml-platform. Covers wave order, deadlines,
# CrashLoopBackOff, hooks and delete policies, prune, bad input, idempotence,
# CreateNamespace, Force, and ignoreDifferences with RespectIgnoreDifferences.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
fx=$E2E_DIR/fx
cfg=$("$WS_SRCDIR/tests/make-fixture-repo" "$fx" "$DEVCLUSTER_KUBECONFIG") || {
	echo "Bail out! make-fixture-repo failed"
	exit 1
}
repo=$fx/repo
ctl_log=$E2E_DIR/fakectl.log
"$WS_BUILDDIR/tests/e2e/fakectl" "$ctl_log" 2>"$E2E_DIR/fakectl.err" &
ctl_pid=$!
trap 'kill $ctl_pid 2>/dev/null; cluster_down' EXIT
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid

commit() { git -C "$repo" add -A && git -C "$repo" commit -q -m "$1"; }
ws() { # name args...: run wavesync with the fixture config
	local name=$1
	shift
	run_ws "$name" --config "$cfg" "$@"
}
api() { # path -> JSON on stdout (empty on 404)
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
status_of() { # path -> HTTP status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
field() { # path python-expression-on-d
	api "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}
rvs_of_ns() { # namespace -> sorted "kind/name rv" lines of the app's objects (hooks excluded)
	local ns=$1 p
	for p in api/v1/namespaces/$ns/configmaps api/v1/namespaces/$ns/secrets api/v1/namespaces/$ns/services \
		api/v1/namespaces/$ns/persistentvolumeclaims apis/apps/v1/namespaces/$ns/deployments; do
		api "/$p" | python3 -c '
import json,sys
for o in json.load(sys.stdin)["items"]:
    a = o["metadata"].get("annotations") or {}
    if "wavesync.dev/tracking-id" in a:
        print(o["metadata"]["name"], o["metadata"]["resourceVersion"])'
	done | sort
}
NS=/api/v1/namespaces

# ---- the first sync of the serving application --------------------------------
ws plan1 --output json plan serving
ok $rc "plan serving exits 0"
python3 - "$E2E_DIR/plan1.out" "$WS_SRCDIR/tests/e2e/data/serving-plan.golden" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
got = [f'{w["phase"]} {w["wave"]} {o}' for w in plan["waves"] for o in w["objects"]]
want = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
if got != want:
    print("# plan differs from the golden order:")
    for g, w in zip(got + [""] * len(want), want + [""] * len(got)):
        print(f"#   {'  ' if g == w else '!='} {g!r:70} {w!r}")
    sys.exit(1)
PY
ok $? "the plan's order matches Argo CD's for the fixture (phase, wave, kind, name)"

ws sync1 --output json sync serving
ok $rc "sync serving exits 0 ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$E2E_DIR/sync1.out" 2>/dev/null))"
cp "$E2E_DIR/sync1.out" "$E2E_DIR/report1.json"

# Order on the server: every object of wave N+1 was created after every object
# of wave N was Healthy, judged by etcd resourceVersions (monotonic), from the
# event log of fakectl (creation = first ADDED; Healthy = fakectl's status
# write for kinds it controls, else creation).
python3 - "$E2E_DIR/plan1.out" "$ctl_log" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
created, ready = {}, {}
for line in open(sys.argv[2]):
    e = json.loads(line)
    key = (e["kind"], e.get("namespace") or "", e["name"])
    if e.get("event") == "ADDED":
        created.setdefault(key, e["rv"])
    if e.get("action") == "ready":
        ready[key] = e["rv"]
def key_of(ident):
    _, kind, rest = ident.split(" ", 2)
    ns, _, name = rest.rpartition("/")
    return (kind, ns, name)
waves = [w for w in plan["waves"] if w["phase"] != "SyncFail"]
bad = 0
for prev, nxt in zip(waves, waves[1:]):
    keys = [key_of(o) for o in prev["objects"]]
    healthy_at = max(ready.get(k, created.get(k, 0)) for k in keys)
    for o in nxt["objects"]:
        k = key_of(o)
        if k == ("Namespace", "", "ml-serving"):
            continue  # also created up front by CreateNamespace=true
        if k not in created:
            print(f"# {o}: never seen created"); bad += 1
        elif created[k] <= healthy_at:
            print(f"# {o} created at rv {created[k]} before wave {prev['phase']} {prev['wave']} was healthy (rv {healthy_at})"); bad += 1
sys.exit(1 if bad else 0)
PY
ok $? "each wave's objects were created only after every object of the previous wave was Healthy"

adv=$(python3 -c '
import json,sys,statistics
r=json.load(open(sys.argv[1]))
a=[w["advanceMs"] for w in r["waves"] if "advanceMs" in w]
print("%.3f %.3f %d" % (statistics.median(a), max(a), len(a)))' "$E2E_DIR/report1.json")
diag "wave advancement (last object Healthy -> first apply of the next wave): median/max ms, waves: $adv"
awk -v m="${adv%% *}" 'BEGIN { exit !(m < 50) }'
ok $? "wave advancement median under 50 ms (${adv%% *} ms)"

[ "$(status_of $NS/ml-serving/configmaps/serving-config)" = 200 ] &&
	[ "$(field /apis/apps/v1/namespaces/ml-serving/deployments/resnet50-server 'd["metadata"]["annotations"]["wavesync.dev/tracking-id"]')" = "serving:apps/Deployment:ml-serving/resnet50-server" ]
ok $? "objects carry the tracking annotation"
inv=$(field $NS/wavesync/configmaps/wavesync-inventory-serving 'len(json.loads(d["data"]["objects.json"]))')
[ "${inv:-0}" -eq 16 ]
ok $? "the inventory ConfigMap lists the application's 16 objects (got ${inv:-none})"

# Hooks: the PreSync hook ran before wave 0 and is kept (BeforeHookCreation);
# the PostSync hook ran last and was deleted when it succeeded (HookSucceeded).
pre_uid=$(field /apis/batch/v1/namespaces/ml-serving/jobs/migrate-feature-schema 'd["metadata"]["uid"]')
[ -n "$pre_uid" ]
ok $? "PreSync hook Job exists after the sync (delete policy BeforeHookCreation)"
python3 - "$ctl_log" <<'PY'
import json, sys
c = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "ADDED":
        c.setdefault((e["kind"], e["name"]), e["rv"])
ok = c[("Job", "migrate-feature-schema")] < c[("ConfigMap", "serving-config")] < c[("Deployment", "metrics-exporter")] < c[("Job", "smoke-test")]
sys.exit(0 if ok else 1)
PY
ok $? "hooks ran in their phases: PreSync before wave 0, PostSync after wave 4"
sleep 0.5
[ "$(status_of /apis/batch/v1/namespaces/ml-serving/jobs/smoke-test)" = 404 ]
ok $? "PostSync hook deleted after success (HookSucceeded)"
[ "$(status_of /apis/batch/v1/namespaces/ml-serving/jobs/notify-failure)" = 404 ]
ok $? "SyncFail hook did not run on success"

# ---- re-sync of an unchanged revision ------------------------------------------
before=$(rvs_of_ns ml-serving)
inv_rv=$(field $NS/wavesync/configmaps/wavesync-inventory-serving 'd["metadata"]["resourceVersion"]')
ws sync2 --log-level debug sync serving
ok $rc "re-sync of the same revision exits 0"
after=$(rvs_of_ns ml-serving)
[ -n "$before" ] && [ "$before" = "$after" ]
ok $? "re-syncing an unchanged revision changes no resourceVersion ($(wc -l <<<"$before") objects)"
unchanged=$(cat "$E2E_DIR/sync2.out" "$E2E_DIR/sync2.err" | grep -o '[0-9]* of [0-9]* objects are already as Git says' | head -1)
[ "${unchanged%% of *}" = "$inv" ]
[ -n "$inv_rv" ] && [ "$(field $NS/wavesync/configmaps/wavesync-inventory-serving 'd["metadata"]["resourceVersion"]')" = "$inv_rv" ]
ok $? "nor its inventory, which already listed them"
ok $? "none of its $inv objects was sent again: one list per resource type found them as Git says ($unchanged)" ||
	grep ': applied' "$E2E_DIR/sync2.err" | sed 's/^/# /' 
# a field removed from Git is a difference too: that object alone is applied
sed -i '/MODEL_REGISTRY: s3:\/\/models.local\/registry/d' "$repo/serving/00-config.yaml"
commit "serving: no MODEL_REGISTRY"
ws sync2b sync serving
unchanged=$(cat "$E2E_DIR/sync2b.out" "$E2E_DIR/sync2b.err" | grep -o '[0-9]* of [0-9]* objects are already as Git says' | head -1)
[ $rc -eq 0 ] && [ "$(field $NS/ml-serving/configmaps/serving-config '"MODEL_REGISTRY" in d["data"]')" = False ] &&
	[ "${unchanged%% of *}" = $((inv - 1)) ]
ok $? "a key removed from Git: the ConfigMap is applied and loses it, the other objects are left alone ($unchanged)"
git -C "$repo" revert --no-edit HEAD >/dev/null
ws sync2c sync serving
ok $rc "and back ($(field $NS/ml-serving/configmaps/serving-config 'd["data"]["MODEL_REGISTRY"]'))"
[ "$(field /apis/batch/v1/namespaces/ml-serving/jobs/migrate-feature-schema 'd["metadata"]["uid"]')" != "$pre_uid" ]
ok $? "BeforeHookCreation: the PreSync hook was deleted and created again"

# ---- a wave that misses its deadline ---------------------------------------------
cat >"$repo/serving/03-never-ready.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck-server
  annotations:
    argocd.argoproj.io/sync-wave: "3"
    wavesync.dev/wave-timeout: 3s
    e2e.wavesync.dev/never-ready: "true"
spec:
  replicas: 1
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      containers: [{name: s, image: registry.local/stuck:1}]
EOF
cat >"$repo/serving/04-after.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: after-the-deadline
  annotations:
    argocd.argoproj.io/sync-wave: "4"
data: {x: "1"}
EOF
commit "a model server that never becomes available"
ws deadline --output json sync serving
[ $rc -eq 1 ]
ok $? "a wave past its deadline fails the sync with exit code 1 (got $rc)"
read -r wave_ms msg_ok <<<"$(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
w=[w for w in r["waves"] if w["result"]=="Timeout"]
m=r["message"]
print(w[0]["durationMs"] if w else -1, int("stuck-server" in m and "Progressing" in m and "available" in m))' "$E2E_DIR/deadline.out")"
awk -v t="$wave_ms" 'BEGIN { exit !(t >= 3000 && t <= 3300) }'
ok $? "the wave failed at its 3s deadline, within 10% (${wave_ms} ms)"
[ "$msg_ok" = 1 ]
ok $? "the failure names the object and why: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"][:200])' "$E2E_DIR/deadline.out")"
[ "$(status_of $NS/ml-serving/configmaps/after-the-deadline)" = 404 ]
ok $? "later waves were not applied"
[ "$(status_of /apis/batch/v1/namespaces/ml-serving/jobs/notify-failure)" = 200 ]
ok $? "the SyncFail hook ran"
git -C "$repo" rm -q serving/03-never-ready.yaml serving/04-after.yaml
commit "remove the stuck server"
ws recover sync serving
ok $rc "sync recovers once the stuck server is gone from Git"
[ "$(status_of /apis/apps/v1/namespaces/ml-serving/deployments/stuck-server)" = 404 ]
ok $? "prune removed the object deleted from Git (automated prune)"

# ---- a training Job in CrashLoopBackOff fails fast ----------------------------------
ws train1 sync training
ok $rc "sync training exits 0"
[ "$(status_of $NS/ml-training)" = 200 ]
ok $? "CreateNamespace=true created the destination namespace"
cat >"$repo/training/crash-job.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: crashing-train
  annotations:
    argocd.argoproj.io/sync-wave: "2"
    wavesync.dev/wave-timeout: 60s
    e2e.wavesync.dev/crashloop: "true"
spec:
  backoffLimit: 3
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: train, image: registry.local/train:broken}]
EOF
commit "a training job that crash-loops"
t0=$(date +%s%N)
ws crash --output json sync training
t1=$(date +%s%N)
crash_ms=$(((t1 - t0) / 1000000))
[ $rc -eq 1 ] && grep -q CrashLoopBackOff "$E2E_DIR/crash.out"
ok $? "a Job with a pod in CrashLoopBackOff fails the sync (exit $rc)"
[ $crash_ms -lt 15000 ]
ok $? "it fails well before its 60s deadline (${crash_ms} ms)"
git -C "$repo" rm -q training/crash-job.yaml
commit "drop the crashing job"

# ---- Force=true replaces a Job whose template changed -------------------------------
ws train2 sync training
job_uid=$(field /apis/batch/v1/namespaces/ml-training/jobs/resnet50-train 'd["metadata"]["uid"]')
sed -i 's#registry.local/trainer:1.4#registry.local/trainer:1.5#' "$repo/training/train-job.yaml"
commit "trainer 1.5"
ws force sync training
ok $rc "sync with a changed Job template exits 0 (Force=true)"
[ -n "$job_uid" ] && [ "$(field /apis/batch/v1/namespaces/ml-training/jobs/resnet50-train 'd["metadata"]["uid"]')" != "$job_uid" ] &&
	[ "$(field /apis/batch/v1/namespaces/ml-training/jobs/resnet50-train 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = registry.local/trainer:1.5 ]
ok $? "the Job was replaced, not left stuck on an immutable field"

# ---- Replace=true and ApplyOutOfSyncOnly=true ----------------------------------------
cat >"$repo/training/options.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: replaced-config
  annotations:
    argocd.argoproj.io/sync-options: Replace=true
data: {mode: replace}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: out-of-sync-only
  annotations:
    argocd.argoproj.io/sync-options: ApplyOutOfSyncOnly=true
data: {mode: skip-when-unchanged}
EOF
commit "sync options per object"
ws opts1 --output json sync training
ok $rc "sync with Replace=true and ApplyOutOfSyncOnly=true objects exits 0"
[ "$(field $NS/ml-training/configmaps/replaced-config '[m["operation"] for m in d["metadata"]["managedFields"]][0]')" = Update ]
ok $? "Replace=true: the object was written with PUT (an Update), not server-side apply"
ws opts2 --output json sync training
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
res = {o["object"]: o["result"] for o in r["objects"]}
sys.exit(0 if res.get("v1 ConfigMap ml-training/out-of-sync-only") == "Unchanged" else 1)' "$E2E_DIR/opts2.out"
ok $? "ApplyOutOfSyncOnly=true: an unchanged object is not applied again"
git -C "$repo" rm -q training/options.yaml
commit "drop the option examples"

# ---- prune off keeps objects removed from Git ---------------------------------------
git -C "$repo" rm -q training/hyperparams.yaml
sed -i '/envFrom/d' "$repo/training/train-job.yaml"
commit "hyperparameters moved elsewhere"
ws noprune --output json sync training
ok $rc "sync training without prune exits 0"
[ "$(status_of $NS/ml-training/configmaps/resnet50-hyperparams)" = 200 ] &&
	grep -q 'prune is off' "$E2E_DIR/noprune.out"
ok $? "prune off: the object removed from Git is kept and reported"

# ---- prune with Prune=false ---------------------------------------------------------
ws mon1 sync monitoring
ok $rc "sync monitoring exits 0"
python3 - "$repo/monitoring/prometheus.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("kind: ConfigMap\nmetadata:\n  name: prometheus-config\n",
              "kind: ConfigMap\nmetadata:\n  name: prometheus-config\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\n")
s = s.replace("kind: Deployment\nmetadata:\n  name: prometheus\n",
              "kind: Deployment\nmetadata:\n  name: prometheus\n  annotations:\n    argocd.argoproj.io/sync-options: PruneLast=true\n")
open(p, "w").write(s)
PY
commit "keep the prometheus config; prune the server last"
ws mon2 sync monitoring
python3 - "$repo/monitoring/prometheus.yaml" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
docs = [d for d in docs if "kind: Service" not in d and "kind: ConfigMap" not in d and "kind: Deployment" not in d]
open(p, "w").write("\n---\n".join(docs) + "\n")
PY
commit "drop prometheus"
ws mon3 sync monitoring
ok $rc "sync monitoring after removing objects exits 0"
[ "$(status_of $NS/monitoring/services/prometheus)" = 404 ]
ok $? "prune removed the Service deleted from Git"
[ "$(status_of $NS/monitoring/configmaps/prometheus-config)" = 200 ]
ok $? "prune kept the ConfigMap marked Prune=false"
python3 - "$ctl_log" <<'PY'
import json, sys
d = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "DELETED" and e.get("namespace") == "monitoring":
        d[e["kind"]] = e["rv"]
# reverse kind order would delete the Deployment before the Service; PruneLast defers it
sys.exit(0 if "Deployment" in d and "Service" in d and d["Deployment"] > d["Service"] else 1)
PY
ok $? "PruneLast=true: the Deployment was pruned after the Service"

# ---- bad input changes nothing -------------------------------------------------------
rv_before=$(field $NS/ml-serving/configmaps/serving-config 'd["metadata"]["resourceVersion"]')
sed -i 's#s3://models.local/registry#s3://models.local/registry-v2#' "$repo/serving/00-config.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  key: [unclosed\n' >"$repo/serving/05-broken.yaml"
commit "a change next to malformed YAML"
ws malformed sync serving
[ $rc -eq 2 ] && grep -q '05-broken.yaml:[67]:' "$E2E_DIR/malformed.err"
ok $? "malformed YAML: exit 2 naming file:line ($(grep -o '05-broken.yaml[^ ]*' "$E2E_DIR/malformed.err" | head -1))"
[ "$(field $NS/ml-serving/configmaps/serving-config 'd["metadata"]["resourceVersion"]')" = "$rv_before" ]
ok $? "malformed YAML: the valid change beside it was not applied"
git -C "$repo" rm -q serving/05-broken.yaml
cat >"$repo/serving/05-unknown.yaml" <<'EOF'
apiVersion: ml.example.com/v1
kind: ModelThatDoesNotExist
metadata:
  name: ghost
EOF
commit "an unknown kind"
ws unknown sync serving
[ $rc -eq 2 ] && grep -qE 'ModelThatDoesNotExist (ml-serving/)?ghost' "$E2E_DIR/unknown.err"
ok $? "unknown kind: exit 2 naming the object"
[ "$(field $NS/ml-serving/configmaps/serving-config 'd["metadata"]["resourceVersion"]')" = "$rv_before" ]
ok $? "unknown kind: nothing applied"
git -C "$repo" rm -q serving/05-unknown.yaml
ln -s ../../../../../../etc/passwd "$repo/serving/05-evil.yaml"
commit "a symlink out of the repository"
ws symlink sync serving
[ $rc -eq 2 ] && grep -q 'escapes the repository' "$E2E_DIR/symlink.err"
ok $? "a symlink escaping the repository: exit 2 ($(grep -m1 escapes "$E2E_DIR/symlink.err" | head -c 160))"
git -C "$repo" rm -q serving/05-evil.yaml
cat >"$repo/apps/escape.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: escape
spec:
  source: {repoURL: file:///nowhere, path: ../../etc}
  destination: {name: in-cluster, namespace: default}
EOF
commit "an application whose path escapes the repository"
ws escape sync escape
[ $rc -eq 2 ] && grep -q 'apps/escape.yaml' "$E2E_DIR/escape.err" && grep -q 'escapes the repository' "$E2E_DIR/escape.err"
ok $? "a path escaping the repository: exit 2 naming the file ($(grep -m1 escapes "$E2E_DIR/escape.err" | head -c 160))"
ws others sync serving
ok $rc "the other applications still sync beside the broken one"
[ "$(field $NS/ml-serving/configmaps/serving-config 'd["data"]["MODEL_REGISTRY"]')" = s3://models.local/registry-v2 ]
ok $? "and their pending change is applied once the input is fixed"

# ---- syncPolicy.retry ------------------------------------------------------------------
mkdir -p "$repo/retry"
cat >"$repo/retry/stuck.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
  annotations:
    wavesync.dev/wave-timeout: 1s
    e2e.wavesync.dev/never-ready: "true"
spec:
  replicas: 1
  selector: {matchLabels: {app: never-ready}}
  template:
    metadata: {labels: {app: never-ready}}
    spec:
      containers: [{name: s, image: registry.local/stuck:1}]
EOF
sed "s#name: monitoring#name: retry-demo#; s#path: monitoring#path: retry#; s#namespace: monitoring#namespace: ml-retry#; s#duration: 5s#duration: 1s#; s#limit: 2#limit: 1#" \
	"$repo/apps/monitoring.yaml" >"$repo/apps/retry-demo.yaml"
commit "an application that keeps failing, with retry.limit 1"
t0=$(date +%s%N)
ws retry --output json sync retry-demo
t1=$(date +%s%N)
attempts=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("attempts"))' "$E2E_DIR/retry.out" 2>/dev/null)
[ $rc -eq 1 ] && [ "$attempts" = 2 ]
ok $? "syncPolicy.retry: a failing sync ran again once, then failed (attempts $attempts, $(((t1 - t0) / 1000000)) ms)"
git -C "$repo" rm -q -r retry apps/retry-demo.yaml
commit "drop the retry demo"

# ---- a Kustomize source ------------------------------------------------------------------
# kubectl from the dev cluster's cache renders it (`kubectl kustomize`), so the
# test does not depend on what the machine happens to have installed.
kubectl_bin=$("$DEVCLUSTER" build-kubectl 2>/dev/null | tail -n 1)
PATH="$(dirname "$kubectl_bin"):$PATH" ws kustomize sync features
ok $rc "a Kustomize source syncs (kustomize build via $(basename "$kubectl_bin"))"
[ "$(status_of /apis/batch/v1/namespaces/ml-features/cronjobs/prod-materialize-features)" = 200 ]
ok $? "the rendered objects (namePrefix applied) are in the cluster"
PATH=/nonexistent ws notools sync features
[ $rc -eq 2 ] && grep -q 'kustomize' "$E2E_DIR/notools.err" && grep -q 'kubectl' "$E2E_DIR/notools.err"
ok $? "without kustomize or kubectl: exit 2 with a clear message ($(grep -m1 -o 'install.*' "$E2E_DIR/notools.err" | head -c 120))"

# ---- a Helm source -----------------------------------------------------------------------
# helm from the dev cluster's cache renders it (`helm template`), likewise.
helm_bin=$("$DEVCLUSTER" build-helm 2>/dev/null | tail -n 1)
PATH="$(dirname "$helm_bin"):$PATH" ws helm sync model-registry
ok $rc "a Helm source syncs (helm template via $(basename "$helm_bin"))"
REG=/apis/apps/v1/namespaces/ml-registry/deployments/registry-model-registry
[ "$(status_of $NS/ml-registry/configmaps/registry-model-registry-config)" = 200 ] &&
	[ "$(status_of $NS/ml-registry/services/registry-model-registry)" = 200 ] &&
	[ "$(field $REG 'd["metadata"]["annotations"]["wavesync.dev/tracking-id"]')" = \
		"model-registry:apps/Deployment:ml-registry/registry-model-registry" ]
ok $? "the rendered objects (release name and namespace applied) are in the cluster"
[ "$(field $REG 'd["spec"]["replicas"]')" = 2 ]
ok $? "the parameter replicas=2 wins over values-prod.yaml (got $(field $REG 'd["spec"]["replicas"]'))"
[ "$(field $REG 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = registry.local/model-registry:1.4.2 ]
ok $? "the image tag comes from values-prod.yaml ($(field $REG 'd["spec"]["template"]["spec"]["containers"][0]["image"]'))"
PATH=/nonexistent ws nohelm sync model-registry
[ $rc -eq 2 ] && grep -q 'helm' "$E2E_DIR/nohelm.err"
ok $? "without helm: exit 2 with a clear message ($(grep -m1 -o 'install.*' "$E2E_DIR/nohelm.err" | head -c 120))"

# ---- ignoreDifferences and RespectIgnoreDifferences=true ---------------------------------
# An HPA (here: a person scaling by hand) owns a Deployment's replicas; a
# controller rotates a token in a ConfigMap. With RespectIgnoreDifferences=true
# the sync leaves both at their live values and applies the rest of Git.
mkdir -p "$repo/scaling"
cat >"$repo/scaling/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.local/web:1}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data: {token: from-git, mode: one}
EOF
cat >"$repo/apps/scaling.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: scaling
spec:
  source: {repoURL: file://$repo, path: scaling}
  destination: {name: in-cluster, namespace: ml-scaling}
  syncPolicy:
    syncOptions: [CreateNamespace=true, RespectIgnoreDifferences=true]
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
    - kind: ConfigMap
      name: web-config
      jqPathExpressions: ['.data["token"]']
EOF
commit "scaling: replicas owned by an autoscaler, a token rotated in the cluster"
WEB=/apis/apps/v1/namespaces/ml-scaling/deployments/web
ws scale1 sync scaling
ok $rc "sync scaling exits 0 (a new object is applied as Git says)"
[ "$(field $WEB 'd["spec"]["replicas"]')" = 2 ]
ok $? "the new Deployment has Git's replicas (2)"
patch_merge() { # path json -> HTTP status (a merge patch, as kubectl scale and a controller send)
	curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/merge-patch+json' \
		--cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		--data "$2" "$DEVCLUSTER_SERVER$1?fieldManager=e2e-autoscaler"
}
[ "$(patch_merge $WEB/scale '{"spec":{"replicas":5}}')" = 200 ] &&
	[ "$(patch_merge $NS/ml-scaling/configmaps/web-config '{"data":{"token":"rotated"}}')" = 200 ]
ok $? "scaled to 5 through the scale subresource, token rotated in the cluster"
sed -i 's#registry.local/web:1#registry.local/web:2#; s#mode: one#mode: two#' "$repo/scaling/web.yaml"
commit "scaling: web 2"
ws diff_respect diff scaling
! grep -q 'replicas' "$E2E_DIR/diff_respect.out" && grep -q 'registry.local/web:2' "$E2E_DIR/diff_respect.out"
ok $? "diff shows the image change, not the ignored replicas ($(grep -m1 image "$E2E_DIR/diff_respect.out"))"
ws scale2 sync scaling
ok $rc "sync scaling with the ignored fields changed in the cluster exits 0"
[ "$(field $WEB 'd["spec"]["replicas"]')" = 5 ] &&
	[ "$(field $WEB 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = registry.local/web:2 ]
ok $? "RespectIgnoreDifferences=true: replicas stays at the live 5, the new image is applied"
[ "$(field $NS/ml-scaling/configmaps/web-config 'd["data"]["token"]')" = rotated ] &&
	[ "$(field $NS/ml-scaling/configmaps/web-config 'd["data"]["mode"]')" = two ]
ok $? "a jq path (.data[\"token\"]) keeps the rotated token; the rest of the ConfigMap follows Git"
cat "$E2E_DIR/scale2.out" "$E2E_DIR/scale2.err" | grep -q 'web: RespectIgnoreDifferences: 1 ignored field kept as live'
ok $? "the sync says which objects kept live fields"
[ "$(field $WEB 'd["metadata"]["annotations"]["wavesync.dev/tracking-id"]')" = "scaling:apps/Deployment:ml-scaling/web" ]
ok $? "the tracking annotation is still wavesync's"
# without the option, objects whose only differences are ignored ones are
# Synced: a sync leaves them alone (nothing sent, no conflict)
sed -i 's#CreateNamespace=true, RespectIgnoreDifferences=true#CreateNamespace=true#' "$repo/apps/scaling.yaml"
commit "scaling: no RespectIgnoreDifferences"
rv_web=$(field $WEB 'd["metadata"]["resourceVersion"]')
ws scale3 sync scaling
[ $rc -eq 0 ] && [ "$(field $WEB 'd["spec"]["replicas"]')" = 5 ] &&
	[ "$(field $WEB 'd["metadata"]["resourceVersion"]')" = "$rv_web" ] &&
	cat "$E2E_DIR/scale3.out" "$E2E_DIR/scale3.err" | grep -q '2 of 2 objects are already as Git says: not applied'
ok $? "without RespectIgnoreDifferences, only ignored fields changed: Synced, nothing applied ($(cat "$E2E_DIR/scale3.out" "$E2E_DIR/scale3.err" | grep -m1 -o '[0-9]* of [0-9]* objects.*'))"
# --apply-all sends Git's values (ignoreDifferences alone only changes what
# counts as a difference): another manager owns them, so the server-side
# apply conflicts, and wavesync forces only when asked
ws scale4 sync scaling --apply-all
[ $rc -eq 1 ] && grep -q '409 Conflict.*conflict with "e2e-autoscaler"' "$E2E_DIR/scale4.err" &&
	[ "$(field $WEB 'd["spec"]["replicas"]')" = 5 ]
ok $? "--apply-all without RespectIgnoreDifferences: Git's values are sent and conflict with the autoscaler, nothing applied ($(grep -m1 -o 'conflict with.*' "$E2E_DIR/scale4.err" | head -c 100))"
# a malformed entry makes that Application invalid; the others still sync
cat >>"$repo/apps/scaling.yaml" <<'EOF'
    - group: apps
      kind: Deployment
      jqPathExpressions: ['.spec.template.spec.containers[] | select(.name | test("proxy"))']
EOF
commit "scaling: a jq expression wavesync does not take"
ws scale_bad sync scaling
[ $rc -eq 2 ] && grep -q 'apps/scaling.yaml:1[0-9]:' "$E2E_DIR/scale_bad.err" && grep -q 'is not supported' "$E2E_DIR/scale_bad.err"
ok $? "an unsupported jq path: exit 2 naming the file and line ($(grep -m1 -o 'apps/scaling.yaml:[0-9]*:.\{0,90\}' "$E2E_DIR/scale_bad.err"))"
ws scale_others sync training
ok $rc "the other applications still sync beside it"
git -C "$repo" rm -q -r scaling apps/scaling.yaml
commit "drop the scaling demo"

# ---- dry run, diff, JUnit ---------------------------------------------------------------
sed -i 's#replicas: 2#replicas: 3#' "$repo/serving/02-feature-store.yaml"
commit "scale the feature store"
ws diff diff serving
[ $rc -eq 1 ] && grep -q 'spec.replicas: 2 -> 3' "$E2E_DIR/diff.out"
ok $? "diff shows the changed field and exits 1 ($(grep -m1 replicas "$E2E_DIR/diff.out"))"
ws dry sync --dry-run serving
[ $rc -eq 0 ] && [ "$(field /apis/apps/v1/namespaces/ml-serving/deployments/feature-store 'd["spec"]["replicas"]')" = 2 ]
ok $? "sync --dry-run changes nothing"
ws junit sync --junit "$E2E_DIR/junit.xml" serving
python3 -c '
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1]).getroot()
cases = t.findall(".//testcase")
assert len(cases) >= 16 and not t.findall(".//failure"), len(cases)' "$E2E_DIR/junit.xml"
ok $? "sync --junit writes one test case per object"

# ---- CI mode is a push: it syncs automated applications only ---------------------------------
ci_before=$(git -C "$repo" rev-parse HEAD)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ci-note}\ndata: {from: ci}\n' >"$repo/training/ci-note.yaml"
commit "training: a push in CI"
ws ci_manual sync --repo-dir "$repo" --ref refs/heads/main --before "$ci_before" --after "$(git -C "$repo" rev-parse HEAD)"
[ $rc -eq 0 ] && grep -q 'training: manual sync policy: OutOfSync at' "$E2E_DIR/ci_manual.err" &&
	[ "$(status_of $NS/ml-training/configmaps/ci-note)" = 404 ]
ok $? "sync --repo-dir: the manual training is reported OutOfSync and not synced (exit $rc)"
ws ci_named sync training
[ $rc -eq 0 ] && [ "$(status_of $NS/ml-training/configmaps/ci-note)" = 200 ]
ok $? "sync training (named): an explicit sync applies it"

# ---- the command line as kubectl and argocd users type it --------------------------------
# global options after the command, and never silently ignored
(cd "$E2E_DIR" && run_ws after_cmd sync --dry-run serving --config "$cfg" --output json)
[ $rc -eq 0 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$E2E_DIR/after_cmd.out"
ok $? "sync APP --config FILE --output json: options after the command work (exit $rc)"
(cd "$E2E_DIR" && run_ws apps_after apps --config "$cfg")
[ $rc -eq 0 ] && grep -q '^serving ' "$E2E_DIR/apps_after.out"
ok $? "apps --config FILE reads that file, from a folder with no wavesync.yaml"
run_ws apps_other apps --config "$E2E_DIR/no-such.yaml"
[ $rc -eq 2 ] && grep -q 'no-such.yaml' "$E2E_DIR/apps_other.err"
ok $? "apps --config MISSING: exit 2 naming the file, not ./wavesync.yaml read instead"
run_ws apps_eq apps --config="$cfg" -ojson
[ $rc -eq 0 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))["applications"]' "$E2E_DIR/apps_eq.out"
ok $? "--config=FILE and -ojson forms"
run_ws kc_sync sync serving --config "$cfg" --kubeconfig "$DEVCLUSTER_KUBECONFIG"
[ $rc -eq 2 ] && grep -q 'kubeconfig does not apply to sync' "$E2E_DIR/kc_sync.err"
ok $? "--kubeconfig on sync (clusters come from wavesync.yaml): exit 2, not ignored"
run_ws bogus sync --bogus serving --config "$cfg"
[ $rc -eq 2 ] && grep -q "wavesync sync: unrecognized option '--bogus'" "$E2E_DIR/bogus.err"
ok $? "an unknown command option: exit 2 naming it ($(head -c 80 "$E2E_DIR/bogus.err"))"
ws apps_arg apps serving
[ $rc -eq 2 ] && grep -q 'unexpected argument "serving"' "$E2E_DIR/apps_arg.err"
ok $? "apps with an argument: exit 2 (it lists every application)"
bad=""
for c in sync diff plan render apps validate health serve trigger status notify apply version help; do
	run_ws "help_$c" "$c" -h
	{ [ $rc -eq 0 ] && grep -q "^usage: wavesync $c" "$E2E_DIR/help_$c.out"; } || bad+=" $c"
	run_ws "help2_$c" --help "$c"
	{ [ $rc -eq 0 ] && grep -q "^usage: wavesync $c" "$E2E_DIR/help2_$c.out"; } || bad+=" $c(--help first)"
done
[ -z "$bad" ]
ok $? "-h and --help on every command print its usage and exit 0${bad:+ (failed:$bad)}"
# the apps table: destinations by configured cluster name, columns aligned however long a cell
ws apps_table apps
python3 - "$E2E_DIR/apps_table.out" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0]
cols = [head.index(h) for h in ("NAME", "CLUSTER", "NAMESPACE", "REPO", "PATH", "REVISION", "SYNC POLICY")]
rows = {l.split()[0]: l for l in lines[1:]}
for l in lines[1:]:
    for c in cols[1:]:
        assert l[c - 1] == " " and l[c] != " ", (l, c)   # every cell starts under its header
t = rows["training"]
assert t[cols[1]:].split()[0] == "in-cluster", t          # https://kubernetes.default.svc shown as its cluster
assert t[cols[2]:].split()[0] == "ml-training", t
PY
ok $? "apps: aligned columns, every destination as its configured cluster (training: in-cluster, ml-training)"
! grep -hE '(^|[^0-9])1 (objects|waves|applications|paths)' "$E2E_DIR"/*.out "$E2E_DIR"/*.err
ok $? "no \"1 objects\" or \"1 waves\" in any output"

kill $ctl_pid 2>/dev/null
tap_end
