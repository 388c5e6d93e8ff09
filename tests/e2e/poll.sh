#!/usr/bin/env bash
# poll.sh — the polling safety net of `wavesync serve` end to end: the real
# binary with settings.pollInterval 2s, a real control plane, a Git
# repository served over smart HTTP (tests/e2e/githttp.py). Pushes whose
# webhook never comes are synced by the poll; a poll that finds nothing
# triggers nothing; a push seen by both a webhook and a poll runs once; a
# branch pushed while the service was down (and fetched at its start) is
# still routed; a rollback and a roll-forward without webhooks are both
# synced; an unreachable repository only logs a warning.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
ns=e2e-poll
srv=$E2E_DIR/srv
work=$E2E_DIR/work
mkdir -p "$srv"
trap services_down EXIT

"$py" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/git.port" \
	--log "$E2E_DIR/githttp.log" 2>"$E2E_DIR/githttp.err" &
pids+=($!)
wait_file "$E2E_DIR/git.port" || {
	echo "Bail out! githttp.py did not start"
	exit 1
}
url="http://127.0.0.1:$(cat "$E2E_DIR/git.port")/org/ml.git"
ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"

# --- the repository: alpha and beta follow main (HEAD), rel follows release ------------
app() { # name path revision
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: $url, targetRevision: $3, path: $2}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy:
    automated: {prune: true}
    syncOptions: [CreateNamespace=true]
YAML
}
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "%s"\n' "$1" "$2"; }
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/alpha" "$work/beta" "$work/rel"
app alpha alpha HEAD >"$work/apps/alpha.yaml"
app beta beta HEAD >"$work/apps/beta.yaml"
app rel rel release >"$work/apps/rel.yaml"
for a in alpha beta rel; do cm "$a" 1 >"$work/$a/cm.yaml"; done
git -C "$work" add -A && git -C "$work" commit -q -m "three applications"
git -C "$work" branch release
mkdir -p "$srv/org"
git clone -q --bare "$work" "$srv/org/ml.git"
git -C "$srv/org/ml.git" config http.receivepack true
git -C "$srv/org/ml.git" symbolic-ref HEAD refs/heads/main
git -C "$work" remote add origin "$url"

secret="poll-secret-$RANDOM$RANDOM"
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - name: ml
    url: $url
    webhook: {secret: "$secret"}
  - name: gone
    url: http://127.0.0.1:1/nothing-listens-here.git
clusters:
  - name: in-cluster
    kubeconfig: $DEVCLUSTER_KUBECONFIG
applications:
  - {repository: ml, path: apps}
settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state, pollInterval: 2s}
server:
  listen: 127.0.0.1:$ws_port
  rateLimit: {perSecond: 1000, burst: 1000}
YAML

kapi() {
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
rev_of() { # configmap -> its data.rev, or "none"
	kapi "/api/v1/namespaces/$ns/configmaps/$1" |
		"$py" -c 'import json,sys; print(json.load(sys.stdin)["data"]["rev"])' 2>/dev/null || echo none
}
wait_rev() { # configmap rev [seconds]
	for _ in $(seq $((${3:-30} * 10))); do
		[ "$(rev_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
api() { curl -s "$ws_url$1"; }
runs_of() { api "/api/v1/applications/$1" | jget 'len(d["runs"])'; }
all_runs() { api /api/v1/runs | jget 'len(d)'; }
idle() {
	for _ in $(seq 300); do
		api /api/v1/applications | jget 'd["routing"] + sum(a["state"] != "Idle" for a in d["applications"])' |
			grep -qx 0 && return 0
		sleep 0.1
	done
	return 1
}
metric() { # name{labels} -> value (0 when absent)
	api /metrics | awk -v m="$1" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
polls_of() { metric "wavesync_polls_total{result=\"$1\"}"; }
start_serve() {
	"$WS_BUILDDIR/wavesync" --log-level debug --config "$cfg" serve >>"$E2E_DIR/serve.out" 2>>"$E2E_DIR/serve.err" &
	serve_pid=$!
	for _ in $(seq 100); do
		curl -sf "$ws_url/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop_serve() {
	kill -TERM "$serve_pid"
	wait "$serve_pid"
	src=$?
	serve_pid=
}
push() { # message [git push args]: commit everything, push; sets before/after
	before=$(git -C "$work" rev-parse HEAD)
	git -C "$work" add -A && git -C "$work" commit -q --allow-empty -m "$1"
	after=$(git -C "$work" rev-parse HEAD)
	git -C "$work" push -q origin "${2:-main}" 2>>"$E2E_DIR/push.err"
}
deliver() { # [deliver.py args]: a signed GitHub push of before..after to main; sets code, body
	local out
	out=$("$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook" --secret "$secret" \
		--repo-url "$url" --ref refs/heads/main --before "$before" --after "$after" "$@")
	code=${out%% *}
	body=${out#* }
}
polls_done() { echo $(($(polls_of unchanged) + $(polls_of changed) + $(polls_of deferred))); }
wait_polls() { # n: wait until n more polls of the repository finished (30 s)
	local want=$(($(polls_done) + $1))
	for _ in $(seq 300); do
		[ "$(polls_done)" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

start_serve
ok $? "serve: ready, polling every 2s"
grep -q "poll: every 2s (+ up to 1s) for 2 repositories" "$E2E_DIR/serve.err"
ok $? "the service says it polls, how often, and how many repositories"

# --- nothing pushed: polls find nothing and trigger nothing -----------------------------
wait_polls 3
ok $? "three polls of the repository finished"
[ "$(polls_of changed)" = 0 ] && [ "$(all_runs)" = 0 ] && [ "$(metric wavesync_pushes_routed_total)" = 0 ]
ok $? "polls with nothing pushed: no trigger routed, no run (unchanged: $(polls_of unchanged))"
[ "$(rev_of alpha)" = none ] && [ "$(rev_of rel)" = none ]
ok $? "nothing synced at start"

# --- an unreachable repository: a warning naming it, and the service goes on ---------------
for _ in $(seq 100); do [ "$(polls_of failed)" -ge 2 ] && break; sleep 0.1; done
[ "$(polls_of failed)" -ge 2 ]
ok $? "polls of the unreachable repository fail and are retried ($(polls_of failed) failed)"
grep -q 'poll: gone: git: cannot list the refs of http://127.0.0.1:1/nothing-listens-here.git' "$E2E_DIR/serve.err" &&
	grep 'poll: gone:' "$E2E_DIR/serve.err" | grep -q 'WARN\|warn'
ok $? "the failure is a warning naming the repository and the URL"
curl -sf "$ws_url/healthz" >/dev/null && curl -sf "$ws_url/readyz" >/dev/null
ok $? "the service stays up and ready"

# --- a push whose webhook never comes: the poll syncs it --------------------------------
cm alpha 2 >"$work/alpha/cm.yaml"
t0=$(date +%s%N)
push "alpha: rev 2"
wait_rev alpha 2 15
ok $? "a push without a webhook synced alpha within a few poll intervals"
t1=$(date +%s%N)
diag "pushed → alpha synced without a webhook: $(((t1 - t0) / 1000000)) ms (interval 2s + up to 1s)"
idle
grep -q "poll: ml refs/heads/main moved ${before:0:12}..${after:0:12}: routing as a push" "$E2E_DIR/serve.err"
ok $? "one info line: poll: ml refs/heads/main moved ${before:0:12}..${after:0:12}: routing as a push"
trig=$(api /api/v1/applications/alpha | jget 'd["runs"][0]["trigger"]')
api "/api/v1/triggers/$trig" >"$E2E_DIR/poll-trigger.json"
jget 'd["source"] + " " + d["repo"] + " " + d["ref"] + " " + d["before"] + " " + d["after"] + " " + d["state"]' \
	<"$E2E_DIR/poll-trigger.json" | grep -qx "poll ml refs/heads/main $before $after routed"
ok $? "the run's trigger is a durable one from source poll, with the mirror's and the remote's ids ($(cat "$E2E_DIR/poll-trigger.json"))"
[ "$(rev_of beta)" = none ] && [ "$(rev_of rel)" = none ] && [ "$(runs_of alpha)" = 1 ]
ok $? "routed like a push: alpha ran once, beta and rel untouched"
[ "$(api /api/v1/applications/alpha | jget 'd["runs"][0]["revision"]')" = "$after" ]
ok $? "alpha ran at the pushed commit"
[ "$(polls_of changed)" -ge 1 ]
ok $? "metrics: wavesync_polls_total{result=\"changed\"} counted it"

# --- the late webhook for the same push: no second run -----------------------------------
deliver
[ "$code" = 202 ]
ok $? "the late webhook for the push the poll routed is accepted ($code)"
late=$(printf '%s' "$body" | jget 'd["trigger"]')
for _ in $(seq 100); do
	api "/api/v1/triggers/$late" | jget 'd["state"]' | grep -qx routed && break
	sleep 0.1
done
idle
api "/api/v1/triggers/$late" | jget 'd["detail"]' | grep -q "already queued for ${after:0:12}: alpha"
ok $? "its routing found alpha already queued for that commit ($(api "/api/v1/triggers/$late" | jget 'd["detail"]'))"
sleep 1
[ "$(runs_of alpha)" = 1 ]
ok $? "alpha did not run twice (poll, then webhook)"

# --- a webhook, then the polls: no second run -------------------------------------------
cm beta 2 >"$work/beta/cm.yaml"
push "beta: rev 2"
deliver
[ "$code" = 202 ] && wait_rev beta 2 && idle
ok $? "a push with its webhook synced beta"
wait_polls 3
[ "$(runs_of beta)" = 1 ]
ok $? "beta ran once after three more polls (webhook, then poll)"
! grep -q "moved ${before:0:12}..${after:0:12}" "$E2E_DIR/serve.err" || grep -q "beta already queued" "$E2E_DIR/serve.err"
ok $? "the polls did not route beta's push again (or found beta already queued)"

# --- a webhook ahead of the Git server: the polls never route backwards -------------------
cm beta 3 >"$work/beta/cm.yaml"
before=$(git -C "$work" rev-parse HEAD)
git -C "$work" add -A && git -C "$work" commit -q -m "beta: rev 3"
after=$(git -C "$work" rev-parse HEAD)
n_beta=$(runs_of beta)
deliver
[ "$code" = 202 ]
ok $? "a webhook for a commit the Git server does not have yet is accepted"
wait_polls 2
[ "$(runs_of beta)" = "$n_beta" ] && [ "$(rev_of beta)" = 2 ]
ok $? "two polls meanwhile routed nothing (the remote is where beta was synced)"
git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
wait_rev beta 3 15 && idle
ok $? "once the commit reached the server beta synced at rev 3"
[ "$(runs_of beta)" = $((n_beta + 1)) ] &&
	[ "$(api /api/v1/applications/beta | jget 'd["runs"][0]["revision"]')" = "$after" ]
ok $? "beta ran once more, at the pushed commit"

# --- nothing new: polls trigger nothing ---------------------------------------------------
trigger_code() { curl -s -o /dev/null -w '%{http_code}' "$ws_url/api/v1/triggers/$1"; }
last=$(printf '%s' "$body" | jget 'd["trigger"]')
while [ "$(trigger_code $((last + 1)))" = 200 ]; do last=$((last + 1)); done
n_runs=$(all_runs)
n_routed=$(metric wavesync_pushes_routed_total)
n_changed=$(polls_of changed)
wait_polls 3
[ "$(all_runs)" = "$n_runs" ] && [ "$(metric wavesync_pushes_routed_total)" = "$n_routed" ] &&
	[ "$(polls_of changed)" = "$n_changed" ] && [ "$(trigger_code $((last + 1)))" = 404 ]
ok $? "three more polls with nothing pushed: no new trigger (GET /api/v1/triggers/$((last + 1)): 404), no run"

# --- rollback and roll-forward, no webhooks ------------------------------------------------
a2=$(git -C "$work" rev-parse HEAD)
cm alpha 3 >"$work/alpha/cm.yaml"
push "alpha: rev 3"
a3=$after
wait_rev alpha 3 15
ok $? "alpha rev 3 pushed without a webhook: synced by the poll"
git -C "$work" reset -q --hard "$a2"
git -C "$work" push -q -f origin main 2>>"$E2E_DIR/push.err"
wait_rev alpha 2 15
ok $? "a force-push back (rollback) without a webhook: alpha back at rev 2"
git -C "$work" reset -q --hard "$a3"
git -C "$work" push -q -f origin main 2>>"$E2E_DIR/push.err"
wait_rev alpha 3 15
ok $? "the roll-forward to the same commit again without a webhook: alpha at rev 3 again"
idle

# --- pushed while the service was down: fetched at start, still routed ---------------------
stop_serve
[ "$src" = 0 ]
ok $? "SIGTERM: stopped cleanly (exit $src)"
git -C "$work" checkout -q release
cm rel 2 >"$work/rel/cm.yaml"
push "rel: rev 2" release
git -C "$work" checkout -q main
start_serve
ok $? "serve: restarted (its catalog load fetched the mirror, release included)"
wait_rev rel 2 15
ok $? "the release push made while the service was down synced rel"
idle
[ "$(runs_of rel)" = 1 ] && [ "$(rev_of alpha)" = 3 ]
ok $? "rel ran once; alpha untouched"

# --- figures and shutdown ----------------------------------------------------------------
"$py" - "$E2E_DIR/serve.err" <<'PY' >"$E2E_DIR/poll-ms.txt"
import re, sys
ms = sorted(int(m.group(1)) for m in re.finditer(r"poll: ml: \d+ refs?, 0 moved \((\d+) ms\)", open(sys.argv[1]).read()))
print(len(ms), ms[len(ms) // 2] if ms else -1, ms[-1] if ms else -1)
PY
read -r n_polls p50 pmax <"$E2E_DIR/poll-ms.txt"
[ "$n_polls" -ge 5 ]
ok $? "no-change polls of one repository over smart HTTP: $n_polls, median $p50 ms, max $pmax ms"
t0=$(date +%s%N)
stop_serve
t1=$(date +%s%N)
[ "$src" = 0 ] && [ $(((t1 - t0) / 1000000)) -lt 5000 ]
ok $? "SIGTERM with polls scheduled: stopped cleanly in $(((t1 - t0) / 1000000)) ms"
! grep -q "AddressSanitizer\|runtime error\|LeakSanitizer" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service"
tap_end
