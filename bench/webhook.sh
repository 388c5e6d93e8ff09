#!/usr/bin/env bash
# bench/webhook.sh — webhook deliveries accepted per second by `wavesync serve`:
# signed GitHub push deliveries, each verified (HMAC-SHA256) and stored durably
# (SQLite, WAL, synchronous=FULL, group commit per loop iteration) before its
# 202. (Design target: > 5,000/s on 2 cores.)
#
# Usage: bench/webhook.sh [COUNT] [CONNECTIONS]
#
# Starts a minimal tests/devcluster (kube-apiserver + etcd on 127.0.0.1), a Git
# server over smart HTTP (tests/e2e/githttp.py) with a repository of 4 Argo CD
# Applications of one ConfigMap each (tracking HEAD = refs/heads/main, deployed
# to that cluster), and `wavesync serve` (log level info, the default) with a
# GitHub webhook secret for the repository and server.rateLimit set out of the
# way (perSecond: 1000000, burst: 1000000). bench/webhook_load.c, compiled with
# -O2, then sends COUNT (default 20,000) signed push deliveries for refs/heads/main
# over CONNECTIONS (default 32) keep-alive connections, one request in flight
# per connection, each with its own delivery id; before/after are the last two
# real commits of the repository. Every delivery is built and signed before the
# clock starts. An untimed warm-up of COUNT/20 deliveries comes first, and the
# routing it causes is let finish before the measured run.
# Routing (fetch, diff, route, coalesced runs) happens after the 202, in the
# background; it competes for the same 2 cores but is not what is measured.
# After the run the script waits until every accepted push is routed
# (wavesync_triggers_routing back to 0; BENCH_DRAIN_TIMEOUT, default 300 s) and
# reports how long that took and how many runs it caused.
# Prints the load generator's report (deliveries/s, latency median/p99/max,
# statuses), wavesync's CPU time during the run, and checks durability: the rows
# of the triggers table in the state folder's wavesync.db (sqlite3 CLI, else
# Python's sqlite3 module), read right after the run while wavesync still runs,
# must equal the number of 202s (plus the warm-up's). Then wavesync's RSS
# high-water mark (VmHWM).
# Exits 1 if a delivery got anything but 202, a connection failed, the counts do
# not match, routing did not finish, or wavesync logged an error or exited.
#
# Environment:
#   WAVESYNC   wavesync binary (default: build the tree like scripts/check);
#              copied into the temporary directory first
#   BENCH_LOG_LEVEL    wavesync's --log-level (default info: one line per accepted
#                      delivery and one per routed push)
#   BENCH_DRAIN_TIMEOUT  seconds to wait for routing after the run (default 300)
#   BENCH_KEEP=1         keep the temporary directory (state, logs)
#
# Talks to 127.0.0.1 only; stops wavesync, the Git server and the cluster and
# removes its files on exit (also on Ctrl-C).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "${SELF%/*}/lib.sh"
bench_help "$@"
COUNT=${1:-20000}
CONNS=${2:-32}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-300}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
NS=bench-webhook
APPS=(alpha beta gamma delta)

if ! [[ $COUNT =~ ^[0-9]+$ ]] || ((COUNT < 20)); then die "COUNT must be a number >= 20 (got '$COUNT')"; fi
if ! [[ $CONNS =~ ^[0-9]+$ ]] || ((CONNS < 1 || CONNS > 10000)); then die "CONNECTIONS must be 1-10000"; fi
[[ $DRAIN_TIMEOUT =~ ^[0-9]+$ ]] || die "BENCH_DRAIN_TIMEOUT must be a number of seconds"
for t in curl git python3 awk gcc pkg-config; do
	command -v "$t" >/dev/null || die "$t not found"
done
pkg-config --exists libuv libcrypto || die "webhook_load.c needs the libuv and libcrypto development files"

bench_init wavesync-bench-webhook
bench_wavesync
log "compiling bench/webhook_load.c"
# shellcheck disable=SC2046  # pkg-config prints several words
gcc -O2 -o "$T/bin/webhook_load" "$REPO/bench/webhook_load.c" $(pkg-config --cflags --libs libuv libcrypto) ||
	die "cannot compile bench/webhook_load.c"

bench_on_exit bench_stop_all

bench_cluster_up "$T/cluster"


# ---------------------------------------------------------------------------
# The Git server, the repository, the configuration

bench_git_server
WS_PORT=$(free_port)
WS_URL="http://127.0.0.1:$WS_PORT"

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@wavesync.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@wavesync.invalid
W=$T/work
git init -q -b main "$W"
mkdir -p "$W/apps"
for a in "${APPS[@]}"; do
	mkdir -p "$W/$a"
	cat >"$W/apps/$a.yaml" <<-YAML
		apiVersion: argoproj.io/v1alpha1
		kind: Application
		metadata:
		  name: $a
		  namespace: argocd
		spec:
		  project: default
		  source: {repoURL: $URL, targetRevision: HEAD, path: $a}
		  destination: {name: in-cluster, namespace: $NS}
		  syncPolicy:
		    automated: {prune: true}
		    syncOptions: [CreateNamespace=true]
	YAML
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "1"\n' "$a" >"$W/$a/cm.yaml"
done
git -C "$W" add -A
git -C "$W" commit -q -m "four applications"
sed -i 's/rev: "1"/rev: "2"/' "$W/alpha/cm.yaml"
git -C "$W" commit -qam "alpha: rev 2"
git clone -q --bare "$W" "$T/srv/org/platform.git"
BEFORE=$(git -C "$W" rev-parse HEAD~1)
AFTER=$(git -C "$W" rev-parse HEAD)

bench_serve_config "$URL" "$WS_PORT" 1000000

bench_serve_start "$LOG_LEVEL" "$WS_URL"

# ---------------------------------------------------------------------------
# Helpers

FAILED=0
fail() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	FAILED=1
}
metrics() { # -> $T/metrics.txt, the service's GET /metrics now
	curl -sS --fail --max-time 10 -o "$T/metrics.txt" "$WS_URL/metrics" 2>"$T/metrics.err" ||
		{ log "GET /metrics failed: $(cat "$T/metrics.err")"; return 1; }
}
metric() { # name -> value (sum over its series) in $T/metrics.txt; "?" when absent
	awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { print f ? s : "?" }' "$T/metrics.txt"
}
sql() { # query -> result, read-only, while wavesync runs
	if command -v sqlite3 >/dev/null; then
		sqlite3 -readonly "$T/state/wavesync.db" "$1"
	else
		python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute(sys.argv[2]).fetchone()[0])' "$T/state/wavesync.db" "$1"
	fi
}
CLK_TCK=$(getconf CLK_TCK)
ws_cpu_ms() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$WS_PID/stat"; }
drain() { # -> DRAIN_MS: until every accepted push is routed (the store and the gauges agree) and no run is waiting or running
	local t0 i
	t0=$(date +%s%N)
	for ((i = 0; i < DRAIN_TIMEOUT * 10; i++)); do
		metrics || true
		# (wavesync_triggers_routing is newer than some builds: "?" when absent; the store decides)
		if [[ $(metric wavesync_triggers_routing) == [0?] && $(metric wavesync_queue_depth) == 0 &&
			$(metric wavesync_runs_running) == 0 && $(metric wavesync_store_backlog) == 0 &&
			$(sql "SELECT count(*) FROM triggers WHERE state = 'received'") == 0 ]]; then
			DRAIN_MS=$((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		sleep 0.1
	done
	DRAIN_MS=-1
	return 1
}
load() { # count out
	"$T/bin/webhook_load" --url "$WS_URL/api/webhook/github" --secret "$SECRET" --repo-url "$URL" \
		--ref refs/heads/main --before "$BEFORE" --after "$AFTER" --count "$1" --connections "$CONNS" \
		>"$2" 2>"$2.err"
}
field() { # file label -> the value after the label (first word)
	awk -v l="$2" 'index($0, l) == 1 { sub(l, ""); print $1; exit }' "$1"
}

# ---------------------------------------------------------------------------
# Run

CPU=$(bench_cpu_model)
cat <<EOF
== bench/webhook.sh: webhook deliveries accepted per second, $COUNT deliveries over $CONNS connections ==
machine:   $(nproc) CPUs, $CPU, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the runs)
wavesync:  $("$WS" version 2>/dev/null | head -n 1) ($FROM), serve --log-level $LOG_LEVEL on $WS_URL
store:     \$stateDir/wavesync.db, SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo '?') (WAL, synchronous=FULL) on $(df -PT "$T" | awk 'NR == 2 { print $2 }')
client:    bench/webhook_load (gcc -O2): signed GitHub push deliveries for refs/heads/main of $URL,
           ${BEFORE:0:12}..${AFTER:0:12}, built and signed before the clock starts
server:    kube-apiserver $DEVCLUSTER_K8S_VERSION (minimal devcluster) at $DEVCLUSTER_SERVER, for the runs routing causes
EOF

WARM=$((COUNT / 20))
log "warm-up: $WARM deliveries (untimed)"
load "$WARM" "$T/warm.out" || { cat "$T/warm.out" "$T/warm.out.err" >&2; die "the warm-up failed"; }
WARM_202=$(field "$T/warm.out" "status 202")
drain || die "routing the warm-up did not finish within $DRAIN_TIMEOUT s"
ROWS0=$(sql "SELECT count(*) FROM triggers")
RUNS0=$(sql "SELECT count(*) FROM runs")
log "warm-up: ${WARM_202:-0} accepted, routed in $DRAIN_MS ms; $ROWS0 triggers and $RUNS0 runs stored"

log "measured run: $COUNT deliveries over $CONNS connections"
CPU0=$(ws_cpu_ms)
TIMEFORMAT='%U %S'
set +e
{ time load "$COUNT" "$T/load.out"; } 2>"$T/load.time"
RC=$?
set -e
CPU1=$(ws_cpu_ms)
ROWS1=$(sql "SELECT count(*) FROM triggers")
DELIV1=$(sql "SELECT count(*) FROM deliveries")
echo
sed 's/^/  /' "$T/load.out"
if [[ -s $T/load.out.err ]]; then
	echo "  load generator stderr (first 10 lines):"
	head -n 10 "$T/load.out.err" | sed 's/^/    /'
fi
N202=$(field "$T/load.out" "status 202")
N202=${N202:-0}
ANSWERED=$(field "$T/load.out" "answered")
ERRS=$(field "$T/load.out" "conn errors")
ELAPSED=$(field "$T/load.out" "elapsed")
LOAD_CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$T/load.time")
echo
awk -v c="$COUNT" -v ms="$((CPU1 - CPU0))" -v e="$ELAPSED" -v l="$LOAD_CPU" 'BEGIN {
	printf "CPU during the run: wavesync %.2f s (%.0f us per delivery, %.0f%% of one core), load generator %s s\n",
		ms / 1000, ms * 1000 / c, (e > 0 ? ms / 10 / e : 0), l }'
((RC == 0)) || fail "webhook_load exited $RC"
((N202 == COUNT)) || fail "$N202 of $COUNT deliveries answered 202 (see the statuses above)"
((ERRS == 0)) || fail "$ERRS connection errors"
((ANSWERED == COUNT)) || fail "$ANSWERED of $COUNT deliveries answered"
echo "durability: triggers rows $ROWS0 before, $ROWS1 right after the run: +$((ROWS1 - ROWS0)) for $N202 answers 202" \
	"(deliveries table: $DELIV1 rows for $((WARM_202 + N202)) accepted in all: a delivery id and a body digest each)"
((ROWS1 - ROWS0 == N202)) || fail "$((ROWS1 - ROWS0)) new triggers stored for $N202 answers 202"
((DELIV1 == 2 * (WARM_202 + N202))) ||
	fail "$DELIV1 replay keys stored for $((WARM_202 + N202)) accepted (expected two each: id and body digest)"

log "waiting for routing of the accepted pushes (up to $DRAIN_TIMEOUT s)"
if drain; then
	RUNS1=$(sql "SELECT count(*) FROM runs")
	echo "routing: all $N202 pushes routed $DRAIN_MS ms after the run ended;" \
		"$((RUNS1 - RUNS0)) run(s) (coalesced), $(sql "SELECT count(*) FROM triggers WHERE state = 'routed'") of $ROWS1 triggers 'routed'," \
		"$(sql "SELECT count(*) FROM runs WHERE state != 'Succeeded'") run(s) not Succeeded"
else
	metrics || true
	echo "routing: NOT finished after $DRAIN_TIMEOUT s: $(metric wavesync_triggers_routing) triggers still routing," \
		"queue depth $(metric wavesync_queue_depth)"
	fail "routing did not finish within $DRAIN_TIMEOUT s"
fi
metrics || true
echo "route duration histogram: $(metric wavesync_route_duration_milliseconds_count) batches," \
	"$(metric wavesync_route_duration_milliseconds_sum) ms in all"
echo "wavesync RSS high-water mark: $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$WS_PID/status" 2>/dev/null || echo '?')" \
	"(now $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$WS_PID/status" 2>/dev/null || echo '?'))"
if grep -qE ' (error|ERROR) ' "$T/serve.log"; then
	log "wavesync logged errors (first 10):"
	grep -E ' (error|ERROR) ' "$T/serve.log" | head -n 10 >&2
	fail "wavesync logged $(grep -cE ' (error|ERROR) ' "$T/serve.log") error line(s)"
fi
if grep -qE ' warn ' "$T/serve.log"; then
	log "wavesync logged $(grep -cE ' warn ' "$T/serve.log") warning(s), first 5:"
	grep -E ' warn ' "$T/serve.log" | head -n 5 >&2
fi
kill -0 "$WS_PID" 2>/dev/null || fail "wavesync serve is no longer running"
echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
echo "command:   $([[ $LOG_LEVEL == info ]] || echo "BENCH_LOG_LEVEL=$LOG_LEVEL ")bench/webhook.sh $COUNT $CONNS"
if ((FAILED)); then
	echo "RESULT: FAILED (see the errors above)"
	exit 1
fi
echo "RESULT: ok, $N202 of $COUNT deliveries accepted (202) and stored, every accepted push routed"
