# lib.sh — shared by the end-to-end test scripts (sourced, not run).
# Brings up a throwaway control plane for one test script and tears it down
# on exit; TAP helpers for shell tests.

WS_SRCDIR=${WS_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WS_BUILDDIR=${WS_BUILDDIR:-$WS_SRCDIR}
WAVESYNC=${WAVESYNC:-$WS_BUILDDIR/wavesync}
DEVCLUSTER=$WS_SRCDIR/tests/devcluster

# WS_SKIP_E2E=1 (configure --disable-e2e, as make distcheck does): an end-to-end
# script (not a lint script, which sources this file too) skips as a whole.
if [ "${WS_SKIP_E2E:-}" = 1 ]; then
	case ${BASH_SOURCE[1]:-$0} in
	*/e2e/*.sh | e2e/*.sh)
		echo "1..0 # SKIP end-to-end tests disabled (WS_SKIP_E2E=1)"
		exit 0
		;;
	esac
fi

tap_n=0
tap_failed=0

ok() { # cond-status description
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

diag() { printf '# %s\n' "$@"; }

# what every script that writes a repository or reads JSON needs
py=${PYTHON:-python3}
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; } # expr on d, from stdin
wait_for() { # seconds command...: until it succeeds (every 0.1 s)
	local t=$(($1 * 10))
	shift
	for _ in $(seq "$t"); do "$@" && return 0; sleep 0.1; done
	return 1
}
start_fakectl() { # the controllers (tests/e2e/fakectl), stopped by services_down
	"$WS_BUILDDIR/tests/e2e/fakectl" "$E2E_DIR/fakectl.log" 2>"$E2E_DIR/fakectl.err" &
	pids+=($!)
}

tap_end() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# cluster_up [devcluster up flags...]: start a cluster in a fresh folder and
# source its env. Its output goes to the log, not to TAP.
cluster_up() {
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wavesync-e2e.XXXXXX")
	trap cluster_down EXIT
	if ! "$DEVCLUSTER" up --dir "$E2E_DIR/cluster" "$@" >"$E2E_DIR/up.log" 2>&1; then
		echo "Bail out! tests/devcluster up failed:"
		sed 's/^/# /' "$E2E_DIR/up.log" | tail -n 30
		exit 1
	fi
	diag "$(grep 'is up at' "$E2E_DIR/up.log")"
	# shellcheck disable=SC1091
	. "$E2E_DIR/cluster/env"
}

cluster_down() {
	if [ -n "${WS_E2E_KEEP:-}" ]; then echo "# kept $E2E_DIR" >&2; return; fi
	if [ -n "${E2E_DIR:-}" ]; then
		"$DEVCLUSTER" down --dir "$E2E_DIR/cluster" >/dev/null 2>&1 || true
		rm -rf "$E2E_DIR"
	fi
}

# run_ws NAME ARGS...: run wavesync, capturing stdout/stderr into $E2E_DIR/NAME.{out,err}
# and the exit status into $rc.
run_ws() {
	local name=$1
	shift

	"$WAVESYNC" "$@" >"$E2E_DIR/$name.out" 2>"$E2E_DIR/$name.err"
	rc=$?

}

# ---- for tests that run helper processes and `wavesync serve` ------------------
# Background helpers go in pids (killed on exit), the service's pid in
# serve_pid (killed with -9: the tests restart it on purpose).
pids=()
serve_pid=
services_down() {
	[ -n "$serve_pid" ] && kill -9 "$serve_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	cluster_down
}

wait_file() { # file: wait until it exists and is not empty (10 s)
	for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

free_port() { "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# fixture_over_http: the sample ML platform (tests/make-fixture-repo) as a real
# Git repository served over smart HTTP (githttp.py), with fakectl playing the
# controllers, both stopped by services_down. Sets srv, url, cfg (its
# wavesync.yaml, with a webhook secret; the caller adds a server: block), repo
# (the work tree, origin = url), secret, ws_port and ws_url. After cluster_up.
fixture_over_http() {
	srv=$E2E_DIR/srv
	mkdir -p "$srv"
	export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
	export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
	"${PYTHON:-python3}" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/git.port" \
		--log "$E2E_DIR/githttp.log" 2>"$E2E_DIR/githttp.err" &
	pids+=($!)
	"$WS_BUILDDIR/tests/e2e/fakectl" "$E2E_DIR/fakectl.log" 2>"$E2E_DIR/fakectl.err" &
	pids+=($!)
	wait_file "$E2E_DIR/git.port" || {
		echo "Bail out! githttp.py did not start"
		exit 1
	}
	url="http://127.0.0.1:$(cat "$E2E_DIR/git.port")/ml-platform.git"
	cfg=$("$WS_SRCDIR/tests/make-fixture-repo" "$E2E_DIR/fx" "$DEVCLUSTER_KUBECONFIG" "$url" "$srv/ml-platform.git") || {
		echo "Bail out! make-fixture-repo failed"
		exit 1
	}
	repo=$E2E_DIR/fx/repo
	ws_port=$(free_port)
	ws_url="http://127.0.0.1:$ws_port"
	secret="fixture-secret-$RANDOM$RANDOM"
	sed -i "s#^    url: $url#    url: $url\n    webhook: {secret: \"$secret\"}#" "$cfg"
}

# pinned_tools_on_path: the kubectl and helm tests/devcluster pins (built
# once, cached) first on PATH, for Kustomize and Helm sources; their paths in
# kubectl_bin and helm_bin.
pinned_tools_on_path() {
	kubectl_bin=$("$DEVCLUSTER" build-kubectl 2>/dev/null | tail -n 1)
	helm_bin=$("$DEVCLUSTER" build-helm 2>/dev/null | tail -n 1)
	if [ ! -x "$kubectl_bin" ] || [ ! -x "$helm_bin" ]; then
		echo "Bail out! cannot build the pinned kubectl and helm"
		exit 1
	fi
	export PATH="$(dirname "$kubectl_bin"):$(dirname "$helm_bin"):$PATH"
}

# fixture_chart_repo: the operator charts of fixtures/helm-charts packaged
# (tests/fixture-charts) and served as a Helm repository (chartrepo.py,
# stopped by services_down); its URL in charts_url. Non-zero when either fails.
fixture_chart_repo() {
	"$WS_SRCDIR/tests/fixture-charts" "$E2E_DIR/charts" >/dev/null || return 1
	"${PYTHON:-python3}" "$WS_SRCDIR/tests/e2e/chartrepo.py" "$E2E_DIR/charts" "$E2E_DIR/charts.port" \
		"$E2E_DIR/charts.log" 2>"$E2E_DIR/chartrepo.err" &
	pids+=($!)
	wait_file "$E2E_DIR/charts.port" || return 1
	charts_url=http://127.0.0.1:$(cat "$E2E_DIR/charts.port")
}
