#!/usr/bin/env bash
# store_pg.sh — the store's unit suite (tests/unit/serve/test_store) run
# again on a real PostgreSQL server (tests/pgserver): every scenario it runs
# on SQLite, each in a database of its own, then the replicas' own (leases,
# takeover, fencing, one delivery sent to two replicas at once). Its TAP is
# this script's. No control plane.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PGSERVER=$WS_SRCDIR/tests/pgserver
TEST=$WS_BUILDDIR/tests/unit/serve/test_store

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wavesync-e2e.XXXXXX")
pg_down() {
	"$PGSERVER" down --dir "$E2E_DIR/pg" >/dev/null 2>&1
	if [ -n "${WS_E2E_KEEP:-}" ]; then echo "# kept $E2E_DIR" >&2; return; fi
	rm -rf "$E2E_DIR"
}
trap pg_down EXIT
[ -x "$TEST" ] || { echo "Bail out! $TEST is not built (make check builds it)"; exit 1; }
if ! "$PGSERVER" up --dir "$E2E_DIR/pg" --watch $$ >"$E2E_DIR/pg.up.log" 2>&1; then
	echo "Bail out! tests/pgserver up failed:"
	sed 's/^/# /' "$E2E_DIR/pg.up.log" | tail -n 30
	exit 1
fi
. "$E2E_DIR/pg/env"
# the unit suite prints its own plan and lines; only the PostgreSQL half is
# news here, but the whole suite is run so that both halves agree
WS_TEST_PG_DSN=$WS_PG_DSN "$TEST"
