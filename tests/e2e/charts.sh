#!/usr/bin/env bash
# charts.sh — Helm charts from outside Git, end to end, against a real control
# plane: a chart repository over HTTP (tests/e2e/chartrepo.py serving what the
# pinned `helm package` + `helm repo index` made), the same with basic auth and
# over TLS (a test CA made with openssl), and a real OCI registry (distribution,
# built by tests/devcluster build-registry) that the pinned `helm push` fills,
# also behind the Bearer token flow (tests/e2e/ocitoken.py: a token service
# wanting basic auth, in front of the same registry).
# Checks: exact versions and semver ranges from each; a chart in Git with
# dependencies (a repository one pinned by Chart.lock, and a file:// one);
# a second sync that asks the repository for nothing; and bad input — no such
# chart or version, a bad digest, a corrupt archive, an archive with ../
# entries, an oversized index: exit 2; a wrong password, a TLS repository
# without its CA, a repository that is down: exit 3 — each naming the
# Application and the source, with nothing applied; offlineIndex when the
# repository goes away.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT

helm_bin=$("$DEVCLUSTER" build-helm 2>/dev/null | tail -n 1)
registry_bin=$("$DEVCLUSTER" build-registry 2>/dev/null | tail -n 1)
if [ ! -x "$helm_bin" ] || [ ! -x "$registry_bin" ]; then
	echo "Bail out! cannot build the pinned helm and the registry"
	exit 1
fi
export PATH="$(dirname "$helm_bin"):$PATH"
# helm's own configuration stays in the test folder (helm push and package only)
export HELM_CONFIG_HOME=$E2E_DIR/helm/config HELM_CACHE_HOME=$E2E_DIR/helm/cache HELM_DATA_HOME=$E2E_DIR/helm/data
export KUBECONFIG=$DEVCLUSTER_KUBECONFIG
start_fakectl

src=$E2E_DIR/src
www=$E2E_DIR/www
mkdir -p "$src" "$www/repo" "$www/bad"

# ---- the charts ----------------------------------------------------------------------------
# operator: a CRD and a Deployment, in several versions (one a pre-release)
mkdir -p "$src/operator/templates" "$src/operator/crds"
cat >"$src/operator/Chart.yaml" <<'YAML'
apiVersion: v2
name: operator
description: an operator-style chart (a CRD and its controller)
version: 0.0.0
YAML
cat >"$src/operator/values.yaml" <<'YAML'
replicas: 1
image: registry.invalid/operator:latest
YAML
cat >"$src/operator/crds/widgets.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.charts.e2e.wavesync.dev}
spec:
  group: charts.e2e.wavesync.dev
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
YAML
cat >"$src/operator/templates/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-operator
  labels: {chart-version: {{ .Chart.Version | quote }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}-operator}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}-operator}}
    spec:
      containers: [{name: operator, image: {{ .Values.image | quote }}}]
YAML
# common: a library-ish chart other charts depend on
mkdir -p "$src/common/templates"
printf 'apiVersion: v2\nname: common\nversion: 0.0.0\n' >"$src/common/Chart.yaml"
cat >"$src/common/templates/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-common}
data: {version: {{ .Chart.Version | quote }}}
YAML
for v in 0.1.0 0.2.0 1.0.0 1.0.1 1.1.0-rc.1; do
	helm package --version "$v" "$src/operator" -d "$www/repo" >/dev/null 2>&1 || echo "# helm package operator $v failed"
done
for v in 1.0.0 1.1.0; do
	helm package --version "$v" "$src/common" -d "$www/repo" >/dev/null 2>&1 || echo "# helm package common $v failed"
done
helm repo index "$www/repo" || echo "# helm repo index failed"

# the bad repository: its own index, with crafted entries
cp "$www/repo/operator-1.0.0.tgz" "$www/bad/"
"$py" - "$www/bad" <<'PY'
import gzip, hashlib, io, os, sys, tarfile
d = sys.argv[1]
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
# corrupt: right digest, not an archive
open(os.path.join(d, "corrupt-1.0.0.tgz"), "wb").write(b"\x1f\x8bthis is not gzip at all" * 50)
# evil: a real gzip'd tar whose second entry climbs out with ../
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    for name, data in (("evil/Chart.yaml", b"apiVersion: v2\nname: evil\nversion: 1.0.0\n"),
                       ("evil/../../../escaped.txt", b"pwned\n")):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
open(os.path.join(d, "evil-1.0.0.tgz"), "wb").write(buf.getvalue())
entries = {
  "operator": [("1.0.0", "operator-1.0.0.tgz", "0" * 64)],           # bad digest
  "corrupt": [("1.0.0", "corrupt-1.0.0.tgz", sha(os.path.join(d, "corrupt-1.0.0.tgz")))],
  "evil": [("1.0.0", "evil-1.0.0.tgz", sha(os.path.join(d, "evil-1.0.0.tgz")))],
}
with open(os.path.join(d, "index.yaml"), "w") as f:
    f.write("apiVersion: v1\nentries:\n")
    for name, vs in entries.items():
        f.write(f"  {name}:\n")
        for v, url, dg in vs:
            f.write(f"  - name: {name}\n    version: {v}\n    urls: [{url}]\n    digest: {dg}\n")
# huge: an index over the 64 MiB limit
os.makedirs(os.path.join(d, "huge"), exist_ok=True)
with open(os.path.join(d, "huge", "index.yaml"), "w") as f:
    f.write("apiVersion: v1\nentries: {}\n")
    line = "# " + "x" * 1000 + "\n"
    for _ in range(66 * 1024):
        f.write(line)
PY

# a test CA and a server certificate for 127.0.0.1
pki=$E2E_DIR/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=charts e2e CA" -keyout "$pki/ca.key" \
	-out "$pki/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$pki/srv.key" -out "$pki/srv.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/srv.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
	-extfile "$pki/ext" -out "$pki/srv.pem" >/dev/null 2>&1
# a client certificate for the repository that wants one (mutual TLS)
openssl req -newkey rsa:2048 -nodes -subj "/CN=wavesync" -keyout "$pki/client.key" -out "$pki/client.csr" >/dev/null 2>&1
openssl x509 -req -in "$pki/client.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
	-out "$pki/client.pem" >/dev/null 2>&1

# ---- the servers ---------------------------------------------------------------------------
serve_repo() { # name root [args…]: a chartrepo.py (in pids); its port in $E2E_DIR/NAME.port, log NAME.log
	local name=$1 root=$2
	shift 2
	"$py" "$WS_SRCDIR/tests/e2e/chartrepo.py" "$root" "$E2E_DIR/$name.port" "$E2E_DIR/$name.log" "$@" \
		>/dev/null 2>"$E2E_DIR/$name.err" &
	pids+=($!)
	wait_file "$E2E_DIR/$name.port" || echo "Bail out! $name did not start"
}
serve_repo http "$www/repo"
http_pid=${pids[-1]}
serve_repo auth "$www/repo" --basic "e2e:s3cret-pw"
serve_repo tls "$www/repo" --tls "$pki/srv.pem" "$pki/srv.key"
serve_repo bad "$www/bad"
serve_repo mtls "$www/repo" --bearer "b3arer-tok" --tls "$pki/srv.pem" "$pki/srv.key" --client-ca "$pki/ca.pem"
p_mtls=$(cat "$E2E_DIR/mtls.port")
p_http=$(cat "$E2E_DIR/http.port") p_auth=$(cat "$E2E_DIR/auth.port") p_tls=$(cat "$E2E_DIR/tls.port")
p_bad=$(cat "$E2E_DIR/bad.port")
p_down=$(free_port) # nothing listens there

p_reg=$(free_port)
mkdir -p "$E2E_DIR/registry"
cat >"$E2E_DIR/registry/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $E2E_DIR/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$p_reg}
YAML
"$registry_bin" serve "$E2E_DIR/registry/config.yml" </dev/null >"$E2E_DIR/registry.log" 2>&1 &
pids+=($!)
wait_for 20 curl -sf "http://127.0.0.1:$p_reg/v2/" -o /dev/null || echo "Bail out! the registry did not start"
for f in operator-0.1.0 operator-0.2.0 operator-1.0.0 operator-1.0.1; do
	helm push "$www/repo/$f.tgz" "oci://127.0.0.1:$p_reg/charts" --plain-http >>"$E2E_DIR/push.log" 2>&1 ||
		echo "# helm push $f failed: $(tail -n 2 "$E2E_DIR/push.log")"
done
# the registry again, behind the Bearer token flow (a token service wanting basic auth)
"$py" "$WS_SRCDIR/tests/e2e/ocitoken.py" "http://127.0.0.1:$p_reg" "$E2E_DIR/tok.port" "$E2E_DIR/tok.log" \
	"robot:t0ken-pw" >/dev/null 2>"$E2E_DIR/tok.err" &
pids+=($!)
wait_file "$E2E_DIR/tok.port" || echo "Bail out! ocitoken.py did not start"
p_tok=$(cat "$E2E_DIR/tok.port")
diag "chart repositories on ports http $p_http, auth $p_auth, tls $p_tls, bad $p_bad; registry $p_reg"

# ---- the Git repository: Applications and a chart with dependencies --------------------------
repo=$E2E_DIR/git
mkdir -p "$repo/apps" "$repo/charts/platform/templates" "$repo/charts/shared/templates"
cat >"$repo/charts/platform/Chart.yaml" <<YAML
apiVersion: v2
name: platform
version: 1.0.0
dependencies:
  - name: common
    version: ^1.0.0
    repository: http://127.0.0.1:$p_http
  - name: shared
    version: 0.1.0
    repository: file://../shared
YAML
# the lock pins common 1.0.0 although 1.1.0 matches ^1.0.0
cat >"$repo/charts/platform/Chart.lock" <<YAML
dependencies:
- name: common
  repository: http://127.0.0.1:$p_http
  version: 1.0.0
- name: shared
  repository: file://../shared
  version: 0.1.0
digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
generated: "2026-12-01T00:00:00Z"
YAML
cat >"$repo/charts/platform/templates/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: platform}
data: {answer: "42"}
YAML
printf 'apiVersion: v2\nname: shared\nversion: 0.1.0\n' >"$repo/charts/shared/Chart.yaml"
cat >"$repo/charts/shared/templates/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-shared}
data: {from: file}
YAML

chart_app() { # name repoURL chart targetRevision namespace [helm block]
	cat >"$repo/apps/$1.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  project: default
  source:
    repoURL: $2
    chart: $3
    targetRevision: "$4"${6:+
    helm: $6}
  destination: {name: in-cluster, namespace: $5}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
}
chart_app op-http "http://127.0.0.1:$p_http" operator 1.0.0 charts-http "{releaseName: op, valueFiles: [values.yaml], parameters: [{name: replicas, value: \"2\"}]}"
chart_app op-range "http://127.0.0.1:$p_http" operator "^0.1" charts-range
chart_app op-auth "http://127.0.0.1:$p_auth" operator "~1.0.0" charts-auth
chart_app op-tls "https://127.0.0.1:$p_tls" operator ">=0.1 <1.0" charts-tls
chart_app op-oci "oci://127.0.0.1:$p_reg/charts" operator 1.0.0 charts-oci
chart_app op-oci-range "oci://127.0.0.1:$p_reg/charts" operator "0.x" charts-oci-range
chart_app op-mtls "https://127.0.0.1:$p_mtls" operator "1.0.0" charts-mtls
chart_app op-oci-bare "127.0.0.1:$p_reg/charts" operator "0.1.0" charts-oci-bare
chart_app op-oci-token "oci://127.0.0.1:$p_tok/charts" operator "~1.0" charts-oci-token
chart_app bad-nochart "http://127.0.0.1:$p_http" nosuchchart 1.0.0 charts-bad1
chart_app bad-version "http://127.0.0.1:$p_http" operator 9.9.9 charts-bad2
chart_app bad-digest "http://127.0.0.1:$p_bad" operator 1.0.0 charts-bad3
chart_app bad-corrupt "http://127.0.0.1:$p_bad" corrupt 1.0.0 charts-bad4
chart_app bad-evil "http://127.0.0.1:$p_bad" evil 1.0.0 charts-bad5
chart_app bad-huge "http://127.0.0.1:$p_bad/huge" operator 1.0.0 charts-bad6
chart_app bad-down "http://127.0.0.1:$p_down" operator 1.0.0 charts-bad7
chart_app bad-oci-tag "oci://127.0.0.1:$p_reg/charts" operator 7.7.7 charts-bad8
cat >"$repo/apps/platform.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: platform, namespace: argocd}
spec:
  project: default
  source: {repoURL: file://$repo, targetRevision: HEAD, path: charts/platform}
  destination: {name: in-cluster, namespace: charts-platform}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
git -C "$repo" init -q -b main && git -C "$repo" add -A && git -C "$repo" commit -q -m "charts e2e"

export CHARTS_PASSWORD=s3cret-pw OCI_PASSWORD=t0ken-pw CHARTS_TOKEN=b3arer-tok
write_cfg() { # file password-ref tls-ca [offline] [oci-password-ref] [client-cert]
	cat >"$1" <<YAML
repositories:
  - {name: git, url: file://$repo}
  - {name: charts, url: "http://127.0.0.1:$p_http", type: helm${4:+, offlineIndex: true}}
  - name: charts-auth
    url: "http://127.0.0.1:$p_auth"
    type: helm
    credentials: {username: e2e, password: "$2"}
  - {name: charts-tls, url: "https://127.0.0.1:$p_tls", type: helm${3:+, caFile: $3}}
  - {name: charts-bad, url: "http://127.0.0.1:$p_bad", type: helm}
  - {name: charts-huge, url: "http://127.0.0.1:$p_bad/huge", type: helm}
  - {name: charts-down, url: "http://127.0.0.1:$p_down", type: helm}
  - {name: oci, url: "oci://127.0.0.1:$p_reg/charts", plainHTTP: true}
  - {name: oci-bare, url: "127.0.0.1:$p_reg/charts", enableOCI: true, plainHTTP: true}
  - name: charts-mtls
    url: "https://127.0.0.1:$p_mtls"
    type: helm
    caFile: $pki/ca.pem
    credentials: {token: env:CHARTS_TOKEN${6:+, certFile: $pki/client.pem, keyFile: $pki/client.key}}
  - name: oci-token
    url: "oci://127.0.0.1:$p_tok/charts"
    plainHTTP: true
    credentials: {username: robot, password: "${5:-env:OCI_PASSWORD}"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: git, path: apps}
settings: {waveTimeout: 1m, stateDir: $E2E_DIR/state}
YAML
}
cfg=$E2E_DIR/wavesync.yaml
write_cfg "$cfg" "env:CHARTS_PASSWORD" "$pki/ca.pem" "" "" yes
write_cfg "$E2E_DIR/nocert.yaml" "env:CHARTS_PASSWORD" "$pki/ca.pem"
write_cfg "$E2E_DIR/wrongpw.yaml" "not-the-password" "$pki/ca.pem" "" "" yes
write_cfg "$E2E_DIR/noca.yaml" "env:CHARTS_PASSWORD" "" "" "" yes
write_cfg "$E2E_DIR/offline.yaml" "env:CHARTS_PASSWORD" "$pki/ca.pem" yes "" yes
write_cfg "$E2E_DIR/ociwrong.yaml" "env:CHARTS_PASSWORD" "$pki/ca.pem" "" "wrong-token-pw" yes

ws() { # name [config] args…: wavesync; $rc, $E2E_DIR/NAME.{out,err}
	local name=$1 c=$cfg
	shift
	if [[ ${1:-} == *.yaml ]]; then
		c=$1
		shift
	fi
	"$WAVESYNC" --config "$c" "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err"
	rc=$?
}
status_of() { # path -> HTTP status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
get() { # path -> body
	curl -s --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
chart_version_of() { # namespace deployment -> the chart-version label
	get "/apis/apps/v1/namespaces/$1/deployments/$2" | jget 'd["metadata"]["labels"]["chart-version"]'
}
requests() { # server-name [pattern]: requests logged so far
	grep -c "${2:-.}" "$E2E_DIR/$1.log" 2>/dev/null || true
}
first_error() { grep -m1 'Application "' "$E2E_DIR/$1.err" | head -c 400; }

# ---- good syncs ---------------------------------------------------------------------------------
ws http sync op-http
ok $rc "an exact version from an HTTP Helm repository syncs (rc=$rc: $(first_error http))"
[ "$(chart_version_of charts-http op-operator)" = 1.0.0 ] &&
	[ "$(get /apis/apps/v1/namespaces/charts-http/deployments/op-operator | jget 'd["spec"]["replicas"]')" = 2 ]
ok $? "op-http: the Deployment of chart 1.0.0, releaseName, valueFiles and parameters honoured"
[ "$(status_of /apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.charts.e2e.wavesync.dev)" = 200 ]
ok $? "op-http: the chart's CRD (crds/) is applied"
[ "$(requests http 'GET /index.yaml')" = 1 ] && [ "$(requests http 'GET /operator-1.0.0.tgz')" = 1 ]
ok $? "op-http: one index and one archive request ($(requests http) requests)"
ls "$E2E_DIR"/state/charts/sha256/*.tgz >/dev/null 2>&1
ok $? "the archive is cached by digest under stateDir/charts/sha256"

before=$(requests http)
ws http2 sync op-http
[ $rc -eq 0 ] && [ "$(requests http)" = "$before" ]
ok $? "a second sync of an exact version makes no request at all (rc=$rc, $(($(requests http) - before)) requests)"

ws range sync op-range
[ $rc -eq 0 ] && [ "$(chart_version_of charts-range op-range-operator)" = 0.1.0 ]
ok $? "a semver range: ^0.1 means >=0.1.0 <0.2.0, so 0.1.0 (rc=$rc: $(first_error range))"

ws auth sync op-auth
[ $rc -eq 0 ] && [ "$(chart_version_of charts-auth op-auth-operator)" = 1.0.1 ]
ok $? "basic auth: ~1.0.0 resolves to 1.0.1, not the pre-release (rc=$rc: $(first_error auth))"
grep -q "s3cret-pw" "$E2E_DIR"/*.err "$E2E_DIR"/*.out 2>/dev/null
[ $? -ne 0 ]
ok $? "the password appears in no output"
before=$(requests auth 'tgz')
ws auth2 sync op-auth
[ $rc -eq 0 ] && [ "$(requests auth 'tgz')" = "$before" ]
ok $? "a second sync of a range downloads no archive (only the index: $(requests auth 'index.yaml') index requests)"

# an index fetched in the same second counts as this run's (runs are told apart
# by their start second): these runs must ask the server
rm -f "$E2E_DIR"/state/charts/index/*.yaml
ws wrongpw "$E2E_DIR/wrongpw.yaml" sync op-auth
[ $rc -eq 3 ] && grep -q "Application \"op-auth\"" "$E2E_DIR/wrongpw.err" &&
	grep -q "127.0.0.1:$p_auth" "$E2E_DIR/wrongpw.err" && ! grep -q "not-the-password" "$E2E_DIR/wrongpw.err"
ok $? "a wrong password: exit 3, the Application and the repository named, no password shown (rc=$rc: $(first_error wrongpw))"

ws tls sync op-tls
[ $rc -eq 0 ] && [ "$(chart_version_of charts-tls op-tls-operator)" = 0.2.0 ]
ok $? "TLS with caFile: >=0.1 <1.0 resolves to 0.2.0 (rc=$rc: $(first_error tls))"
rm -f "$E2E_DIR"/state/charts/index/*.yaml
ws noca "$E2E_DIR/noca.yaml" sync op-tls
[ $rc -eq 3 ] && grep -q "Application \"op-tls\"" "$E2E_DIR/noca.err" && grep -q "127.0.0.1:$p_tls" "$E2E_DIR/noca.err"
ok $? "TLS without the CA: exit 3 naming the Application and the repository (rc=$rc: $(first_error noca))"

ws oci sync op-oci
[ $rc -eq 0 ] && [ "$(chart_version_of charts-oci op-oci-operator)" = 1.0.0 ]
ok $? "OCI: an exact tag syncs (rc=$rc: $(first_error oci))"
ws ocirange sync op-oci-range
[ $rc -eq 0 ] && [ "$(chart_version_of charts-oci-range op-oci-range-operator)" = 0.2.0 ]
ok $? "OCI: a range (0.x) is resolved from the tag list to 0.2.0 (rc=$rc: $(first_error ocirange))"

ws mtls sync op-mtls
[ $rc -eq 0 ] && [ "$(chart_version_of charts-mtls op-mtls-operator)" = 1.0.0 ]
ok $? "mutual TLS (certFile/keyFile) and a bearer token (credentials.token) (rc=$rc: $(first_error mtls))"
rm -f "$E2E_DIR"/state/charts/index/*.yaml "$E2E_DIR"/state/charts/refs/*
ws nocert "$E2E_DIR/nocert.yaml" sync op-mtls
[ $rc -eq 3 ] && grep -q "Application \"op-mtls\"" "$E2E_DIR/nocert.err" && grep -q "127.0.0.1:$p_mtls" "$E2E_DIR/nocert.err"
ok $? "the same without the client certificate: exit 3 naming the repository (rc=$rc: $(first_error nocert))"
ws ocibare sync op-oci-bare
[ $rc -eq 0 ] && [ "$(chart_version_of charts-oci-bare op-oci-bare-operator)" = 0.1.0 ]
ok $? "OCI: a bare registry host/path with enableOCI: true (rc=$rc: $(first_error ocibare))"

ws ocitok sync op-oci-token
[ $rc -eq 0 ] && [ "$(chart_version_of charts-oci-token op-oci-token-operator)" = 1.0.1 ] &&
	grep -q '^GET /token.* 200$' "$E2E_DIR/tok.log" && grep -q '^GET /v2/charts/operator/tags/list.* 401$' "$E2E_DIR/tok.log"
ok $? "OCI behind the Bearer token flow: 401, a token for the credentials, then ~1.0 resolves to 1.0.1 (rc=$rc: $(first_error ocitok))"
ws ociwrong "$E2E_DIR/ociwrong.yaml" sync op-oci-token
[ $rc -eq 3 ] && grep -q "Application \"op-oci-token\"" "$E2E_DIR/ociwrong.err" && grep -q "127.0.0.1:$p_tok" "$E2E_DIR/ociwrong.err" &&
	! grep -q "wrong-token-pw" "$E2E_DIR/ociwrong.err"
ok $? "OCI token service refusing the credentials: exit 3 naming the Application and the registry (rc=$rc: $(first_error ociwrong))"

before_http=$(requests http 'common')
ws platform sync platform
[ $rc -eq 0 ] &&
	[ "$(get /api/v1/namespaces/charts-platform/configmaps/platform-common | jget 'd["data"]["version"]')" = 1.0.0 ] &&
	[ "$(get /api/v1/namespaces/charts-platform/configmaps/platform-shared | jget 'd["data"]["from"]')" = file ] &&
	[ "$(status_of /api/v1/namespaces/charts-platform/configmaps/platform)" = 200 ]
ok $? "a chart in Git with dependencies: common 1.0.0 as Chart.lock pins it (not 1.1.0), file://../shared copied (rc=$rc: $(first_error platform))"
before=$(requests http 'common')
ws platform2 sync platform
[ $rc -eq 0 ] && [ "$(requests http 'common')" = "$before" ]
ok $? "a second sync of the chart with dependencies fetches no dependency (from the cache: $((before - before_http)) then 0)"

# several Applications in one run: the index of a range is downloaded once
rm -f "$E2E_DIR/state/charts/index/"*.yaml
before=$(requests http 'index.yaml')
ws two sync op-range op-http
[ $rc -eq 0 ] && [ "$(($(requests http 'index.yaml') - before))" -le 1 ]
ok $? "one run, two Applications of one repository: at most one index download ($(($(requests http 'index.yaml') - before)))"

# ---- bad input ----------------------------------------------------------------------------------
bad() { # app want-rc pattern description
	local app=$1 want=$2 pat=$3 what=$4 ns
	ws "$app" sync "$app"
	ns=$(grep -o 'namespace: charts-bad[0-9]*' "$repo/apps/$app.yaml" | cut -d' ' -f2)
	[ $rc -eq "$want" ] && grep -q "Application \"$app\"" "$E2E_DIR/$app.err" && grep -q -- "$pat" "$E2E_DIR/$app.err" &&
		[ "$(status_of "/api/v1/namespaces/$ns")" = 404 ]
	ok $? "$what: exit $want, the Application and the source named, nothing applied (rc=$rc: $(first_error "$app"))"
}
bad bad-nochart 2 'nosuchchart.*127.0.0.1' "a chart that does not exist"
bad bad-version 2 '9.9.9.*127.0.0.1' "a version that does not exist"
bad bad-digest 2 'digest mismatch' "an archive whose digest is not the index's"
bad bad-corrupt 2 'corrupt' "a corrupt archive"
bad bad-evil 2 'leaves the archive' "an archive with ../ entries"
[ ! -e "$E2E_DIR/escaped.txt" ] && [ ! -e "$E2E_DIR/state/escaped.txt" ] && [ ! -e "$E2E_DIR/state/tmp/escaped.txt" ]
ok $? "the ../ entry wrote nothing outside"
bad bad-huge 2 'larger than' "an oversized index"
bad bad-down 3 "127.0.0.1:$p_down" "a repository that is down"
bad bad-oci-tag 2 '7.7.7' "an OCI tag that does not exist"
[ "$(ls -d "$E2E_DIR"/state/tmp/wavesync-export-* 2>/dev/null | wc -l)" = 0 ]
ok $? "no temporary tree left behind"

# ---- the repository goes away: offlineIndex ---------------------------------------------------
kill "$http_pid"
sleep 1.1 # a new run: the cached index is not this run's
ws offline_no sync op-range
[ $rc -eq 3 ] && grep -q "127.0.0.1:$p_http" "$E2E_DIR/offline_no.err"
ok $? "the repository is down: exit 3 naming it (rc=$rc: $(first_error offline_no))"
ws offline "$E2E_DIR/offline.yaml" sync op-range
[ $rc -eq 0 ] && grep -q "offlineIndex" "$E2E_DIR/offline.err"
ok $? "with offlineIndex: true the index cached by an earlier run is used, with a warning (rc=$rc)"

tap_end
