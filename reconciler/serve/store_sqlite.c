/* store_sqlite.c — the store in one SQLite file (WAL, synchronous=FULL):
 * the default, for one `wavesync serve`. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "serve/store.h"
#include "serve/store_int.h"

struct lite {
    struct db db;
    sqlite3 *h;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  key TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, received_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS triggers ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, provider TEXT, repo TEXT,"
    "  ref TEXT, before TEXT, after TEXT, app TEXT, revision TEXT, prune INTEGER DEFAULT 0,"
    "  dry_run INTEGER DEFAULT 0, extra TEXT, state TEXT NOT NULL, detail TEXT,"
    "  received_at INTEGER NOT NULL, routed_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS triggers_state ON triggers(state);"
    "CREATE TABLE IF NOT EXISTS pending ("
    "  app TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, revision TEXT, prune INTEGER DEFAULT 0,"
    "  dry_run INTEGER DEFAULT 0, queued_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, trigger_id INTEGER, revision TEXT,"
    "  prune INTEGER DEFAULT 0, dry_run INTEGER DEFAULT 0, state TEXT NOT NULL, message TEXT,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER, report TEXT);"
    "CREATE INDEX IF NOT EXISTS runs_app ON runs(app, id);"
    /* manual applications a push changed: OutOfSync until a person syncs them */
    "CREATE TABLE IF NOT EXISTS awaiting ("
    "  app TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, revision TEXT, since INTEGER NOT NULL);";

/* Migrations: migrations[v] takes schema version v to v + 1. Version 0 is
 * a new file, or one written before the schema had a version — the same
 * tables, so creating what is missing is the whole step. A later change to
 * the schema adds a step here (ALTER TABLE …) and bumps
 * WS_STORE_SCHEMA_VERSION; steps never change once released. */
static const char *const migrations[WS_STORE_SCHEMA_VERSION] = {
    schema, /* 0 → 1 */
    /* 1 → 2: what routing found, for the web page: the changed paths and the
       applications they routed to ({"paths": […], "applications": […]}) */
    "ALTER TABLE triggers ADD COLUMN routing TEXT;",
    /* 2 → 3: the schema PostgreSQL has too, so that one set of statements
       serves both: who holds a run or a trigger (a replica of `replicas`,
       alive while its lease lasts), at most one running run per application */
    "ALTER TABLE runs ADD COLUMN owner INTEGER;"
    "ALTER TABLE triggers ADD COLUMN owner INTEGER;"
    "CREATE TABLE IF NOT EXISTS replicas ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, started_at INTEGER NOT NULL,"
    "  lease_until INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner INTEGER NOT NULL, since INTEGER NOT NULL);"
    "UPDATE runs SET state = 'Interrupted' WHERE state = 'running'"
    "  AND id NOT IN (SELECT MAX(id) FROM runs WHERE state = 'running' GROUP BY app);"
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running ON runs(app) WHERE state = 'running';",
    /* 3 → 4: each application's live state as the replica following its
       cluster wrote it, for the others' API (a one-replica store has it too,
       so that both databases keep one schema) */
    "CREATE TABLE IF NOT EXISTS live ("
    "  app TEXT PRIMARY KEY, owner INTEGER, updated_at INTEGER NOT NULL, summary TEXT NOT NULL, resources TEXT);"
    "CREATE INDEX IF NOT EXISTS live_updated ON live(updated_at);",
};

static int fail(struct ws_err *err, sqlite3 *h, const char *what)
{
    return ws_err_set(err, WS_EIO, "store: %s: %s", what, sqlite3_errmsg(h));
}

static int lite_exec(struct db *db, const char *sql, struct ws_err *err)
{
    struct lite *l = (struct lite *)db;
    char *msg = NULL;
    if (sqlite3_exec(l->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ws_err_set(err, WS_EIO, "store: %s", msg ? msg : sqlite3_errmsg(l->h));
        sqlite3_free(msg);
        return WS_EIO;
    }
    return 0;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_TEXT: return json_string((const char *)sqlite3_column_text(st, i));
    default: return json_null();
    }
}

static int lite_query(struct db *db, json_t **rows, int64_t *changed, struct ws_err *err, const char *sql,
                      const char *types, va_list ap)
{
    struct lite *l = (struct lite *)db;
    sqlite3_stmt *st = NULL;
    json_t *arr = NULL;
    char *text = ws__db_rewrite(DB_SQLITE, sql);
    int i, rc;
    if (!text)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = sqlite3_prepare_v2(l->h, text, -1, &st, NULL);
    free(text);
    if (rc != SQLITE_OK)
        return fail(err, l->h, "prepare");
    for (i = 0, rc = SQLITE_OK; types[i] && rc == SQLITE_OK; i++) {
        if (types[i] == 's') {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
        } else if (types[i] == 'i') {
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else {
            rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int));
        }
    }
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return fail(err, l->h, "bind");
    }
    if (rows && !(arr = json_array())) {
        sqlite3_finalize(st);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!arr)
            continue;
        json_t *o = json_object();
        int n = sqlite3_column_count(st);
        for (i = 0; o && i < n; i++)
            json_object_set_new(o, sqlite3_column_name(st, i), col_json(st, i)); /* steals */
        ws__db_decode_json(o);
        json_array_append_new(arr, o); /* steals */
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return fail(err, l->h, rows ? "read" : "write");
    }
    if (changed)
        *changed = sqlite3_changes(l->h);
    if (rows)
        *rows = arr;
    return 0;
}

static void lite_close(struct db *db)
{
    struct lite *l = (struct lite *)db;
    if (!l)
        return;
    sqlite3_close(l->h);
    free(l);
}

static const struct db_impl lite_impl = {
    .query = lite_query,
    .exec = lite_exec,
    .begin = "BEGIN IMMEDIATE",
    .close = lite_close,
};

/* Bring the schema to WS_STORE_SCHEMA_VERSION, or refuse a newer one. */
static int migrate(struct lite *l, const char *path, struct ws_err *err)
{
    sqlite3_stmt *q = NULL;
    int version, rc;
    char sql[64];
    if (sqlite3_prepare_v2(l->h, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return fail(err, l->h, "reading the schema version");
    }
    version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > WS_STORE_SCHEMA_VERSION)
        return ws_err_set(err, WS_ECONFIG,
                          "store: %s has schema version %d, written by a newer wavesync (this one reads up to "
                          "version %d): run that wavesync, or give this one another stateDir",
                          path, version, WS_STORE_SCHEMA_VERSION);
    if (version == WS_STORE_SCHEMA_VERSION)
        return 0;
    if ((rc = lite_exec(&l->db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    for (int v = version; v < WS_STORE_SCHEMA_VERSION; v++)
        if ((rc = lite_exec(&l->db, migrations[v], err)) < 0) {
            lite_exec(&l->db, "ROLLBACK", NULL);
            ws_err_prefix(err, "migrating %s from schema version %d", path, v);
            return rc;
        }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", WS_STORE_SCHEMA_VERSION);
    if ((rc = lite_exec(&l->db, sql, err)) < 0 || (rc = lite_exec(&l->db, "COMMIT", err)) < 0) {
        lite_exec(&l->db, "ROLLBACK", NULL);
        return rc;
    }
    if (version > 0) /* a new file is no news */
        ws_info("store: %s migrated from schema version %d to %d", path, version, WS_STORE_SCHEMA_VERSION);
    return 0;
}

int ws__db_sqlite_open(struct db **out, const char *path, struct ws_err *err)
{
    struct lite *l = calloc(1, sizeof(*l));
    int rc;
    *out = NULL;
    if (!l)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    l->db.kind = DB_SQLITE;
    l->db.impl = &lite_impl;
    if (sqlite3_open_v2(path, &l->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        rc = ws_err_set(err, WS_EIO, "store: cannot open %s: %s", path, l->h ? sqlite3_errmsg(l->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(l->h, 5000);
    /* WAL with synchronous=FULL: a committed trigger survives a crash and
     * a power loss; the batching amortises the fsync. */
    if ((rc = lite_exec(&l->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err)) < 0 ||
        (rc = migrate(l, path, err)) < 0)
        goto fail;
    *out = &l->db;
    return 0;
fail:
    if (l->h && err && !strstr(err->msg, path))
        ws_err_prefix(err, "%s", path);
    lite_close(&l->db);
    return rc;
}
