#!/usr/bin/env bash
# serve.sh — `wavesync serve` end to end: the real binary, a real control
# plane, a Git repository served over smart HTTP by `git http-backend`
# (tests/e2e/githttp.py), webhook deliveries signed as GitHub and GitLab sign
# them (tests/e2e/deliver.py), a stand-in for GitHub's statuses API
# (tests/e2e/statusd.py), the git hooks in hooks/ installed in a real bare
# repository, and the CI templates' script steps.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
py=${PYTHON:-python3}
# the CI templates are read with PyYAML: the first python3 that has it
for p in "$py" python3 /usr/bin/python3; do
	if "$p" -c 'import yaml' 2>/dev/null; then
		py=$p
		break
	fi
done
ns=e2e-serve
srv=$E2E_DIR/srv
work=$E2E_DIR/work
state=$E2E_DIR/state
mkdir -p "$srv" "$state"
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
trap services_down EXIT

# --- the Git server and the status receiver ----------------------------------------
"$py" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/git.port" \
	--log "$E2E_DIR/githttp.log" 2>"$E2E_DIR/githttp.err" &
pids+=($!)
"$py" "$WS_SRCDIR/tests/e2e/statusd.py" --out "$E2E_DIR/statuses.jsonl" --port-file "$E2E_DIR/status.port" \
	2>"$E2E_DIR/statusd.err" &
pids+=($!)
wait_file "$E2E_DIR/git.port" && wait_file "$E2E_DIR/status.port" || {
	echo "Bail out! githttp.py or statusd.py did not start"
	exit 1
}
url="http://127.0.0.1:$(cat "$E2E_DIR/git.port")/org/ml.git"
status_url="http://127.0.0.1:$(cat "$E2E_DIR/status.port")"
ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"

# --- the repository: four applications, one shared folder --------------------------
app() { # name path mgp
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $1
  namespace: argocd
${3:+  annotations:
    argocd.argoproj.io/manifest-generate-paths: "$3"}
spec:
  project: default
  source: {repoURL: $url, targetRevision: HEAD, path: $2}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    automated: {prune: true}
    syncOptions: [CreateNamespace=true]
YAML
}
cm() { # name rev
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "%s"\n' "$1" "$2"
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/alpha" "$work/beta" "$work/gamma" "$work/delta" "$work/shared/common"
app alpha alpha >"$work/apps/alpha.yaml"
app beta beta >"$work/apps/beta.yaml"
app gamma gamma ".;../shared" >"$work/apps/gamma.yaml"
app delta delta ".;/shared/**/*.yaml" >"$work/apps/delta.yaml"
for a in alpha beta gamma delta; do cm "$a" 1 >"$work/$a/cm.yaml"; done
# epsilon never becomes healthy (no controllers run a Deployment here): its
# wave misses a 1 s deadline, and syncPolicy.retry runs it twice more
mkdir -p "$work/epsilon"
cat >"$work/apps/epsilon.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: epsilon
  annotations: {wavesync.dev/wave-timeout: 1s}
spec:
  source: {repoURL: $url, targetRevision: HEAD, path: epsilon}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    automated: {}
    syncOptions: [CreateNamespace=true]
    retry: {limit: 2, backoff: {duration: 1s, factor: 2, maxDuration: 5s}}
YAML
# zeta never becomes healthy either, with a long deadline: a sync that is
# still running when the service is stopped
mkdir -p "$work/zeta"
sed -e 's/epsilon/zeta/g' -e 's/wave-timeout: 1s/wave-timeout: 5m/' -e '/retry:/d' "$work/apps/epsilon.yaml" \
	>"$work/apps/zeta.yaml"
cat >"$work/epsilon/deploy.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: epsilon}
spec:
  replicas: 1
  selector: {matchLabels: {app: epsilon}}
  template:
    metadata: {labels: {app: epsilon}}
    spec: {containers: [{name: main, image: registry.local/epsilon:1}]}
YAML
sed 's/epsilon/zeta/g' "$work/epsilon/deploy.yaml" >"$work/zeta/deploy.yaml"
# eta depends on beta (wavesync.dev/depends-on); theta on epsilon, which fails
mkdir -p "$work/eta" "$work/theta"
app eta eta >"$work/apps/eta.yaml"
sed -i 's#^  namespace: argocd#  namespace: argocd\n  annotations: {wavesync.dev/depends-on: beta}#' "$work/apps/eta.yaml"
app theta theta >"$work/apps/theta.yaml"
sed -i 's#^  namespace: argocd#  namespace: argocd\n  annotations: {wavesync.dev/depends-on: epsilon}#' "$work/apps/theta.yaml"
cm eta 1 >"$work/eta/cm.yaml"
cm theta 1 >"$work/theta/cm.yaml"
# iota has no syncPolicy.automated: a push only makes it OutOfSync
mkdir -p "$work/iota"
app iota iota | sed '/automated:/d' >"$work/apps/iota.yaml"
cm iota 1 >"$work/iota/cm.yaml"
echo "threshold: 1" >"$work/shared/common/settings.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m "four applications"
mkdir -p "$srv/org"
git clone -q --bare "$work" "$srv/org/ml.git"
git -C "$srv/org/ml.git" config http.receivepack true
git -C "$work" remote add origin "$url"

printf 'hook-secret-%s' "$RANDOM$RANDOM" >"$E2E_DIR/webhook.secret"
printf 'api-token-%s' "$RANDOM$RANDOM" >"$E2E_DIR/api.token"
printf 'gh-token-%s' "$RANDOM" >"$E2E_DIR/gh.token"
secret=$(cat "$E2E_DIR/webhook.secret")
token=$(cat "$E2E_DIR/api.token")
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - name: ml
    url: $url
    webhook: {secret: "file:$E2E_DIR/webhook.secret"}
    status: {provider: github, apiURL: "$status_url", token: "file:$E2E_DIR/gh.token"}
clusters:
  - name: in-cluster
    kubeconfig: $DEVCLUSTER_KUBECONFIG
applications:
  - {repository: ml, path: apps}
# webhooks only (pollInterval 0): a poll would rightly sync the pushes whose
# deliveries this script refuses; tests/e2e/poll.sh tests the poll
settings: {waveTimeout: 60s, stateDir: $state, concurrency: 4, pollInterval: 0}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$E2E_DIR/api.token"
  rateLimit: {perSecond: 1000, burst: 1000}
  shutdownGrace: 5s
YAML

kapi() { # path -> JSON (empty when absent)
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
rev_of() { # configmap -> its data.rev, or "none"
	kapi "/api/v1/namespaces/$ns/configmaps/$1" |
		"$py" -c 'import json,sys; print(json.load(sys.stdin)["data"]["rev"])' 2>/dev/null || echo none
}
wait_rev() { # configmap rev [seconds]
	local i
	for i in $(seq $((${3:-30} * 10))); do
		[ "$(rev_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
wsapi() { # path -> body (status in $code)
	local out
	out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $token" "$ws_url$1")
	code=${out##*$'\n'}
	printf '%s' "${out%$'\n'*}"
}
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
runs_of() { wsapi "/api/v1/applications/$1" | jget 'len(d["runs"])'; }
idle() { # wait until no application is pending or running (30 s)
	for _ in $(seq 300); do
		wsapi /api/v1/applications | jget 'd["routing"] + sum(a["state"] != "Idle" for a in d["applications"])' | grep -qx 0 &&
			return 0
		sleep 0.1
	done
	return 1
}
start_serve() {
	"$WS_BUILDDIR/wavesync" --config "$cfg" serve >>"$E2E_DIR/serve.out" 2>>"$E2E_DIR/serve.err" &
	serve_pid=$!
	for _ in $(seq 100); do
		curl -sf "$ws_url/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
push() { # message: commit the work tree and push it over HTTP; sets before/after
	before=$(git -C "$work" rev-parse HEAD)
	git -C "$work" add -A && git -C "$work" commit -q --allow-empty -m "$1"
	after=$(git -C "$work" rev-parse HEAD)
	git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
}
deliver() { # provider [extra deliver.py args]: deliver before..after; sets code, body
	local p=$1 out
	shift
	out=$("$py" "$WS_SRCDIR/tests/e2e/deliver.py" "$p" --url "$ws_url/api/webhook" --secret "$secret" \
		--repo-url "$url" --ref refs/heads/main --before "$before" --after "$after" "$@")
	code=${out%% *}
	body=${out#* }
}

start_serve
ok $? "serve: ready on $ws_url (readyz)"
[ "$(curl -s "$ws_url/healthz")" = "ok" ]
ok $? "serve: healthz"
[ "$(wsapi /api/v1/applications | jget 'len(d["applications"])')" = 9 ]
ok $? "API: nine applications listed"
# a slice and the counts of all: what the web page draws first
all=$(wsapi /api/v1/applications | jget '",".join(a["name"] for a in d["applications"])')
[ "$(wsapi '/api/v1/applications?offset=2&limit=3' | jget '",".join(a["name"] for a in d["applications"]) + " " + str(d["total"]) + " " + str(sum(d["summary"]["syncStatus"].values())) + " " + str(sum(d["summary"]["cluster"].values()))')" = "$(echo "$all" | cut -d, -f3-5) 9 9 9" ]
ok $? "API: ?offset=2&limit=3 gives the third to fifth, the total and the counts of all nine"
[ "$(wsapi '/api/v1/applications?offset=9' | jget 'len(d["applications"])')" = 0 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$ws_url/api/v1/applications?limit=-1")" = 400 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$ws_url/api/v1/applications?offset=1x")" = 400 ]
ok $? "API: an offset past the end gives none; a limit or offset that is not a count is refused (400)"
[ "$(rev_of alpha)" = none ]
ok $? "nothing is synced at start (no push yet)"

# --- a push that changes one application syncs it and no other -----------------------
cm alpha 2 >"$work/alpha/cm.yaml"
push "alpha: rev 2"
deliver github
[ "$code" = 202 ]
ok $? "GitHub push delivery answered 202 (got $code: $body)"
wait_rev alpha 2
ok $? "the push synced alpha at the pushed revision"
idle
for a in beta gamma delta; do
	[ "$(rev_of $a)" = none ]
	ok $? "$a untouched by a push that changed alpha only"
done
trigger_id=$(printf '%s' "$body" | jget 'd["trigger"]')
wsapi "/api/v1/triggers/$trigger_id" | jget 'd["detail"]' | grep -q '1 changed path, 1 application'
ok $? "the trigger records one changed path and one application"

# --- manifest-generate-paths: a shared folder syncs every application listing it -----
echo "threshold: 2" >"$work/shared/common/settings.yaml"
push "shared settings"
deliver github
[ "$code" = 202 ] && wait_rev gamma 1 && wait_rev delta 1
ok $? "a change under shared/ synced gamma (../shared) and delta (/shared/**/*.yaml)"
idle
[ "$(rev_of beta)" = none ] && [ "$(runs_of alpha)" = 1 ]
ok $? "beta and alpha not synced by the shared change"

# --- signatures and replays ---------------------------------------------------------
cm beta 2 >"$work/beta/cm.yaml"
push "beta: rev 2"
deliver github --bad-signature
[ "$code" = 401 ]
ok $? "a wrongly signed delivery gets 401 ($code: $body)"
deliver github --unsigned
[ "$code" = 401 ]
ok $? "an unsigned delivery gets 401"
sleep 1
[ "$(rev_of beta)" = none ]
ok $? "nothing synced after refused deliveries"
deliver github --delivery "replay-1"
[ "$code" = 202 ] && wait_rev beta 2
ok $? "the correctly signed delivery syncs beta"
idle
n_before=$(runs_of beta)
deliver github --delivery "replay-1"
[ "$code" = 200 ] && printf '%s' "$body" | grep -q duplicate
ok $? "a replayed delivery id is answered 200 duplicate ($code: $body)"
sleep 1
[ "$(runs_of beta)" = "$n_before" ]
ok $? "the replayed delivery did not run again"

# --- GitLab: Push Hook with X-Gitlab-Token ------------------------------------------------
cm beta 3 >"$work/beta/cm.yaml"
push "beta: rev 3"
deliver gitlab
[ "$code" = 202 ] && wait_rev beta 3
ok $? "a GitLab Push Hook syncs beta ($code)"
deliver gitlab --bad-signature
[ "$code" = 401 ]
ok $? "a wrong X-Gitlab-Token gets 401"
idle
cm beta 3b >"$work/beta/cm.yaml"
push "beta: rev 3b"
deliver gitlab-system
[ "$code" = 202 ] && wait_rev beta 3b
ok $? "a GitLab System Hook (push) syncs beta ($code)"
deliver github --event ping
[ "$code" = 200 ] && printf '%s' "$body" | grep -q pong
ok $? "a GitHub ping is answered 200 ($code: $body)"
idle

# --- a burst of 50 pushes to one application coalesces ----------------------------------
n_before=$(runs_of beta)
: >"$E2E_DIR/burst.after"
first_before=$(git -C "$work" rev-parse HEAD)
for i in $(seq 4 53); do
	cm beta "$i" >"$work/beta/cm.yaml"
	git -C "$work" commit -qam "beta: rev $i"
	git -C "$work" rev-parse HEAD >>"$E2E_DIR/burst.after"
done
git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
before=$first_before
after=$(git -C "$work" rev-parse HEAD)
burst_out=$("$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook" --secret "$secret" \
	--repo-url "$url" --ref refs/heads/main --before "$before" --after "$after" --burst 50 \
	--after-list "$E2E_DIR/burst.after")
[ "$(printf '%s\n' "$burst_out" | grep -c '^202 ')" = 50 ]
ok $? "50 deliveries in a burst all answered 202"
wait_rev beta 53 && idle
ok $? "beta ends at the newest revision (rev 53)"
n_runs=$(($(runs_of beta) - n_before))
[ "$n_runs" -ge 1 ] && [ "$n_runs" -le 2 ]
ok $? "the burst of 50 pushes ran $n_runs time(s) (one or two)"
last_rev=$(wsapi "/api/v1/applications/beta" | jget 'd["runs"][0]["revision"]')
[ "$last_rev" = "$after" ]
ok $? "the last run was at the newest pushed commit"

curl -s "$ws_url/metrics" >"$E2E_DIR/metrics-before-kill.txt"

# --- crash safety: SIGKILL right after the 202 -------------------------------------------
cm alpha 3 >"$work/alpha/cm.yaml"
push "alpha: rev 3"
deliver github
kill -9 "$serve_pid"
wait "$serve_pid" 2>/dev/null
serve_pid=
[ "$code" = 202 ]
ok $? "delivery answered 202, then the service was killed with SIGKILL"
start_serve
ok $? "serve: restarted"
wait_rev alpha 3
ok $? "after the restart the accepted push still synced alpha"
idle

# --- manual re-run through the API ---------------------------------------------------------
curl -s -X DELETE --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
	"$DEVCLUSTER_SERVER/api/v1/namespaces/$ns/configmaps/alpha" >/dev/null
[ "$(rev_of alpha)" = none ]
ok $? "alpha's ConfigMap deleted behind wavesync's back"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ws_url/api/v1/applications/alpha/sync")
[ "$code" = 401 ]
ok $? "manual sync without the token is refused (401)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong" \
	"$ws_url/api/v1/applications/alpha/sync")
[ "$code" = 401 ]
ok $? "manual sync with a wrong token is refused (401)"
sleep 0.5
[ "$(rev_of alpha)" = none ]
ok $? "refused requests synced nothing"
run_ws trigger --config "$cfg" trigger alpha --wait
[ "$rc" = 0 ] && grep -q "Succeeded" "$E2E_DIR/trigger.out"
ok $? "wavesync trigger alpha --wait: the re-run succeeded (rc $rc)"
[ "$(rev_of alpha)" = 3 ]
ok $? "the manual re-run recreated alpha's ConfigMap"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
	"$ws_url/api/v1/applications/nope/sync")
[ "$code" = 404 ]
ok $? "manual sync of an unknown application: 404"
run_id=$(wsapi /api/v1/applications/alpha | jget 'd["lastRun"]')
wsapi "/api/v1/runs/$run_id" | jget 'd["report"]["waves"][0]["objects"]' | grep -qx 1
ok $? "GET /api/v1/runs/$run_id has the per-wave report"

# --- commit statuses reached the (stand-in) GitHub API ---------------------------------
"$py" - "$E2E_DIR/statuses.jsonl" "$E2E_DIR/gh.token" <<'PY'
import json, sys
token = open(sys.argv[2]).read().strip()
posts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
alpha = [p for p in posts if p["body"].get("context") == "wavesync/alpha"]
states = [p["body"]["state"] for p in alpha]
ok = bool(alpha) and "pending" in states and "success" in states and states.index("pending") < states.index("success")
ok = ok and all(p["path"].startswith("/repos/org/ml/statuses/") for p in alpha)
ok = ok and all(p["headers"].get("Authorization") == "Bearer " + token for p in alpha)
sys.exit(0 if ok else 1)
PY
ok $? "commit statuses posted to the GitHub API stand-in: pending, then success, with the token"

# --- a manual application: OutOfSync on push, a pending commit status, synced on request ------
cm iota 2 >"$work/iota/cm.yaml"
push "iota: rev 2"
deliver github
[ "$code" = 202 ] && idle && [ "$(runs_of iota)" = 0 ] && [ "$(rev_of iota)" = none ]
ok $? "a push to the manual iota ran nothing and applied nothing ($code, $(runs_of iota) runs, rev $(rev_of iota))"
[ "$(wsapi /api/v1/applications/iota | jget 'd["syncStatus"]')" = OutOfSync ] &&
	[ "$(wsapi /api/v1/applications/iota | jget 'd["awaitingManualSync"]["revision"]')" = "$after" ]
ok $? "iota is OutOfSync, awaiting a manual sync of the pushed commit"
for _ in $(seq 50); do grep -q '"wavesync/iota"' "$E2E_DIR/statuses.jsonl" && break; sleep 0.1; done
"$py" - "$E2E_DIR/statuses.jsonl" "$after" <<'PY'
import json, sys
posts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
iota = [p for p in posts if p["body"].get("context") == "wavesync/iota"]
assert iota and iota[-1]["body"]["state"] == "pending", iota
assert iota[-1]["body"]["description"] == "OutOfSync: awaiting manual sync", iota[-1]
assert iota[-1]["path"].endswith("/statuses/" + sys.argv[2]), iota[-1]["path"]
PY
ok $? "its commit status says pending: OutOfSync: awaiting manual sync"
run_ws trigger_iota --config "$cfg" trigger iota --wait
[ "$rc" = 0 ] && [ "$(rev_of iota)" = 2 ] && [ "$(runs_of iota)" = 1 ] &&
	[ "$(wsapi /api/v1/applications/iota | jget 'd["awaitingManualSync"]')" = None ]
ok $? "wavesync trigger iota synced it and settled it (rc $rc, rev $(rev_of iota))"

# --- metrics ---------------------------------------------------------------------------------
deliver github --bad-signature # counters start again with the process (as Prometheus expects)
curl -s "$ws_url/metrics" >"$E2E_DIR/metrics.txt"
grep -q 'wavesync_webhook_deliveries_total{provider="github",result="accepted"} [1-9]' "$E2E_DIR/metrics-before-kill.txt" &&
	grep -q 'wavesync_webhook_deliveries_total{provider="gitlab",result="accepted"} [1-9]' "$E2E_DIR/metrics-before-kill.txt" &&
	grep -q 'wavesync_webhook_deliveries_total{provider="github",result="unauthorized"}' "$E2E_DIR/metrics.txt" &&
	grep -q 'wavesync_runs_total{result="Succeeded"}' "$E2E_DIR/metrics.txt" &&
	grep -q 'wavesync_sync_duration_seconds_bucket' "$E2E_DIR/metrics.txt" &&
	grep -q 'wavesync_kube_requests_total{verb="PATCH",code="200"}' "$E2E_DIR/metrics.txt"
ok $? "metrics: webhooks by result, runs, sync histogram, Kubernetes requests by verb and code"

# --- bad input keeps the service up ----------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' -d '{not json' "$ws_url/api/webhook")
[ "$code" = 400 ] || [ "$code" = 401 ]
ok $? "a malformed delivery is refused ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' -H 'Expect:' \
	--data-binary @<(head -c 30000000 /dev/zero) "$ws_url/api/webhook")
[ "$code" = 413 ]
ok $? "an oversized delivery gets 413"
curl -sf "$ws_url/healthz" >/dev/null
ok $? "the service is still up"

# --- hooks/post-receive in a real bare repository ----------------------------------------
bare=$srv/org/ml.git
cp "$WS_SRCDIR/hooks/post-receive" "$WS_SRCDIR/hooks/pre-receive" "$bare/hooks/"
chmod +x "$bare/hooks/post-receive" "$bare/hooks/pre-receive"
git -C "$bare" config wavesync.bin "$WS_BUILDDIR/wavesync"
git -C "$bare" config wavesync.server "$ws_url"
git -C "$bare" config wavesync.secret "file:$E2E_DIR/webhook.secret"
git -C "$bare" config wavesync.repository "$url"
git -C "$bare" config wavesync.config "$cfg"
cm alpha 4 >"$work/alpha/cm.yaml"
git -C "$work" commit -qam "alpha: rev 4"
git -C "$work" push -q "$bare" main >"$E2E_DIR/hook-push.out" 2>&1
ok $? "git push into the bare repository with the hooks installed"
wait_rev alpha 4
ok $? "hooks/post-receive notified the service, which synced alpha"
git -C "$work" fetch -q origin

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alpha\ndata: {rev: "5"}\n' >"$work/alpha/cm.yaml"
git -C "$work" commit -qam "alpha: broken manifest"
git -C "$work" push -q "$bare" main >"$E2E_DIR/hook-refused.out" 2>&1
[ $? != 0 ]
ok $? "hooks/pre-receive refused a push with a broken manifest"
grep -q "refused" "$E2E_DIR/hook-refused.out" && grep -q "alpha/cm.yaml" "$E2E_DIR/hook-refused.out"
ok $? "the pusher is told why, naming the file"
sleep 1
[ "$(rev_of alpha)" = 4 ]
ok $? "the cluster is unchanged after the refused push"
git -C "$work" reset -q --hard origin/main
# a broken Application definition is judged as pushed, not as it was before
printf '\nspec: [this is not an Application spec\n' >>"$work/apps/alpha.yaml"
git -C "$work" commit -qam "alpha: broken Application"
git -C "$work" push -q "$bare" main >"$E2E_DIR/hook-refused-app.out" 2>&1
[ $? != 0 ] && grep -q "apps/alpha.yaml" "$E2E_DIR/hook-refused-app.out"
ok $? "hooks/pre-receive refused a broken Application file, naming it"
git -C "$work" reset -q --hard origin/main
rm -f "$bare/hooks/post-receive" "$bare/hooks/pre-receive"
idle

# --- CI templates: the script steps with the variables GitHub and GitLab set -------------
ci=$E2E_DIR/ci
git clone -q "$url" "$ci"
ci_before=$(git -C "$ci" rev-parse HEAD)
cm delta 2 >"$ci/delta/cm.yaml"
git -C "$ci" commit -qam "delta: rev 2"
ci_after=$(git -C "$ci" rev-parse HEAD)
"$py" "$WS_SRCDIR/tests/e2e/ci_step.py" github "$WS_SRCDIR/ci-templates/github-actions.yml" >"$E2E_DIR/gh-step.sh"
(cd "$ci" && PATH="$WS_BUILDDIR:$PATH" GITHUB_WORKSPACE="$ci" GITHUB_REF=refs/heads/main DEFAULT_BRANCH=main BEFORE="$ci_before" \
	AFTER="$ci_after" WAVESYNC_CONFIG="$cfg" RUNNER_TEMP="$E2E_DIR" bash "$E2E_DIR/gh-step.sh") \
	>"$E2E_DIR/gh-step.out" 2>&1
ok $? "GitHub Actions step: wavesync sync of the pushed range succeeded"
[ "$(rev_of delta)" = 2 ] && [ "$(rev_of gamma)" = 1 ]
ok $? "the GitHub step synced delta (changed) and not gamma"
ls "$ci"/*.xml >/dev/null 2>&1 && grep -q "<testsuite" "$ci"/*.xml
ok $? "the GitHub step wrote a JUnit report"
# a push to a feature branch, checked out as Actions does (checkout -B): the
# HEAD-tracking applications follow main, so nothing is synced
git -C "$ci" checkout -q -B feature
cm delta 9 >"$ci/delta/cm.yaml"
git -C "$ci" commit -qam "delta on a feature branch"
(cd "$ci" && PATH="$WS_BUILDDIR:$PATH" GITHUB_WORKSPACE="$ci" GITHUB_REF=refs/heads/feature DEFAULT_BRANCH=main \
	BEFORE=0000000000000000000000000000000000000000 AFTER="$(git -C "$ci" rev-parse HEAD)" \
	WAVESYNC_CONFIG="$cfg" RUNNER_TEMP="$E2E_DIR" bash "$E2E_DIR/gh-step.sh") >"$E2E_DIR/gh-feature.out" 2>&1
ok $? "GitHub step on a feature branch: succeeds"
grep -q "0 applications" "$E2E_DIR/gh-feature.out" && [ "$(rev_of delta)" = 2 ]
ok $? "a feature branch push syncs nothing that tracks HEAD (delta still rev 2)"
git -C "$ci" checkout -q main
ci_before=$ci_after
cm gamma 2 >"$ci/gamma/cm.yaml"
git -C "$ci" commit -qam "gamma: rev 2"
ci_after=$(git -C "$ci" rev-parse HEAD)
"$py" "$WS_SRCDIR/tests/e2e/ci_step.py" gitlab "$WS_SRCDIR/ci-templates/gitlab-ci.yml" >"$E2E_DIR/gl-step.sh"
(cd "$ci" && PATH="$WS_BUILDDIR:$PATH" CI_PROJECT_DIR="$ci" CI_COMMIT_SHA="$ci_after" \
	CI_COMMIT_BEFORE_SHA="$ci_before" CI_COMMIT_REF_NAME=main CI_DEFAULT_BRANCH=main WAVESYNC_CONFIG="$cfg" \
	bash "$E2E_DIR/gl-step.sh") >"$E2E_DIR/gl-step.out" 2>&1
ok $? "GitLab CI job script: wavesync sync of the pushed range succeeded"
[ "$(rev_of gamma)" = 2 ]
ok $? "the GitLab step synced gamma"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gamma}\ndata: {rev: 3, bad: [x]}\n' >"$ci/gamma/cm.yaml"
ci_before=$ci_after
git -C "$ci" commit -qam "gamma: broken"
ci_after=$(git -C "$ci" rev-parse HEAD)
(cd "$ci" && PATH="$WS_BUILDDIR:$PATH" CI_PROJECT_DIR="$ci" CI_COMMIT_SHA="$ci_after" \
	CI_COMMIT_BEFORE_SHA="$ci_before" CI_COMMIT_REF_NAME=main WAVESYNC_CONFIG="$cfg" \
	bash "$E2E_DIR/gl-step.sh") >"$E2E_DIR/gl-step-fail.out" 2>&1
[ $? != 0 ]
ok $? "the GitLab job fails on a failed sync"

# --- syncPolicy.retry ------------------------------------------------------------------------
before=$(git -C "$work" rev-parse HEAD)
git -C "$work" fetch -q origin && git -C "$work" reset -q --hard origin/main
before=$(git -C "$work" rev-parse HEAD)
sed -i 's/epsilon:1/epsilon:2/' "$work/epsilon/deploy.yaml"
push "epsilon: image 2"
deliver github
[ "$code" = 202 ]
ok $? "push to epsilon accepted"
for _ in $(seq 200); do
	[ "$(runs_of epsilon)" = 3 ] && [ "$(wsapi /api/v1/applications/epsilon | jget 'd["state"]')" = Idle ] && break
	sleep 0.1
done
[ "$(runs_of epsilon)" = 3 ]
ok $? "a failed sync ran 1 + 2 retries (syncPolicy.retry limit 2): $(runs_of epsilon) runs"
wsapi /api/v1/applications/epsilon | jget '" ".join(r["state"] for r in d["runs"])' | grep -qx "Failed Failed Failed"
ok $? "each attempt failed on the wave deadline"
wsapi /api/v1/applications/epsilon | jget 'd["runs"][0]["message"]' | grep -q "Deployment"
ok $? "the failure names the Deployment that was not healthy"
sleep 2.5
[ "$(runs_of epsilon)" = 3 ]
ok $? "no retry after the limit"

# --- wavesync.dev/depends-on in the service ---------------------------------------------------
cm beta 60 >"$work/beta/cm.yaml"
cm eta 2 >"$work/eta/cm.yaml"
cm theta 2 >"$work/theta/cm.yaml"
push "beta, eta and theta together"
deliver github
[ "$code" = 202 ] && wait_rev eta 2 && idle
ok $? "one push changing beta and eta (which depends on beta): both synced"
"$py" - "$(wsapi /api/v1/applications/beta)" "$(wsapi /api/v1/applications/eta)" <<'PY'
import json, sys
beta, eta = (json.loads(a)["runs"][0] for a in sys.argv[1:3])
sys.exit(0 if eta["id"] > beta["id"] and eta["startedAt"] >= beta["finishedAt"] else 1)
PY
ok $? "eta's run started after beta's finished"
wsapi /api/v1/applications/theta | jget 'd["runs"][0]["state"] + " " + d["runs"][0]["message"]' | grep -q '^Error .*epsilon'
ok $? "theta (depends on epsilon, whose last sync failed) is not synced: $(wsapi /api/v1/applications/theta | jget 'd["runs"][0]["message"]')"
[ "$(rev_of theta)" = none ]
ok $? "theta's objects were not applied"

# --- graceful shutdown: a running sync is checkpointed and runs again ------------------------
state_of() { wsapi "/api/v1/applications/$1" | jget 'd["state"]'; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
	"$ws_url/api/v1/applications/zeta/sync")
for _ in $(seq 100); do [ "$(state_of zeta)" = Running ] && break; sleep 0.1; done
[ "$code" = 202 ] && [ "$(state_of zeta)" = Running ]
ok $? "zeta is syncing (its Deployment never becomes healthy; 5 min deadline)"
t0=$(date +%s)
kill -TERM "$serve_pid"
curl -s -o /dev/null -w '%{http_code}' "$ws_url/healthz" >"$E2E_DIR/during-stop.code" 2>/dev/null
wait "$serve_pid"
src=$?
serve_pid=
t1=$(date +%s)
[ "$src" = 0 ] && [ $((t1 - t0)) -ge 4 ] && [ $((t1 - t0)) -le 20 ]
ok $? "SIGTERM: waited the 5 s shutdownGrace for the running sync, then stopped cleanly (exit $src, $((t1 - t0)) s)"
grep -q "stopped by shutdown; it runs again" "$E2E_DIR/serve.err"
ok $? "the running sync was checkpointed"
start_serve
ok $? "serve: started again"
for _ in $(seq 100); do [ "$(state_of zeta)" = Running ] && break; sleep 0.1; done
[ "$(state_of zeta)" = Running ] &&
	wsapi /api/v1/applications/zeta | jget '" ".join(r["state"] for r in d["runs"])' | grep -qx "running Interrupted"
ok $? "the checkpointed sync runs again after the restart (runs: $(wsapi /api/v1/applications/zeta | jget '" ".join(r["state"] for r in d["runs"])'))"
kill -TERM "$serve_pid"
wait "$serve_pid"
src=$?
serve_pid=
[ "$src" = 0 ]
ok $? "SIGTERM again: stopped cleanly (exit $src)"
grep -q "ERROR\|AddressSanitizer\|runtime error" "$E2E_DIR/serve.err" && diag "$(grep -m5 "ERROR\|runtime error" "$E2E_DIR/serve.err")"
! grep -q "AddressSanitizer\|runtime error\|LeakSanitizer" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service"
tap_end
