#!/usr/bin/env bash
# bench/tools.sh — rendering hostile input with bounded tools: a YAML alias
# bomb in a kustomization (nine levels of nine aliases, `kubectl kustomize`)
# and in a Helm values file (a 1 MiB string aliased 100 x 100 times, which
# gets past go-yaml's alias guard, `helm template`), each rendered with
# `wavesync render APP` under the default limits (settings.tools: memory
# 2Gi) and under memory: 4Gi; the fixture's ordinary Kustomize and Helm
# applications for reference.
#
# Usage: bench/tools.sh
#
# No cluster: `render` reads Git and runs the tools only. RUNS times (default
# 3) per case, measured from process start to exit: wall time, exit code, the
# peak RSS of the largest process (ru_maxrss of the reaped tree), the peak of
# the summed RSS of wavesync and everything it started (sampled every 10 ms
# from /proc; the guard shares wavesync's pages, so this is an upper bound),
# and the tool's own peak as wavesync logs it. A bomb must fail with
# "exceeded its memory limit of …", an ordinary application must render;
# the bench fails otherwise. About 3 minutes (the 4Gi kustomize bomb alone
# takes 25 s and 2.4 GiB of memory).
#
# Environment:
#   WAVESYNC   binary (default: build the tree like scripts/check)
#   KUBECTL, HELM  binaries (default: tests/devcluster build-kubectl / build-helm, cached)
#   RUNS       repetitions (default 3)
#   BENCH_KEEP=1  keep the temporary directory
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
RUNS=${RUNS:-3}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
for t in git python3; do command -v "$t" >/dev/null || die "$t not found"; done

bench_init tools
bench_wavesync
KUBECTL=${KUBECTL:-$("$REPO/tests/devcluster" build-kubectl | tail -n 1)}
HELM=${HELM:-$("$REPO/tests/devcluster" build-helm | tail -n 1)}
[[ -x $KUBECTL && -x $HELM ]] || die "no kubectl or helm"
mkdir -p "$T/tools"
ln -s "$KUBECTL" "$T/tools/kubectl"
ln -s "$HELM" "$T/tools/helm"

# ---- a repository: the fixture and two bombs ---------------------------------
cat >"$T/kubeconfig" <<'YAML'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
YAML
cfg=$("$REPO/tests/make-fixture-repo" "$T/fx" "$T/kubeconfig")
repo=$T/fx/repo
app() { # name path [helm block]
	cat >"$repo/apps/$1.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source:
    repoURL: file://$repo
    targetRevision: HEAD
    path: $2${3:+
    helm: $3}
  destination: {name: in-cluster, namespace: bench-tools}
YAML
}
mkdir -p "$repo/bomb-kustomize" "$repo/bomb-helm"
printf 'resources:\n- laughs.yaml\n' >"$repo/bomb-kustomize/kustomization.yaml"
python3 - "$repo/bomb-kustomize/laughs.yaml" "$repo/bomb-helm/values-bomb.yaml" <<'PY'
import sys
lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: laughs", "data:",
         '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for prev, c in zip("abcdefgh", "bcdefghi"):
    lines.append(f"  {c}: &{c} [" + ",".join(["*" + prev] * 9) + "]")
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
open(sys.argv[2], "w").write(
    "pad: [" + ",".join(str(i) for i in range(2000)) + "]\n"
    + "s: &s \"" + "x" * (1 << 20) + "\"\n"
    + "l1: &l1 [" + ",".join(["*s"] * 100) + "]\n"
    + "l2: [" + ",".join(["*l1"] * 100) + "]\n")
PY
cp -r "$repo/charts/model-registry/." "$repo/bomb-helm/"
app bomb-kustomize bomb-kustomize
app bomb-helm bomb-helm "{valueFiles: [values-bomb.yaml]}"
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@wavesync.invalid commit -q -m bombs
cfg4=$T/fx/wavesync-4gi.yaml
{ cat "$cfg"; printf '  tools:\n    helm: {memory: 4Gi}\n    kustomize: {memory: 4Gi}\n'; } >"$cfg4"

# measure NAME CONFIG APP: one render; prints "exit wall_s maxrss_mib treesum_mib"
measure() {
	PATH="$T/tools:$PATH" python3 - "$T/$1.err" "$WS" --config "$2" --log-level debug render "$3" <<'PY'
import os, resource, subprocess, sys, time
def tree_rss(root):
    kids, rss = {}, 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except OSError:
                pass
    todo = [root]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except OSError:
            pass
    return rss
t0 = time.monotonic()
with open(sys.argv[1], "w") as err:
    p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss(p.pid))
        time.sleep(0.01)
wall = time.monotonic() - t0
maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(p.returncode, f"{wall:.2f}", maxrss // 1024, peak // 1024)
PY
}

cases=("bomb-kustomize 2Gi" "bomb-kustomize 4Gi" "bomb-helm 2Gi" "bomb-helm 4Gi" "features 2Gi" "model-registry 2Gi")
declare -A walls rsss sums tools msgs
failed=0
for ((r = 1; r <= RUNS; r++)); do
	for c in "${cases[@]}"; do
		read -r a lim <<<"$c"
		conf=$cfg
		[[ $lim == 4Gi ]] && conf=$cfg4
		name="${a}-${lim}-$r"
		read -r code wall maxrss sum < <(measure "$name" "$conf" "$a")
		tool=$(grep -o 'peak RSS [0-9]*' "$T/$name.err" | tail -n 1 | awk '{print $3}')
		msg=$(grep -o 'exceeded its memory limit of [0-9]* [KMGT]iB' "$T/$name.err" | head -n 1 || true)
		log "run $r: $a (memory $lim): exit $code, ${wall} s, largest process ${maxrss} MiB, tree ${sum} MiB, tool ${tool:-?} MiB${msg:+, $msg}"
		case $a in
		bomb-*) [[ $code == 2 && $msg == "exceeded its memory limit of ${lim%Gi} GiB" ]] || {
			log "  FAILED: expected the memory limit: $(tail -n 2 "$T/$name.err")"
			failed=1
		} ;;
		*) [[ $code == 0 ]] || {
			log "  FAILED: expected a render: $(tail -n 2 "$T/$name.err")"
			failed=1
		} ;;
		esac
		walls[$c]+="$wall "
		rsss[$c]+="$maxrss "
		sums[$c]+="$sum "
		tools[$c]+="${tool:-0} "
		msgs[$c]=$msg
	done
done

echo "wavesync $FROM; kubectl $("$KUBECTL" version --client 2>/dev/null | head -n 1 | awk '{print $3}'), helm $("$HELM" version --short 2>/dev/null)"
echo "$(nproc) CPUs ($(bench_cpu_model)); median of $RUNS renders (wavesync render APP, process start to exit)"
echo "| application | settings.tools memory | result | wall | largest process peak RSS | tree peak RSS (sampled) |"
echo "|---|---|---|---:|---:|---:|"
for c in "${cases[@]}"; do
	read -r a lim <<<"$c"
	# shellcheck disable=SC2086
	printf '| %s | %s | %s | %s s | %s MiB | %s MiB |\n' "$a" "$lim" "${msgs[$c]:-rendered}" \
		"$(median ${walls[$c]})" "$(median ${rsss[$c]})" "$(median ${sums[$c]})"
done
exit "$failed"
