#!/usr/bin/env bash
# bench/unchanged.sh — a sync of N objects (default 1000) that are all already
# in the cluster as Git says: `wavesync sync APP` against `kapp deploy` (its
# client-side diff sends nothing when nothing changed), and `wavesync sync
# --apply-all` (every object applied again, wavesync's behaviour before it
# learnt to leave unchanged objects alone) for reference.
#
# Usage: bench/unchanged.sh [N]
#
# A minimal tests/devcluster with tests/e2e/fakectl as the controllers, in a
# temporary directory. The same N objects of an ML platform (60 % ConfigMaps
# of about 1.5 KB, 15 % Secrets, 15 % headless Services, 10 % model-server
# Deployments) go to two namespaces: one an Argo CD Application in a Git
# repository that `wavesync sync` deploys, the other a kapp app. After a first,
# untimed deploy by each tool, RUNS times (default 3, the order rotating):
#   wavesync sync APP               (nothing changed: expected to send no apply)
#   kapp deploy -a APP -f DIR -y    (nothing changed)
#   wavesync sync APP --apply-all   (every object applied again)
# Measured per command: wall time (process start to exit), the client's CPU,
# kube-apiserver's and etcd's CPU, and the mutating requests the apiserver
# counted (apiserver_request_total, verbs APPLY, PATCH, PUT, POST, DELETE).
# After every no-op run the highest resourceVersion of the objects must be
# unchanged. Prints the median of the RUNS per command.
#
# Environment:
#   WAVESYNC, FAKECTL  binaries (default: build the tree like scripts/check)
#   KAPP       kapp binary (default: carvel.dev/kapp $KAPP_VERSION built from
#              the Go module proxy once, cached in ~/.cache/wavesync)
#   KAPP_VERSION  default v0.64.2
#   RUNS       repetitions (default 3)
#   BENCH_KEEP=1  keep the temporary directory
#
# Exits 1 when a command fails or a no-op run changed an object.
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
N=${1:-1000}
RUNS=${RUNS:-3}
KAPP_VERSION=${KAPP_VERSION:-v0.64.2}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10)) || die "N must be a number >= 10 (got '$N')"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
for t in awk curl git go python3 timeout; do command -v "$t" >/dev/null || die "$t not found"; done

# ---- kapp, built once from the Go module proxy --------------------------------
if [[ -z ${KAPP:-} ]]; then
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/wavesync/kapp-$KAPP_VERSION
	KAPP=$cache/kapp
	KAPP_FROM="carvel.dev/kapp $KAPP_VERSION, built with $(go env GOVERSION)"
	if [[ ! -x $KAPP ]]; then
		log "building kapp $KAPP_VERSION into $cache (once; a few minutes on 2 cores)"
		mod=$(mktemp -d)
		(
			cd "$mod"
			export GOFLAGS=-mod=mod
			go mod init kappbuild >/dev/null 2>&1
			go get "carvel.dev/kapp@$KAPP_VERSION" >&2
			mkdir -p "$cache"
			go build -o "$KAPP.tmp" carvel.dev/kapp/cmd/kapp >&2
			mv "$KAPP.tmp" "$KAPP"
		) || {
			rm -rf "$mod"
			die "building kapp failed"
		}
		rm -rf "$mod"
	fi
fi
[[ -x $KAPP ]] || die "\$KAPP=$KAPP is not an executable file"

bench_init wavesync-bench-unchanged
bench_wavesync
bench_cluster_up "$T/cluster"
bench_fakectl

# ---- the objects ----------------------------------------------------------------
work=$T/repo
log "generating $N objects"
python3 - "$work" "$N" <<'PY'
import os, sys
work, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{work}/apps", exist_ok=True)
os.makedirs(f"{work}/platform", exist_ok=True)
with open(f"{work}/apps/platform.yaml", "w") as f:
    f.write(f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: platform}}
spec:
  source: {{repoURL: "file://{work}", targetRevision: HEAD, path: platform}}
  destination: {{name: in-cluster, namespace: bench-ws}}
""")
params = "".join(f"      param_{k}: {{value: {k * 37 % 101}, min: 0, max: 1000, schedule: cosine}}\n" for k in range(12))
docs = []
for j in range(n):
    r = j % 20
    if r < 12:
        docs.append(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: train-config-{j}, labels: {{app.kubernetes.io/part-of: ml-platform}}}}
data:
  run.env: |
    EXPERIMENT=exp-{j}
    NCCL_DEBUG=WARN
  train.yaml: |
    model: {{name: resnet50-{j}, precision: bf16, checkpoint: s3://models/resnet50/{j}}}
    optimizer:
{params}""")
    elif r < 15:
        docs.append(f"""apiVersion: v1
kind: Secret
metadata: {{name: store-creds-{j}}}
type: Opaque
stringData: {{AWS_ACCESS_KEY_ID: AKIABENCH{j:08d}, HF_TOKEN: hf_bench_{j}}}
""")
    elif r < 18:
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: model-{j}}}
spec:
  clusterIP: None
  selector: {{app: model-{j}}}
  ports: [{{name: http, port: 8080, targetPort: 8080}}]
""")
    else:
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: model-server-{j}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: model-{j}}}}}
  template:
    metadata: {{labels: {{app: model-{j}}}}}
    spec:
      containers:
        - name: server
          image: registry.local/model-server:1.{j % 7}
          ports: [{{containerPort: 8080}}]
          resources: {{requests: {{cpu: 500m, memory: 1Gi}}}}
""")
with open(f"{work}/platform/all.yaml", "w") as f:
    f.write("---\n".join(docs))
# kapp: the same objects in their own namespace
os.makedirs(f"{work}/../kapp", exist_ok=True)
with open(f"{work}/../kapp/all.yaml", "w") as f:
    f.write("---\n".join(d.replace("metadata: {name: ", "metadata: {namespace: bench-kapp, name: ", 1) for d in docs))
PY
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@wavesync.invalid commit -q -m "platform"
cat >"$T/wavesync.yaml" <<YAML
repositories:
  - {name: platform, url: "file://$work"}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: platform, path: apps}
settings: {waveTimeout: 300s, stateDir: $T/state}
YAML
for ns in bench-ws bench-kapp; do
	curl -sS --fail -o /dev/null --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		-H 'Content-Type: application/json' -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" \
		"$DEVCLUSTER_SERVER/api/v1/namespaces"
done

# ---- measuring ---------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
proc_cpu_ms() { # component -> its CPU time (user + system) so far, in ms
	local pid
	pid=$(cat "$CLUSTER/pids/$1.pid" 2>/dev/null) || {
		echo 0
		return
	}
	awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$pid/stat" 2>/dev/null || echo 0
}
writes() { # mutating requests the apiserver has counted so far
	api /metrics | awk '/^apiserver_request_total\{/ && /verb="(APPLY|PATCH|PUT|POST|DELETE)"/ { n += $NF } END { printf "%d\n", n }'
}
max_rv() { # namespace -> the highest resourceVersion of its objects
	local ns=$1 r
	for r in api/v1/namespaces/$ns/configmaps api/v1/namespaces/$ns/secrets api/v1/namespaces/$ns/services \
		apis/apps/v1/namespaces/$ns/deployments; do
		api "/$r" | python3 -c 'import json,sys; print(max([int(i["metadata"]["resourceVersion"]) for i in json.load(sys.stdin)["items"]] or [0]))'
	done | sort -n | tail -1
}
FAILED=0
timed() { # name outfile cmd... -> appends "ms cpu api_ms etcd_ms writes" to $T/res.NAME
	local name=$1 out=$2 t0 t1 a0 e0 w0 rc TIMEFORMAT='%U %S'
	shift 2
	w0=$(writes)
	a0=$(proc_cpu_ms kube-apiserver)
	e0=$(proc_cpu_ms etcd)
	t0=$(date +%s%N)
	set +e
	{ time timeout -k 10 600 "$@" >"$out" 2>&1; } 2>"$out.cpu"
	rc=$?
	set -e
	t1=$(date +%s%N)
	if ((rc != 0)); then
		log "FAILED ($rc): $name: $(tail -n 3 "$out")"
		FAILED=1
	fi
	echo "$(((t1 - t0) / 1000000)) $(awk '{ printf "%.2f", $1 + $2 }' "$out.cpu") $(($(proc_cpu_ms kube-apiserver) - a0)) $(($(proc_cpu_ms etcd) - e0)) $(($(writes) - w0))" >>"$T/res.$name"
}
WS_SYNC=("$WS" --config "$T/wavesync.yaml" sync platform)
KAPP_DEPLOY=("$KAPP" deploy --kubeconfig "$DEVCLUSTER_KUBECONFIG" -n bench-kapp -a platform -f "$T/kapp/all.yaml" --yes)

log "first deploy by each tool (untimed)"
"${WS_SYNC[@]}" >"$T/first-ws.out" 2>&1 || die "first wavesync sync failed: $(tail -n 5 "$T/first-ws.out")"
"${KAPP_DEPLOY[@]}" >"$T/first-kapp.out" 2>&1 || die "first kapp deploy failed: $(tail -n 5 "$T/first-kapp.out")"

for ((run = 1; run <= RUNS; run++)); do
	log "run $run of $RUNS"
	order=(ws kapp all)
	((run % 3 == 2)) && order=(kapp all ws)
	((run % 3 == 0)) && order=(all ws kapp)
	for tool in "${order[@]}"; do
		case $tool in
		ws)
			rv=$(max_rv bench-ws)
			timed ws "$T/ws.$run.out" "${WS_SYNC[@]}"
			grep -q "$N of $N objects are already as Git says" "$T/ws.$run.out" || {
				log "FAILED: wavesync did not find all $N objects unchanged: $(grep -m1 'already as Git says' "$T/ws.$run.out" || tail -n 3 "$T/ws.$run.out")"
				FAILED=1
			}
			[[ $(max_rv bench-ws) == "$rv" ]] || {
				log "FAILED: wavesync's no-op sync changed an object"
				FAILED=1
			}
			;;
		kapp)
			rv=$(max_rv bench-kapp)
			timed kapp "$T/kapp.$run.out" "${KAPP_DEPLOY[@]}"
			[[ $(max_rv bench-kapp) == "$rv" ]] || {
				log "FAILED: kapp's no-op deploy changed an object"
				FAILED=1
			}
			;;
		all) timed all "$T/all.$run.out" "${WS_SYNC[@]}" --apply-all ;;
		esac
	done
done

col() { # name column -> median of that column
	local vals
	mapfile -t vals < <(awk -v c="$2" '{ print $c }' "$T/res.$1")
	median "${vals[@]}"
}
row() { # label name
	awk -v l="$1" -v ms="$(col "$2" 1)" -v cpu="$(col "$2" 2)" -v api="$(col "$2" 3)" -v etcd="$(col "$2" 4)" \
		-v w="$(col "$2" 5)" 'BEGIN { printf "%-34s %8.2f s %8.2f s %11.2f s %8.2f s %8d\n", l, ms / 1000, cpu, api / 1000, etcd / 1000, w }'
}
cat <<EOF

a sync of $N objects already as Git says (median of $RUNS)
machine:   $(nproc) cores, $(bench_cpu_model)
wavesync:  $FROM
kapp:      ${KAPP_FROM:-given by \$KAPP ($KAPP)}
cluster:   minimal tests/devcluster ($(api /version | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')), fakectl as the controllers

$(printf '%-34s %10s %10s %11s %10s %8s' command wall client-CPU apiserver-CPU etcd-CPU writes)
$(row "wavesync sync (no-op)" ws)
$(row "kapp deploy (no-op)" kapp)
$(row "wavesync sync --apply-all" all)
EOF
exit "$FAILED"
