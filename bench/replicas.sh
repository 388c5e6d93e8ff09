#!/usr/bin/env bash
# bench/replicas.sh — `wavesync serve` on its default SQLite store (one
# process) beside three replicas sharing a PostgreSQL store (Debian's
# postgresql, started by tests/pgserver, fsync on), in one run, on the same
# cluster, Git server and repository:
#   - deliveries accepted per second: signed GitHub push deliveries from
#     bench/webhook_load (one per replica, in parallel, CONNS connections in
#     all), each answered 202 only once its trigger is committed; the store's
#     trigger rows must equal the 202s (target with PostgreSQL: >= 5,000/s
#     with three replicas);
#   - push to first apply: PUSHES pushes, each changing one application's
#     ConfigMap, delivered in turn to the replicas; t0 just before the
#     delivery is sent, t1 when a watch of the namespace sees the new value
#     (target with PostgreSQL: p50 < 250 ms);
#   - takeover (PostgreSQL): KILLS times, a three-wave application (fakectl
#     makes each wave's Deployment ready 3 s after it is written) is synced,
#     the replica running it is killed (kill -9) after its first wave, and the
#     time from the end of its lease (the store's lease_until, the database's
#     clock) to the next write of that application by another replica is
#     taken (target: lease expiry + < 1 s). store.lease is LEASE (5 s).
#
# Usage: bench/replicas.sh
#
# Environment:
#   WAVESYNC   binary (default: build the tree like scripts/check)
#   COUNT (deliveries, default 20000), CONNS (default 48), PUSHES (default 20),
#   KILLS (default 5), LEASE (seconds, default 5), BENCH_KEEP=1
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh"
bench_help "$@"
COUNT=${COUNT:-20000} CONNS=${CONNS:-48} PUSHES=${PUSHES:-20} KILLS=${KILLS:-5} LEASE=${LEASE:-5}
NS=bench-replicas
APPS=(alpha beta gamma delta)
for t in curl git python3 gcc pkg-config psql; do command -v "$t" >/dev/null || die "$t not found"; done

bench_init wavesync-bench-replicas
bench_wavesync
log "compiling bench/webhook_load.c"
# shellcheck disable=SC2046  # pkg-config prints several words
gcc -O2 -o "$T/bin/webhook_load" "$REPO/bench/webhook_load.c" $(pkg-config --cflags --libs libuv libcrypto) ||
	die "cannot compile bench/webhook_load.c"
bench_on_exit bench_stop_all
bench_cluster_up "$T/cluster"
bench_fakectl

log "PostgreSQL (tests/pgserver)"
"$REPO/tests/pgserver" up --dir "$T/pg" --watch $$ >"$T/pg.log" 2>&1 || die "tests/pgserver up: $(tail -3 "$T/pg.log")"
stop_pg() { "$REPO/tests/pgserver" down --dir "$T/pg" >/dev/null 2>&1 || true; }
bench_on_exit stop_pg
# shellcheck disable=SC1091
. "$T/pg/env"
psqlv() { psql -X -q -A -t -w -v ON_ERROR_STOP=1 -d "$WS_PG_DSN" -c "$1"; }

bench_git_server
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@wavesync.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@wavesync.invalid
W=$T/work
git init -q -b main "$W"
mkdir -p "$W/apps" "$W/slow"
app() {
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: $URL, targetRevision: HEAD, path: $1}
  destination: {name: in-cluster, namespace: $NS}
  syncPolicy: {automated: {prune: true}, syncOptions: [CreateNamespace=true]}
YAML
}
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "%s"\n' "$1" "$2"; }
slow() {
	local w
	for w in 0 1 2; do
		printf -- '---\n'
		cm "slow-$w" "$1" | sed "s/^metadata:/metadata:\n  annotations: {argocd.argoproj.io\/sync-wave: \"$w\"}/"
		cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow-$w
  annotations: {argocd.argoproj.io/sync-wave: "$w", e2e.wavesync.dev/ready-after: 3s}
spec:
  replicas: 1
  selector: {matchLabels: {app: slow-$w}}
  template:
    metadata: {labels: {app: slow-$w}, annotations: {rev: "$1"}}
    spec: {containers: [{name: main, image: registry.local/slow:1}]}
YAML
	done
}
for a in "${APPS[@]}"; do
	mkdir -p "$W/$a"
	app "$a" >"$W/apps/$a.yaml"
	cm "$a" 0 >"$W/$a/cm.yaml"
done
app slow >"$W/apps/slow.yaml"
slow 0 >"$W/slow/all.yaml"
git -C "$W" add -A && git -C "$W" commit -q -m "five applications"
# a history, as a real repository has (libgit2's fetch negotiates in batches of 20)
for k in $(seq 1 30); do git -C "$W" commit -q --allow-empty -m "history $k"; done
cm alpha 1 >"$W/alpha/cm.yaml"
git -C "$W" commit -qam "alpha: rev 1"
git clone -q --bare "$W" "$T/srv/org/platform.git"
git -C "$T/srv/org/platform.git" config http.receivepack true
git -C "$W" remote add origin "$URL"
BEFORE=$(git -C "$W" rev-parse HEAD~1)
AFTER=$(git -C "$W" rev-parse HEAD)
SECRET=bench-$RANDOM$RANDOM

# config MODE I -> $T/ws-MODE-I.yaml; start MODE N: N replicas
RPIDS=()
PORTS=()
config() {
	local mode=$1 i=$2
	mkdir -p "$T/state-$mode-$i"
	cat >"$T/ws-$mode-$i.yaml" <<YAML
repositories:
  - {name: platform, url: $URL, webhook: {secret: "$SECRET"}}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
applications:
  - {repository: platform, path: apps}
settings: {waveTimeout: 60s, stateDir: $T/state-$mode-$i, concurrency: 4, pollInterval: 0}
server:
  listen: 127.0.0.1:${PORTS[$i]}
  rateLimit: {perSecond: 1000000, burst: 1000000}
  shutdownGrace: 2s
YAML
	if [[ $mode == postgres ]]; then
		printf 'store: {postgres: "%s", replica: r%d, lease: %ds}\n' "$WS_PG_DSN" "$i" "$LEASE" >>"$T/ws-$mode-$i.yaml"
	fi
}
start_one() { # mode i
	"$WS" --config "$T/ws-$1-$2.yaml" --log-level warn serve >>"$T/serve-$1-$2.log" 2>&1 &
	RPIDS[$2]=$!
	for _ in $(seq 200); do
		curl -sf "http://127.0.0.1:${PORTS[$2]}/readyz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "replica $2 ($1) did not start: $(tail -3 "$T/serve-$1-$2.log")"
}
start() { # mode n
	local i
	RPIDS=()
	PORTS=()
	for ((i = 0; i < $2; i++)); do PORTS[$i]=$(free_port); done
	for ((i = 0; i < $2; i++)); do
		config "$1" "$i"
		start_one "$1" "$i"
	done
}
stop_all() {
	local p
	for p in "${RPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${RPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	RPIDS=()
}
bench_on_exit stop_all
triggers() { # mode -> rows in the triggers table
	if [[ $1 == postgres ]]; then psqlv "SELECT count(*) FROM triggers"; else
		python3 -c 'import sqlite3, sys
print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("SELECT count(*) FROM triggers").fetchone()[0])' \
			"$T/state-sqlite-0/wavesync.db"
	fi
}
quiet() { # mode: nothing received, pending or running (5 min)
	local q
	for _ in $(seq 3000); do
		if [[ $1 == postgres ]]; then
			q=$(psqlv "SELECT (SELECT count(*) FROM pending) + (SELECT count(*) FROM runs WHERE state = 'running')
				+ (SELECT count(*) FROM triggers WHERE state = 'received')")
		else
			q=$(python3 -c 'import sqlite3, sys
d = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(sum(d.execute(q).fetchone()[0] for q in ("SELECT count(*) FROM pending",
    "SELECT count(*) FROM runs WHERE state = '"'running'"'", "SELECT count(*) FROM triggers WHERE state = '"'received'"'")))' \
				"$T/state-sqlite-0/wavesync.db")
		fi
		[[ $q == 0 ]] && return 0
		sleep 0.1
	done
	return 1
}

# deliveries/s: one load generator per replica, together
deliveries() { # mode n -> "rate 202s rows"
	local mode=$1 n=$2 i per=$((COUNT / $2)) conns=$((CONNS / $2)) rows0 t0 t1 ok=0 lp=()
	rows0=$(triggers "$mode")
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		"$T/bin/webhook_load" --url "http://127.0.0.1:${PORTS[$i]}/api/webhook/github" --secret "$SECRET" \
			--repo-url "$URL" --ref refs/heads/main --before "$BEFORE" --after "$AFTER" --count "$per" \
			--connections "$conns" >"$T/load-$mode-$i.out" 2>&1 &
		lp+=($!)
	done
	for p in "${lp[@]}"; do wait "$p" || true; done
	t1=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		ok=$((ok + $(awk '/^status 202/ { print $3; f = 1; exit } END { if (!f) print 0 }' "$T/load-$mode-$i.out")))
	done
	quiet "$mode" || log "$mode: routing the deliveries did not finish"
	# the loaders' own rates (each from its first request to its last answer), summed
	echo "$(awk '/^rate / { s += $2 } END { print s + 0 }' "$T"/load-"$mode"-*.out) $ok $(($(triggers "$mode") - rows0)) $(((t1 - t0) / 1000000))"
}

# push to first apply: python does the pushes, the deliveries and the watch
first_apply() { # mode n -> medians and all
	python3 - "$W" "$URL" "$SECRET" "$NS" "$PUSHES" "$REPO" "$DEVCLUSTER_SERVER" "$DEVCLUSTER_CA" \
		"$DEVCLUSTER_CLIENT_CERT" "$DEVCLUSTER_CLIENT_KEY" "${PORTS[@]}" <<'PY'
import http.client, json, ssl, subprocess, sys, threading, time, urllib.parse
work, url, secret, ns, pushes, repo, server, ca, cert, key = sys.argv[1:11]
ports = sys.argv[11:]
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
seen = {}
cond = threading.Condition()
def watch():
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    c.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1")
    for line in c.getresponse():
        ev = json.loads(line)
        o = ev["object"]
        with cond:
            seen[(o["metadata"]["name"], (o.get("data") or {}).get("rev"))] = time.monotonic()
            cond.notify_all()
threading.Thread(target=watch, daemon=True).start()
time.sleep(0.5)
apps = ["alpha", "beta", "gamma", "delta"]
git = lambda *a: subprocess.run(["git", "-C", work, *a], check=True, capture_output=True, text=True).stdout.strip()
lat = []
for k in range(int(pushes)):
    app = apps[k % 4]
    rev = f"p{k}-{int(time.time())}"
    with open(f"{work}/{app}/cm.yaml", "w") as f:
        f.write(f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\ndata:\n  rev: "{rev}"\n')
    before = git("rev-parse", "HEAD")
    git("commit", "-qam", f"{app}: {rev}")
    after = git("rev-parse", "HEAD")
    git("push", "-q", "origin", "main")
    port = ports[k % len(ports)]
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, f"{repo}/tests/e2e/deliver.py", "github", "--url",
                          f"http://127.0.0.1:{port}/api/webhook", "--secret", secret, "--repo-url", url,
                          "--ref", "refs/heads/main", "--before", before, "--after", after, "--git-dir", work],
                         capture_output=True, text=True).stdout
    if not out.startswith("202"):
        print(f"delivery {k}: {out.strip()}", file=sys.stderr)
        continue
    with cond:
        cond.wait_for(lambda: (app, rev) in seen, timeout=30)
        if (app, rev) in seen:
            lat.append((seen[(app, rev)] - t0) * 1000)
    time.sleep(0.3)  # the run ends before the next push
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else -1
print(f"{p(0.5):.0f} {p(0.9):.0f} {max(lat) if lat else -1:.0f} {len(lat)}")
PY
}

# takeover: kill -9 the replica running the slow application after its first wave
takeover() { # -> $T/takeover.ms: a line each, ms from the lease's end to the next write
	local k holder hi lease_end first pid rev
	python3 - "$DEVCLUSTER_SERVER" "$DEVCLUSTER_CA" "$DEVCLUSTER_CLIENT_CERT" "$DEVCLUSTER_CLIENT_KEY" "$NS" \
		>"$T/watch.jsonl" 2>/dev/null <<'PY' &
import http.client, json, ssl, sys, time, urllib.parse
server, ca, cert, key, ns = sys.argv[1:]
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
c.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1")
for line in c.getresponse():
    o = json.loads(line)["object"]
    print(json.dumps({"t": int(time.time() * 1000), "name": o["metadata"]["name"],
                      "rev": (o.get("data") or {}).get("rev")}), flush=True)
PY
	pid=$!
	sleep 0.5
	for ((k = 1; k <= KILLS; k++)); do
		rev=t$k
		slow "$rev" >"$W/slow/all.yaml"
		local b a
		b=$(git -C "$W" rev-parse HEAD)
		git -C "$W" commit -qam "slow: $rev"
		a=$(git -C "$W" rev-parse HEAD)
		git -C "$W" push -q origin main
		python3 "$REPO/tests/e2e/deliver.py" github --url "http://127.0.0.1:${PORTS[$((k % 3))]}/api/webhook" \
			--secret "$SECRET" --repo-url "$URL" --ref refs/heads/main --before "$b" --after "$a" >/dev/null
		holder=
		for _ in $(seq 400); do
			holder=$(psqlv "SELECT r.name FROM runs u JOIN replicas r ON r.id = u.owner WHERE u.app = 'slow' AND u.state = 'running'")
			[[ -n $holder ]] && grep -q "\"slow-0\", \"rev\": \"$rev\"" "$T/watch.jsonl" && break
			sleep 0.05
		done
		[[ -n $holder ]] || die "takeover $k: no run of slow under way"
		hi=${holder#r}
		kill -9 "${RPIDS[$hi]}"
		wait "${RPIDS[$hi]}" 2>/dev/null || true
		lease_end=$(psqlv "SELECT lease_until FROM replicas WHERE name = '$holder'")
		for _ in $(seq 600); do grep -q "\"slow-2\", \"rev\": \"$rev\"" "$T/watch.jsonl" && break; sleep 0.05; done
		first=$(python3 -c 'import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1]) if l.strip() and json.loads(l)["name"].startswith("slow-")
     and json.loads(l)["rev"] == sys.argv[2] and json.loads(l)["t"] > int(sys.argv[3])]
print(min(t) if t else -1)' "$T/watch.jsonl" "$rev" "$lease_end")
		echo $((first - lease_end)) >>"$T/takeover.ms"
		start_one postgres "$hi"
		quiet postgres || true
	done
	kill "$pid" 2>/dev/null || true
}

CPU=$(bench_cpu_model)
measure() { # mode n label -> $T/figures-MODE: "rate ok rows ms p50 p90 max n"; the replicas keep running
	start "$1" "$2"
	quiet "$1" || true
	echo "$(deliveries "$1" "$2") $(first_apply)" >"$T/figures-$1"
	log "$3: $(cat "$T/figures-$1") (deliveries/s, 202s, rows, ms; push to first apply p50, p90, max, runs)"
}
log "SQLite: one wavesync serve"
measure sqlite 1 SQLite
read -r L_RATE L_OK L_ROWS L_MS L_P50 L_P90 L_MAX L_N <"$T/figures-sqlite"
stop_all
log "PostgreSQL: three replicas"
measure postgres 3 PostgreSQL
read -r P_RATE P_OK P_ROWS P_MS P_P50 P_P90 P_MAX P_N <"$T/figures-postgres"
log "takeover after kill -9, $KILLS times"
: >"$T/takeover.ms"
takeover
mapfile -t TK <"$T/takeover.ms"
stop_all

TKS=$(printf '%s\n' "${TK[@]}" | sort -n | tr '\n' ' ')
TK_MED=$(printf '%s\n' "${TK[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
cat <<EOF
wavesync replicas — $FROM; $CPU; $(nproc) CPUs; PostgreSQL $(psqlv "SHOW server_version") (fsync $(psqlv "SHOW fsync"), synchronous_commit $(psqlv "SHOW synchronous_commit"))
                              SQLite, 1 process         PostgreSQL, 3 replicas
deliveries accepted /s        $(printf '%-25s %s' "${L_RATE%.*} ($L_OK x 202, $L_ROWS rows)" "${P_RATE%.*} ($P_OK x 202, $P_ROWS rows)")
  (wall clock, all loaders)   $(printf '%-25s %s' "$((L_OK * 1000 / (L_MS > 0 ? L_MS : 1)))/s in $L_MS ms" "$((P_OK * 1000 / (P_MS > 0 ? P_MS : 1)))/s in $P_MS ms")
push -> first apply           $(printf '%-25s %s' "p50 $L_P50 ms, p90 $L_P90, max $L_MAX ($L_N)" "p50 $P_P50 ms, p90 $P_P90, max $P_MAX ($P_N)")
takeover after kill -9        $(printf '%-25s %s' "-" "lease ${LEASE} s + median $TK_MED ms to the next write (all: $TKS)")
EOF
