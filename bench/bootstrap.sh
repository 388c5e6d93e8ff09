#!/usr/bin/env bash
# bench/bootstrap.sh — the sample ML platform's chart applications rendered
# cold and warm: the operators of fixtures/ml-platform/bootstrap (Helm
# repository charts from fixtures/helm-charts, served by
# tests/e2e/chartrepo.py) and model-registry (a chart in Git), plus the time
# to read the app-of-apps catalog (`wavesync apps`: the root rendered, its
# children found). No cluster: `render` and `apps` only.
#
# Usage: bench/bootstrap.sh
#
# "Cold" empties stateDir (mirrors and chart caches) before each run; "warm"
# runs once untimed first. RUNS times per case (default 5): median wall time
# and the requests the chart repository saw per run.
#
# Environment:
#   WAVESYNC   binary (default: build the tree like scripts/check)
#   HELM       binary (default: tests/devcluster build-helm, cached)
#   RUNS       repetitions (default 5)
#   BENCH_KEEP=1  keep the temporary directory
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
RUNS=${RUNS:-5}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
for t in git python3; do command -v "$t" >/dev/null || die "$t not found"; done

bench_init bootstrap
bench_wavesync
HELM=${HELM:-$("$REPO/tests/devcluster" build-helm | tail -n 1)}
[[ -x $HELM ]] || die "no helm"
export PATH="$(dirname "$HELM"):$PATH"
export HELM_CONFIG_HOME=$T/helm/config HELM_CACHE_HOME=$T/helm/cache HELM_DATA_HOME=$T/helm/data

"$REPO/tests/fixture-charts" "$T/charts" >/dev/null || die "packaging the fixture charts failed"
python3 "$REPO/tests/e2e/chartrepo.py" "$T/charts" "$T/charts.port" "$T/charts.log" 2>"$T/chartrepo.err" &
srv=$!
stop_server() { kill "$srv" 2>/dev/null; }
bench_on_exit stop_server
for _ in $(seq 100); do [[ -s $T/charts.port ]] && break; sleep 0.1; done
[[ -s $T/charts.port ]] || die "the chart repository did not start"
url=http://127.0.0.1:$(cat "$T/charts.port")
# the configuration names a cluster; render never talks to it
cat >"$T/kubeconfig" <<'YAML'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
YAML
cfg=$(FIXTURE_CHARTS_URL=$url FIXTURE_APPLICATIONS=bootstrap "$REPO/tests/make-fixture-repo" "$T/fx" "$T/kubeconfig")
state=$T/fx/state

requests() { wc -l <"$T/charts.log"; }
# measure NAME COLD(0|1) ARGS…: the median of RUNS runs, in seconds, and the
# repository requests of the last run
measure() {
	local name=$1 cold=$2 times=() i t0 t1 r0
	shift 2
	[[ $cold == 1 ]] || "$WS" --config "$cfg" "$@" >/dev/null 2>&1 || die "$name: wavesync $* failed"
	for ((i = 0; i < RUNS; i++)); do
		[[ $cold == 1 ]] && rm -rf "$state"
		r0=$(requests)
		t0=$(date +%s.%N)
		"$WS" --config "$cfg" "$@" >/dev/null 2>"$T/err" || die "$name: wavesync $* failed: $(head -c 300 "$T/err")"
		t1=$(date +%s.%N)
		times+=("$(python3 -c "print($t1 - $t0)")")
	done
	printf '| %s | %s | %s |\n' "$name" \
		"$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')" \
		"$(($(requests) - r0))"
}

echo "bench/bootstrap.sh — $FROM; helm $("$HELM" version --short 2>/dev/null); RUNS=$RUNS"
echo
echo "| case | seconds (median) | chart repository requests |"
echo "|---|---:|---:|"
measure "render training-operator (1.8.x from the repository), cold" 1 render training-operator
measure "render training-operator, warm" 0 render training-operator
measure "render kserve (>=0.13.0 <0.14.0), cold" 1 render kserve
measure "render kserve, warm" 0 render kserve
measure "render model-registry (a chart in Git), cold" 1 render model-registry
measure "render model-registry, warm" 0 render model-registry
measure "apps: the app-of-apps catalog (root rendered, 10 children), cold" 1 apps
measure "apps, warm" 0 apps
