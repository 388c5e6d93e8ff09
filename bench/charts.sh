#!/usr/bin/env bash
# bench/charts.sh — rendering Applications whose chart comes from a Helm
# repository: cold (empty chart cache) against warm (the archive cached by
# digest), for an exact version and for a semver range, and 50 Applications of
# one repository rendered in one run (`wavesync validate`). The repository is
# tests/e2e/chartrepo.py on 127.0.0.1 serving the pinned `helm package`'s
# archives and an index.yaml padded to a big public repository's size
# (FILLER charts × 20 versions, default 1,500 → 30,000 entries, about 12 MB).
#
# Usage: bench/charts.sh
#
# No cluster: `render` and `validate` fetch, verify, extract and run
# `helm template` only. RUNS times (default 5) per case: wall time (median),
# and the requests the repository saw (from its log). A warm exact render must
# make no request, a warm range render only the index request, the 50-app run
# one index request; the bench fails otherwise.
#
# Environment:
#   WAVESYNC   binary (default: build the tree like scripts/check)
#   HELM       binary (default: tests/devcluster build-helm, cached)
#   RUNS       repetitions (default 5)
#   FILLER     filler charts in the index (default 1500)
#   BENCH_KEEP=1  keep the temporary directory
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
RUNS=${RUNS:-5}
FILLER=${FILLER:-1500}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $FILLER =~ ^[0-9]+$ ]] || die "FILLER must be a number"
for t in git python3; do command -v "$t" >/dev/null || die "$t not found"; done

bench_init charts
bench_wavesync
HELM=${HELM:-$("$REPO/tests/devcluster" build-helm | tail -n 1)}
[[ -x $HELM ]] || die "no helm"
export PATH="$(dirname "$HELM"):$PATH"
export HELM_CONFIG_HOME=$T/helm/config HELM_CACHE_HOME=$T/helm/cache HELM_DATA_HOME=$T/helm/data

# ---- the chart and the repository --------------------------------------------------------------
mkdir -p "$T/src/model-server/templates" "$T/src/model-server/crds" "$T/www"
printf 'apiVersion: v2\nname: model-server\nversion: 0.0.0\n' >"$T/src/model-server/Chart.yaml"
printf 'replicas: 1\n' >"$T/src/model-server/values.yaml"
cat >"$T/src/model-server/crds/models.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: models.bench.wavesync.dev}
spec:
  group: bench.wavesync.dev
  names: {kind: Model, plural: models}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
YAML
for i in $(seq 1 8); do
	cat >"$T/src/model-server/templates/deploy$i.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-$i}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}-$i}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}-$i}}
    spec: {containers: [{name: s, image: registry.invalid/server:1}]}
YAML
done
for v in 1.0.0 1.1.0 1.2.0 1.2.1; do
	"$HELM" package --version "$v" "$T/src/model-server" -d "$T/www" >/dev/null 2>&1 || die "helm package failed"
done
python3 - "$T/www" "$FILLER" <<'PY'
import hashlib, os, sys
d, filler = sys.argv[1], int(sys.argv[2])
out = ["apiVersion: v1", "entries:"]
def entry(name, v, url, digest):
    out.extend([f"  - apiVersion: v2", f"    created: \"2026-12-01T00:00:00Z\"",
                f"    description: the {name} chart", f"    digest: {digest}",
                f"    maintainers:", f"    - name: platform", f"      email: platform@example.com",
                f"    name: {name}", f"    urls:", f"    - {url}", f"    version: {v}"])
out.append("  model-server:")
for f in sorted(os.listdir(d)):
    if f.endswith(".tgz"):
        v = f[len("model-server-"):-4]
        entry("model-server", v, f, hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest())
for i in range(filler):
    out.append(f"  filler-{i:05d}:")
    for j in range(20):
        entry(f"filler-{i:05d}", f"{j // 10}.{j % 10}.0", f"filler-{i:05d}-{j}.tgz", "%064x" % (i * 100 + j))
out.append("generated: \"2026-12-01T00:00:00Z\"")
open(os.path.join(d, "index.yaml"), "w").write("\n".join(out) + "\n")
PY
index_bytes=$(stat -c %s "$T/www/index.yaml")
python3 "$REPO/tests/e2e/chartrepo.py" "$T/www" "$T/repo.port" "$T/repo.log" >/dev/null 2>"$T/repo.err" &
REPO_PID=$!
stop_repo() { kill "$REPO_PID" 2>/dev/null || true; }
bench_on_exit stop_repo
for _ in $(seq 100); do [ -s "$T/repo.port" ] && break; sleep 0.1; done
port=$(cat "$T/repo.port")

# ---- Applications in Git -------------------------------------------------------------------
git_repo=$T/git
mkdir -p "$git_repo/apps"
app() { # name targetRevision
	cat >"$git_repo/apps/$1.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1}
spec:
  source: {repoURL: "http://127.0.0.1:$port", chart: model-server, targetRevision: "$2"}
  destination: {server: https://kubernetes.default.svc, namespace: $1}
YAML
}
app exact 1.2.1
app range "^1.1"
for i in $(seq -w 1 48); do app "fleet-$i" "~1.2.0"; done
git -C "$git_repo" init -q -b main && git -C "$git_repo" add -A &&
	git -C "$git_repo" -c user.name=bench -c user.email=bench@wavesync.invalid commit -q -m apps
cat >"$T/wavesync.yaml" <<YAML
repositories:
  - {name: git, url: "file://$git_repo"}
  - {name: charts, url: "http://127.0.0.1:$port", type: helm}
applications:
  - {repository: git, path: apps}
settings: {stateDir: $T/state}
YAML

# ---- measuring ------------------------------------------------------------------------------
requests() { wc -l <"$T/repo.log" 2>/dev/null || echo 0; }
run() { # label args… -> $secs, $reqs (requests during the run); the run must succeed
	local before t0 t1
	before=$(requests)
	t0=$(date +%s.%N)
	"$WS" --config "$T/wavesync.yaml" "$@" >"$T/out" 2>"$T/err" || die "wavesync $* failed: $(tail -n 3 "$T/err")"
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	reqs=$(($(requests) - before))
}
declare -A times=() reqsof=()
measure() { # case cold|warm args…
	local name=$1 mode=$2 i all=()
	shift 2
	for i in $(seq "$RUNS"); do
		if [ "$mode" = cold ]; then
			rm -rf "$T/state/charts"
		else
			run "$@" >/dev/null # make sure it is cached
			sleep 1.1           # a new run (runs are told apart by their start second)
		fi
		run "$@"
		all+=("$secs")
		printf '  %-28s run %d: %6.3f s, %d requests\n' "$name" "$i" "$secs" "$reqs"
	done
	times[$name]=$(median "${all[@]}")
	reqsof[$name]=$reqs
}

echo "machine: $(bench_cpu_model), $(nproc) cores; wavesync: $FROM; helm: $("$HELM" version --short 2>/dev/null)"
echo "index.yaml: $((index_bytes / 1024)) KiB, $((FILLER + 1)) charts, $((FILLER * 20 + 4)) entries"
measure "exact, cold" cold render exact
measure "exact, warm" warm render exact
measure "range, cold" cold render range
measure "range, warm" warm render range
rm -rf "$T/state/charts"
sleep 1.1
lines=$(requests)
run validate
fleet_cold=$secs fleet_cold_reqs=$reqs
fleet_index=$(tail -n +"$((lines + 1))" "$T/repo.log" | grep -c 'GET /index.yaml' || true)
sleep 1.1
run validate
fleet_warm=$secs fleet_warm_reqs=$reqs
[ "${reqsof[exact, warm]}" = 0 ] || die "a warm exact render made ${reqsof[exact, warm]} requests"
[ "${reqsof[range, warm]}" = 1 ] || die "a warm range render made ${reqsof[range, warm]} requests (want: the index only)"

echo
printf '%-34s %10s %10s\n' "case (median of $RUNS)" "seconds" "requests"
for c in "exact, cold" "exact, warm" "range, cold" "range, warm"; do
	printf '%-34s %10s %10s\n' "render, $c" "${times[$c]}" "${reqsof[$c]}"
done
printf '%-34s %10s %10s\n' "validate 50 apps, cold cache" "$fleet_cold" "$fleet_cold_reqs"
printf '%-34s %10s %10s\n' "validate 50 apps, warm cache" "$fleet_warm" "$fleet_warm_reqs"
echo "index downloads during the cold 50-app run: $fleet_index"
[ "$fleet_index" -le 1 ] || die "the 50-app run downloaded the index $fleet_index times"
