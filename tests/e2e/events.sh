#!/usr/bin/env bash
# events.sh — GET /api/v1/events, the service's Server-Sent Events stream,
# read by curl as a browser's EventSource would: a run's events in order
# (app Pending, run Running, each wave Running then Healthy, each object
# Applied then Healthy, run Succeeded, app Idle), a push's trigger events, a
# reconnect with Last-Event-ID getting only what it missed, ?app= keeping
# one application, every data line one JSON object, and `wavesync trigger
# --wait` following the stream (wave lines on stderr) to the run's result.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
py=${PYTHON:-python3}
ns=e2e-events
work=$E2E_DIR/work
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
trap 'kill $(jobs -p) 2>/dev/null; services_down' EXIT

app() { # name
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: $work, targetRevision: HEAD, path: $1}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
YAML
}
cm() { # name wave value
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  annotations: {argocd.argoproj.io/sync-wave: "%s"}\ndata: {v: "%s"}\n' "$1" "$2" "$3"
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/two" "$work/other"
app two >"$work/apps/two.yaml"
app other >"$work/apps/other.yaml"
cm first 0 1 >"$work/two/first.yaml"
cm second 1 1 >"$work/two/second.yaml"
cm lone 0 1 >"$work/other/lone.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m apps

ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
printf 'token-%s' "$RANDOM$RANDOM" >"$E2E_DIR/token"
printf 'secret-%s' "$RANDOM$RANDOM" >"$E2E_DIR/secret"
cfg=$E2E_DIR/wavesync.yaml
cat >"$cfg" <<YAML
repositories:
  - {name: ml, url: $work, webhook: {secret: "file:$E2E_DIR/secret"}}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: ml, path: apps}
settings: {stateDir: $E2E_DIR/state, pollInterval: 0}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$E2E_DIR/token"
YAML
"$WAVESYNC" --config "$cfg" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 20 curl -sf "$ws_url/readyz" >/dev/null
ok $? "serve is ready"
# what a browser does: one long GET, Accept: text/event-stream
curl -sN -H 'Accept: text/event-stream' "$ws_url/api/v1/events" >"$E2E_DIR/all.sse" 2>/dev/null &
curl -sN "$ws_url/api/v1/events?app=other" >"$E2E_DIR/other.sse" 2>/dev/null &
sleep 0.5
head -c 200 "$E2E_DIR/all.sse" | grep -q '^retry: 2000$'
ok $? "the stream opens with a retry interval"
curl -s -D - -o /dev/null --max-time 1 "$ws_url/api/v1/events" | tr -d '\r' >"$E2E_DIR/headers"
grep -qi '^content-type: text/event-stream' "$E2E_DIR/headers" && grep -qi '^cache-control: no-store' "$E2E_DIR/headers"
ok $? "Content-Type text/event-stream, not cached"

sync() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$E2E_DIR/token")" "$ws_url/api/v1/applications/$1/sync"; }
[ "$(sync two)" = 202 ]
ok $? "a manual sync of two is queued"
wait_for 30 grep -q '"state":"Succeeded"' "$E2E_DIR/all.sse"
ok $? "its run's result arrives on the stream"
sleep 0.3
parse() { # file -> one line per event: "type state detail"
	"$py" - "$1" <<'PY'
import json, sys
ev, typ, ids, bad = [], None, [], 0
for line in open(sys.argv[1]).read().split("\n"):
    if line.startswith("id: "): ids.append(int(line[4:]))
    elif line.startswith("event: "): typ = line[7:]
    elif line.startswith("data: "):
        try: d = json.loads(line[6:])
        except ValueError: bad += 1; continue
        if typ == "app": print("app", d["name"], d["state"])
        elif typ == "run": print("run", d["app"], d["state"])
        elif typ == "wave": print("wave", d["app"], d["phase"], d["wave"], d["result"])
        elif typ == "object": print("object", d["app"], d["object"].split()[-1], d["state"])
        elif typ == "trigger": print("trigger", d["repository"], d["state"], len(d.get("applications") or []))
        else: print(typ)
print("ids-increasing", all(b == a + 1 for a, b in zip(ids, ids[1:])), "bad-json", bad)
PY
}
parse "$E2E_DIR/all.sse" >"$E2E_DIR/all.txt"
diag "$(grep -v '^ids' "$E2E_DIR/all.txt" | tr '\n' ';' | head -c 900)"
grep -E '^(app two|run two|wave two|object two)' "$E2E_DIR/all.txt" | grep -v '^app two Running$' >"$E2E_DIR/order.txt"
cat >"$E2E_DIR/want.txt" <<'TXT'
app two Pending
run two Running
wave two Sync 0 Running
object two e2e-events/first Applied
object two e2e-events/first Healthy
wave two Sync 0 Healthy
wave two Sync 1 Running
object two e2e-events/second Applied
object two e2e-events/second Healthy
wave two Sync 1 Healthy
run two Succeeded
app two Idle
TXT
diff "$E2E_DIR/want.txt" "$E2E_DIR/order.txt" >"$E2E_DIR/order.diff"
ok $? "the run's events in order: pending, running, wave by wave, object by object, result, idle"
[ -s "$E2E_DIR/order.diff" ] && diag "$(cat "$E2E_DIR/order.diff")"
grep -q '^ids-increasing True bad-json 0$' "$E2E_DIR/all.txt"
ok $? "ids grow by one; every data line is one JSON object"
! grep -q 'object two' "$E2E_DIR/other.sse"
ok $? "?app=other gets none of two's events"

# a push: the trigger's events
echo 2 >"$work/other/x" && cm lone 0 2 >"$work/other/lone.yaml" && rm "$work/other/x"
before=$(git -C "$work" rev-parse HEAD)
git -C "$work" commit -qam "other: 2"
after=$(git -C "$work" rev-parse HEAD)
run_ws notify notify --server "$ws_url" --secret "file:$E2E_DIR/secret" --repository "$work" \
	--ref refs/heads/main --before "$before" --after "$after"
ok $rc "a signed push event is accepted (wavesync notify)"
wait_for 30 sh -c "grep -c '\"state\":\"Succeeded\"' '$E2E_DIR/other.sse' | grep -qx 1"
ok $? "the push's run of other shows on the ?app=other stream"
parse "$E2E_DIR/all.sse" >"$E2E_DIR/all.txt"
grep -q '^trigger ml Received 0$' "$E2E_DIR/all.txt" && grep -q '^trigger ml Routed 1$' "$E2E_DIR/all.txt"
ok $? "trigger events: Received, then Routed to one application"

# reconnect: Last-Event-ID gets only what came after it
last=$(grep '^id: ' "$E2E_DIR/all.sse" | tail -n 5 | head -n 1 | cut -d' ' -f2)
curl -sN --max-time 1 -H "Last-Event-ID: $last" "$ws_url/api/v1/events" >"$E2E_DIR/resume.sse" 2>/dev/null
[ "$(grep -c '^id: ' "$E2E_DIR/resume.sse")" = 4 ] &&
	[ "$(grep '^id: ' "$E2E_DIR/resume.sse" | head -n 1 | cut -d' ' -f2)" = $((last + 1)) ]
ok $? "Last-Event-ID $last: the 4 events after it are sent again, from $((last + 1))"
curl -sN --max-time 1 -H "Last-Event-ID: 999999" "$ws_url/api/v1/events" >"$E2E_DIR/reset.sse" 2>/dev/null
grep -q '^event: reset$' "$E2E_DIR/reset.sse"
ok $? "an id from another process image: a reset event (read the state again)"

# wavesync trigger --wait follows the stream
cm second 1 3 >"$work/two/second.yaml" && git -C "$work" commit -qam "two: 3"
run_ws trigger --config "$cfg" trigger two --wait --token "file:$E2E_DIR/token"
[ "$rc" -eq 0 ] && grep -q "run [0-9]* of two: Succeeded" "$E2E_DIR/trigger.out"
ok $? "wavesync trigger two --wait: Succeeded (rc $rc)"
grep -q "two: run [0-9]*: wave Sync 1: Healthy" "$E2E_DIR/trigger.err"
ok $? "--wait prints the waves as the stream brings them"
diag "$(tr '\n' ' ' <"$E2E_DIR/trigger.err" | head -c 300)"
grep -q '^wavesync_event_readers 2$' <<<"$(curl -s "$ws_url/metrics")" # not a pipe: grep -q quitting early would fail curl (pipefail)
ok $? "metrics: wavesync_event_readers counts the open streams"
kill -TERM "$serve_pid"
wait "$serve_pid"
ok $? "SIGTERM ends the open streams and the service stops cleanly"
serve_pid=
! grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service"
tap_end
