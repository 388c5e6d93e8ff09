#!/usr/bin/env bash
# bench/push.sh — push-to-first-apply latency of `wavesync serve`: from the
# moment a forge sends the push webhook to the moment the pushed change is on
# the cluster. (Design target: median < 250 ms, fixture repository over local
# HTTP, loopback cluster.)
#
# Usage: bench/push.sh [RUNS]
#
# Starts a minimal tests/devcluster (kube-apiserver + etcd on 127.0.0.1), a Git
# server over smart HTTP (tests/e2e/githttp.py, `git http-backend`), and a
# repository with 4 Argo CD Applications (alpha, beta, gamma, delta), each a
# folder with one ConfigMap carrying data.rev, all deploying to the namespace
# bench-push, and a history of BENCH_HISTORY commits (default 100; see below). Then `wavesync serve` (log level info) with a GitHub webhook
# secret for the repository, and a small Python watcher that streams
#   GET /api/v1/namespaces/bench-push/configmaps?watch=1&resourceVersion=RV
# with the cluster's admin client certificate and logs every event with
# time.monotonic() and the object's data.rev.
# One untimed warm-up push changes all 4 applications. Then RUNS times (default
# 30), rotating over the applications: change one ConfigMap's rev, commit, and
# `git push` over HTTP (not timed: that is the developer's part), then
#   t0  just before the signed GitHub push delivery (tests/e2e/deliver.py's
#       payload, with the pushed commits) is sent to /api/webhook,
#   t1  when the watcher sees that ConfigMap with the new rev.
# t1 - t0 is the figure: the 202 answer (the trigger stored durably), the
# fetch over HTTP and the diff before..after, routing to the application, the
# run (server-side apply) and the watch event back. Both are CLOCK_MONOTONIC
# (Python's time.monotonic()) read by different processes.
# The split comes from wavesync's own log (info lines, 1 ms wall clock:
# "trigger N routed", "run R of APP started", "run R of APP at SHA: Succeeded"),
# the 202 round trip measured by the sender, and githttp.py's log (time the Git
# server spent on the fetch's requests, each a `git http-backend` process).
# Runs do not overlap: the next push waits for the run to finish. After each
# run, untimed, the git CLI fetches the same push from the same server, for
# reference.
# History matters: libgit2 (1.5) sends its "have" lines in batches of 20, one
# git-upload-pack POST per batch over HTTP, then a last POST with "done". With
# fewer than 20 commits in the local mirror a fetch is 1 POST, from 20 on it is
# 2 (the server acknowledges the first batch, so it stays at 2). A real
# repository has more than 20 commits, hence the default BENCH_HISTORY=100;
# BENCH_HISTORY=1 shows the 1-POST case (until the history reaches 20).
# A run counts only if the delivery got 202, the ConfigMap reached the new rev,
# the run Succeeded at the pushed commit, exactly this one application ran, and
# githttp.py logged at least one git-upload-pack request for it (a real fetch
# over HTTP). The exit status is 1 otherwise.
#
# Environment:
#   WAVESYNC   wavesync binary (default: build the tree like scripts/check);
#              copied into the temporary directory first
#   BENCH_HISTORY      commits in the repository before the first push (default 100)
#   BENCH_CMD_TIMEOUT  seconds to wait for one push to be applied (default 30)
#   BENCH_KEEP=1       keep the temporary directory (repository, logs)
#
# Talks to 127.0.0.1 only; stops wavesync, the watcher, the Git server and the
# cluster and removes its files on exit (also on Ctrl-C).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "${SELF%/*}/lib.sh"
bench_help "$@"
RUNS=${1:-30}
CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-30}
HISTORY=${BENCH_HISTORY:-100}
NS=bench-push
APPS=(alpha beta gamma delta)

if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 1)); then die "RUNS must be a number >= 1 (got '$RUNS')"; fi
[[ $CMD_TIMEOUT =~ ^[0-9]+$ ]] || die "BENCH_CMD_TIMEOUT must be a number of seconds"
if ! [[ $HISTORY =~ ^[0-9]+$ ]] || ((HISTORY < 1)); then die "BENCH_HISTORY must be a number >= 1"; fi
for t in curl git python3 awk grep; do
	command -v "$t" >/dev/null || die "$t not found"
done

bench_init wavesync-bench-push
bench_wavesync
bench_on_exit bench_stop_all

bench_cluster_up "$T/cluster"

wait_file() { # file seconds: until it exists and is not empty
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------------
# The Git server and the repository

bench_git_server
WS_PORT=$(free_port)
WS_URL="http://127.0.0.1:$WS_PORT"

app() { # name
	cat <<-YAML
		apiVersion: argoproj.io/v1alpha1
		kind: Application
		metadata:
		  name: $1
		  namespace: argocd
		spec:
		  project: default
		  source: {repoURL: $URL, targetRevision: HEAD, path: $1}
		  destination: {name: in-cluster, namespace: $NS}
		  syncPolicy:
		    automated: {prune: true}
		    syncOptions: [CreateNamespace=true]
	YAML
}
cm() { # name rev
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "%s"\n  model: resnet50\n' "$1" "$2"
}
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@wavesync.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@wavesync.invalid
W=$T/work
git init -q -b main "$W"
mkdir -p "$W/apps"
for a in "${APPS[@]}"; do
	mkdir -p "$W/$a"
	app "$a" >"$W/apps/$a.yaml"
	cm "$a" 1 >"$W/$a/cm.yaml"
done
git -C "$W" add -A
git -C "$W" commit -q -m "four applications"
for ((i = 1; i < HISTORY; i++)); do
	echo "$i" >"$W/HISTORY"
	git -C "$W" add HISTORY
	git -C "$W" commit -q -m "history $i"
done
git clone -q --bare "$W" "$T/srv/org/platform.git"
git -C "$T/srv/org/platform.git" config http.receivepack true
git -C "$W" remote add origin "$URL"
git clone -q --bare "$URL" "$T/ref.git" # for the reference `git fetch` after each run

bench_serve_config "$URL" "$WS_PORT" 1000

# ---------------------------------------------------------------------------
# The watcher and the sender

cat >"$T/watch.py" <<'PY'
# Streams ConfigMap watch events of one namespace; one JSON line per event:
# t (time.monotonic()), wall (time.time()), type, name, rev (data.rev), rv.
import http.client, json, os, ssl, sys, time, urllib.parse
server, ns, out, ready = sys.argv[1:5]
u = urllib.parse.urlsplit(server)
ctx = ssl.create_default_context(cafile=os.environ["DEVCLUSTER_CA"])
ctx.load_cert_chain(os.environ["DEVCLUSTER_CLIENT_CERT"], os.environ["DEVCLUSTER_CLIENT_KEY"])
def get(path):
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=3700)
    c.request("GET", path)
    r = c.getresponse()
    if r.status != 200:
        sys.exit(f"watch.py: GET {path}: {r.status} {r.read()[:300]!r}")
    return r
base = f"/api/v1/namespaces/{ns}/configmaps"
rv = json.load(get(base))["metadata"]["resourceVersion"]
f = open(out, "a", buffering=1)
while True:
    r = get(f"{base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=false&timeoutSeconds=3600")
    if ready:
        open(ready, "w").write(rv + "\n")
        ready = None
    for line in r:
        t, wall = time.monotonic(), time.time()
        ev = json.loads(line)
        o = ev["object"]
        if ev["type"] == "ERROR":
            sys.exit(f"watch.py: {o}")
        rv = o["metadata"]["resourceVersion"]
        f.write(json.dumps({"t": t, "wall": wall, "type": ev["type"], "name": o["metadata"]["name"],
                            "rev": (o.get("data") or {}).get("rev"), "rv": rv}, separators=(",", ":")) + "\n")
PY

cat >"$T/send.py" <<'PY'
# One signed GitHub push delivery, built by tests/e2e/deliver.py before the
# clock starts; prints {t0, t202 (time.monotonic()), wall0, status, body}.
import argparse, importlib.util, json, sys, time, uuid
deliver_py, url, secret, repo_url, git_dir, before, after = sys.argv[1:8]
spec = importlib.util.spec_from_file_location("deliver", deliver_py)
d = importlib.util.module_from_spec(spec)
spec.loader.exec_module(d)
a = argparse.Namespace(provider="github", url=url, secret=secret, repo_url=repo_url, ref="refs/heads/main",
                       event=None, bad_signature=False, unsigned=False, git_dir=git_dir, pusher="bench",
                       header=[])
raw, headers = d.build(a, before, after, str(uuid.uuid4()))
conn = d.Conn(url, 30)
wall0, t0 = time.time(), time.monotonic()
status, body = conn.post(raw, headers)
t202 = time.monotonic()
conn.close()
print(json.dumps({"t0": t0, "t202": t202, "wall0": wall0, "status": status,
                  "body": body.decode(errors="replace").strip()}))
PY

python3 "$T/watch.py" "$DEVCLUSTER_SERVER" "$NS" "$T/watch.jsonl" "$T/watch.ready" 2>"$T/watch.err" &
PIDS+=($!)
wait_file "$T/watch.ready" 20 || die "the ConfigMap watch did not start: $(cat "$T/watch.err")"

bench_serve_start info "$WS_URL"

# ---------------------------------------------------------------------------
# One push

FAILED=0
fail() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	FAILED=1
}
upload_packs() { grep -c 'POST /org/platform.git/git-upload-pack ' "$T/githttp.log" || true; }

wait_for() { # description seconds command...: poll (20 ms) until the command succeeds
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 50; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	fail "$what: not within $secs s"
	return 1
}
seen_rev() { grep -q "\"name\":\"$1\",\"rev\":\"$2\"" "$T/watch.jsonl"; }
run_done() { grep -qE "run [0-9]+ of $1 at ${2:0:12}: " "$T/serve.log"; }

push_one() { # index (0 = warm-up) -> $T/runs/I/{apps,send.json,after,...}
	local i=$1 d=$T/runs/$1 before after a rev status t0 apps=()
	mkdir -p "$d"
	if ((i == 0)); then apps=("${APPS[@]}"); else apps=("${APPS[(i - 1) % ${#APPS[@]}]}"); fi
	rev=$((100 + i))
	for a in "${apps[@]}"; do cm "$a" "$rev" >"$W/$a/cm.yaml"; done
	before=$(git -C "$W" rev-parse HEAD)
	git -C "$W" commit -qam "$(printf '%s ' "${apps[@]}"): rev $rev"
	after=$(git -C "$W" rev-parse HEAD)
	git -C "$W" push -q origin main 2>"$d/push.err" || die "git push failed: $(cat "$d/push.err")"
	printf '%s\n' "${apps[@]}" >"$d/apps"
	echo "$rev" >"$d/rev"
	echo "$after" >"$d/after"
	upload_packs >"$d/up0"
	wc -l <"$T/githttp.log" >"$d/gitlog0"
	python3 "$T/send.py" "$REPO/tests/e2e/deliver.py" "$WS_URL/api/webhook" "$SECRET" "$URL" "$W" \
		"$before" "$after" >"$d/send.json" 2>"$d/send.err" || {
		fail "run $i: the delivery failed: $(tail -n 3 "$d/send.err")"
		return
	}
	status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$d/send.json")
	if [[ $status != 202 ]]; then
		fail "run $i: the delivery was answered $status: $(cat "$d/send.json")"
		return
	fi
	for a in "${apps[@]}"; do
		wait_for "run $i: ConfigMap $a at rev $rev" "$CMD_TIMEOUT" seen_rev "$a" "$rev" || return 0
	done
	for a in "${apps[@]}"; do
		wait_for "run $i: the run of $a at ${after:0:12} finished" "$CMD_TIMEOUT" run_done "$a" "$after" || return 0
	done
	upload_packs >"$d/up1"
	wc -l <"$T/githttp.log" >"$d/gitlog1"
	# reference, after the run: the git CLI fetching the same push from the same server
	t0=$(date +%s%N)
	git -C "$T/ref.git" fetch -q origin "+refs/heads/*:refs/heads/*" 2>"$d/fetch.err" ||
		die "reference git fetch failed: $(cat "$d/fetch.err")"
	echo "$((($(date +%s%N) - t0) / 1000))" >"$d/gitfetch_us"
	log "run $i$( ((i)) || echo ' (warm-up)'): ${apps[*]} at rev $rev on the cluster, run finished"
}

# ---------------------------------------------------------------------------
# Run

CPU=$(bench_cpu_model)
cat <<EOF
== bench/push.sh: push-to-first-apply latency, $RUNS runs ==
machine:   $(nproc) CPUs, $CPU, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the runs)
server:    kube-apiserver $DEVCLUSTER_K8S_VERSION + etcd, tests/devcluster minimal, $DEVCLUSTER_SERVER
wavesync:  $("$WS" version 2>/dev/null | head -n 1) ($FROM), serve --log-level info on $WS_URL
git:       $(git --version), served by tests/e2e/githttp.py (git http-backend) on $URL,
           $HISTORY commits of history before the first push
runs:      1 warm-up push (all 4 applications), then $RUNS pushes of one ConfigMap change each
EOF

for ((i = 0; i <= RUNS; i++)); do
	push_one "$i"
	((FAILED == 0)) || break
done

python3 - "$T" "$RUNS" <<'PY' || FAILED=1
import json, math, os, re, sys
from datetime import datetime, timezone

T, runs = sys.argv[1], int(sys.argv[2])

def pct(v, p):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]

events = [json.loads(l) for l in open(os.path.join(T, "watch.jsonl"))]
log = []  # (wall seconds, message)
for line in open(os.path.join(T, "serve.log")):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z\s+\S+\s+(.*)", line)
    if m:
        t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
        log.append((t, m.group(2)))
gitlog = open(os.path.join(T, "githttp.log")).read().splitlines()

def log_at(pattern):
    for t, msg in log:
        m = re.search(pattern, msg)
        if m:
            return t, m
    return None, None

bad = 0
cols = {k: [] for k in ("rtt", "routed", "started", "seen", "finished", "git")}
cli_fetch, posts = [], []
print()
print("run   app      202 ms  routed  started  applied (t1-t0)  finished  git server ms  upload-packs")
for i in range(0, runs + 1):
    d = os.path.join(T, "runs", str(i))
    if not os.path.exists(os.path.join(d, "up1")):
        break
    apps = open(os.path.join(d, "apps")).read().split()
    rev = open(os.path.join(d, "rev")).read().strip()
    after = open(os.path.join(d, "after")).read().strip()
    s = json.load(open(os.path.join(d, "send.json")))
    problems = []
    trig = json.loads(s["body"]).get("trigger")
    t_routed, _ = log_at(rf"^trigger {trig} routed: ")
    ups = int(open(os.path.join(d, "up1")).read()) - int(open(os.path.join(d, "up0")).read())
    g0, g1 = int(open(os.path.join(d, "gitlog0")).read()), int(open(os.path.join(d, "gitlog1")).read())
    git_ms = sum(float(m.group(1)) for l in gitlog[g0:g1] for m in [re.search(r" ([\d.]+)ms rc=", l)] if m)
    if ups < 1:
        problems.append("no git-upload-pack request logged by githttp.py: not a real fetch")
    started = [log_at(rf"^run (\d+) of {a} started \(trigger {trig},") for a in apps]
    ran = [m.group(2) for _, m in ((t, re.search(r"^run (\d+) of (\S+) started \(trigger (\d+),", msg))
                                   for t, msg in log) if m and m.group(3) == str(trig)]
    if sorted(ran) != sorted(apps):
        problems.append(f"trigger {trig} ran {ran}, expected {apps}")
    for a, (t_start, m) in zip(apps, started):
        if not m:
            problems.append(f"no 'run ... of {a} started' for trigger {trig}")
            continue
        t_fin, fm = log_at(rf"^run {m.group(1)} of {a} at {after[:12]}: (\S+)")
        ev = [e for e in events if e["name"] == a and e["rev"] == rev]
        if not ev:
            problems.append(f"ConfigMap {a} never seen at rev {rev}")
            continue
        if not fm or fm.group(1).rstrip(":") != "Succeeded":
            problems.append(f"run of {a}: {fm.group(0) if fm else 'no result line'}")
        row = {"rtt": (s["t202"] - s["t0"]) * 1000,
               "routed": (t_routed - s["wall0"]) * 1000 if t_routed else float("nan"),
               "started": (t_start - s["wall0"]) * 1000,
               "seen": (ev[0]["t"] - s["t0"]) * 1000,
               "finished": (t_fin - s["wall0"]) * 1000 if t_fin else float("nan"),
               "git": git_ms}
        tag = "warm-up" if i == 0 else f"r{i}"
        print(f"{tag:<7} {a:<7} {row['rtt']:6.1f} {row['routed']:7.0f} {row['started']:8.0f} {row['seen']:16.1f} "
              f"{row['finished']:9.0f} {row['git']:14.1f} {ups:13d}")
        if i and not problems:
            for k in cols:
                cols[k].append(row[k])
    if i and not problems:
        posts.append(ups)
    if i:
        cli_fetch.append(int(open(os.path.join(d, "gitfetch_us")).read()) / 1000)
    if problems:
        print(f"{'warm-up' if i == 0 else f'r{i}'}  INVALID: " + "; ".join(problems))
        bad += 1

n = len(cols["seen"])
print()
print("(ms from t0, the moment the delivery is sent; 'routed', 'started' and 'finished' are wavesync's log")
print(" lines, wall clock at 1 ms; 'applied' is the watch event, monotonic clock; 'git server ms' is the time")
print(" githttp.py spent answering the requests of that fetch)")
if n:
    print(f"push-to-first-apply (t1 - t0): median {pct(cols['seen'], 50):.1f} ms  p90 {pct(cols['seen'], 90):.1f} ms  "
          f"max {max(cols['seen']):.1f} ms  min {min(cols['seen']):.1f} ms  n={n}")
    print(f"202 answer (delivery round trip at the sender): median {pct(cols['rtt'], 50):.2f} ms  "
          f"p90 {pct(cols['rtt'], 90):.2f} ms  max {max(cols['rtt']):.2f} ms")
    print(f"split, medians: 202 {pct(cols['rtt'], 50):.1f} | routed (fetch + diff) at {pct(cols['routed'], 50):.0f}"
          f" | run started at {pct(cols['started'], 50):.0f} | on the cluster at {pct(cols['seen'], 50):.1f}"
          f" | run finished at {pct(cols['finished'], 50):.0f}; git server time per fetch {pct(cols['git'], 50):.1f}")
    print("git-upload-pack POSTs per fetch: " +
          ", ".join(f"{k} in {posts.count(k)} run(s)" for k in sorted(set(posts))))
    print(f"reference: `git fetch` of the same push from the same server by the git CLI, after each run: "
          f"median {pct(cli_fetch, 50):.1f} ms (process start included)")
    print(f"target median < 250 ms: {'met' if pct(cols['seen'], 50) < 250 else 'NOT met'}")
if bad or n < runs:
    print(f"{bad} run(s) INVALID, {n} of {runs} valid")
    sys.exit(1)
PY

echo "wavesync RSS high-water mark: $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$WS_PID/status" 2>/dev/null || echo '?')"
if grep -qE ' (error|ERROR) ' "$T/serve.log"; then
	log "wavesync logged errors:"
	grep -E ' (error|ERROR) ' "$T/serve.log" | head -n 10 >&2
	FAILED=1
fi
kill -0 "$WS_PID" 2>/dev/null || fail "wavesync serve is no longer running"
echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (after the runs)"
echo "command:   $( ((HISTORY == 100)) || echo "BENCH_HISTORY=$HISTORY ")bench/push.sh $RUNS"
if ((FAILED)); then
	echo "RESULT: FAILED (see the errors above)"
	exit 1
fi
echo "RESULT: ok, every run verified (202, new rev on the cluster, run Succeeded, one application, a fetch over HTTP)"
