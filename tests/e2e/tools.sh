#!/usr/bin/env bash
# tools.sh — helm and kustomize under hostile input, end to end, with the
# pinned kubectl and helm and a real control plane: a YAML alias bomb in a
# kustomization and one in a Helm values file each fail within seconds,
# naming the Application and the limit, with bounded memory, nothing applied,
# and no process or temporary tree left behind; a slow tool is killed at its
# configured timeout; a SIGKILLed wavesync takes its tool (and the tool's
# child) with it, and the next run sweeps the tree it left; `wavesync serve`
# stopped with SIGTERM does not wait for a tool.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
trap services_down EXIT
py=${PYTHON:-python3}
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid

fx=$E2E_DIR/fx
cfg=$("$WS_SRCDIR/tests/make-fixture-repo" "$fx" "$DEVCLUSTER_KUBECONFIG") || {
	echo "Bail out! make-fixture-repo failed"
	exit 1
}
repo=$fx/repo
tmpdir=$fx/state/tmp
kubectl_bin=$("$DEVCLUSTER" build-kubectl 2>/dev/null | tail -n 1)
helm_bin=$("$DEVCLUSTER" build-helm 2>/dev/null | tail -n 1)
if [ ! -x "$kubectl_bin" ] || [ ! -x "$helm_bin" ]; then
	echo "Bail out! cannot build the pinned kubectl and helm"
	exit 1
fi
tools_path="$(dirname "$kubectl_bin"):$(dirname "$helm_bin"):$PATH"
# Every wavesync of this test — and so every guard and tool it starts —
# carries this in its environment: how leftovers are found, and only ours.
mark=tools-e2e-$$-$RANDOM

# ws NAME [VAR=value…] ARGS…: wavesync with the fixture config, the pinned
# tools and the mark; $rc, $NAME.{out,err}, and $NAME.usage: the peak RSS of
# wavesync and everything it started (KiB, ru_maxrss of the reaped tree) and
# the wall time in seconds.
ws() {
	local name=$1
	shift
	local vars=()
	while [[ ${1:-} == *=* ]]; do
		vars+=("$1")
		shift
	done
	env WS_E2E_MARK="$mark" PATH="$tools_path" "${vars[@]}" "$py" -c '
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {time.monotonic() - t0:.2f}\n")
sys.exit(rc)' "$E2E_DIR/$name.usage" "$WAVESYNC" --config "${WS_CFG:-$cfg}" "$@" \
		>"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err"
	rc=$?
}
peak_mib() { echo $(($(cut -d' ' -f1 "$E2E_DIR/$1.usage") / 1024)); }
secs() { cut -d' ' -f2 "$E2E_DIR/$1.usage"; }
tool_peak() { grep -o 'peak RSS [0-9]* MiB' "$E2E_DIR/$1.err" | tail -n 1; }

left_behind() { # live processes (not zombies) that carry the mark, one "pid comm" a line
	local f p st
	for f in $(grep -lzx "WS_E2E_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null); do
		p=${f%/environ}
		st=$(sed 's/.*) //' "$p/stat" 2>/dev/null | cut -d' ' -f1)
		[ -n "$st" ] && [ "$st" != Z ] && echo "${p#/proc/} $(cat "$p/comm" 2>/dev/null)"
	done
}
none_left_within() { # seconds: no marked process within that time
	for _ in $(seq $(($1 * 10))); do [ -z "$(left_behind)" ] && return 0; sleep 0.1; done
	return 1
}
alive() { # pid: running, not a zombie
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
trees() { ls -d "$tmpdir"/wavesync-export-* 2>/dev/null | wc -l; }
status_of() { # path -> HTTP status
	curl -s -o /dev/null -w '%{http_code}' --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}
commit() { git -C "$repo" add -A && git -C "$repo" commit -q -m "$1"; }
app() { # name path namespace [helm block]: an Application in the fixture repository
	cat >"$repo/apps/$1.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  project: default
  source:
    repoURL: file://$repo
    targetRevision: HEAD
    path: $2${4:+
    helm: $4}
  destination: {name: in-cluster, namespace: $3}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
YAML
}

# ---- the inputs ------------------------------------------------------------------------------
# Kustomize: the classic billion laughs, nine levels of nine aliases (9^9
# strings once expanded). kyaml has no alias guard: without limits,
# `kubectl kustomize` grows until the machine runs out.
mkdir -p "$repo/bomb-kustomize"
printf 'resources:\n- laughs.yaml\n' >"$repo/bomb-kustomize/kustomization.yaml"
"$py" - "$repo/bomb-kustomize/laughs.yaml" <<'PY'
import sys
lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: laughs", "data:",
         '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
prev = "a"
for c in "bcdefghi":
    lines.append(f"  {c}: &{c} [" + ",".join(["*" + prev] * 9) + "]")
    prev = c
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
app bomb-kustomize bomb-kustomize tools-bomb-k
# Helm: go-yaml refuses the classic bomb ("excessive aliasing": it counts
# nodes), so this one aliases a 1 MiB string 100 x 100 times — 10,100 nodes
# that become 10 GiB once helm turns the values into JSON.
mkdir -p "$repo/bomb-helm"
cp -r "$repo/charts/model-registry/." "$repo/bomb-helm/"
"$py" - "$repo/bomb-helm/values-bomb.yaml" <<'PY'
import sys
pad = "pad: [" + ",".join(str(i) for i in range(2000)) + "]\n"
s = "s: &s \"" + "x" * (1 << 20) + "\"\n"
l1 = "l1: &l1 [" + ",".join(["*s"] * 100) + "]\n"
l2 = "l2: [" + ",".join(["*l1"] * 100) + "]\n"
open(sys.argv[1], "w").write(pad + s + l1 + l2)
PY
app bomb-helm bomb-helm tools-bomb-h "{releaseName: bomb, valueFiles: [values-bomb.yaml]}"
commit "alias bombs"

# ---- an alias bomb in a kustomization ------------------------------------------------------
ws bomb_k --log-level debug sync bomb-kustomize
msg=$(grep -m1 'Application "bomb-kustomize"' "$E2E_DIR/bomb_k.err")
[ $rc -eq 2 ] && grep -q 'Application "bomb-kustomize": \(kubectl kustomize\|kustomize build\) bomb-kustomize: exceeded its memory limit of 2 GiB (settings.tools.kustomize.memory)' "$E2E_DIR/bomb_k.err"
ok $? "kustomize alias bomb: exit 2, the Application, the tool and the limit are named (rc=$rc: $(head -c 200 <<<"$msg"))"
awk -v s="$(secs bomb_k)" 'BEGIN { exit !(s < 30) }'
ok $? "kustomize alias bomb: the error comes in $(secs bomb_k) s"
[ "$(peak_mib bomb_k)" -lt 2048 ]
ok $? "kustomize alias bomb: peak memory bounded by the 2 GiB limit ($(peak_mib bomb_k) MiB for wavesync and its children; the tool: $(tool_peak bomb_k))"
[ "$(status_of /api/v1/namespaces/tools-bomb-k)" = 404 ] &&
	[ "$(status_of /api/v1/namespaces/tools-bomb-k/configmaps/laughs)" = 404 ]
ok $? "kustomize alias bomb: nothing applied (no namespace, no ConfigMap)"
none_left_within 2
ok $? "kustomize alias bomb: no process left ($(left_behind | tr '\n' ' '))"
[ "$(trees)" = 0 ]
ok $? "kustomize alias bomb: no temporary tree left ($(trees))"

# ---- an alias bomb in a Helm values file -------------------------------------------------------
ws bomb_h --log-level debug sync bomb-helm
msg=$(grep -m1 'Application "bomb-helm"' "$E2E_DIR/bomb_h.err")
[ $rc -eq 2 ] && grep -q 'Application "bomb-helm": helm template bomb-helm: exceeded its memory limit of 2 GiB (settings.tools.helm.memory)' "$E2E_DIR/bomb_h.err"
ok $? "helm values alias bomb: exit 2, the Application, the tool and the limit are named (rc=$rc: $(head -c 200 <<<"$msg"))"
awk -v s="$(secs bomb_h)" 'BEGIN { exit !(s < 30) }'
ok $? "helm values alias bomb: the error comes in $(secs bomb_h) s"
[ "$(peak_mib bomb_h)" -lt 2048 ]
ok $? "helm values alias bomb: peak memory bounded by the 2 GiB limit ($(peak_mib bomb_h) MiB; the tool: $(tool_peak bomb_h))"
[ "$(status_of /api/v1/namespaces/tools-bomb-h)" = 404 ]
ok $? "helm values alias bomb: nothing applied (no namespace)"
none_left_within 2
ok $? "helm values alias bomb: no process left ($(left_behind | tr '\n' ' '))"
[ "$(trees)" = 0 ]
ok $? "helm values alias bomb: no temporary tree left ($(trees))"

# A lower limit is the user's to set, and is what the message names.
WS_CFG=$E2E_DIR/low-memory.yaml
{ cat "$cfg"; printf '  tools:\n    helm: {memory: 1900Mi}\n'; } >"$WS_CFG"
ws bomb_h_low sync bomb-helm
unset WS_CFG
[ $rc -eq 2 ] && grep -q 'helm template bomb-helm: exceeded its memory limit of 1900 MiB (settings.tools.helm.memory)' "$E2E_DIR/bomb_h_low.err"
ok $? "settings.tools.helm.memory: 1900Mi is the limit named ($(grep -o 'exceeded.*' "$E2E_DIR/bomb_h_low.err" | head -n 1))"

# The same tools render the ordinary fixtures under the default limits.
ws normal_k --log-level debug render features
[ $rc -eq 0 ] && grep -q 'name: prod-materialize-features' "$E2E_DIR/normal_k.out"
ok $? "under the default limits the Kustomize fixture renders ($(tool_peak normal_k))"
ws normal_h --log-level debug render model-registry
[ $rc -eq 0 ] && grep -q 'name: registry-model-registry' "$E2E_DIR/normal_h.out"
ok $? "under the default limits the Helm fixture renders ($(tool_peak normal_h))"

git -C "$repo" rm -q -r bomb-kustomize bomb-helm apps/bomb-kustomize.yaml apps/bomb-helm.yaml
commit "no more bombs"

# ---- a tool that takes too long ------------------------------------------------------------------
# A stand-in kustomize, first in PATH, that never finishes and starts a
# helper of its own (which, unlike the tool, gets no parent-death signal).
slow=$E2E_DIR/slowbin
mkdir -p "$slow"
cat >"$slow/kustomize" <<SH
#!/bin/sh
echo \$\$ >"$E2E_DIR/slow.pid"
sleep 300 &
echo \$! >"$E2E_DIR/slow-child.pid"
sleep 300
SH
chmod +x "$slow/kustomize"
WS_CFG=$E2E_DIR/timeout.yaml
{ cat "$cfg"; printf '  tools:\n    kustomize: {timeout: 2s}\n'; } >"$WS_CFG"
ws timeout "PATH=$slow:$tools_path" sync features
unset WS_CFG
[ $rc -eq 2 ] && grep -q 'Application "features": kustomize build features: killed after 2 s (settings.tools.kustomize.timeout)' "$E2E_DIR/timeout.err"
ok $? "a slow tool is killed at settings.tools.kustomize.timeout, which the message names (rc=$rc: $(grep -o 'kustomize build features: .*' "$E2E_DIR/timeout.err" | head -n 1))"
awk -v s="$(secs timeout)" 'BEGIN { exit !(s < 10) }'
ok $? "…after $(secs timeout) s"
none_left_within 1 && [ "$(trees)" = 0 ]
ok $? "the tool and its child are gone, and the tree ($(left_behind | tr '\n' ' '))"

# ---- wavesync SIGKILLed while a tool runs ------------------------------------------------------
rm -f "$E2E_DIR/slow.pid" "$E2E_DIR/slow-child.pid"
env WS_E2E_MARK="$mark" PATH="$slow:$tools_path" "$WAVESYNC" --config "$cfg" sync features \
	>"$E2E_DIR/killed.out" 2>"$E2E_DIR/killed.err" &
ws_pid=$!
disown "$ws_pid" # its death by SIGKILL is the point, not news
wait_file "$E2E_DIR/slow-child.pid"
tool=$(cat "$E2E_DIR/slow.pid" 2>/dev/null)
child=$(cat "$E2E_DIR/slow-child.pid" 2>/dev/null)
[ -n "$tool" ] && kill -0 "$tool" 2>/dev/null && [ "$(trees)" = 1 ]
ok $? "a slow tool runs (pid ${tool:-?}) in an exported tree"
guard=$(ps -o ppid= -p "$tool" | tr -d ' ')
t0=$(date +%s%N)
kill -9 "$ws_pid"
for _ in $(seq 200); do
	alive "$tool" || alive "$child" || alive "$guard" || break
	sleep 0.01
done
gone_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$gone_ms" -lt 1000 ] && none_left_within 1
ok $? "wavesync SIGKILLed: the tool, its child and the guard are gone in $gone_ms ms (left: $(left_behind | tr '\n' ' '))"
[ "$(trees)" = 1 ]
ok $? "the killed wavesync left its tree behind ($(trees))"
ws sweep apps
[ $rc -eq 0 ] && [ "$(trees)" = 0 ] && grep -q 'removed 1 temporary tree left by a wavesync that was killed' "$E2E_DIR/sweep.err"
ok $? "the next command sweeps it at startup ($(grep -o 'removed.*' "$E2E_DIR/sweep.err"))"

# A tree that another wavesync is using is not swept.
rm -f "$E2E_DIR/slow.pid" "$E2E_DIR/slow-child.pid"
env WS_E2E_MARK="$mark" PATH="$slow:$tools_path" "$WAVESYNC" --config "$cfg" render features \
	>"$E2E_DIR/busy.out" 2>"$E2E_DIR/busy.err" &
busy_pid=$!
disown "$busy_pid"
pids+=("$busy_pid")
wait_file "$E2E_DIR/slow-child.pid"
ws sweep2 apps
[ $rc -eq 0 ] && [ "$(trees)" = 1 ] && ! grep -q 'removed' "$E2E_DIR/sweep2.err"
ok $? "a tree in use by a running wavesync is left alone ($(trees))"
kill -9 "$busy_pid"
none_left_within 1
ok $? "…and its tool dies with it"

# ---- wavesync serve stopped while a tool runs -----------------------------------------------------
# At startup the service renders every application for its live state:
# features' (slow) kustomize runs. SIGTERM with no sync running stops at once.
ws sweep3 apps
port=$(free_port)
WS_CFG=$E2E_DIR/serve.yaml
{ cat "$cfg"; printf 'server:\n  listen: 127.0.0.1:%s\n' "$port"; } >"$WS_CFG"
rm -f "$E2E_DIR/slow.pid" "$E2E_DIR/slow-child.pid"
env WS_E2E_MARK="$mark" PATH="$slow:$tools_path" "$WAVESYNC" --config "$WS_CFG" serve \
	>"$E2E_DIR/serve.out" 2>"$E2E_DIR/serve.err" &
serve_pid=$!
unset WS_CFG
wait_file "$E2E_DIR/slow-child.pid"
[ -s "$E2E_DIR/slow-child.pid" ]
ok $? "serve: the slow kustomize runs (its live-state render of features)"
t0=$(date +%s%N)
kill -TERM "$serve_pid"
for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
stopped_ms=$((($(date +%s%N) - t0) / 1000000))
! kill -0 "$serve_pid" 2>/dev/null
ok $? "serve: SIGTERM ends the service in $stopped_ms ms, not after the tool's 120 s"
none_left_within 1 && [ "$(trees)" = 0 ]
ok $? "serve: the tool is killed and its tree removed ($(left_behind | tr '\n' ' ')$(trees) trees)"

tap_end
