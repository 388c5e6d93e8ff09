#!/usr/bin/env bash
# bench/waves.sh — wave advancement: how long after the last object of a wave
# is Healthy does wavesync start applying the next wave? (Design target: < 50 ms.)
#
# Usage: bench/waves.sh [--full | --full-only] [RUNS]
#
# Minimal mode (always, unless --full-only): a minimal tests/devcluster
# (kube-apiserver + etcd on 127.0.0.1) in a temporary directory, and
# tests/e2e/fakectl playing the controllers (it marks Deployments available,
# Jobs complete and PVCs bound as soon as their watch events arrive, and logs
# every event with a millisecond timestamp). Then RUNS times (default 10), after
# one untimed warm-up run, the serving application of fixtures/ml-platform is
# synced from scratch: every run gets its own fixture repository
# (tests/make-fixture-repo) in which the application is renamed serving-rI and
# `ml-serving` becomes `ml-serving-rI` everywhere (destination namespace, the
# Namespace object, the cluster-scoped PersistentVolume names and claimRefs, the
# FEATURE_STORE_URL), so nothing exists on the server before the run and there is
# no inventory to prune. The sync has 7 waves (PreSync 0, Sync 0-4, PostSync 0),
# hence 6 wave boundaries per run.
#
# Three figures per wave boundary:
#   client      advanceMs from `wavesync --output json sync`: from the moment the
#               previous wave's last object was judged Healthy inside wavesync
#               (a watch event, or the apply response for kinds that are Healthy
#               once they exist) to the moment the next wave's first apply
#               request is started (uv_hrtime, microseconds). wavesync's own
#               reaction time only: it does not include the watch delivery
#               before it nor the apply round trip after it.
#   client +apply RTT  from the same report, 1 ms resolution: the previous
#               wave's last healthyMs to the next wave's first appliedMs (the
#               apply response), i.e. advanceMs plus one server-side apply.
#   end-to-end  from fakectl's log (minimal mode only): first ADDED event of any
#               object of wave N+1 as seen by fakectl's watch, minus the moment
#               wave N became Healthy on the server: the latest, over the objects
#               of wave N, of fakectl's status write that made it Healthy (the
#               first of its PATCH response and its MODIFIED event to reach
#               fakectl) or, for kinds Healthy on creation, its ADDED event. This covers watch event to wavesync +
#               wavesync's reaction + the apply request + the watch event back to
#               fakectl: what a controller, or a user, would see. Millisecond
#               resolution (fakectl's "t").
# After every run the apiserver's apiserver_watch_cache_read_wait_seconds
# histogram is scraped: how long consistent LISTs (wavesync starts each watch
# with a LIST without resourceVersion) waited for the watch cache to catch up
# with etcd. Since Kubernetes 1.31 (ConsistentListFromCache) such a LIST can wait
# for etcd's next progress notification, up to about 100 ms, when the last write
# was to another resource; the per-run column shows where that happened.
# A run only counts if the sync exits 0 with result Succeeded, all 7 waves are
# Healthy with an advanceMs on each of the 6 later ones, and (minimal mode) by
# etcd resourceVersions every object of wave N+1 was created after wave N was
# Healthy on the server. The exit status is 1 otherwise.
#
# --full also runs, after the minimal mode, FULL_RUNS (default 3) syncs the same
# way on `tests/devcluster up --full` (kube-controller-manager, kube-scheduler,
# kwok GPU nodes; no fakectl): only the client-side advanceMs there, with the
# real controllers' time shown as wave durations. --full-only skips the minimal
# mode.
#
# Environment:
#   WAVESYNC, FAKECTL  binaries (default: build the tree like scripts/check: in
#              place if the source tree is configured in place, else in
#              $BUILD_DIR or _build). Both are copied into the temporary directory
#              first, so a rebuild during the run does not change them.
#   RUNS       runs in minimal mode (default 10; the argument wins)
#   FULL_RUNS  runs in full mode (default 3)
#   BENCH_CMD_TIMEOUT  seconds before one sync is killed (default 180)
#   BENCH_KEEP=1       keep the temporary directory (repos, reports, fakectl log)
#
# Talks to 127.0.0.1 only; stops fakectl and the cluster and removes its files on
# exit (also on Ctrl-C).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "${SELF%/*}/lib.sh"
MINIMAL=1
FULL=0
while (($#)); do
	case $1 in
	--full) FULL=1 ;;
	--full-only) FULL=1 MINIMAL=0 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
		exit 0
		;;
	-*)
		printf 'bench: error: unknown option %s\n' "$1" >&2
		exit 2
		;;
	*) RUNS=$1 ;;
	esac
	shift
done
RUNS=${RUNS:-10}
FULL_RUNS=${FULL_RUNS:-3}
CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-180}
APP=serving
NS=ml-serving

for v in RUNS FULL_RUNS; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1)); then die "$v must be a number >= 1 (got '${!v}')"; fi
done
[[ $CMD_TIMEOUT =~ ^[0-9]+$ ]] || die "BENCH_CMD_TIMEOUT must be a number of seconds"
for t in curl timeout sed git python3 awk; do
	command -v "$t" >/dev/null || die "$t not found"
done

# ---------------------------------------------------------------------------
# Binaries

bench_init wavesync-bench-waves
CTL_PID=
# shellcheck disable=SC2317  # called on exit
stop_fakectl() { if [[ -n $CTL_PID ]]; then kill "$CTL_PID" 2>/dev/null || true; fi; }
bench_on_exit stop_fakectl

FROM="given by \$WAVESYNC / \$FAKECTL"
if [[ -z ${WAVESYNC:-} || (-z ${FAKECTL:-} && $MINIMAL == 1) ]]; then
	log "building wavesync and fakectl (scripts/build)"
	build=$("$REPO/scripts/build" wavesync tests/e2e/fakectl) || die "building wavesync failed"
	WAVESYNC=${WAVESYNC:-$build/wavesync}
	FAKECTL=${FAKECTL:-$build/tests/e2e/fakectl}
	FROM="built from $REPO at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
fi
[[ -x $WAVESYNC ]] || die "wavesync binary $WAVESYNC is not an executable file"
mkdir -p "$T/bin"
cp "$WAVESYNC" "$T/bin/wavesync"
WS=$T/bin/wavesync
if ((MINIMAL)); then
	[[ -x $FAKECTL ]] || die "fakectl binary $FAKECTL is not an executable file"
	cp "$FAKECTL" "$T/bin/fakectl"
fi

# ---------------------------------------------------------------------------
# One run: a fresh fixture repository, namespace and application name.

prepare_run() { # dir tag -> prints the config path
	local dir=$1 tag=$2 cfg f
	cfg=$("$REPO/tests/make-fixture-repo" "$dir" "$KUBECONFIG")
	for f in "$dir/repo/apps/$APP.yaml" "$dir"/repo/serving/*.yaml "$dir"/repo/serving/hooks/*.yaml; do
		sed -i "s/\b$NS\b/$NS-$tag/g" "$f"
	done
	sed -i "0,/^  name: $APP\$/s//  name: $APP-$tag/" "$dir/repo/apps/$APP.yaml"
	grep -q "name: $APP-$tag\$" "$dir/repo/apps/$APP.yaml" || die "cannot rename the application in $dir"
	git -C "$dir/repo" -c user.name=bench -c user.email=bench@wavesync.invalid commit -qam "run $tag" ||
		die "cannot commit in $dir/repo"
	printf '%s' "$cfg"
}

# The apiserver's histogram of how long consistent reads (a LIST without
# resourceVersion, as a watch starts with) waited for its watch cache to catch
# up with etcd: scraped after every run, differences shown per run.
scrape_waits() { # file
	api /metrics | grep '^apiserver_watch_cache_read_wait_seconds' >"$1" || true
}

now_ms() { printf '%s' "$((${EPOCHREALTIME/[.,]/} / 1000))"; }

run_one() { # mode index (0 = warm-up)
	local mode=$1 i=$2 tag d cfg t0 t1 rc
	tag=r$i
	d=$T/$mode/$tag
	mkdir -p "$d"
	cfg=$(prepare_run "$d/fx" "$tag")
	"$WS" --config "$cfg" --output json plan "$APP-$tag" >"$d/plan.json" 2>"$d/plan.err" ||
		die "wavesync plan $APP-$tag failed: $(tail -n 3 "$d/plan.err")"
	t0=$(now_ms)
	rc=0
	timeout "$CMD_TIMEOUT" "$WS" --config "$cfg" --output json sync "$APP-$tag" >"$d/sync.json" 2>"$d/sync.err" || rc=$?
	t1=$(now_ms)
	echo "$rc" >"$d/rc"
	echo "$((t1 - t0))" >"$d/wall_ms"
	echo "$APP-$tag" >"$d/app"
	scrape_waits "$d/waits"
	log "$mode run $i$( ((i)) || echo ' (warm-up)'): exit $rc in $((t1 - t0)) ms"
}

cluster_up() { # mode
	mkdir -p "$T/$1"
	bench_cluster_up "$T/cluster-$1" "$1"
	export KUBECONFIG
}

start_fakectl() {
	local i
	"$T/bin/fakectl" "$T/fakectl.log" 2>"$T/fakectl.err" &
	CTL_PID=$!
	# its watches are up once the initial list of Namespaces has been logged
	for ((i = 0; i < 200; i++)); do
		grep -q '"kind":"Namespace"' "$T/fakectl.log" 2>/dev/null && break
		kill -0 "$CTL_PID" 2>/dev/null || die "fakectl exited: $(cat "$T/fakectl.err")"
		sleep 0.05
	done
	((i < 200)) || die "fakectl did not start watching within 10 s"
	sleep 0.5
}

analyze() { # mode runs fakectl-log-or-empty
	python3 - "$@" "$T" <<'PY'
import json, math, os, sys

mode, runs, ctl_log, T = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def pct(v, p):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]

def key_of(ident):  # "apps/v1 Deployment ns/name" -> (kind, ns, name)
    _, kind, rest = ident.split(" ", 2)
    ns, _, name = rest.rpartition("/")
    return (kind, ns, name)

created, ready = {}, {}  # key -> (t, rv)
seen = {}  # (key, rv) -> t of the first watch event fakectl saw at that resourceVersion
if ctl_log:
    events = [json.loads(line) for line in open(ctl_log)]
    for e in events:
        key = (e["kind"], e.get("namespace") or "", e["name"])
        if e.get("event"):
            seen.setdefault((key, e["rv"]), e["t"])
        if e.get("event") == "ADDED":
            created.setdefault(key, (e["t"], e["rv"]))
    for e in events:
        key = (e["kind"], e.get("namespace") or "", e["name"])
        if e.get("action") == "ready":
            # the status write is committed by the first of: its PATCH
            # response, or its MODIFIED event, reaching fakectl
            ready[key] = (min(e["t"], seen.get((key, e["rv"]), e["t"])), e["rv"])

RES = ["namespaces", "jobs.batch", "secrets", "configmaps", "persistentvolumes", "persistentvolumeclaims",
       "services", "deployments.apps", "pods"]

def read_waits(path):  # -> {resource: {"count": n, "sum": s, le: n...}}
    out = {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return out
    for line in lines:
        name, _, val = line.rpartition(" ")
        labels = dict(kv.split("=", 1) for kv in name[name.index("{") + 1:name.rindex("}")].split(","))
        r = labels["resource"].strip('"')
        d = out.setdefault(r, {})
        if name.startswith("apiserver_watch_cache_read_wait_seconds_bucket"):
            d[labels["le"].strip('"')] = float(val)
        elif "_sum" in name:
            d["sum"] = float(val)
        elif "_count" in name:
            d["count"] = float(val)
    return out

def wait_delta(before, after):  # -> (reads, wait ms, reads over 25 ms, slowest bucket, {res: ms})
    reads = tot = over = 0
    top = 0.0
    per = {}
    for r in RES:
        a, b = after.get(r, {}), before.get(r, {})
        n = a.get("count", 0) - b.get("count", 0)
        if n <= 0:
            continue
        reads += n
        ms = (a.get("sum", 0) - b.get("sum", 0)) * 1000
        tot += ms
        if ms >= 1:
            per[r.split(".")[0]] = ms
        over += n - (a.get("0.025", 0) - b.get("0.025", 0))
        les = sorted((float(k), k) for k in a if k not in ("sum", "count", "+Inf"))
        for le, k in les:
            if a[k] - b.get(k, 0) >= n:
                top = max(top, le)
                break
        else:
            top = float("inf")
    return int(reads), tot, int(over), top, per

bad = 0
client, rtt, e2e, wall = [], [], [], []
client_at, e2e_at = [], []
print(f"\n== {mode} mode: {runs} runs (+1 warm-up) ==")
print("run       exit  wall ms  sync ms  waves  client advanceMs per boundary (ms)            "
      "client +apply RTT (ms)  end-to-end (ms)          server: consistent reads, waited")
for i in range(0, runs + 1):
    d = os.path.join(T, mode, f"r{i}")
    rc = int(open(os.path.join(d, "rc")).read())
    wall_ms = int(open(os.path.join(d, "wall_ms")).read())
    problems = []
    try:
        rep = json.load(open(os.path.join(d, "sync.json")))
        plan = json.load(open(os.path.join(d, "plan.json")))
    except Exception as ex:
        rep, plan = {}, {}
        problems.append(f"no report: {ex}")
    waves = rep.get("waves", [])
    if rc != 0 or rep.get("result") != "Succeeded":
        problems.append(f"exit {rc}, result {rep.get('result')!r}: {rep.get('message', '')}")
    if len(waves) != 7 or any(w.get("result") != "Healthy" for w in waves):
        problems.append("waves: " + ", ".join(f"{w.get('phase')} {w.get('wave')} {w.get('result')}" for w in waves))
    adv = [w["advanceMs"] for w in waves[:-1] if "advanceMs" in w]
    if len(adv) != len(waves) - 1 or any("advanceMs" in w for w in waves[-1:]):
        problems.append(f"advanceMs on {len(adv)} of {len(waves) - 1} boundaries")
    labels = [f"{a['phase']} {a['wave']} -> {b['phase']} {b['wave']}" for a, b in zip(waves, waves[1:])]
    # client, 1 ms resolution: last object of wave N Healthy -> first apply
    # response of wave N+1 (advance + the apply's round trip to the apiserver)
    objs = rep.get("objects", [])
    rtts = []
    for a, b in zip(waves, waves[1:]):
        h = [o.get("healthyMs", -1) for o in objs if (o["phase"], o["wave"]) == (a["phase"], a["wave"])]
        n = [o.get("appliedMs", -1) for o in objs if (o["phase"], o["wave"]) == (b["phase"], b["wave"])]
        if h and n and min(h) >= 0 and min(n) >= 0:
            rtts.append(min(n) - max(h))
    ends = []
    if ctl_log and plan:
        pw = [w for w in plan["waves"] if w["phase"] != "SyncFail"]
        for prev, nxt in zip(pw, pw[1:]):
            hk = [key_of(o) for o in prev["objects"]]
            nk = [key_of(o) for o in nxt["objects"]]
            miss = [k for k in hk + nk if k not in created]
            if miss:
                problems.append(f"fakectl never saw {miss[0]} created")
                break
            h = [ready.get(k, created[k]) for k in hk]
            h_t, h_rv = max(x[0] for x in h), max(x[1] for x in h)
            c = [created[k] for k in nk]
            if min(x[1] for x in c) <= h_rv:
                problems.append(f"wave {nxt['phase']} {nxt['wave']} created before wave {prev['phase']} {prev['wave']} was Healthy (rv)")
            ends.append(min(x[0] for x in c) - h_t)
    ok = not problems
    tag = "warm-up" if i == 0 else f"r{i}"
    before = read_waits(os.path.join(T, mode, f"r{i - 1}", "waits") if i else os.path.join(T, mode, "waits.before"))
    reads, waited, over, top, per = wait_delta(before, read_waits(os.path.join(d, "waits")))
    waits = (f"{reads:3d} reads, {over} over 25 ms (slowest <= {top * 1000:.0f} ms); ms waited: " +
             (", ".join(f"{r} {ms:.0f}" for r, ms in sorted(per.items(), key=lambda x: -x[1])) or "-"))
    print(f"{tag:<9} {rc:>4} {wall_ms:>8} {rep.get('durationMs', -1):>8} {len(waves):>6}  "
          f"{' '.join(f'{a:7.3f}' for a in adv):<45} {' '.join(f'{r:3d}' for r in rtts):<23} "
          f"{' '.join(f'{e:3d}' for e in ends):<24} {waits}"
          f"{'' if ok else '   INVALID: ' + '; '.join(problems)}")
    if i == 0:
        continue
    if not ok:
        bad += 1
        continue
    client += adv
    client_at += [(a, tag, l) for a, l in zip(adv, labels)]
    e2e += ends
    rtt += rtts
    e2e_at += [(e, tag, l) for e, l in zip(ends, labels)]
    wall.append((wall_ms, rep.get("durationMs", 0), len(waves),
                 [(f"{w['phase']} {w['wave']}", w.get("durationMs", 0)) for w in waves]))

print()
if client:
    m = max(client_at)
    print(f"{mode}: client advanceMs (ms)      median {pct(client, 50):.3f}  p90 {pct(client, 90):.3f}  "
          f"max {m[0]:.3f} ({m[1]}: {m[2]})  n={len(client)}  over 50 ms: {sum(a >= 50 for a in client)}")
if rtt:
    print(f"{mode}: client, to first apply answered (ms) median {pct(rtt, 50)}  p90 {pct(rtt, 90)}  "
          f"max {max(rtt)}  n={len(rtt)}")
if e2e:
    m = max(e2e_at)
    print(f"{mode}: end-to-end via fakectl (ms) median {pct(e2e, 50)}  p90 {pct(e2e, 90)}  "
          f"max {m[0]} ({m[1]}: {m[2]})  min {min(e2e)}  n={len(e2e)}  over 50 ms: {sum(e >= 50 for e in e2e)}")
if wall:
    ws = [w[0] for w in wall]
    print(f"{mode}: sync wall time (ms)         median {pct(ws, 50)}  min {min(ws)}  max {max(ws)}  "
          f"waves per run {sorted(set(w[2] for w in wall))}  valid runs {len(wall)}/{runs}")
    per = list(zip(*[w[3] for w in wall]))
    print(f"{mode}: wave durations (ms, median of runs)  " +
          ", ".join(f"{p[0][0]}: {pct([x[1] for x in p], 50)}" for p in per))
if bad:
    print(f"{mode}: {bad} of {runs} runs INVALID (see above)")
sys.exit(1 if bad or not client else 0)
PY
}

# ---------------------------------------------------------------------------

machine() {
	local cpu
	cpu=$(bench_cpu_model)
	echo "machine: $(nproc) CPUs ($cpu), $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
	echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "wavesync: $("$WS" version 2>/dev/null | head -n 1) ($FROM)"
}

status=0
machine
if ((MINIMAL)); then
	cluster_up minimal
	echo "server: kube-apiserver $DEVCLUSTER_K8S_VERSION (minimal devcluster) at $DEVCLUSTER_SERVER; controllers played by fakectl"
	start_fakectl
	scrape_waits "$T/minimal/waits.before"
	for ((i = 0; i <= RUNS; i++)); do run_one minimal "$i"; done
	sleep 0.5 # let fakectl log the last events
	kill "$CTL_PID" 2>/dev/null || true
	wait "$CTL_PID" 2>/dev/null || true
	CTL_PID=
	bench_cluster_down
	analyze minimal "$RUNS" "$T/fakectl.log" || status=1
fi
if ((FULL)); then
	cluster_up full
	echo "server: kube-apiserver $DEVCLUSTER_K8S_VERSION (full devcluster: controller-manager, scheduler, kwok nodes) at $DEVCLUSTER_SERVER"
	scrape_waits "$T/full/waits.before"
	for ((i = 0; i <= FULL_RUNS; i++)); do run_one full "$i"; done
	bench_cluster_down
	analyze full "$FULL_RUNS" "" || status=1
fi
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((MINIMAL)); then
	echo "command: RUNS=$RUNS$( ((FULL)) && echo " FULL_RUNS=$FULL_RUNS") bench/waves.sh$( ((FULL)) && echo ' --full')"
else
	echo "command: FULL_RUNS=$FULL_RUNS bench/waves.sh --full-only"
fi
exit "$status"
