#!/usr/bin/env bash
# systemd.sh — wavesync serve under a service manager, without one: what
# systemd would hear on $NOTIFY_SOCKET (READY=1 only once the store is open
# and the listener bound, WATCHDOG=1 from the loop, RELOADING=1 and READY=1
# around a reload), SIGHUP and a change of the file reloading wavesync.yaml
# (a broken file refused and the old configuration kept, a running sync
# finished first, the listener never closed, the PID kept), the state
# folder's lock and a folder it cannot write, and log entries in the
# journal's native protocol with their fields (in a private mount namespace,
# a stand-in journald socket at /run/systemd/journal/socket).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
py=${PYTHON:-python3}
ns=e2e-systemd
work=$E2E_DIR/work
state=$E2E_DIR/state
mkdir -p "$state"
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
trap services_down EXIT

# --- a repository: "quick" (a ConfigMap) and "slow" (a Deployment nobody runs:
# its wave waits for its 4 s deadline, so a run of it is in flight for 4 s)
app() { # name timeout
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $1
  namespace: argocd
  annotations: {wavesync.dev/wave-timeout: $2}
spec:
  source: {repoURL: $work, targetRevision: HEAD, path: $1}
  destination: {name: in-cluster, namespace: $ns}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/quick" "$work/slow"
app quick 30s >"$work/apps/quick.yaml"
app slow 4s >"$work/apps/slow.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: quick}\ndata: {v: "1"}\n' >"$work/quick/cm.yaml"
cat >"$work/slow/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: slow}
spec:
  replicas: 1
  selector: {matchLabels: {app: slow}}
  template:
    metadata: {labels: {app: slow}}
    spec: {containers: [{name: main, image: registry.local/slow:1}]}
YAML
git -C "$work" add -A && git -C "$work" commit -q -m apps

ws_port=$(free_port)
ws_url="http://127.0.0.1:$ws_port"
printf 'token-one-%s' "$RANDOM$RANDOM" >"$E2E_DIR/token1"
printf 'token-two-%s' "$RANDOM$RANDOM" >"$E2E_DIR/token2"
cfg=$E2E_DIR/wavesync.yaml
write_cfg() { # token file
	cat >"$cfg.tmp" <<YAML
repositories:
  - {name: ml, url: $work}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: ml, path: apps}
settings: {stateDir: $state, pollInterval: 0}
server:
  listen: 127.0.0.1:$ws_port
  apiToken: "file:$1"
  shutdownGrace: 5s
YAML
	mv "$cfg.tmp" "$cfg" # as a ConfigMap volume changes: a new file in place
}
write_cfg "$E2E_DIR/token1"
api() { # token method path -> HTTP status
	curl -s -o "$E2E_DIR/api.body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $(cat "$1")" "$ws_url$3"
}
notes() { # what the manager heard, one message a line ("|" for newlines)
	"$py" -c '
import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l)["msg"].replace("\n", "|"))' "$E2E_DIR/notify.jsonl" >"$E2E_DIR/notes.txt"
	cat "$E2E_DIR/notes.txt"
}
count() { notes >/dev/null; grep -c -- "$1" "$E2E_DIR/notes.txt"; }

# --- the service manager's socket, and readiness ---------------------------------------
"$py" "$WS_SRCDIR/tests/e2e/notifyd.py" --notify "$E2E_DIR/notify.sock" --probe "127.0.0.1:$ws_port" \
	--out "$E2E_DIR/notify.jsonl" 2>"$E2E_DIR/notifyd.err" &
pids+=($!)
for _ in $(seq 50); do [ -S "$E2E_DIR/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$E2E_DIR/notify.sock WATCHDOG_USEC=300000 "$WAVESYNC" --config "$cfg" serve \
	>"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 20 grep -q READY=1 "$E2E_DIR/notify.jsonl"
ok $? "READY=1 is sent"
"$py" -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "READY=1" in json.loads(l)["msg"]][0]
sys.exit(0 if r.get("probe") is True else 1)' "$E2E_DIR/notify.jsonl"
ok $? "when READY=1 arrives the listener already accepts connections"
notes >/dev/null; grep -q '^READY=1|STATUS=serving 2 applications on 127.0.0.1:' "$E2E_DIR/notes.txt"
ok $? "READY=1 comes with a STATUS line (applications, address)"
sleep 1.2
w=$(count WATCHDOG=1)
[ "$w" -ge 3 ]
ok $? "WATCHDOG=1 is sent from the loop every WATCHDOG_USEC/2 ($w in about 1.5 s)"
api "$E2E_DIR/token1" POST /api/v1/applications/quick/sync | grep -qx 202
ok $? "the API takes a write with the configured token"

# --- the state folder: one service, and writable -------------------------------------
"$WAVESYNC" --config "$cfg" serve --listen "127.0.0.1:$(free_port)" >"$E2E_DIR/second.out" 2>"$E2E_DIR/second.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "the state folder $state is in use by another wavesync serve (pid $serve_pid)" \
	"$E2E_DIR/second.err"
ok $? "a second serve on the same state folder exits 2 naming the folder and the pid (rc $rc)"
diag "$(head -c 300 "$E2E_DIR/second.err")"
ro=$E2E_DIR/readonly-state
mkdir -p "$ro" && chmod 755 "$ro"
install -m 644 "$DEVCLUSTER_KUBECONFIG" "$E2E_DIR/ro.kubeconfig" # a throwaway cluster's
sed -e "s#stateDir: $state#stateDir: $ro#" -e "s#kubeconfig: $DEVCLUSTER_KUBECONFIG#kubeconfig: $E2E_DIR/ro.kubeconfig#" \
	"$cfg" >"$E2E_DIR/ro.yaml"
chmod 644 "$E2E_DIR/ro.yaml" "$E2E_DIR/token1"
chmod o+x "$E2E_DIR"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$WAVESYNC" --config "$E2E_DIR/ro.yaml" serve \
		--listen "127.0.0.1:$(free_port)" >"$E2E_DIR/ro.out" 2>"$E2E_DIR/ro.err"
	rc=$?
	[ "$rc" -eq 2 ] && grep -q "the state folder $ro is not writable: Permission denied" "$E2E_DIR/ro.err" &&
		[ -z "$(ls -A "$ro")" ]
	ok $? "a state folder it cannot write is a clear startup error, and nothing is written (rc $rc)"
	diag "$(head -c 300 "$E2E_DIR/ro.err")"
else
	echo "ok $((tap_n += 1)) - # SKIP not root, or no setpriv: cannot run as another user"
fi

# --- a broken file: refused, the old configuration kept --------------------------------
cp "$cfg" "$E2E_DIR/good.yaml"
printf 'repositories: [\n  - {name: ml, url: %s\n' "$work" >"$cfg" # unclosed flow sequence
kill -HUP "$serve_pid"
wait_for 10 grep -q "reload refused" "$E2E_DIR/serve.err"
ok $? "SIGHUP with a broken wavesync.yaml: the log says the reload is refused"
grep "reload refused" "$E2E_DIR/serve.err" | grep -q "$cfg"
ok $? "the log names the file"
body=$(curl -s "$ws_url/readyz")
code=$(curl -s -o /dev/null -w '%{http_code}' "$ws_url/readyz")
[ "$code" = 200 ] && grep -q "^ready$" <<<"$body" && grep -q "the last reload .* was refused.*$cfg" <<<"$body"
ok $? "/readyz stays 200 and says why the reload was refused"
diag "$(tr '\n' ' ' <<<"$body" | head -c 300)"
kill -0 "$serve_pid" && api "$E2E_DIR/token1" POST /api/v1/applications/quick/sync | grep -qx 202
ok $? "still serving, with the old configuration (a write with the old token is accepted)"
grep -qx 'wavesync_config_last_reload_successful 0' <<<"$(curl -s "$ws_url/metrics")" # not a pipe: grep -q quitting early would fail curl (pipefail)
ok $? "metrics: wavesync_config_last_reload_successful 0"
notes >/dev/null; grep -v WATCHDOG "$E2E_DIR/notes.txt" | tail -n 2 | tr '\n' ' ' | grep -q '^RELOADING=1.* READY=1'
ok $? "the manager hears RELOADING=1, then READY=1 again"

# --- a good file while a sync runs: it finishes, then the new configuration ------------
api "$E2E_DIR/token1" POST /api/v1/applications/slow/sync | grep -qx 202
ok $? "a run of slow starts (its wave waits 4 s for its deadline)"
wait_for 10 grep -q "run [0-9]* of slow started" "$E2E_DIR/serve.err"
"$py" - "$ws_url" >"$E2E_DIR/hammer.out" <<'PY' &
import sys, time, urllib.request
ok = bad = 0
end = time.time() + 9
while time.time() < end:
    try:
        urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=5).read()
        ok += 1
    except Exception as e:
        bad += 1
        print("error:", e)
    time.sleep(0.01)
print("ok", ok, "bad", bad)
PY
hammer=$!
sed "s#token1#token2#" "$E2E_DIR/good.yaml" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg" # no SIGHUP: the file watch sees it
wait_for 10 grep -q "reload: .* loads; waiting for 1 running sync" "$E2E_DIR/serve.err"
ok $? "a changed file is noticed without a signal, and the reload waits for the running sync"
api "$E2E_DIR/token1" POST /api/v1/applications/quick/sync | grep -qx 202
ok $? "meanwhile a sync request is still accepted (stored for after the reload)"
wait_for 20 grep -q "configuration reloaded" "$E2E_DIR/serve.err"
ok $? "the service starts again with the new configuration"
end_line=$(grep -n "run [0-9]* of slow at" "$E2E_DIR/serve.err" | head -1 | cut -d: -f1)
quiet_line=$(grep -n "reload: quiet after" "$E2E_DIR/serve.err" | head -1 | cut -d: -f1)
[ -n "$end_line" ] && [ -n "$quiet_line" ] && [ "$end_line" -lt "$quiet_line" ]
ok $? "the running sync ended before the new configuration took over"
kill -0 "$serve_pid" 2>/dev/null && [ "$(grep -c "configuration reloaded" "$E2E_DIR/serve.err")" = 1 ]
ok $? "the same process (PID $serve_pid) serves on"
wait "$hammer"
grep -q "bad 0$" "$E2E_DIR/hammer.out"
ok $? "no request failed during the reload: the listener was handed over ($(tail -1 "$E2E_DIR/hammer.out"))"
wait_for 20 sh -c "sed -n '/configuration reloaded/,\$p' '$E2E_DIR/serve.err' | grep -q 'run [0-9]* of quick at .*: Succeeded'"
ok $? "the sync accepted during the reload ran after it"
[ "$(api "$E2E_DIR/token1" POST /api/v1/applications/quick/sync)" = 401 ] &&
	[ "$(api "$E2E_DIR/token2" POST /api/v1/applications/quick/sync)" = 202 ]
ok $? "the new configuration is in force: a write with the old token is refused, with the new one accepted"
body=$(curl -s "$ws_url/readyz")
[ "$body" = ready ]
ok $? "/readyz no longer reports the refused reload"
notes >/dev/null; grep -v WATCHDOG "$E2E_DIR/notes.txt" | tail -n 1 | grep -q '^READY=1|STATUS=serving 2 applications'
ok $? "READY=1 again once the new image serves"
# a file touched, not changed: no reload (and the manager hears READY=1 again)
touch "$cfg"
sleep 3.5
[ "$(grep -c "reload: quiet after" "$E2E_DIR/serve.err")" = 1 ] && notes >/dev/null &&
	grep -v WATCHDOG "$E2E_DIR/notes.txt" | tail -n 1 | grep -q '^READY=1'
ok $? "a touched but unchanged file reloads nothing"
w1=$(count WATCHDOG=1)
sleep 0.7
[ "$(count WATCHDOG=1)" -gt "$w1" ]
ok $? "the watchdog is fed after the reload too (WATCHDOG_USEC passed on)"
kill -TERM "$serve_pid"
for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
notes >/dev/null; ! kill -0 "$serve_pid" 2>/dev/null && grep -q '^STOPPING=1' "$E2E_DIR/notes.txt"
ok $? "SIGTERM: STOPPING=1, and it stops"
serve_pid=
! grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service (both images)"

# --- the journal: entries with fields ---------------------------------------------------
# A private mount namespace with its own /run: a stand-in journald socket at
# the real path, and stderr a file whose device:inode is $JOURNAL_STREAM.
cat >"$E2E_DIR/journal.sh" <<SH
set -u
mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal || exit 90
"$py" "$WS_SRCDIR/tests/e2e/notifyd.py" --journal /run/systemd/journal/socket --out "$E2E_DIR/journal.jsonl" &
j=\$!
for _ in \$(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
exec 2>"$E2E_DIR/journal.err"
export JOURNAL_STREAM=\$(stat -c '%d:%i' "$E2E_DIR/journal.err")
"$WAVESYNC" --config "$cfg" serve &
w=\$!
for _ in \$(seq 100); do curl -sf "$ws_url/readyz" >/dev/null && break; sleep 0.1; done
curl -s -o /dev/null -X POST -H "Authorization: Bearer \$(cat "$E2E_DIR/token2")" "$ws_url/api/v1/applications/quick/sync"
for _ in \$(seq 100); do grep -q '"MESSAGE": "run [0-9]* of quick at' "$E2E_DIR/journal.jsonl" && break; sleep 0.1; done
kill -TERM \$w; wait \$w
kill \$j
SH
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	unshare -m bash "$E2E_DIR/journal.sh"
	jrc=$?
	ok $([ "$jrc" -eq 0 ] && echo 0 || echo 1) "serve ran with stderr connected to a stand-in journal (rc $jrc)"
	"$py" - "$E2E_DIR/journal.jsonl" <<'PY'
import json, re, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
run = [e for e in entries if re.match(r"run \d+ of quick at", e.get("MESSAGE", ""))]
ok = (run and run[0].get("WAVESYNC_APPLICATION") == "quick" and run[0].get("WAVESYNC_RUN", "").isdigit()
      and run[0].get("WAVESYNC_TRIGGER", "").isdigit() and run[0].get("PRIORITY") == "6"
      and all(e.get("SYSLOG_IDENTIFIER") == "wavesync" for e in entries))
sys.exit(0 if ok else 1)
PY
	ok $? "journal entries carry PRIORITY, SYSLOG_IDENTIFIER and WAVESYNC_APPLICATION/RUN/TRIGGER"
	[ ! -s "$E2E_DIR/journal.err" ]
	ok $? "with the journal there, nothing is written to stderr"
	grep -q '"PRIORITY": "4"' "$E2E_DIR/journal.jsonl" || grep -q '"MESSAGE": "listening on' "$E2E_DIR/journal.jsonl"
	ok $? "the service's own lines are journal entries too"
else
	for d in "a stand-in journal" "journal fields" "nothing on stderr" "own lines"; do
		echo "ok $((tap_n += 1)) - # SKIP $d: needs root and unshare -m"
	done
fi
tap_end
