#!/usr/bin/env bash
# replicas.sh — three `wavesync serve` replicas sharing a real PostgreSQL
# store (tests/pgserver), with a real control plane (fakectl playing the
# controllers), a Git repository over smart HTTP and webhook deliveries
# signed as GitHub signs them:
#   - `wavesync store migrate` brings the schema once; every replica is ready;
#   - pushes delivered round-robin to the three: each changed application is
#     synced once, at its commit, and the others are left alone; a delivery
#     sent to all three is stored once;
#   - kill -9 of the replica running a multi-wave sync: another one runs it
#     after the lease runs out, and no object of it is written while the dead
#     one's lease could still hold (a watch of the namespace, timed);
#   - a replica frozen (SIGSTOP: cut off) while it runs a sync: another takes
#     it over, and the frozen one, thawed, stops that sync and registers again
#     under a new id;
#   - 50 pushes for one application spread over the replicas end at the
#     newest commit in a few runs;
#   - live state: each of two clusters is followed by one replica, every
#     replica's API shows the same status (and objects) for every
#     application; drift is reverted once (selfHeal, by the follower); when
#     the follower is killed, another takes the cluster over and heals it;
#   - PostgreSQL restarted during a burst of deliveries: those that came
#     meanwhile got 503, and every one answered 202 was routed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
start_fakectl
py=${PYTHON:-python3}
PGSERVER=$WS_SRCDIR/tests/pgserver
ns=e2e-replicas
srv=$E2E_DIR/srv
work=$E2E_DIR/work
mkdir -p "$srv"
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@wavesync.invalid
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@wavesync.invalid
rpids=(0 0 0)
all_down() {
	for p in "${rpids[@]}"; do [ "$p" != 0 ] && kill -CONT "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
	"$PGSERVER" down --dir "$E2E_DIR/pg" >/dev/null 2>&1
	services_down
}
trap all_down EXIT

if ! "$PGSERVER" up --dir "$E2E_DIR/pg" --watch $$ >"$E2E_DIR/pg.up.log" 2>&1; then
	echo "Bail out! tests/pgserver up failed:"
	sed 's/^/# /' "$E2E_DIR/pg.up.log" | tail -n 30
	exit 1
fi
. "$E2E_DIR/pg/env"
psqlv() { psql -X -q -A -t -w -v ON_ERROR_STOP=1 -d "$WS_PG_DSN" -c "$1" 2>>"$E2E_DIR/psql.err"; }

"$py" "$WS_SRCDIR/tests/e2e/githttp.py" --root "$srv" --port-file "$E2E_DIR/git.port" \
	--log "$E2E_DIR/githttp.log" 2>"$E2E_DIR/githttp.err" &
pids+=($!)
wait_file "$E2E_DIR/git.port" || {
	echo "Bail out! githttp.py did not start"
	exit 1
}
url="http://127.0.0.1:$(cat "$E2E_DIR/git.port")/org/ml.git"

# --- the repository: six small applications and a slow one of three waves ----------
app() { # name
	cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: $1, namespace: argocd}
spec:
  source: {repoURL: $url, targetRevision: HEAD, path: $1}
  destination: {name: ${2:-in-cluster}, namespace: $ns}
  syncPolicy:
    automated: {prune: true${3:+, selfHeal: true}}
    syncOptions: [CreateNamespace=true]
YAML
}
cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  rev: "%s"\n' "$1" "$2"; }
slow() { # rev: three waves, each a ConfigMap and a Deployment ready 2 s after it is written
	local w
	for w in 0 1 2; do
		cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: slow-$w
  annotations: {argocd.argoproj.io/sync-wave: "$w"}
data: {rev: "$1"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow-$w
  annotations: {argocd.argoproj.io/sync-wave: "$w", e2e.wavesync.dev/ready-after: 2s}
spec:
  replicas: 1
  selector: {matchLabels: {app: slow-$w}}
  template:
    metadata: {labels: {app: slow-$w}, annotations: {rev: "$1"}}
    spec: {containers: [{name: main, image: registry.local/slow:1}]}
---
YAML
	done
}
git init -q -b main "$work"
mkdir -p "$work/apps" "$work/slow"
for a in r1 r2 r3 r4 r5 r6; do
	mkdir -p "$work/$a"
	app "$a" >"$work/apps/$a.yaml"
	cm "$a" 0 >"$work/$a/cm.yaml"
done
# r5 takes a second to sync (a Deployment ready after 1 s): pushes arrive faster
cat >>"$work/r5/cm.yaml" <<'YAML'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: r5
  annotations: {e2e.wavesync.dev/ready-after: 1s}
spec:
  replicas: 1
  selector: {matchLabels: {app: r5}}
  template:
    metadata: {labels: {app: r5}}
    spec: {containers: [{name: main, image: registry.local/r5:1}]}
YAML
app slow >"$work/apps/slow.yaml"
# h1 and h2 heal drift, on two clusters (two names for the one control plane)
for a in h1 h2; do
	mkdir -p "$work/$a"
	cm "$a" 0 >"$work/$a/cm.yaml"
done
app h1 in-cluster heal >"$work/apps/h1.yaml"
app h2 edge heal >"$work/apps/h2.yaml"
slow 0 >"$work/slow/all.yaml"
git -C "$work" add -A && git -C "$work" commit -q -m "nine applications"
mkdir -p "$srv/org"
git clone -q --bare "$work" "$srv/org/ml.git"
git -C "$srv/org/ml.git" config http.receivepack true
git -C "$work" remote add origin "$url"

LEASE=6
# a second cluster: the same control plane under another address
sed 's#https://127\.0\.0\.1:#https://localhost:#' "$DEVCLUSTER_KUBECONFIG" >"$E2E_DIR/edge.kubeconfig"
secret=hook-$RANDOM$RANDOM
token=api-$RANDOM$RANDOM
ports=("$(free_port)" "$(free_port)" "$(free_port)")
names=(alpha beta gamma)
# gamma reaches the database by name (its LISTEN connection resolves it off the loop)
dsns=("$WS_PG_DSN" "$WS_PG_DSN" "${WS_PG_DSN/host=127.0.0.1/host=localhost}")
for i in 0 1 2; do
	mkdir -p "$E2E_DIR/state-$i"
	cat >"$E2E_DIR/ws-$i.yaml" <<YAML
repositories:
  - {name: ml, url: $url, webhook: {secret: "$secret"}}
clusters:
  - {name: in-cluster, kubeconfig: $DEVCLUSTER_KUBECONFIG}
  - {name: edge, kubeconfig: $E2E_DIR/edge.kubeconfig}
applications:
  - {repository: ml, path: apps}
settings: {waveTimeout: 60s, stateDir: $E2E_DIR/state-$i, concurrency: 4, pollInterval: 0}
server:
  listen: 127.0.0.1:${ports[$i]}
  apiToken: "$token"
  rateLimit: {perSecond: 100000, burst: 100000}
  shutdownGrace: 2s
store:
  postgres: "${dsns[$i]}"
  replica: ${names[$i]}
  lease: ${LEASE}s
YAML
done
start_replica() { # i
	"$WS_BUILDDIR/wavesync" --config "$E2E_DIR/ws-$1.yaml" serve >>"$E2E_DIR/serve-$1.out" 2>>"$E2E_DIR/serve-$1.err" &
	rpids[$1]=$!
	for _ in $(seq 150); do
		curl -sf "http://127.0.0.1:${ports[$1]}/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
push() { # message: commit and push; sets before/after
	before=$(git -C "$work" rev-parse HEAD)
	git -C "$work" add -A && git -C "$work" commit -q --allow-empty -m "$1"
	after=$(git -C "$work" rev-parse HEAD)
	git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
}
deliver_to() { # i [deliver.py args]: this push to replica i; sets code, body
	local i=$1 out
	shift
	out=$("$py" "$WS_SRCDIR/tests/e2e/deliver.py" github --url "http://127.0.0.1:${ports[$i]}/api/webhook" \
		--secret "$secret" --repo-url "$url" --ref refs/heads/main --before "$before" --after "$after" "$@")
	code=${out%% *}
	body=${out#* }
}
kapi() {
	curl -sf --cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER$1"
}
rev_of() { # configmap -> data.rev or none
	kapi "/api/v1/namespaces/$ns/configmaps/$1" |
		"$py" -c 'import json,sys; print(json.load(sys.stdin)["data"]["rev"])' 2>/dev/null || echo none
}
wait_rev() { # configmap rev [seconds]
	for _ in $(seq $((${3:-40} * 10))); do
		[ "$(rev_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
runs_db() { psqlv "SELECT count(*) FROM runs WHERE app = '$1' AND dry_run = 0"; }
quiet() { # no run pending or running anywhere (60 s)
	for _ in $(seq 600); do
		[ "$(psqlv "SELECT (SELECT count(*) FROM pending) + (SELECT count(*) FROM runs WHERE state = 'running')
			+ (SELECT count(*) FROM triggers WHERE state = 'received')")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# --- the schema, once; three replicas ------------------------------------------------
"$WS_BUILDDIR/wavesync" --config "$E2E_DIR/ws-0.yaml" store migrate >"$E2E_DIR/migrate.out" 2>&1
grep -q "migrated from schema version 0 to 2" "$E2E_DIR/migrate.out"
ok $? "store migrate: the new database gets the schema ($(cat "$E2E_DIR/migrate.out"))"
"$WS_BUILDDIR/wavesync" --config "$E2E_DIR/ws-1.yaml" store migrate >"$E2E_DIR/migrate2.out" 2>&1
grep -q "nothing to do" "$E2E_DIR/migrate2.out"
ok $? "store migrate again: nothing to do"
start_replica 0 && start_replica 1 && start_replica 2
ok $? "three replicas are ready"
[ "$(psqlv "SELECT string_agg(name, ',' ORDER BY name) FROM replicas")" = alpha,beta,gamma ]
ok $? "each one registered in the store ($(psqlv "SELECT string_agg(name || ':' || id, ',') FROM replicas"))"
grep -q "replica alpha (.*) of a shared store" "$E2E_DIR/serve-0.err"
ok $? "and says so in its log"
for _ in $(seq 50); do
	curl -s "http://127.0.0.1:${ports[1]}/metrics" >"$E2E_DIR/metrics.txt"
	grep -qx "wavesync_replicas 3" "$E2E_DIR/metrics.txt" && break
	sleep 0.2
done
grep -qx "wavesync_replicas 3" "$E2E_DIR/metrics.txt"
ok $? "its metrics count three replicas (wavesync_replicas)"
for _ in $(seq 50); do
	[ "$(psqlv "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN wavesync'")" = 3 ] && break
	sleep 0.1
done
[ "$(psqlv "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN wavesync'")" = 3 ]
ok $? "each one listens for the others' news, gamma by the database's host name"
sleep 1.5
polling=0
for i in 0 1 2; do grep "polls [0-9]* of 1 repository" "$E2E_DIR/serve-$i.err" | tail -n 1 | grep -q "polls 1 of 1 repository: ml" && polling=$((polling + 1)); done
[ "$(psqlv "SELECT count(*) FROM leases WHERE name = 'repo:ml'")" = 1 ] && [ $polling = 1 ]
ok $? "one replica holds the repository's poll ($(psqlv "SELECT r.name FROM leases l JOIN replicas r ON r.id = l.owner"))"

# the first state: everything synced once (a manual sync of each, asked at any replica)
for a in r1 r2 r3 r4 r5 r6 slow h1 h2; do
	i=$((RANDOM % 3))
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:${ports[$i]}/api/v1/applications/$a/sync"
done
quiet && wait_rev r6 0 && wait_rev slow-2 0 && wait_rev h1 0 && wait_rev h2 0
ok $? "a first sync of every application, asked of any replica, ran"

# --- pushes round-robin -------------------------------------------------------------------
declare -A rv0
for a in r1 r2 r3 r4 r5 r6; do rv0[$a]=$(kapi "/api/v1/namespaces/$ns/configmaps/$a" | jget 'd["metadata"]["resourceVersion"]'); done
n=0
for a in r1 r2 r3; do
	cm "$a" 1 >"$work/$a/cm.yaml"
	push "$a: rev 1"
	deliver_to $((n % 3))
	n=$((n + 1))
	[ "$code" = 202 ] || diag "delivery of $a to replica $((n % 3)): $code $body"
done
quiet && wait_rev r1 1 && wait_rev r2 1 && wait_rev r3 1
ok $? "three pushes delivered to three replicas: r1, r2 and r3 synced at their commits"
[ "$(runs_db r1)" = 2 ] && [ "$(runs_db r2)" = 2 ] && [ "$(runs_db r3)" = 2 ]
ok $? "each one run once for its push (runs: r1 $(runs_db r1), r2 $(runs_db r2), r3 $(runs_db r3); one was the first sync)"
same=1
for a in r4 r5 r6; do
	[ "$(kapi "/api/v1/namespaces/$ns/configmaps/$a" | jget 'd["metadata"]["resourceVersion"]')" = "${rv0[$a]}" ] || same=0
	[ "$(runs_db $a)" = 1 ] || same=0
done
[ $same = 1 ]
ok $? "r4, r5 and r6 were not touched (same resourceVersion, no run)"
[ "$(psqlv "SELECT count(DISTINCT owner) FROM triggers WHERE source = 'webhook'")" = 3 ]
ok $? "the three deliveries were taken by three replicas"

cm r4 1 >"$work/r4/cm.yaml"
push "r4: rev 1"
id=gh-same-$RANDOM
deliver_to 0 --delivery "$id"
c0=$code
deliver_to 1 --delivery "$id"
c1=$code
deliver_to 2 --delivery "$id"
c2=$code
quiet && wait_rev r4 1
[ "$c0" = 202 ] && [ "$c1" = 200 ] && [ "$c2" = 200 ] &&
	[ "$(psqlv "SELECT count(*) FROM triggers WHERE after = '$after'")" = 1 ] && [ "$(runs_db r4)" = 2 ]
ok $? "one delivery sent to all three replicas: stored once (answers $c0, $c1, $c2), one run"

# --- kill -9 of the replica running a multi-wave sync --------------------------------------
# a watch of the namespace, each event with the time it arrived (ms)
"$py" - "$DEVCLUSTER_SERVER" "$DEVCLUSTER_CA" "$DEVCLUSTER_CLIENT_CERT" "$DEVCLUSTER_CLIENT_KEY" "$ns" \
	>"$E2E_DIR/watch.jsonl" 2>"$E2E_DIR/watch.err" <<'PY' &
import http.client, json, ssl, sys, time, urllib.parse
server, ca, cert, key, ns = sys.argv[1:]
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
import threading
lock = threading.Lock()
def watch(path):
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    c.request("GET", path + "?watch=1&allowWatchBookmarks=false")
    r = c.getresponse()
    for line in r:
        ev = json.loads(line)
        o = ev["object"]
        line = json.dumps({"t": int(time.time() * 1000), "type": ev["type"], "kind": o.get("kind"),
                           "name": o["metadata"]["name"], "rv": o["metadata"]["resourceVersion"],
                           "gen": o["metadata"].get("generation")})
        with lock:
            print(line, flush=True)
ts = [threading.Thread(target=watch, args=(p,), daemon=True) for p in
      (f"/api/v1/namespaces/{ns}/configmaps", f"/apis/apps/v1/namespaces/{ns}/deployments")]
for t in ts: t.start()
for t in ts: t.join()
PY
pids+=($!)
sleep 1
slow 1 >"$work/slow/all.yaml"
push "slow: rev 1"
deliver_to 1
holder=
for _ in $(seq 200); do
	holder=$(psqlv "SELECT r.name FROM runs u JOIN replicas r ON r.id = u.owner WHERE u.app = 'slow' AND u.state = 'running'")
	[ -n "$holder" ] && [ "$(rev_of slow-0)" = 1 ] && break
	sleep 0.05
done
hi=-1
for i in 0 1 2; do [ "${names[$i]}" = "$holder" ] && hi=$i; done
[ $hi -ge 0 ]
ok $? "the slow application's run is under way at replica $holder (wave 0 applied)"
run_killed=$(psqlv "SELECT id FROM runs WHERE app = 'slow' AND state = 'running'")
t_kill=$("$py" -c 'import time; print(int(time.time() * 1000))')
kill -9 "${rpids[$hi]}" 2>/dev/null
wait "${rpids[$hi]}" 2>/dev/null
rpids[$hi]=0
# where its lease ends (the database's clock, this host's): renewed no more
lease_end=$(psqlv "SELECT lease_until FROM replicas WHERE name = '$holder'")
wait_rev slow-2 1 30
ok $? "after kill -9 of $holder, another replica finished the sync (slow-2 at rev 1)"
quiet
new_holder=$(psqlv "SELECT r.name FROM runs u JOIN replicas r ON r.id = u.owner WHERE u.app = 'slow' AND u.state = 'Succeeded' ORDER BY u.id DESC LIMIT 1")
[ "$(psqlv "SELECT state FROM runs WHERE id = $run_killed")" = Interrupted ] && [ -n "$new_holder" ] && [ "$new_holder" != "$holder" ]
ok $? "the killed run is Interrupted ($(psqlv "SELECT message FROM runs WHERE id = $run_killed")); $new_holder ran it again"
# nothing of the application is written until the dead one's lease has run
# out (it wrote nothing more; the next one waited for the lease), and then at once
first_after=$("$py" - "$E2E_DIR/watch.jsonl" "$t_kill" <<'PY'
import json, sys
t_kill = int(sys.argv[2])
# wavesync's writes: a ConfigMap written, a Deployment created or its spec
# changed (a new generation); fakectl's status writes are not
gen, after = {}, []
for l in open(sys.argv[1]):
    if not l.strip():
        continue
    e = json.loads(l)
    if not e["name"].startswith("slow-") or e["type"] == "DELETED":
        continue
    key = (e["kind"], e["name"])
    ours = e["kind"] == "ConfigMap" or e["type"] == "ADDED" or gen.get(key) != e["gen"]
    gen[key] = e["gen"]
    if ours and e["t"] > t_kill + 50:
        after.append(e["t"])
print(min(after) if after else 0)
PY
)
[ -n "$lease_end" ] && [ "$first_after" -ge $((lease_end - 20)) ]
ok $? "no object of slow written while the dead replica's lease held (first write $((first_after - lease_end)) ms after it ran out, $((first_after - t_kill)) ms after the kill)"
[ -n "$lease_end" ] && [ $((first_after - lease_end)) -le 1500 ]
ok $? "taken over within 1.5 s of the lease's end ($((first_after - lease_end)) ms to the first write)"
start_replica "$hi"
ok $? "$holder starts again as a new replica"

# --- a frozen replica is fenced -----------------------------------------------------------
slow 2 >"$work/slow/all.yaml"
push "slow: rev 2"
deliver_to 2
holder=
for _ in $(seq 200); do
	holder=$(psqlv "SELECT r.name FROM runs u JOIN replicas r ON r.id = u.owner WHERE u.app = 'slow' AND u.state = 'running'")
	[ -n "$holder" ] && [ "$(rev_of slow-0)" = 2 ] && break
	sleep 0.05
done
for i in 0 1 2; do [ "${names[$i]}" = "$holder" ] && hi=$i; done
frozen_run=$(psqlv "SELECT id FROM runs WHERE app = 'slow' AND state = 'running'")
kill -STOP "${rpids[$hi]}"
t_stop=$("$py" -c 'import time; print(int(time.time() * 1000))')
wait_rev slow-2 2 30
ok $? "replica $holder frozen mid-sync (SIGSTOP: cut off): another one finished it"
quiet
sleep 1
kill -CONT "${rpids[$hi]}"
for _ in $(seq 100); do grep -q "registered again as replica" "$E2E_DIR/serve-$hi.err" && break; sleep 0.1; done
grep -q "lease had run out" "$E2E_DIR/serve-$hi.err" && grep -q "registered again as replica" "$E2E_DIR/serve-$hi.err" &&
	kill -0 "${rpids[$hi]}"
ok $? "thawed, $holder heard its lease had run out and registered again under a new id"
grep -q "stopped before wave\|may not write any more" "$E2E_DIR/serve-$hi.err"
ok $? "it stopped its sync rather than go on writing"
[ "$(psqlv "SELECT state FROM runs WHERE id = $frozen_run")" = Interrupted ] &&
	[ "$(psqlv "SELECT count(*) FROM runs WHERE app = 'slow' AND id > $frozen_run AND state = 'Succeeded'")" = 1 ]
ok $? "its run is Interrupted and the newer one, elsewhere, Succeeded"
curl -sf "http://127.0.0.1:${ports[$hi]}/readyz" >/dev/null && [ "$(psqlv "SELECT count(*) FROM replicas")" = 3 ]
ok $? "$holder serves on; three replicas are registered"

# --- 50 pushes for one application, round-robin ----------------------------------------------
# fifty commits, pushed, then their fifty deliveries at once: a third to each replica
runs_before=$(runs_db r5)
deploy=$(sed -n '/^---$/,$p' "$work/r5/cm.yaml")
: >"$E2E_DIR/burst.ranges"
for k in $(seq 1 50); do
	{ cm r5 "b$k"; printf '%s\n' "$deploy"; } >"$work/r5/cm.yaml"
	b=$(git -C "$work" rev-parse HEAD)
	git -C "$work" add -A && git -C "$work" commit -q -m "r5: b$k"
	echo "$((k % 3)) $b $(git -C "$work" rev-parse HEAD)" >>"$E2E_DIR/burst.ranges"
done
git -C "$work" push -q origin main 2>>"$E2E_DIR/push.err"
for i in 0 1 2; do
	(while read -r r b a; do
		[ "$r" = "$i" ] || continue
		before=$b after=$a deliver_to "$i"
		echo "$code"
	done <"$E2E_DIR/burst.ranges" >"$E2E_DIR/burst.codes.$i") &
done
wait_bursts() { local p; for p in $(jobs -p); do [ "$p" = "${pids[0]:-}" ] || wait "$p" 2>/dev/null; done; }
for _ in $(seq 600); do [ "$(cat "$E2E_DIR"/burst.codes.* 2>/dev/null | wc -l)" -ge 50 ] && break; sleep 0.1; done
quiet && wait_rev r5 b50
ok $? "50 pushes of r5 delivered at once to the three replicas: it ends at the newest commit"
nr=$(($(runs_db r5) - runs_before))
[ "$(cat "$E2E_DIR"/burst.codes.* | sort -u)" = 202 ] && [ "$nr" -ge 1 ] && [ "$nr" -le 10 ]
ok $? "every delivery accepted ($(cat "$E2E_DIR"/burst.codes.* | sort | uniq -c | tr -s ' ' | tr '\n' ';')), coalesced into $nr runs"
[ "$(psqlv "SELECT count(*) FROM runs WHERE app = 'r5' AND state <> 'Succeeded'")" = 0 ]
ok $? "none of them failed or was interrupted"

# --- live state: one replica per cluster, one view everywhere, selfHeal ---------------------------
metric_of() { # i key: the value of a metric line at replica i
	curl -s "http://127.0.0.1:${ports[$1]}/metrics" | awk -v k="$2" '$1 == k {print $2}'
}
follower() { # cluster: the replica following it, or -1 (none, or more than one)
	local i f=-1 n=0
	for i in 0 1 2; do
		[ "${rpids[$i]}" != 0 ] || continue
		[ "$(metric_of "$i" "wavesync_live_clusters{cluster=\"$1\"}")" = 1 ] && f=$i && n=$((n + 1))
	done
	[ $n = 1 ] && echo "$f" || echo -1
}
view_of() { # i app: what replica i's API says of the application
	curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:${ports[$1]}/api/v1/applications/$2" |
		jget 'd["syncStatus"] + "/" + d["health"]["status"] + "/" + str(d["comparedTo"]["revision"])[:7] + "/" + ",".join(r["kind"] + ":" + r["name"] + ":" + r["status"] for r in d["resources"]) + "/heals=" + str(d.get("selfHealing", {}).get("total", 0))'
}
agree() { # app want-prefix [seconds]: every live replica's view of app is the same and starts with want
	local i v first
	for _ in $(seq $((${3:-15} * 5))); do
		first= views=
		for i in 0 1 2; do
			[ "${rpids[$i]}" != 0 ] || continue
			v=$(view_of "$i" "$1")
			views="$views ${names[$i]}=$v"
			[ -z "$first" ] && first=$v
			[ "$v" = "$first" ] || first=differ
		done
		case $first in "$2"*) return 0 ;; esac
		sleep 0.2
	done
	return 1
}
heals_total() { local i t=0 v; for i in 0 1 2; do [ "${rpids[$i]}" != 0 ] || continue; v=$(metric_of "$i" wavesync_self_heal_total); t=$((t + ${v:-0})); done; echo $t; }
drift() { # configmap value: changed by hand (another field manager)
	curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' --data "{\"data\": {\"rev\": \"$2\"}}" \
		--cacert "$DEVCLUSTER_CA" --cert "$DEVCLUSTER_CLIENT_CERT" --key "$DEVCLUSTER_CLIENT_KEY" \
		"$DEVCLUSTER_SERVER/api/v1/namespaces/$ns/configmaps/$1?fieldManager=kubectl-edit" >/dev/null
}
for _ in $(seq 50); do [ "$(follower in-cluster)" -ge 0 ] && [ "$(follower edge)" -ge 0 ] && break; sleep 0.2; done
fi_=$(follower in-cluster) fe=$(follower edge)
[ "$fi_" -ge 0 ] && [ "$fe" -ge 0 ] && [ "$(psqlv "SELECT count(*) FROM leases WHERE name LIKE 'cluster:%'")" = 2 ]
ok $? "each cluster's live state is followed by one replica (in-cluster: ${names[$fi_]:-none}, edge: ${names[$fe]:-none})"
agree h1 "Synced/Healthy/" && agree h2 "Synced/Healthy/" && agree r1 "Synced/Healthy/"
ok $? "every replica's API shows the same live state, objects included:$views"
heals0=$(heals_total)
runs0=$(runs_db h2)
t0=$(date +%s%N)
drift h2 drifted
wait_rev h2 0 20
ok $? "h2 changed by hand on cluster edge: selfHeal put it back ($((($(date +%s%N) - t0) / 1000000)) ms)"
quiet
[ "$(runs_db h2)" = $((runs0 + 1)) ] && [ "$(heals_total)" = $((heals0 + 1)) ] &&
	[ "$(metric_of "$fe" wavesync_self_heal_total)" -ge 1 ]
ok $? "by one self-heal sync, queued by ${names[$fe]}, edge's follower (runs $runs0 → $(runs_db h2), heals $heals0 → $(heals_total))"
agree h2 "Synced/Healthy/" && agree h2 "$(view_of "$fe" h2)"
ok $? "every replica shows h2 Synced again, with its self-heal count:$views"
# the follower of edge dies: another takes the cluster over and heals it
t_kill=$(date +%s%N)
kill -9 "${rpids[$fe]}" 2>/dev/null
wait "${rpids[$fe]}" 2>/dev/null
rpids[$fe]=0
nf=-1
for _ in $(seq $(((LEASE + 10) * 5))); do nf=$(follower edge) && [ "$nf" -ge 0 ] && break; sleep 0.2; done
[ "$nf" -ge 0 ]
ok $? "after kill -9 of ${names[$fe]}, ${names[$nf]:-nobody} follows edge ($((($(date +%s%N) - t_kill) / 1000000)) ms; lease ${LEASE} s)"
agree h2 "Synced/Healthy/" 20
ok $? "the surviving replicas show h2 Synced from its new follower's watches:$views"
drift h2 again
wait_rev h2 0 20
ok $? "drift on edge again: healed by ${names[$nf]:-nobody}"
start_replica "$fe"
ok $? "${names[$fe]} starts again"
quiet

# --- PostgreSQL restarted during a burst ----------------------------------------------------------
: >"$E2E_DIR/outage.codes"
(
	for k in $(seq 1 60); do
		cm r6 "o$k" >"$work/r6/cm.yaml"
		push "r6: o$k"
		deliver_to $((k % 3))
		echo "$code $body" >>"$E2E_DIR/outage.codes"
		sleep 0.05
	done
) &
burst_pid=$!
sleep 1.5
"$PGSERVER" down --dir "$E2E_DIR/pg" --mode fast >"$E2E_DIR/pg.restart.log" 2>&1
sleep 1.5
"$PGSERVER" restart --dir "$E2E_DIR/pg" >>"$E2E_DIR/pg.restart.log" 2>&1
wait "$burst_pid"
n503=$(grep -c '^503 ' "$E2E_DIR/outage.codes")
n202=$(grep -c '^202 ' "$E2E_DIR/outage.codes")
[ "$n503" -ge 1 ] && [ $((n503 + n202)) = 60 ]
ok $? "deliveries during the restart were refused with 503 ($n503), the others accepted ($n202)"
grep '^202 ' "$E2E_DIR/outage.codes" | sed 's/.*"trigger": *\([0-9]*\).*/\1/' >"$E2E_DIR/outage.ids"
quiet
missing=0
while read -r id; do
	[ "$(psqlv "SELECT state FROM triggers WHERE id = $id")" = routed ] || missing=$((missing + 1))
done <"$E2E_DIR/outage.ids"
[ "$missing" = 0 ] && [ "$(wc -l <"$E2E_DIR/outage.ids")" = "$n202" ]
ok $? "every delivery answered 202 is stored and routed ($missing missing)"
last=$(git -C "$work" log -1 --format=%s | sed 's/r6: //')
wait_rev r6 "$last" 30
ok $? "r6 ends at the newest commit ($last)"
alive=0
for i in 0 1 2; do kill -0 "${rpids[$i]}" 2>/dev/null && alive=$((alive + 1)); done
[ $alive = 3 ]
ok $? "the three replicas lived through the restart"

# --- the end ------------------------------------------------------------------------------------------
for i in 0 1 2; do kill -TERM "${rpids[$i]}"; done
clean=1
for i in 0 1 2; do
	wait "${rpids[$i]}" || clean=0
	rpids[$i]=0
done
[ $clean = 1 ]
ok $? "SIGTERM: the three stop cleanly"
! grep -h "ERROR: AddressSanitizer\|runtime error:" "$E2E_DIR"/serve-*.err
ok $? "no sanitizer reports from the replicas"
tap_end
