#!/usr/bin/env bash
# sources.sh — Jsonnet directory sources and config management plugins, end
# to end, against a real control plane: a Jsonnet application (an import next
# to the file, a library folder, extVars and TLAs as strings and as code,
# YAML beside it) synced and its objects read back; a Jsonnet error, an
# import leaving the repository and a folder of files of which nothing
# renders each exit 2, named, with nothing applied; a plugin application
# (selected by name, its ARGOCD_ENV_* and build variables reaching it) and
# one found by discover.fileName synced; a plugin that exits non-zero, one
# that prints prose and one that hangs past its timeout each exit 2 naming
# the Application and the plugin, nothing applied, no process left.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT

fx=$E2E_DIR/fx
cfg=$("$WS_SRCDIR/tests/make-fixture-repo" "$fx" "$DEVCLUSTER_KUBECONFIG") || {
	echo "Bail out! make-fixture-repo failed"
	exit 1
}
repo=$fx/repo
tmpdir=$fx/state/tmp

ws() { # NAME ARGS…: wavesync with the fixture config; $rc, $E2E_DIR/NAME.{out,err}
	local name=$1
	shift
	"$WAVESYNC" --config "$cfg" "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err"
	rc=$?
}
get() { # path -> the object's JSON (empty when absent)
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
status_of() { # path -> HTTP status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
commit() { git -C "$repo" add -A && git -C "$repo" commit -q -m "$1"; }
first_error() { grep -m1 "Application \"$1\"" "$E2E_DIR/$2.err" | head -c 400; }
trees() { ls -d "$tmpdir"/wavesync-export-* 2>/dev/null | wc -l; }
app() { # name path namespace [source block lines, indented by 4]
	cat >"$repo/apps/$1.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  project: default
  source:
    repoURL: file://$repo
    targetRevision: HEAD
    path: $2
${4:-}
  destination: {name: in-cluster, namespace: $3}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
}

# ---- the repository -----------------------------------------------------------------------------
mkdir -p "$repo/jsonnet/app" "$repo/jsonnet/vendor/kube" "$repo/jsonnet/err" "$repo/jsonnet/escape" \
	"$repo/jsonnet/empty" "$repo/gen/named" "$repo/gen/found"
cat >"$repo/jsonnet/vendor/kube/kube.libsonnet" <<'EOF2'
{
  configMap(name, data):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, data: data },
}
EOF2
cat >"$repo/jsonnet/app/common.libsonnet" <<'EOF2'
{ labels: { 'app.kubernetes.io/part-of': 'jsonnet-e2e' } }
EOF2
cat >"$repo/jsonnet/app/main.jsonnet" <<'EOF2'
local kube = import 'kube/kube.libsonnet';  // from the library folder
local common = import 'common.libsonnet';  // next to this file
function(suffix, tier='gold')
  [
    kube.configMap('settings' + suffix, {
      env: std.extVar('env'),
      replicas: std.toString(std.extVar('replicas')),
      tier: tier,
    }) + { metadata+: { labels: common.labels } },
    kube.configMap('second' + suffix, { n: '2' }),
  ]
EOF2
cat >"$repo/jsonnet/app/plain.yaml" <<'EOF2'
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
data: {from: yaml}
EOF2
cat >"$repo/jsonnet/err/main.jsonnet" <<'EOF2'
local x = { a: 1 };

x + { b: error 'the model name is missing' }
EOF2
cat >"$repo/jsonnet/escape/main.jsonnet" <<'EOF2'
local secret = importstr '../../../../../../../../etc/passwd';
{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'leak' }, data: { p: secret } }
EOF2
echo '[]' >"$repo/jsonnet/empty/nothing.jsonnet"
echo '# notes' >"$repo/jsonnet/empty/README.md"
echo 'name: named' >"$repo/gen/named/input.txt"
echo 'found' >"$repo/gen/found/app.gen"

jsonnet_block='    directory:
      jsonnet:
        extVars:
          - {name: env, value: e2e}
          - {name: replicas, value: "1 + 2", code: true}
        tlas:
          - {name: suffix, value: "-j"}
          - {name: tier, value: "\"platinum\"", code: true}
        libs: [jsonnet/vendor]'
app jn-ok jsonnet/app src-jn-ok "$jsonnet_block"
app jn-err jsonnet/err src-jn-err
app jn-escape jsonnet/escape src-jn-escape
app jn-empty jsonnet/empty src-jn-empty
app plug-named gen/named src-plug-named '    plugin:
      name: e2e-gen
      env:
        - {name: GREETING, value: hello}
      parameters:
        - {name: size, string: large}'
app plug-found gen/found src-plug-found
cat >"$repo/apps/jn-allow-empty.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: jn-allow-empty, namespace: argocd}
spec:
  project: default
  source: {repoURL: "file://$repo", targetRevision: HEAD, path: jsonnet/empty}
  destination: {name: in-cluster, namespace: src-jn-allow-empty}
  syncPolicy: {automated: {allowEmpty: true}}
YAML
for p in fails prose hangs; do
	app "plug-$p" gen/named "src-plug-$p" "    plugin: {name: $p}"
done
commit "jsonnet and plugin sources"

# ---- the plugins (wavesync.yaml) -----------------------------------------------------------------
plugdir=$E2E_DIR/plugins
mkdir -p "$plugdir"
cat >"$plugdir/gen.sh" <<'EOF2'
#!/bin/sh
# prints a ConfigMap from what Argo CD's build environment says
set -eu
test -f "$HOME/inited" || { echo "init did not run" >&2; exit 7; }
cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: generated
data:
  greeting: "${ARGOCD_ENV_GREETING:-none}"
  app: "$ARGOCD_APP_NAME"
  namespace: "$ARGOCD_APP_NAMESPACE"
  revision: "$ARGOCD_APP_REVISION"
  path: "$ARGOCD_APP_SOURCE_PATH"
  size: "${PARAM_SIZE:-}"
  input: "$(cat input.txt 2>/dev/null || echo -)"
  leaked: "${WS_E2E_SECRET:-no}"
YAML
EOF2
chmod +x "$plugdir/gen.sh"
cat >>"$cfg" <<YAML
plugins:
  - name: e2e-gen
    init: [sh, -c, 'touch "\$HOME/inited"']
    generate: [$plugdir/gen.sh]
  - name: discovered
    generate: [sh, -c, 'printf "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: found}\\ndata: {via: discovery}\\n"']
    discover: {fileName: "*.gen"}
  - name: fails
    generate: [sh, -c, 'echo "apiVersion: v1"; echo "template error: values.yaml: key replicas missing" >&2; exit 4']
  - name: prose
    generate: [sh, -c, 'echo "Rendering complete. 3 objects written."']
  - name: hangs
    generate: [sh, -c, 'echo \$\$ > $E2E_DIR/hang.pid; sleep 300 & echo \$! > $E2E_DIR/hang-child.pid; wait']
    timeout: 2s
YAML

# ---- Jsonnet ---------------------------------------------------------------------------------------
ws jn_ok sync jn-ok
settings=$(get /api/v1/namespaces/src-jn-ok/configmaps/settings-j)
[ $rc -eq 0 ] &&
	[ "$(jget "d['data']['env'], d['data']['replicas'], d['data']['tier']" <<<"$settings")" = "e2e 3 platinum" ]
ok $? "jsonnet: synced; extVars (string, code) and TLAs (string, code) reach the objects (rc=$rc: $(jget "d.get('data')" <<<"$settings"))"
[ "$(jget "d['metadata']['labels']['app.kubernetes.io/part-of']" <<<"$settings")" = jsonnet-e2e ] &&
	[ "$(status_of /api/v1/namespaces/src-jn-ok/configmaps/second-j)" = 200 ]
ok $? "jsonnet: an import next to the file and one from libs; a list result is many objects"
[ "$(get /api/v1/namespaces/src-jn-ok/configmaps/plain | jget "d['data']['from']")" = yaml ]
ok $? "jsonnet: the YAML beside the Jsonnet is synced too"
ws jn_render render jn-ok
[ $rc -eq 0 ] && [ "$(grep -c '^kind: ConfigMap' "$E2E_DIR/jn_render.out")" = 3 ] &&
	! grep -q 'kube.libsonnet\|common' "$E2E_DIR/jn_render.out"
ok $? "jsonnet: render shows 3 objects; *.libsonnet files are only imports"

ws jn_err sync jn-err
[ $rc -eq 2 ] && grep -q 'Application "jn-err".*jsonnet/err/main.jsonnet:3:[0-9-]*: RUNTIME ERROR: the model name is missing' "$E2E_DIR/jn_err.err"
ok $? "jsonnet error: exit 2 naming file:line relative to the repository (rc=$rc: $(first_error jn-err jn_err))"
! grep -q "$tmpdir" "$E2E_DIR/jn_err.err" && [ "$(status_of /api/v1/namespaces/src-jn-err)" = 404 ]
ok $? "jsonnet error: no temporary path in the message, nothing applied"

ws jn_escape sync jn-escape
[ $rc -eq 2 ] && grep -q 'jsonnet/escape/main.jsonnet:1:[0-9-]*: RUNTIME ERROR: couldn.t open import "../../../../../../../../etc/passwd": the import leaves the repository' "$E2E_DIR/jn_escape.err"
ok $? "jsonnet import leaving the repository: exit 2 naming the file and the import (rc=$rc: $(first_error jn-escape jn_escape))"
[ "$(status_of /api/v1/namespaces/src-jn-escape)" = 404 ] && ! grep -q 'root:x:0' "$E2E_DIR/jn_escape.err"
ok $? "jsonnet import leaving the repository: nothing applied, nothing read"

ws jn_empty sync jn-empty
[ $rc -eq 2 ] && grep -q 'Application "jn-empty": path "jsonnet/empty" holds 2 files but nothing renders' "$E2E_DIR/jn_empty.err"
ok $? "a folder of files of which nothing renders: exit 2 naming the path (rc=$rc: $(first_error jn-empty jn_empty))"
[ "$(status_of /api/v1/namespaces/src-jn-empty)" = 404 ]
ok $? "…nothing applied"
ws jn_allow_empty sync jn-allow-empty
ok $rc "…unless syncPolicy.automated.allowEmpty is set (rc=$rc: $(first_error jn-allow-empty jn_allow_empty))"

# ---- plugins ---------------------------------------------------------------------------------------
head=$(git -C "$repo" rev-parse HEAD)
WS_E2E_SECRET=hunter2 ws plug_named sync plug-named
gen=$(get /api/v1/namespaces/src-plug-named/configmaps/generated)
[ $rc -eq 0 ] && [ "$(jget "d['data']['greeting'], d['data']['app'], d['data']['namespace'], d['data']['size']" <<<"$gen")" = "hello plug-named src-plug-named large" ]
ok $? "plugin by name: init then generate; ARGOCD_ENV_*, the Application and PARAM_* reach it (rc=$rc: $(jget "d.get('data')" <<<"$gen"))"
[ "$(jget "d['data']['revision'], d['data']['path'], d['data']['input']" <<<"$gen")" = "$head gen/named name: named" ]
ok $? "plugin: ARGOCD_APP_REVISION is the full commit, it runs in the source path of the exported tree"
[ "$(jget "d['data']['leaked']" <<<"$gen")" = no ]
ok $? "plugin: wavesync's own environment does not reach it"

ws plug_found sync plug-found
[ $rc -eq 0 ] && [ "$(get /api/v1/namespaces/src-plug-found/configmaps/found | jget "d['data']['via']")" = discovery ]
ok $? "plugin by discover.fileName, for a source with no type (rc=$rc: $(first_error plug-found plug_found))"

ws plug_fails sync plug-fails
[ $rc -eq 2 ] && grep -q 'Application "plug-fails": source path "gen/named": plugin "fails" generate: exited with status 4: template error: values.yaml: key replicas missing' "$E2E_DIR/plug_fails.err"
ok $? "plugin exiting non-zero: exit 2 naming the Application, the source, the plugin, its stderr (rc=$rc: $(first_error plug-fails plug_fails))"
[ "$(status_of /api/v1/namespaces/src-plug-fails)" = 404 ]
ok $? "…nothing applied"

ws plug_prose sync plug-prose
[ $rc -eq 2 ] && grep -q 'Application "plug-prose": plugin "prose" generate output (source path "gen/named"):1: document is not a mapping' "$E2E_DIR/plug_prose.err"
ok $? "plugin printing prose: exit 2 naming the plugin (rc=$rc: $(first_error plug-prose plug_prose))"
[ "$(status_of /api/v1/namespaces/src-plug-prose)" = 404 ]
ok $? "…nothing applied"

t0=$(date +%s)
ws plug_hangs sync plug-hangs
secs=$(($(date +%s) - t0))
[ $rc -eq 2 ] && grep -q 'Application "plug-hangs": source path "gen/named": plugin "hangs" generate: killed after 2 s (plugins\[4\].timeout)' "$E2E_DIR/plug_hangs.err"
ok $? "plugin hanging: killed at its timeout, exit 2 naming it, in $secs s (rc=$rc: $(first_error plug-hangs plug_hangs))"
alive() { # pid: running, not a zombie
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
hang_pids=$(cat "$E2E_DIR/hang.pid" "$E2E_DIR/hang-child.pid" 2>/dev/null | tr '\n' ' ')
left=
for _ in $(seq 20); do
	left=
	for p in $hang_pids; do alive "$p" && left="$left $p"; done
	[ -z "$left" ] && break
	sleep 0.1
done
[ -s "$E2E_DIR/hang-child.pid" ] && [ -z "$left" ] && [ "$(status_of /api/v1/namespaces/src-plug-hangs)" = 404 ]
ok $? "…the plugin and its child ($hang_pids) are gone (left:${left:- none}), nothing applied"
[ "$(trees)" = 0 ]
ok $? "no temporary tree left ($(trees))"

# an unknown plugin name is the Application's error
sed -i 's/name: e2e-gen/name: e2e-typo/' "$repo/apps/plug-named.yaml"
commit "a typo"
ws plug_unknown sync plug-named
[ $rc -eq 2 ] && grep -q 'Application "plug-named": plugin "e2e-typo" is not configured' "$E2E_DIR/plug_unknown.err"
ok $? "an unknown plugin name: exit 2 naming the Application and the name (rc=$rc: $(first_error plug-named plug_unknown))"

# (a build with --enable-sanitizers: wavesync and its __jsonnet children)
! grep -q 'Sanitizer\|runtime error:' "$E2E_DIR"/*.err
ok $? "no sanitizer reports"

tap_end
