#!/usr/bin/env bash
# web.sh — the web page of `wavesync serve` in a real browser: Debian's
# headless Chromium driven by tests/browser/web.mjs (playwright-core from
# npm, which uses the system browser and downloads none), against a real
# service, control plane and Git server: the sample ML platform served over
# smart HTTP, pushes delivered signed as GitHub signs them, fakectl playing
# the controllers. Screenshots go to $WS_SCREENSHOTS (default: the test's
# folder); scripts/screenshots puts them in docs/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ] || ! command -v node >/dev/null; then
	echo "1..0 # SKIP no Chromium ($chromium) or no node: scripts/install-deps installs them"
	exit 0
fi
if [ ! -d "$WS_SRCDIR/tests/browser/node_modules/playwright-core" ]; then
	(cd "$WS_SRCDIR/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null 2>&1) || {
		echo "Bail out! npm ci in tests/browser failed (playwright-core)"
		exit 1
	}
fi
cluster_up
py=${PYTHON:-python3}
trap services_down EXIT
fixture_over_http
cat >>"$cfg" <<YAML
server:
  listen: 127.0.0.1:$ws_port
  apiToken: env:WS_E2E_TOKEN
YAML
export WS_E2E_TOKEN="token-$RANDOM$RANDOM"
pinned_tools_on_path # model-registry is a Helm chart

# the platform synced once, as a team would have it before opening the page
run_ws first_sync --config "$cfg" sync serving monitoring features model-registry
ok $rc "the fixture's automated applications synced (rc $rc)"
"$WS_BUILDDIR/wavesync" --config "$cfg" serve >"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
wait_for 20 curl -sf "$ws_url/readyz" >/dev/null
ok $? "serve is ready"
# its live state has caught up with the cluster
wait_for 30 sh -c "curl -s $ws_url/api/v1/applications/serving | grep -q '\"syncStatus\": *\"Synced\"'"
plan_waves=$("$WS_BUILDDIR/wavesync" --config "$cfg" plan serving -o json |
	"$py" -c 'import json,sys; print(sum(w["phase"] != "SyncFail" for w in json.load(sys.stdin)["waves"]))')

# pushes, as commands the browser test runs
cat >"$E2E_DIR/push.sh" <<SH
set -eu
cd "$repo"
before=\$(git rev-parse HEAD)
case \$1 in
serving) # model servers that take a moment to become ready: the waves are visible
	n=\$(date +%s%N)
	if grep -q e2e.wavesync.dev/push serving/03-model-servers.yaml; then
		sed -i "s/e2e.wavesync.dev\\/push: \"[0-9]*\"/e2e.wavesync.dev\\/push: \"\$n\"/" serving/03-model-servers.yaml
	else
		sed -i "s/^\\(    argocd.argoproj.io\\/sync-wave: \"3\"\\)\$/\\1\\n    e2e.wavesync.dev\\/ready-after: 700ms\\n    e2e.wavesync.dev\\/push: \"\$n\"/" serving/03-model-servers.yaml
	fi ;;
failing) cat >serving/05-never-ready.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
  annotations:
    argocd.argoproj.io/sync-wave: "5"
    wavesync.dev/wave-timeout: 3s
    e2e.wavesync.dev/never-ready: "true"
spec:
  replicas: 1
  selector: {matchLabels: {app: never-ready}}
  template:
    metadata: {labels: {app: never-ready}}
    spec: {containers: [{name: main, image: registry.local/never-ready:1}]}
YAML
;;
markup) cat >monitoring/markup.yaml <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: markup
  labels: {note: "<img src=x onerror=window.__xss=1>"}
data: {a: b}
YAML
;;
esac
git add -A
git commit -qm "web.sh: \$1"
git push -q origin main
after=\$(git rev-parse HEAD)
"$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "$ws_url/api/webhook/github" --secret "$secret" \\
	--repo-url "$url" --ref refs/heads/main --before "\$before" --after "\$after" --git-dir "$repo" >/dev/null
SH

shots=${WS_SCREENSHOTS:-$E2E_DIR/shots}
mkdir -p "$shots"
WS_URL=$ws_url WS_TOKEN=$WS_E2E_TOKEN PLAN_WAVES=$plan_waves SHOTS=$shots CHROMIUM=$chromium \
	PUSH_SERVING="bash $E2E_DIR/push.sh serving" PUSH_FAILING="bash $E2E_DIR/push.sh failing" \
	PUSH_MARKUP="bash $E2E_DIR/push.sh markup" \
	UNDRIFT="kubectl --kubeconfig $DEVCLUSTER_KUBECONFIG -n monitoring delete configmap prometheus-config >/dev/null" \
	DRIFT="kubectl --kubeconfig $DEVCLUSTER_KUBECONFIG -n monitoring patch configmap prometheus-config --type merge -p '{\"data\":{\"prometheus.yml\":\"drifted by hand\"}}' >/dev/null" \
	node "$WS_SRCDIR/tests/browser/web.mjs" >"$E2E_DIR/browser.tap" 2>"$E2E_DIR/browser.err"
brc=$?
# the browser's checks, numbered on from ours
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok * - }" ;;
	"not ok "*) ok 1 "${line#not ok * - }" ;;
	"#"*) echo "$line" ;;
	esac
done <"$E2E_DIR/browser.tap"
[ "$brc" -eq 0 ] || diag "browser: rc $brc; $(tail -n 5 "$E2E_DIR/browser.err" | tr '\n' ' ')"
for f in overview application run-timeline; do
	[ -s "$shots/$f.png" ]
	ok $? "screenshot $f.png taken"
done
kill -TERM "$serve_pid" && wait "$serve_pid"
ok $? "the service stops cleanly with the page's event stream open"
serve_pid=
! grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$E2E_DIR/serve.err"
ok $? "no sanitizer reports from the service"
tap_end
