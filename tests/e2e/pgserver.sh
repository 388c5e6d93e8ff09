#!/usr/bin/env bash
# pgserver.sh — tests/pgserver, the throwaway PostgreSQL the store tests run
# against: `up` gives a server psql reaches with the DSN of its env file, a
# committed row survives `restart` (a clean one and a SIGKILL of the whole
# server), `down` leaves no postgres process, two servers run side by side on
# their own ports and data, --password asks TCP clients for it, and --watch
# stops the server once the watched process is gone. No control plane.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PGSERVER=$WS_SRCDIR/tests/pgserver

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wavesync-e2e.XXXXXX")
watched=
pg_all_down() {
	local d
	[ -n "$watched" ] && kill "$watched" 2>/dev/null
	for d in a b c; do
		[ -d "$E2E_DIR/$d" ] && "$PGSERVER" down --dir "$E2E_DIR/$d" >/dev/null 2>&1
	done
	if [ -n "${WS_E2E_KEEP:-}" ]; then echo "# kept $E2E_DIR" >&2; return; fi
	rm -rf "$E2E_DIR"
}
trap pg_all_down EXIT

pg_up() { # name [flags...]: up in $E2E_DIR/name, output in name.up.log; bails out on failure
	local name=$1
	shift
	if ! "$PGSERVER" up --dir "$E2E_DIR/$name" "$@" >"$E2E_DIR/$name.up.log" 2>&1; then
		echo "Bail out! tests/pgserver up failed:"
		sed 's/^/# /' "$E2E_DIR/$name.up.log" | tail -n 30
		exit 1
	fi
}
psql_dsn() { # dsn sql: one value a line, errors into $E2E_DIR/psql.err
	psql -X -q -A -t -w -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>>"$E2E_DIR/psql.err"
}
gone() { # pids...: none of them is running
	local p
	for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}
children() { # pid -> the pids of its children, from /proc (procps may be absent)
	local f st rest
	for f in /proc/[0-9]*/stat; do
		{ read -r st <"$f"; } 2>/dev/null || continue
		rest=${st##*) }
		rest=${rest#* }
		[[ ${rest%% *} == "$1" ]] || continue
		f=${f#/proc/}
		printf '%s ' "${f%/stat}"
	done
}
naming() { # text -> the pids whose command line has it
	local f args
	for f in /proc/[0-9]*/cmdline; do
		{ mapfile -d '' args <"$f"; } 2>/dev/null || continue
		[[ "${args[*]}" == *"$1"* ]] || continue
		f=${f#/proc/}
		printf '%s ' "${f%/cmdline}"
	done
}
command -v psql >/dev/null || {
	echo "Bail out! psql not found: install the Debian package 'postgresql' (scripts/install-deps)"
	exit 1
}

# --- up: a server, its env file, psql with the DSN ---------------------------
t0=$SECONDS
pg_up a
diag "$(grep 'is up at' "$E2E_DIR/a.up.log")"
a_env=$("$PGSERVER" env --dir "$E2E_DIR/a")
a_dsn=$(bash -c '. "$1" && printf %s "$WS_PG_DSN"' _ "$E2E_DIR/a/env")
a_port=$(bash -c '. "$1" && printf %s "$PGPORT"' _ "$E2E_DIR/a/env")
[[ $a_dsn == "host=127.0.0.1 port=$a_port user=wavesync dbname=wavesync" ]] &&
	grep -qx 'export PGUSER=wavesync' <<<"$a_env" && grep -qx 'export PGDATABASE=wavesync' <<<"$a_env" &&
	grep -qx 'export PGHOST=127.0.0.1' <<<"$a_env"
ok $? "up writes DIR/env: PGHOST PGPORT PGUSER PGDATABASE and WS_PG_DSN ($a_dsn)"

got=$(psql_dsn "$a_dsn" "SELECT current_user || ' ' || current_database() || ' ' || current_setting('fsync')
	|| ' ' || current_setting('max_connections') || ' ' || inet_server_addr()")
[ "$got" = "wavesync wavesync on 200 127.0.0.1/32" ]
ok $? "psql connects over TCP with the DSN, as the superuser wavesync to the database wavesync, fsync on ($got)"

a_pid=$(cat "$E2E_DIR/a/pid")
got=$(psql -X -A -t -h "$E2E_DIR/a" -p "$a_port" -U wavesync -d wavesync -c 'SELECT pg_backend_pid() > 0' 2>>"$E2E_DIR/psql.err")
[ "$got" = t ] && "$PGSERVER" status --dir "$E2E_DIR/a" >/dev/null
ok $? "the unix socket in DIR answers too; status says running and ready (postmaster pid $a_pid)"

# --- restart: a committed row survives it ------------------------------------
psql_dsn "$a_dsn" "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before-restart')" >/dev/null
"$PGSERVER" restart --dir "$E2E_DIR/a" >"$E2E_DIR/a.restart.log" 2>&1
rc=$?
got=$(psql_dsn "$a_dsn" "SELECT string_agg(v, ',') FROM kept")
new_pid=$(cat "$E2E_DIR/a/pid")
[ "$rc" -eq 0 ] && [ "$got" = before-restart ] && [ "$new_pid" != "$a_pid" ] && gone "$a_pid"
ok $? "restart: a new postmaster ($a_pid -> $new_pid) on the same port and data; the committed row is there ($got)"

psql_dsn "$a_dsn" "INSERT INTO kept VALUES ('before-kill')" >/dev/null
"$PGSERVER" restart --dir "$E2E_DIR/a" --mode kill >"$E2E_DIR/a.kill.log" 2>&1
rc=$?
got=$(psql_dsn "$a_dsn" "SELECT string_agg(v, ',' ORDER BY v) FROM kept")
[ "$rc" -eq 0 ] && [ "$got" = before-kill,before-restart ] && grep -q 'not properly shut down' "$E2E_DIR/a/postgres.log"
ok $? "restart --mode kill (SIGKILL, then crash recovery): both committed rows are there ($got)"

# --- a second server beside the first ----------------------------------------
pg_up b
b_dsn=$(bash -c '. "$1" && printf %s "$WS_PG_DSN"' _ "$E2E_DIR/b/env")
b_port=$(bash -c '. "$1" && printf %s "$PGPORT"' _ "$E2E_DIR/b/env")
psql_dsn "$b_dsn" "CREATE TABLE only_b (v int)" >/dev/null
got_a=$(psql_dsn "$a_dsn" "SELECT count(*) FROM kept")
got_b=$(psql_dsn "$b_dsn" "SELECT to_regclass('kept') IS NULL")
[ "$b_port" != "$a_port" ] && [ "$got_a" = 2 ] && [ "$got_b" = t ]
ok $? "a second server in another folder runs beside the first (ports $a_port and $b_port, data of its own)"

# --- down: no postgres process left ------------------------------------------
a_pid=$(cat "$E2E_DIR/a/pid")
a_kids=$(children "$a_pid")
"$PGSERVER" down --dir "$E2E_DIR/a" >"$E2E_DIR/a.down.log" 2>&1
rc=$?
left=$(naming "$E2E_DIR/a/")
# shellcheck disable=SC2086 # the pids are words
[ "$rc" -eq 0 ] && [ -n "$a_kids" ] && gone "$a_pid" $a_kids && [ -z "$left" ] &&
	! psql_dsn "$a_dsn" "SELECT 1" >/dev/null 2>&1 && [ ! -e "$E2E_DIR/a/pid" ]
ok $? "down stops the postmaster ($a_pid) and its children (${a_kids% }); nothing answers on $a_port${left:+; left: $left}"

got=$(psql_dsn "$b_dsn" "SELECT count(*) FROM only_b")
[ "$got" = 0 ]
ok $? "the second server still answers after the first's down"

# --- --password: TCP clients need it ------------------------------------------
sleep 300 &
watched=$!
pg_up c --password "pw-$RANDOM" --watch "$watched"
c_dsn=$(bash -c '. "$1" && printf %s "$WS_PG_DSN"' _ "$E2E_DIR/c/env")
c_pw=$(bash -c '. "$1" && printf %s "$WS_PG_PASSWORD"' _ "$E2E_DIR/c/env")
psql_dsn "$c_dsn" "SELECT 1" >/dev/null 2>&1
no_pw=$?
PGPASSWORD=wrong psql_dsn "$c_dsn" "SELECT 1" >/dev/null 2>&1
wrong_pw=$?
got=$(PGPASSWORD=$c_pw psql_dsn "$c_dsn" "SELECT rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = 'wavesync'")
[ "$no_pw" -ne 0 ] && [ "$wrong_pw" -ne 0 ] && [ "$got" = t ] && [ "$(cat "$E2E_DIR/c/password")" = "$c_pw" ] &&
	! grep -q PGPASSWORD "$E2E_DIR/c/env" && [[ $c_dsn != *password* ]]
ok $? "--password: TCP asks for it (scram-sha-256), none or a wrong one is refused; it is in DIR/password, not in the DSN"

# --- --watch: the server stops once the watched process is gone --------------
c_pid=$(cat "$E2E_DIR/c/pid")
kill "$watched"
wait "$watched" 2>/dev/null
watched=
wait_for 10 gone "$c_pid"
ok $? "--watch: the server (pid $c_pid) stops once the watched process is gone"

"$PGSERVER" down --dir "$E2E_DIR/b" >/dev/null 2>&1
diag "$((SECONDS - t0)) s"
tap_end
