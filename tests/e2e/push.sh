#!/usr/bin/env bash
# push.sh — push-driven syncs of the sample ML platform (fixtures/ml-platform)
# served over smart HTTP: `wavesync serve` routes each push by its diff, so a
# change to training/ makes the manual `training` OutOfSync and applies nothing
# until a person syncs it (then, automated, it syncs on push), a change to the shared feature
# schema syncs the two applications that list it in manifest-generate-paths,
# a new branch and a tag are matched against targetRevision, and a commit the
# Git server does not have yet is retried until it appears. fakectl plays the
# controllers.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
py=${PYTHON:-python3}
trap services_down EXIT
# the fixture over HTTP, its configuration with a webhook secret; plus the server
fixture_over_http
cat >>"$cfg" <<YAML
server:
  listen: 127.0.0.1:$ws_port
  apiToken: env:WS_E2E_TOKEN
  fetchRetryTimeout: 20s
  rateLimit: {perSecond: 1, burst: 25}
YAML
grep -q "webhook: {secret" "$cfg"
ok $? "fixture repository served over HTTP at $url, webhook secret configured"

kubectl_bin=$("$DEVCLUSTER" build-kubectl 2>/dev/null | tail -n 1)
export WS_E2E_TOKEN="token-$RANDOM$RANDOM"
PATH="$(dirname "$kubectl_bin"):$PATH" "$WS_BUILDDIR/wavesync" --config "$cfg" serve \
	>"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
for _ in $(seq 100); do curl -sf "$ws_url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$ws_url/readyz" >/dev/null
ok $? "serve: ready with the five fixture applications"

kapi_status() { # path -> HTTP status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
kapi() {
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
runs() { curl -s "$ws_url/api/v1/applications/$1" | jget 'len(d["runs"])'; }
last_result() { curl -s "$ws_url/api/v1/applications/$1" | jget 'd["lastResult"]'; }
idle() {
	for _ in $(seq 1200); do
		curl -s "$ws_url/api/v1/applications" |
			jget 'd["routing"] + sum(a["state"] != "Idle" for a in d["applications"])' | grep -qx 0 && return 0
		sleep 0.1
	done
	return 1
}
deliver() { # ref before after [deliver.py args]; sets code
	local out
	out=$("$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook/github" --secret "$secret" \
		--repo-url "$url" --ref "$1" --before "$2" --after "$3" --git-dir "$repo" "${@:4}")
	code=${out%% *}
	body=${out#* }
}
counts() { for a in serving training monitoring features model-registry; do printf '%s=%s ' "$a" "$(runs $a)"; done; }

app() { curl -s "$ws_url/api/v1/applications/$1" | jget "$2"; }

# --- a push to the manual training/ makes it OutOfSync and applies nothing -------------
before=$(git -C "$repo" rev-parse HEAD)
sed -i 's/learning_rate: .*/learning_rate: "0.0003"/' "$repo/training/hyperparams.yaml"
git -C "$repo" commit -qam "training: lower the learning rate"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
[ "$code" = 202 ]
ok $? "push to training/: delivery accepted ($code)"
idle
ok $? "the service went idle"
[ "$(counts)" = "serving=0 training=0 monitoring=0 features=0 model-registry=0 " ]
ok $? "training has no syncPolicy.automated: nothing ran ($(counts))"
[ "$(kapi_status /api/v1/namespaces/ml-training)" = 404 ]
ok $? "nothing was applied (ml-training does not exist)"
[ "$(app training 'd["syncStatus"]')" = OutOfSync ] &&
	[ "$(app training 'd["awaitingManualSync"]["revision"]')" = "$after" ]
ok $? "training is OutOfSync, awaiting a manual sync of ${after:0:12} ($(app training 'd["syncStatus"], d["awaitingManualSync"]'))"
grep -q "training: manual sync policy: OutOfSync at ${after:0:12}" "$E2E_DIR/serve.err"
ok $? "the service logged it"
trig=$(curl -s -X POST -H "Authorization: Bearer $WS_E2E_TOKEN" "$ws_url/api/v1/applications/training/sync" |
	jget 'd["trigger"]')
[ -n "$trig" ] && idle && [ "$(counts)" = "serving=0 training=1 monitoring=0 features=0 model-registry=0 " ]
ok $? "a manual sync through the API ran training alone ($(counts))"
[ "$(last_result training)" = Succeeded ]
ok $? "training's run succeeded"
[ "$(kapi_status /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams)" = 200 ] &&
	kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | grep -q '0.0003'
ok $? "the cluster has training's new hyperparameters"
[ "$(app training 'd["awaitingManualSync"]')" = None ] && [ "$(app training 'd["syncStatus"]')" != OutOfSync ]
ok $? "the manual sync settled it (no longer awaiting)"
[ "$(kapi_status /api/v1/namespaces/ml-serving)" = 404 ] && [ "$(kapi_status /api/v1/namespaces/monitoring)" = 404 ]
ok $? "serving's and monitoring's namespaces were never created"
grep -q 'git-upload-pack' "$E2E_DIR/githttp.log"
ok $? "the service fetched over smart HTTP (git-upload-pack)"

# --- training made automated by a push: from now on a push syncs it ---------------------------
before=$after
sed -i 's/^  syncPolicy:$/  syncPolicy:\n    automated: {}/' "$repo/apps/training.yaml"
git -C "$repo" commit -qam "training: automated"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
[ "$code" = 202 ] && idle && [ "$(counts)" = "serving=0 training=2 monitoring=0 features=0 model-registry=0 " ] &&
	[ "$(app training 'd["automated"]')" = True ]
ok $? "the push that made training automated synced it ($(counts))"

# --- the shared feature schema: every application that lists it -------------------------
before=$after
sed -i 's/version: "7"/version: "8"/' "$repo/shared/feature-schema/feature-schema.yaml"
git -C "$repo" commit -qam "feature schema v8"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
[ "$code" = 202 ] && idle
ok $? "push to shared/feature-schema accepted and run"
[ "$(counts)" = "serving=1 training=2 monitoring=0 features=1 model-registry=0 " ]
ok $? "features (../shared/…) and serving (/shared/…) ran, nothing else ($(counts))"
[ "$(last_result features)" = Succeeded ] && [ "$(last_result serving)" = Succeeded ]
ok $? "both succeeded (serving through all its waves and hooks)"
kapi /api/v1/namespaces/ml-features/configmaps/prod-feature-schema | jget 'd["data"]["version"]' | grep -qx 8
ok $? "the cluster has the shared schema v8 through features' Kustomization"

# --- an empty commit syncs nothing -----------------------------------------------------------
before=$after
git -C "$repo" commit -q --allow-empty -m "empty"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
trig=$(printf '%s' "$body" | jget 'd["trigger"]')
sleep 1
idle
[ "$code" = 202 ] && [ "$(counts)" = "serving=1 training=2 monitoring=0 features=1 model-registry=0 " ]
ok $? "an empty commit runs nothing"
curl -s "$ws_url/api/v1/triggers/$trig" | jget 'd["detail"]' | grep -q '0 changed paths, 0 applications'
ok $? "its trigger says 0 changed paths, 0 applications"

# --- a push to a branch no application tracks is answered 200 and ignored ------------------
git -C "$repo" checkout -q -b experiment
echo "# scratch" >>"$repo/monitoring/prometheus.yaml"
git -C "$repo" commit -qam "experiment"
exp=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin experiment
deliver refs/heads/experiment 0000000000000000000000000000000000000000 "$exp"
[ "$code" = 200 ] && printf '%s' "$body" | grep -q ignored
ok $? "a new branch no application tracks: 200 ignored ($code)"
git -C "$repo" checkout -q main

# --- force push: the range is diffed from the merge base, both ways ------------------------
# x changes training and monitoring and is synced; it is then rewritten as x2,
# which changes monitoring only. From the merge base both applications differ
# from what the cluster runs (training's change was dropped): both sync.
# serving, untouched on both sides, does not.
base=$(git -C "$repo" rev-parse HEAD)
echo "# scrape more" >>"$repo/monitoring/prometheus.yaml"
sed -i 's/epochs: .*/epochs: "12"/' "$repo/training/hyperparams.yaml"
git -C "$repo" commit -qam "monitoring and training"
x=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$base" "$x" # as the forge would: the service has seen x
idle
kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | jget 'd["data"]["epochs"]' | grep -qx 12
ok $? "x synced training (epochs 12)"
git -C "$repo" checkout -q "$x~1" -- training/hyperparams.yaml
git -C "$repo" commit -q --amend -am "monitoring only (rewritten)"
x2=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q -f origin main
n_train=$(runs training)
n_mon=$(runs monitoring)
n_serv=$(runs serving)
deliver refs/heads/main "$x" "$x2"
[ "$code" = 202 ] && idle
ok $? "a force push accepted and run"
[ "$(runs monitoring)" = $((n_mon + 1)) ] && [ "$(runs training)" = $((n_train + 1)) ] &&
	[ "$(runs serving)" = "$n_serv" ]
ok $? "the force push synced monitoring and training (its change dropped), not serving ($(counts))"
kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | jget 'd["data"]["epochs"]' | grep -qx 10
ok $? "training is back to epochs 10 in the cluster"
curl -s "$ws_url/api/v1/triggers/$(printf '%s' "$body" | jget 'd["trigger"]')" | jget 'd["detail"]' |
	grep -q "^${base:0:12}\\.\\."
ok $? "the trigger's range starts at the merge base ${base:0:12}"

# --- a pushed commit the Git server does not have yet is retried ----------------------------
before=$after
sed -i 's/learning_rate: .*/learning_rate: "0.0002"/' "$repo/training/hyperparams.yaml"
git -C "$repo" commit -qam "training: even lower"
after=$(git -C "$repo" rev-parse HEAD)
deliver refs/heads/main "$before" "$after" # delivered before the push reached the server
[ "$code" = 202 ]
ok $? "a delivery for a commit not on the server yet is accepted"
sleep 1.5
git -C "$repo" push -q origin main
for _ in $(seq 200); do
	kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | grep -q '0.0002' && break
	sleep 0.1
done
kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | grep -q '0.0002'
ok $? "once the commit reached the server the retried push synced training"
grep -q "retrying" "$E2E_DIR/serve.err"
ok $? "the service logged the retry"
idle

# --- a tag push reaches an application that tracks the tag ---------------------------------
sed -i 's/targetRevision: HEAD/targetRevision: v1.0.0/' "$repo/apps/monitoring.yaml"
before=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" commit -qam "monitoring follows the v1.0.0 tag"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
[ "$code" = 202 ] && idle
n_mon=$(runs monitoring)
git -C "$repo" tag v1.0.0
git -C "$repo" push -q origin v1.0.0
"$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook/github" --secret "$secret" \
	--repo-url "$url" --ref refs/tags/v1.0.0 --before 0000000000000000000000000000000000000000 \
	--after "$after" >"$E2E_DIR/tag.out"
idle
grep -q '^202' "$E2E_DIR/tag.out" && [ "$(runs monitoring)" -gt "$n_mon" ]
ok $? "a tag push syncs the application whose targetRevision is that tag ($(cat "$E2E_DIR/tag.out"))"

# --- a bad manifest: the run fails, the cluster is unchanged, the service keeps going ------
before=$(git -C "$repo" rev-parse HEAD)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hyperparams\n' >"$repo/training/hyperparams.yaml"
git -C "$repo" commit -qam "training: broken"
after=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" push -q origin main
deliver refs/heads/main "$before" "$after"
idle
[ "$(last_result training)" = Error ]
ok $? "a push with malformed YAML: training's run is an Error"
msg=$(curl -s "$ws_url/api/v1/applications/training" | jget 'd["runs"][0]["message"]')
grep -q "hyperparams.yaml" <<<"$msg"
ok $? "the run's message names the file ($msg)"
kapi /api/v1/namespaces/ml-training/configmaps/resnet50-hyperparams | grep -q '0.0002'
ok $? "the cluster still has the last good hyperparameters"
curl -sf "$ws_url/healthz" >/dev/null
ok $? "the service is still up"

# --- the rate limit: a source beyond its budget gets 429 ---------------------------------------
"$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook/github" --secret "$secret" \
	--repo-url "$url" --ref refs/heads/main --before "$after" --after "$after" --burst 40 >"$E2E_DIR/burst.out"
grep -q '^429 ' "$E2E_DIR/burst.out" && curl -sf "$ws_url/healthz" >/dev/null
ok $? "40 deliveries at once from one address over a 25 burst: some answered 429 ($(cut -c1-3 "$E2E_DIR/burst.out" | sort | uniq -c | tr '\n' ' '))"
idle

# --- https: the same repository over TLS, verified --------------------------------------------
pki=$(dirname "$DEVCLUSTER_CA")
"$py" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/gits.port" \
	--tls-cert "$pki/apiserver.crt" --tls-key "$pki/apiserver.key" 2>"$E2E_DIR/githttps.err" &
pids+=($!)
wait_file "$E2E_DIR/gits.port"
https_url="https://localhost:$(cat "$E2E_DIR/gits.port")/ml-platform.git"
# the applications folder read over https; the Applications' own repoURL
# (the http one) must still be a configured repository to be a source
sed -e "s#url: $url#url: $https_url#" -e "s#stateDir: .*#stateDir: $E2E_DIR/state-https#" \
	-e "s#^repositories:#repositories:\n  - {name: ml-platform-http, url: \"$url\"}#" "$cfg" >"$E2E_DIR/https.yaml"
run_ws https-untrusted --config "$E2E_DIR/https.yaml" apps
[ "$rc" = 3 ] && grep -q "certificate" "$E2E_DIR/https-untrusted.err"
ok $? "https Git server with an unknown CA: refused (exit $rc), the message says the certificate"
SSL_CERT_FILE=$DEVCLUSTER_CA run_ws https --config "$E2E_DIR/https.yaml" apps
[ "$rc" = 0 ] && grep -q "^training " "$E2E_DIR/https.out"
ok $? "https Git server with its CA in SSL_CERT_FILE: fetched (exit $rc)"

kill -TERM "$serve_pid"
wait "$serve_pid"
src=$?
serve_pid=
[ "$src" = 0 ]
ok $? "SIGTERM: stopped cleanly"
! grep -q "AddressSanitizer\|runtime error\|LeakSanitizer" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service"
tap_end
