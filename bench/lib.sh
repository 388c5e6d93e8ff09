# shellcheck shell=bash
# bench/lib.sh — shared by the bench/*.sh scripts (sourced, not run): logging,
# the temporary directory and the cleanup on exit, the devcluster, and the
# wavesync binary. Sourcing it also keeps every request on loopback (no proxy).
#
#   bench_init NAME              T=$(mktemp -d .../NAME.XXXXXX); cleanup on exit,
#                                Ctrl-C (130) and SIGTERM (143)
#   bench_on_exit FUNC           run FUNC on exit (last registered first), before
#                                the cluster is stopped and $T removed
#   bench_cluster_up DIR [full]  start a minimal (or --full) tests/devcluster in
#                                DIR, source its env into the script; CLUSTER=DIR
#   bench_cluster_down           stop it now (also done on exit)
#   bench_fakectl                start tests/e2e/fakectl ($FAKECTL, or built) as the
#                                controllers of the cluster; stopped on exit
#   bench_wavesync               WS=$T/bin/wavesync, a copy of $WAVESYNC (or of a
#                                fresh scripts/build), FROM says where it came from
#   api PATH                     GET from the cluster as its admin (client cert)
#   bench_cpu_model, median, log, die
#
# On exit the cleanup runs the registered functions, stops the devcluster (if
# one was started) and removes $T, unless BENCH_KEEP=1; the script's exit
# status is kept.

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
T=
CLUSTER=
BENCH_EXIT_FUNCS=()

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

# loopback only, never through a proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy

# shellcheck disable=SC2317  # called by the EXIT trap
bench_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#BENCH_EXIT_FUNCS[@]} - 1; i >= 0; i--)); do
		"${BENCH_EXIT_FUNCS[i]}" || true
	done
	if [[ -n $CLUSTER && -e $CLUSTER ]]; then "$REPO/tests/devcluster" down --dir "$CLUSTER" >/dev/null 2>&1 || true; fi
	if [[ -n $T ]]; then
		if [[ ${BENCH_KEEP:-} == 1 ]]; then
			log "kept $T"
		else
			rm -rf -- "$T"
		fi
	fi
	exit "$rc"
}

bench_init() { # name
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bench_on_exit() { BENCH_EXIT_FUNCS+=("$1"); }

bench_cluster_up() { # dir [full]
	CLUSTER=$1
	if [[ ${2:-} == full ]]; then
		log "starting a full devcluster in $CLUSTER"
		"$REPO/tests/devcluster" up --full --dir "$CLUSTER" --timeout 180 >&2
	else
		log "starting a minimal devcluster in $CLUSTER"
		"$REPO/tests/devcluster" up --dir "$CLUSTER" --timeout 120 >&2
	fi
	# shellcheck disable=SC1091
	source "$CLUSTER/env"
	[[ $DEVCLUSTER_SERVER == https://127.0.0.1:* ]] || die "devcluster server is not on 127.0.0.1: $DEVCLUSTER_SERVER"
}

bench_cluster_down() {
	"$REPO/tests/devcluster" down --dir "$CLUSTER" >/dev/null 2>&1 || true
	CLUSTER=
}

# shellcheck disable=SC2034  # WS and FROM are for the caller
bench_wavesync() { # -> WS (a copy in $T/bin, so a rebuild during the run does not change it), FROM
	local build
	if [[ -n ${WAVESYNC:-} ]]; then
		FROM="given by \$WAVESYNC"
	else
		log "building wavesync (scripts/build)"
		build=$("$REPO/scripts/build" wavesync) || die "building wavesync failed"
		WAVESYNC=$build/wavesync
		FROM="built from $REPO at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
	fi
	[[ -x $WAVESYNC ]] || die "wavesync binary $WAVESYNC is not an executable file"
	mkdir -p "$T/bin"
	cp "$WAVESYNC" "$T/bin/wavesync"
	WS=$T/bin/wavesync
}

api() { # path -> body (admin client certificate)
	curl -sS --fail --max-time 20 --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" \
		--key "$DEVCLUSTER_CLIENT_KEY" "$DEVCLUSTER_SERVER$1"
}

bench_cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo '?'; }

median() { # numbers... -> median (lower middle for even counts)
	printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# ---- the service (push.sh, webhook.sh) ---------------------------------------

PIDS=()
WS_PID=
# shellcheck disable=SC2317  # called on exit
bench_stop_all() { # wavesync serve, then every helper process in PIDS
	local p
	if [[ -n $WS_PID ]] && kill "$WS_PID" 2>/dev/null; then wait "$WS_PID" 2>/dev/null || true; fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_serve_config() { # url port rate -> CFG, SECRET: one repository with a webhook secret, the dev cluster
	SECRET=bench-secret-$RANDOM$RANDOM
	printf '%s' "$SECRET" >"$T/webhook.secret"
	CFG=$T/wavesync.yaml
	cat >"$CFG" <<YAML
repositories:
  - name: platform
    url: $1
    webhook: {secret: "file:$T/webhook.secret"}
clusters:
  - name: in-cluster
    kubeconfig: $DEVCLUSTER_KUBECONFIG
applications:
  - {repository: platform, path: apps}
settings: {waveTimeout: 60s, stateDir: $T/state, concurrency: 4}
server:
  listen: 127.0.0.1:$2
  rateLimit: {perSecond: $3, burst: $3}
  shutdownGrace: 5s
YAML
}

bench_serve_start() { # log-level url: start `wavesync serve` on $CFG, wait for /readyz -> WS_PID
	local i
	"$WS" --config "$CFG" --log-level "$1" serve >"$T/serve.out" 2>"$T/serve.log" &
	WS_PID=$!
	for ((i = 0; i < 200; i++)); do
		curl -sf "$2/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$WS_PID" 2>/dev/null || die "wavesync serve exited: $(tail -n 5 "$T/serve.log")"
		sleep 0.05
	done
	die "wavesync serve not ready after 10 s: $(tail -n 5 "$T/serve.log")"
}

bench_help() { # "$@" of the script: -h/--help prints its header comment and exits
	case ${1:-} in
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
		exit 0
		;;
	esac
}

bench_git_server() { # -> URL: tests/e2e/githttp.py serving $T/srv (org/platform.git) over smart HTTP
	local i
	mkdir -p "$T/srv/org" "$T/state"
	python3 "$REPO/tests/e2e/githttp.py" --root "$T/srv" --port-file "$T/git.port" --log "$T/githttp.log" \
		2>"$T/githttp.err" &
	PIDS+=($!)
	for ((i = 0; i < 200; i++)); do
		[[ -s $T/git.port ]] && break
		sleep 0.05
	done
	[[ -s $T/git.port ]] || die "githttp.py did not start: $(cat "$T/githttp.err")"
	URL="http://127.0.0.1:$(cat "$T/git.port")/org/platform.git"
}

# shellcheck disable=SC2317  # called by the EXIT trap
bench_stop_fakectl() { kill "$BENCH_FAKECTL_PID" 2>/dev/null || true; }

bench_fakectl() { # after bench_wavesync and bench_cluster_up
	local build
	FAKECTL=${FAKECTL:-$(dirname "$WS")/fakectl}
	if [[ ! -x $FAKECTL ]]; then
		build=$("$REPO/scripts/build" tests/e2e/fakectl) || die "building fakectl failed"
		cp "$build/tests/e2e/fakectl" "$FAKECTL"
	fi
	KUBECONFIG=$DEVCLUSTER_KUBECONFIG "$FAKECTL" "$T/fakectl.log" 2>"$T/fakectl.err" &
	BENCH_FAKECTL_PID=$!
	bench_on_exit bench_stop_fakectl
}

