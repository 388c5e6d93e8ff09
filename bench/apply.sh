#!/usr/bin/env bash
# bench/apply.sh — server-side apply of N objects (default 1000) to a real
# kube-apiserver: `wavesync apply` against `kubectl apply --server-side`.
#
# Usage: bench/apply.sh [N]
#
# Starts its own minimal tests/devcluster (kube-apiserver + etcd on 127.0.0.1) in
# a temporary directory, generates N objects for an ML platform (4 Namespaces;
# the rest 40% ConfigMaps of 1.7-4 KB, 20% Secrets, 20% headless Services, 20%
# GPU model-server Deployments), then, RUNS times (default 3), each time into a
# fresh set of namespaces so both tools create the same objects from scratch:
#   cold:  wavesync apply DIR                        (everything is created)
#   no-op: wavesync apply DIR                        (again; nothing changes)
#   cold:  kubectl apply --server-side -f DIR        (same objects, other namespaces)
#   no-op: kubectl apply --server-side -f DIR
#   and the same two with kubectl --validate=false (no client-side schema work;
#   the server then ignores unknown fields instead of rejecting them), to show
#   how much of kubectl's time is its own CPU rather than the server
# The order of the tools rotates from run to run. Wall time of each process
# (startup included) is measured, with the CPU time of the client, kube-apiserver
# and etcd; after every run the objects are counted on the server (and their
# field manager checked), and after every no-op run their highest resourceVersion
# must be unchanged. Prints the median of the RUNS for each case, the ratio to
# wavesync and objects/second. An untimed warm-up apply by each tool comes first.
#
# Environment:
#   WAVESYNC   wavesync binary (default: build the tree like scripts/check: in place
#              if the source tree is configured in place, else in $BUILD_DIR or _build)
#   KUBECTL    kubectl binary (default: tests/devcluster build-kubectl, cached;
#              the first build takes 1-2 minutes on 2 cores)
#   RUNS       repetitions (default 3)
#   BENCH_CMD_TIMEOUT  seconds before one apply is killed (default 300; a healthy
#                      N=1000 run takes about 3 minutes in all)
#   BENCH_KEEP=1       keep the temporary directory (manifests, outputs)
#
# Exits 0 when every run succeeded and verified, 1 otherwise. Talks to 127.0.0.1
# only; stops the cluster and removes its files on exit (also on Ctrl-C).
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
N=${1:-1000}
RUNS=${RUNS:-3}
CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-300}
NS_COUNT=4
LABEL=bench.wavesync.io/run

if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 10)); then die "N must be a number >= 10 (got '$N')"; fi
if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 1)); then die "RUNS must be a number >= 1"; fi
[[ $CMD_TIMEOUT =~ ^[0-9]+$ ]] || die "BENCH_CMD_TIMEOUT must be a number of seconds"
for t in curl timeout sed sort awk openssl base64; do
	command -v "$t" >/dev/null || die "$t not found"
done

# ---------------------------------------------------------------------------
# Binaries

WAVESYNC_FROM="given by \$WAVESYNC"
if [[ -n ${WAVESYNC:-} ]]; then
	[[ -x $WAVESYNC ]] || die "\$WAVESYNC=$WAVESYNC is not an executable file"
else
	log "building wavesync (scripts/build)"
	build=$("$REPO/scripts/build" wavesync) || die "building wavesync failed"
	WAVESYNC=$build/wavesync
	WAVESYNC_FROM="built from $REPO at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
fi
WAVESYNC=$(readlink -f "$WAVESYNC")
if [[ -z ${KUBECTL:-} ]]; then
	KUBECTL=$("$REPO/tests/devcluster" build-kubectl) || die "building kubectl failed"
fi
[[ -x $KUBECTL ]] || die "\$KUBECTL=$KUBECTL is not an executable file"
KUBECTL=$(readlink -f "$KUBECTL")

# ---------------------------------------------------------------------------
# Temporary directory, cluster, cleanup

bench_init wavesync-bench
bench_cluster_up "$T/cluster"
KCFG=$CLUSTER/kubeconfig
KC=("$KUBECTL" --kubeconfig "$KCFG" --cache-dir "$T/kubectl-cache")

# ---------------------------------------------------------------------------
# Manifests: one template with @P@ (namespace prefix) and @RUN@ (run label),
# then one copy per run and tool.

NS_SUFFIX=(training serving features data)
REST=$((N - NS_COUNT))
N_CM=$((REST * 40 / 100))
N_SECRET=$((REST * 20 / 100))
N_SVC=$((REST * 20 / 100))
N_DEPLOY=$((REST - N_CM - N_SECRET - N_SVC))

gen_template() { # dir
	local d=$1 i k ns f params=""
	mkdir -p "$d"
	for ((k = 0; k < 14; k++)); do
		params+="      param_$k: {value: $((k * 37 % 101)), min: 0, max: 1000, schedule: cosine, warmup_steps: $((k * 50))}"$'\n'
	done
	{
		for ((i = 0; i < NS_COUNT; i++)); do
			printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: @P@%s\n' "${NS_SUFFIX[i]}"
			printf '  labels:\n    %s: "@RUN@"\n    app.kubernetes.io/part-of: ml-platform\n' "$LABEL"
		done
	} >"$d/00-namespaces.yaml"
	# ConfigMaps: a training config of 1.7-4 KB each
	for ((i = 0; i < N_CM; i++)); do
		ns=@P@${NS_SUFFIX[i % NS_COUNT]}
		f=$d/10-configmap-$i.yaml
		{
			printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: train-config-%d\n  namespace: %s\n' "$i" "$ns"
			printf '  labels:\n    %s: "@RUN@"\n    app.kubernetes.io/part-of: ml-platform\n    app.kubernetes.io/component: training\n' "$LABEL"
			printf 'data:\n  run.env: |\n    EXPERIMENT=exp-%d\n    WANDB_PROJECT=ml-platform\n    NCCL_DEBUG=WARN\n' "$i"
			printf '  train.yaml: |\n    model: {name: resnet50-%d, precision: bf16, checkpoint: s3://models/resnet50/%d}\n' "$i" "$i"
			printf '    data: {dataset: imagenet-1k, shards: %d, batch_size: %d, num_workers: 8}\n' $((64 + i % 64)) $((256 << (i % 3)))
			for ((k = 0; k <= i % 3; k++)); do
				printf '    optimizer_group_%d:\n' "$k"
				printf '%s' "$params"
			done
		} >"$f"
	done
	# Secrets: registry and object-store credentials
	for ((i = 0; i < N_SECRET; i++)); do
		ns=@P@${NS_SUFFIX[i % NS_COUNT]}
		{
			printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: store-creds-%d\n  namespace: %s\n' "$i" "$ns"
			printf '  labels:\n    %s: "@RUN@"\n    app.kubernetes.io/part-of: ml-platform\n' "$LABEL"
			printf 'type: Opaque\ndata:\n'
			printf '  AWS_ACCESS_KEY_ID: %s\n' "$(printf 'AKIABENCH%08d' "$i" | base64 -w0)"
			printf '  AWS_SECRET_ACCESS_KEY: %s\n' "$(printf 'bench-secret-%d-%s' "$i" "0123456789abcdefghijklmnopqrstuvwxyz" | base64 -w0)"
			printf '  HF_TOKEN: %s\n' "$(printf 'hf_bench_%d_%s' "$i" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" | base64 -w0)"
		} >"$d/20-secret-$i.yaml"
	done
	# Services: headless, for distributed training / model servers. (Headless so
	# that RUNS x 2 sets do not exhaust the devcluster's /24 service IP range.)
	for ((i = 0; i < N_SVC; i++)); do
		ns=@P@${NS_SUFFIX[i % NS_COUNT]}
		{
			printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: model-%d\n  namespace: %s\n' "$i" "$ns"
			printf '  labels:\n    %s: "@RUN@"\n    app.kubernetes.io/part-of: ml-platform\n' "$LABEL"
			printf 'spec:\n  clusterIP: None\n  selector:\n    app: model-%d\n' "$i"
			printf '  ports:\n  - {name: http, port: 8080, targetPort: 8080}\n  - {name: grpc, port: 9000, targetPort: 9000}\n  - {name: metrics, port: 9090, targetPort: 9090}\n'
		} >"$d/30-service-$i.yaml"
	done
	# Deployments: GPU model servers
	for ((i = 0; i < N_DEPLOY; i++)); do
		ns=@P@${NS_SUFFIX[i % NS_COUNT]}
		cat >"$d/40-deployment-$i.yaml" <<-EOF
			apiVersion: apps/v1
			kind: Deployment
			metadata:
			  name: model-$i
			  namespace: $ns
			  labels:
			    $LABEL: "@RUN@"
			    app.kubernetes.io/part-of: ml-platform
			    app.kubernetes.io/component: serving
			spec:
			  replicas: $((1 + i % 3))
			  selector:
			    matchLabels:
			      app: model-$i
			  template:
			    metadata:
			      labels:
			        app: model-$i
			      annotations:
			        prometheus.io/scrape: "true"
			        prometheus.io/port: "9090"
			    spec:
			      containers:
			      - name: server
			        image: ghcr.io/example/model-server:1.4.$((i % 10))
			        args: ["--model=s3://models/model-$i", "--port=8080", "--grpc-port=9000", "--max-batch=32"]
			        ports:
			        - {name: http, containerPort: 8080}
			        - {name: grpc, containerPort: 9000}
			        - {name: metrics, containerPort: 9090}
			        env:
			        - {name: MODEL_NAME, value: model-$i}
			        - {name: CUDA_VISIBLE_DEVICES, value: "0"}
			        - name: AWS_ACCESS_KEY_ID
			          valueFrom: {secretKeyRef: {name: store-creds-$((i % (N_SECRET > 0 ? N_SECRET : 1))), key: AWS_ACCESS_KEY_ID}}
			        resources:
			          requests: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1"}
			          limits: {memory: 16Gi, nvidia.com/gpu: "1"}
			        readinessProbe:
			          httpGet: {path: /v2/health/ready, port: http}
			          periodSeconds: 5
			        volumeMounts:
			        - {name: config, mountPath: /etc/model}
			      volumes:
			      - name: config
			        configMap: {name: train-config-$((i % (N_CM > 0 ? N_CM : 1)))}
			      tolerations:
			      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
		EOF
	done
}

instantiate() { # template-dir dir prefix run-id
	cp -r "$1" "$2"
	sed -i -e "s/@P@/$3/g" -e "s/@RUN@/$4/g" "$2"/*.yaml
}

log "generating $N objects ($NS_COUNT Namespaces, $N_CM ConfigMaps, $N_SECRET Secrets, $N_SVC Services, $N_DEPLOY Deployments)"
gen_template "$T/template"
TEMPLATE_BYTES=$(cat "$T/template"/*.yaml | wc -c)
TEMPLATE_FILES=$(find "$T/template" -name '*.yaml' | wc -l)

# ---------------------------------------------------------------------------
# Measuring and verifying

FAILED=0
declare -A MS=() # "tool case" -> space-separated wall times (ms)

fail() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	FAILED=1
}

CLK_TCK=$(getconf CLK_TCK)
proc_cpu_ms() { # component -> CPU time (user + system) of that devcluster process so far, in ms
	local pid
	pid=$(cat "$CLUSTER/pids/$1.pid" 2>/dev/null) || {
		echo 0
		return
	}
	awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$pid/stat" 2>/dev/null || echo 0
}

timed() { # outfile cmd... -> ELAPSED_MS, RC, CPU (client user+sys s), API_CPU_MS, ETCD_CPU_MS
	local out=$1 t0 t1 a0 e0 TIMEFORMAT='%U %S'
	shift
	a0=$(proc_cpu_ms kube-apiserver)
	e0=$(proc_cpu_ms etcd)
	t0=$(date +%s%N)
	set +e
	{ time timeout -k 10 "$CMD_TIMEOUT" "$@" >"$out" 2>&1; } 2>"$out.cpu"
	RC=$?
	set -e
	t1=$(date +%s%N)
	ELAPSED_MS=$(((t1 - t0) / 1000000))
	CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$out.cpu")
	API_CPU_MS=$(($(proc_cpu_ms kube-apiserver) - a0))
	ETCD_CPU_MS=$(($(proc_cpu_ms etcd) - e0))
	((RC != 124 && RC != 137)) || printf 'killed after %ss (BENCH_CMD_TIMEOUT)\n' "$CMD_TIMEOUT" >>"$out"
}

kinds=namespaces,configmaps,secrets,services,deployments.apps

count_objects() { # run-id -> number of objects carrying the run label
	"${KC[@]}" get "$kinds" -A -l "$LABEL=$1" -o name | wc -l
}

count_managed() { # run-id manager -> objects with an Apply entry of that manager
	"${KC[@]}" get "$kinds" -A -l "$LABEL=$1" \
		-o jsonpath='{range .items[*]}{range .metadata.managedFields[*]}{.manager}/{.operation} {end}{"\n"}{end}' |
		grep -c -- "\\b$2/Apply\\b" || true
}

max_rv() { # run-id -> highest resourceVersion among its objects
	"${KC[@]}" get "$kinds" -A -l "$LABEL=$1" -o jsonpath='{range .items[*]}{.metadata.resourceVersion}{"\n"}{end}' |
		sort -n | tail -n 1
}

show_output() { # file
	echo "---- $1 (first 20 and last 5 lines) ----" >&2
	head -n 20 "$1" >&2
	echo "..." >&2
	tail -n 5 "$1" >&2
	echo "----" >&2
}

declare -A TOOL_NAME=([ws]=wavesync [kc]=kubectl [kn]=kubectl-nv)
measure() { # tool run (ws: wavesync, kc: kubectl, kn: kubectl --validate=false)
	local tool=$1 r=$2 id prefix dir out cmd=() n rv0 rv1 m manager
	id=r$r$tool
	prefix=b$r$tool-
	dir=$T/manifests-$id
	instantiate "$T/template" "$dir" "$prefix" "$id"
	case $tool in
	ws)
		cmd=("$WAVESYNC" --kubeconfig "$KCFG" apply "$dir")
		manager=wavesync
		;;
	kc)
		cmd=("${KC[@]}" apply --server-side -f "$dir")
		manager=kubectl
		;;
	kn)
		cmd=("${KC[@]}" apply --server-side --validate=false -f "$dir")
		manager=kubectl
		;;
	esac
	for what in cold noop; do
		out=$T/out-$id-$what
		[[ $what == noop ]] && rv0=$(max_rv "$id")
		timed "$out" "${cmd[@]}"
		n=$(count_objects "$id")
		MS["$tool $what"]+="$ELAPSED_MS "
		printf '  run %d  %-10s %-5s %7d ms  exit %d  on server %d/%d  CPU s: client %s apiserver %s etcd %s' "$r" \
			"${TOOL_NAME[$tool]}" "$what" "$ELAPSED_MS" "$RC" "$n" "$N" \
			"$CPU" "$(awk -v m="$API_CPU_MS" 'BEGIN { printf "%.2f", m / 1000 }')" \
			"$(awk -v m="$ETCD_CPU_MS" 'BEGIN { printf "%.2f", m / 1000 }')"
		if [[ $tool == ws ]]; then
			printf '  (%s)' "$(grep -E '^[0-9]+ applied, [0-9]+ failed in' "$out" | tail -n 1)"
		else
			printf '  (%d x "serverside-applied")' "$(grep -c 'serverside-applied' "$out" || true)"
		fi
		if [[ $what == noop ]]; then
			rv1=$(max_rv "$id")
			printf '  max RV %s -> %s' "$rv0" "$rv1"
		fi
		echo
		if ((RC != 0)); then
			fail "run $r $tool $what exited $RC"
			show_output "$out"
		fi
		if [[ $tool == ws ]] && grep -qvE '^applied |^[0-9]+ applied, [0-9]+ failed in' "$out"; then
			log "wavesync printed more than results in run $r $what (first 10 lines):"
			grep -vE '^applied |^[0-9]+ applied, [0-9]+ failed in' "$out" | head -n 10 >&2
		fi
		((n == N)) || fail "run $r $tool $what: $n of $N objects found on the server"
		if [[ $what == cold ]]; then
			m=$(count_managed "$id" "$manager")
			((m == N)) || fail "run $r $tool: only $m of $N objects have an Apply entry by field manager $manager"
		else
			[[ $rv0 == "$rv1" ]] || fail "run $r $tool no-op re-apply changed objects (max resourceVersion $rv0 -> $rv1)"
		fi
	done
}

requests_with() { # status-code regex -> how many requests the apiserver answered with such a code
	api /metrics 2>/dev/null | awk -v re="code=\"$1\"" '/^apiserver_request_total\{/ && $0 ~ re { s += $NF } END { print s + 0 }'
}

# ---------------------------------------------------------------------------
# Run

SERVER_VERSION=$(api /version | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p')
KUBECTL_VERSION=$("${KC[@]}" version --client 2>/dev/null | sed -n 's/^Client Version: //p')
WAVESYNC_VERSION=$("$WAVESYNC" version 2>/dev/null | head -n 1)
CPU=$(bench_cpu_model)

# warm-up, untimed: kubectl's discovery cache, the apiserver's first requests per kind
log "warm-up (untimed)"
instantiate "$T/template" "$T/manifests-warm" warm- warm
"${KC[@]}" api-resources >/dev/null
timeout "$CMD_TIMEOUT" "$WAVESYNC" --kubeconfig "$KCFG" apply "$T/manifests-warm" >"$T/out-warm-ws" 2>&1 ||
	{ show_output "$T/out-warm-ws"; die "warm-up wavesync apply failed"; }
sed -i 's/^  name: warm-/  name: warmk-/; s/namespace: warm-/namespace: warmk-/' "$T/manifests-warm"/*.yaml
timeout "$CMD_TIMEOUT" "${KC[@]}" apply --server-side -f "$T/manifests-warm" >"$T/out-warm-kc" 2>&1 ||
	{ show_output "$T/out-warm-kc"; die "warm-up kubectl apply failed"; }
R429_0=$(requests_with 429)
R5XX_0=$(requests_with '5[0-9][0-9]')

cat <<EOF
== bench/apply.sh: server-side apply of $N objects ==
machine:   $(nproc) CPUs, $CPU, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the runs)
server:    kube-apiserver $SERVER_VERSION + etcd, tests/devcluster minimal, $DEVCLUSTER_SERVER
wavesync:  $WAVESYNC_VERSION ($WAVESYNC, $WAVESYNC_FROM)
kubectl:   $KUBECTL_VERSION ($KUBECTL)
objects:   $N = $NS_COUNT Namespaces + $N_CM ConfigMaps + $N_SECRET Secrets + $N_SVC Services + $N_DEPLOY Deployments,
           $TEMPLATE_FILES files, $((TEMPLATE_BYTES / 1024)) KiB of YAML per set
commands:  wavesync --kubeconfig KUBECONFIG apply DIR
           kubectl --kubeconfig KUBECONFIG --cache-dir CACHE apply --server-side -f DIR
           kubectl --kubeconfig KUBECONFIG --cache-dir CACHE apply --server-side --validate=false -f DIR  (kubectl-nv)
runs:      $RUNS, each into fresh namespaces; cold = create everything, no-op = the same apply again
EOF

TOOLS=(ws kc kn)
for ((r = 1; r <= RUNS; r++)); do
	for ((i = 0; i < ${#TOOLS[@]}; i++)); do # the order rotates from run to run
		measure "${TOOLS[(i + r - 1) % ${#TOOLS[@]}]}" "$r"
	done
done
R429=$(($(requests_with 429) - R429_0))
R5XX=$(($(requests_with '5[0-9][0-9]') - R5XX_0))

row() { # label tool what [baseline-tool]
	local ms base=""
	# shellcheck disable=SC2086
	ms=$(median ${MS[$2 $3]})
	# shellcheck disable=SC2086
	[[ -z ${4:-} ]] || base=$(median ${MS[$4 $3]})
	awk -v l="$1" -v m="$ms" -v b="$base" -v n="$N" 'BEGIN {
		r = (b == "") ? "" : sprintf("%.1fx", m / (b > 0 ? b : 1))
		printf "| %-40s | %8.2f s | %6.0f/s | %-8s |\n", l, m / 1000, n * 1000 / (m > 0 ? m : 1), r }'
}
echo
echo "median of $RUNS, wall time per process (startup included), $N objects;"
echo "ratio = that time / wavesync's time for the same case:"
echo "| tool, case                               | time       | objects/s | ratio    |"
echo "|------------------------------------------|-----------:|----------:|----------|"
row "wavesync apply, cold create" ws cold
row "kubectl apply --server-side, cold create" kc cold ws
row "  same with --validate=false" kn cold ws
row "wavesync apply, no-op re-apply" ws noop
row "kubectl apply --server-side, no-op" kc noop ws
row "  same with --validate=false" kn noop ws
echo "all runs (ms):"
for t in ws kc kn; do
	printf '  %-10s cold %s| no-op %s\n' "${TOOL_NAME[$t]}" "${MS[$t cold]}" "${MS[$t noop]}"
done
echo "apiserver responses during the runs: $R429 x 429 (too many requests), $R5XX x 5xx"
((R5XX == 0)) || fail "the apiserver answered $R5XX requests with 5xx"
if ((FAILED)); then
	echo "RESULT: FAILED (see the errors above)"
	exit 1
fi
echo "RESULT: ok, every run verified ($N objects on the server, field managers as expected, no-op runs wrote nothing)"
