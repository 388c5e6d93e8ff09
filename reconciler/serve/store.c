/* store.c — SQLite behind the service: operations queued on the loop thread
 * run in batches (one transaction per batch, one savepoint per operation)
 * on a worker thread, so the loop never waits for the disk and a burst of
 * webhooks costs one fsync. */
#include "serve/store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

enum op_kind { OP_ACCEPT, OP_ROUTED, OP_RUN_START, OP_RUN_FINISH, OP_RUN_REQUEUE, OP_GET_RUN,
               OP_LIST_RUNS, OP_GET_TRIGGER };

struct op {
    struct op *next;
    enum op_kind kind;
    /* inputs (owned copies) */
    char *s[10];
    int64_t id;
    int prune, dry_run, limit;
    json_t *json; /* owned */
    /* outputs */
    int code;
    struct ws_err err;
    int64_t out_id;
    int duplicate;
    json_t *result;
    /* callbacks */
    ws_store_accept_cb accept_cb;
    ws_store_done_cb done_cb;
    ws_store_json_cb json_cb;
    void *data;
};

struct ws_store {
    uv_loop_t *loop;
    sqlite3 *db;
    uv_check_t check;      /* flushes what this iteration queued */
    uv_idle_t idle;        /* keeps the loop awake (and polling without sleeping) while ops wait */
    int nhandles;          /* handles still open at close */
    int in_done;           /* batch_done is calling back: it finishes a close itself */
    uv_work_t work;
    struct op *queued, **queued_tail;
    struct op *batch;      /* running on the worker */
    size_t nqueued, nbatch;
    int closing;
    void (*closed_cb)(void *);
    void *closed_data;
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
};

static int db_fail(struct ws_err *err, sqlite3 *db, const char *what)
{
    return ws_err_set(err, WS_EIO, "store: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, struct ws_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ws_err_set(err, WS_EIO, "store: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return WS_EIO;
    }
    return 0;
}

/* Prepare `sql` and bind the arguments described by `types`: 's' text (NULL
 * binds NULL), 'i' int64, 'n' int. */
static int prep(sqlite3_stmt **out, sqlite3 *db, struct ws_err *err, const char *sql,
                const char *types, ...)
{
    va_list ap;
    int i, rc;
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return db_fail(err, db, "prepare");
    va_start(ap, types);
    for (i = 0, rc = SQLITE_OK; types[i] && rc == SQLITE_OK; i++) {
        if (types[i] == 's') {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(*out, i + 1, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(*out, i + 1);
        } else if (types[i] == 'i') {
            rc = sqlite3_bind_int64(*out, i + 1, va_arg(ap, int64_t));
        } else {
            rc = sqlite3_bind_int(*out, i + 1, va_arg(ap, int));
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return db_fail(err, db, "bind");
    }
    return 0;
}

/* Step a statement that returns no rows, then finalize it. */
static int run(sqlite3_stmt *st, sqlite3 *db, struct ws_err *err)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(err, db, "write");
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_TEXT: return json_string((const char *)sqlite3_column_text(st, i));
    default: return json_null();
    }
}

/* The current row as an object named by the statement's column names;
 * "report"/"extra" columns hold JSON and are decoded. */
static json_t *row_object(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int i, n = sqlite3_column_count(st);
    for (i = 0; o && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v = NULL;
        if ((strcmp(name, "report") == 0 || strcmp(name, "extra") == 0 || strcmp(name, "routing") == 0) &&
            sqlite3_column_type(st, i) == SQLITE_TEXT)
            v = json_loads((const char *)sqlite3_column_text(st, i), 0, NULL);
        if (!v)
            v = col_json(st, i);
        json_object_set_new(o, name, v); /* steals v */
    }
    return o;
}

static int rows(json_t **out, sqlite3_stmt *st, sqlite3 *db, struct ws_err *err)
{
    json_t *arr = json_array();
    int rc;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, row_object(st)); /* steals */
    sqlite3_finalize(st);
    if (!arr)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return db_fail(err, db, "read");
    }
    *out = arr;
    return 0;
}

/* --- operations (worker thread) ---------------------------------------------- */

static int do_accept(sqlite3 *db, struct op *op)
{
    sqlite3_stmt *st = NULL;
    char *extra = op->json ? json_dumps(op->json, JSON_COMPACT) : NULL;
    int64_t now = ws_wall_s();
    int rc;
    if (op->s[0] || op->s[9]) { /* the delivery id, or the same body again under another id */
        if ((rc = prep(&st, db, &op->err, "SELECT trigger_id FROM deliveries WHERE key IN (?, ?)", "ss",
                       op->s[0], op->s[9])) < 0)
            goto out;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            op->duplicate = 1;
            op->out_id = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            rc = db_fail(&op->err, db, "replay check");
            goto out;
        }
        if (op->duplicate)
            goto out;
    }
    if ((rc = prep(&st, db, &op->err,
                   "INSERT INTO triggers (source, provider, repo, ref, before, after, app, revision,"
                   " prune, dry_run, extra, state, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   "ssssssssnnssi", op->s[1], op->s[2], op->s[3], op->s[4], op->s[5], op->s[6],
                   op->s[7], op->s[8], op->prune, op->dry_run, extra,
                   op->s[7] ? "routed" : "received", now)) < 0 ||
        (rc = run(st, db, &op->err)) < 0)
        goto out;
    op->out_id = sqlite3_last_insert_rowid(db);
    for (int k = 0; k < 10; k += 9)
        if (op->s[k] && ((rc = prep(&st, db, &op->err,
                                    "INSERT INTO deliveries (key, trigger_id, received_at) VALUES (?,?,?)",
                                    "sii", op->s[k], op->out_id, now)) < 0 ||
                         (rc = run(st, db, &op->err)) < 0))
            goto out;
    /* A manual request (or a retry) names its application: pending at once.
     * It replaces a pending run, except that a dry run never replaces a real
     * one and a retry never replaces anything (what is pending is newer). */
    if (op->s[7])
        rc = prep(&st, db, &op->err,
                  "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
                  " VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(app) DO UPDATE SET trigger_id = excluded.trigger_id,"
                  " revision = excluded.revision, prune = excluded.prune, dry_run = excluded.dry_run,"
                  " queued_at = excluded.queued_at"
                  " WHERE ?7 = 0 AND (excluded.dry_run = 0 OR pending.dry_run = 1)",
                  "sisnnin", op->s[7], op->out_id, op->s[8], op->prune, op->dry_run, now,
                  op->s[1] && strcmp(op->s[1], "retry") == 0) < 0
                 ? WS_EIO
                 : run(st, db, &op->err);
out:
    free(extra);
    return rc < 0 ? rc : 0;
}

static int do_routed(sqlite3 *db, struct op *op)
{
    sqlite3_stmt *st = NULL;
    json_t *v;
    size_t i;
    int64_t now = ws_wall_s();
    int rc = 0;
    char *detail = op->s[1] ? strdup(op->s[1]) : json_dumps(op->json, JSON_COMPACT);
    json_array_foreach(op->json, i, v) {
        const char *app = json_string_value(json_object_get(v, "app"));
        const char *rev = json_string_value(json_object_get(v, "revision"));
        if (!app)
            continue;
        if (json_is_true(json_object_get(v, "manual"))) {
            /* Argo CD's manual sync policy: the push only makes the application
               OutOfSync at the pushed commit; nothing is queued. */
            if ((rc = prep(&st, db, &op->err,
                           "INSERT INTO awaiting (app, trigger_id, revision, since) VALUES (?,?,?,?)"
                           " ON CONFLICT(app) DO UPDATE SET trigger_id = excluded.trigger_id,"
                           " revision = excluded.revision WHERE excluded.trigger_id > awaiting.trigger_id",
                           "sisi", app, op->id, json_string_value(json_object_get(v, "commit")), now)) < 0 ||
                (rc = run(st, db, &op->err)) < 0)
                goto out;
            continue;
        }
        /* Pushes of one repository are routed in order, so a push replaces
           what is pending unless that came later (a manual run asked for after
           this push arrived); it always replaces a pending dry run. */
        if ((rc = prep(&st, db, &op->err,
                       "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
                       " VALUES (?,?,?,0,0,?) ON CONFLICT(app) DO UPDATE SET"
                       " trigger_id = excluded.trigger_id, revision = excluded.revision,"
                       " prune = 0, dry_run = 0, queued_at = excluded.queued_at"
                       " WHERE excluded.trigger_id > pending.trigger_id OR pending.dry_run = 1",
                       "sisi", app, op->id, rev, now)) < 0 ||
            (rc = run(st, db, &op->err)) < 0)
            goto out;
    }
    if ((rc = prep(&st, db, &op->err,
                   "UPDATE triggers SET state = ?, detail = ?, routed_at = ?, routing = ? WHERE id = ?", "ssisi",
                   op->s[0], detail, now, op->s[2], op->id)) < 0)
        goto out;
    rc = run(st, db, &op->err);
out:
    free(detail);
    return rc;
}

static int do_run_start(sqlite3 *db, struct op *op)
{
    sqlite3_stmt *st = NULL;
    json_t *got = NULL, *row;
    int rc;
    if ((rc = prep(&st, db, &op->err,
                   "SELECT p.app, p.trigger_id AS trigger, p.revision, p.prune, p.dry_run AS dryRun,"
                   " t.extra FROM pending p LEFT JOIN triggers t ON t.id = p.trigger_id WHERE p.app = ?",
                   "s", op->s[0])) < 0 ||
        (rc = rows(&got, st, db, &op->err)) < 0)
        return rc;
    if (!(row = json_array_get(got, 0))) {
        json_decref(got);
        return 0;
    }
    if ((rc = prep(&st, db, &op->err, "DELETE FROM pending WHERE app = ?", "s", op->s[0])) < 0 ||
        (rc = run(st, db, &op->err)) < 0 ||
        (rc = prep(&st, db, &op->err,
                   "INSERT INTO runs (app, trigger_id, revision, prune, dry_run, state, started_at)"
                   " VALUES (?,?,?,?,?, 'running', ?)",
                   "sisnni", op->s[0], json_integer_value(json_object_get(row, "trigger")),
                   json_string_value(json_object_get(row, "revision")),
                   (int)json_integer_value(json_object_get(row, "prune")),
                   (int)json_integer_value(json_object_get(row, "dryRun")), ws_wall_s())) < 0 ||
        (rc = run(st, db, &op->err)) < 0) {
        json_decref(got);
        return rc;
    }
    json_object_set_new(row, "id", json_integer(sqlite3_last_insert_rowid(db))); /* steals */
    op->result = json_incref(row);
    json_decref(got);
    return 0;
}

static int do_run_finish(sqlite3 *db, struct op *op)
{
    sqlite3_stmt *st = NULL;
    char *report = op->json ? json_dumps(op->json, JSON_COMPACT) : NULL;
    int rc = prep(&st, db, &op->err,
                  "UPDATE runs SET state = ?, message = ?, report = ?, finished_at = ? WHERE id = ?",
                  "sssii", op->s[0], op->s[1], report, ws_wall_s(), op->id);
    if (rc == 0)
        rc = run(st, db, &op->err);
    /* a successful sync asked after the push that made a manual application
       OutOfSync settles it (a dry run does not) */
    if (rc == 0 && strcmp(op->s[0], "Succeeded") == 0 &&
        (rc = prep(&st, db, &op->err,
                   "DELETE FROM awaiting WHERE app = (SELECT app FROM runs WHERE id = ?1 AND dry_run = 0)"
                   " AND trigger_id <= (SELECT COALESCE(trigger_id, 0) FROM runs WHERE id = ?1)",
                   "i", op->id)) == 0)
        rc = run(st, db, &op->err);
    free(report);
    return rc;
}

/* A run that did not finish goes back to pending unless something newer is. */
static int requeue(sqlite3 *db, int64_t run_id, const char *state, struct ws_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if ((rc = prep(&st, db, err,
                   "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
                   " SELECT app, COALESCE(trigger_id, 0), revision, prune, dry_run, ? FROM runs"
                   " WHERE id = ? AND state = 'running' ON CONFLICT(app) DO NOTHING",
                   "ii", ws_wall_s(), run_id)) < 0 ||
        (rc = run(st, db, err)) < 0 ||
        (rc = prep(&st, db, err,
                   "UPDATE runs SET state = ?, finished_at = ?, message = ? WHERE id = ? AND state = 'running'",
                   "sisi",
                   state, ws_wall_s(),
                   "the service stopped during this run; it runs again at the next start",
                   run_id)) < 0)
        return rc;
    return run(st, db, err);
}

static int do_get(sqlite3 *db, struct op *op, const char *sql)
{
    sqlite3_stmt *st = NULL;
    json_t *got = NULL;
    int rc;
    if ((rc = prep(&st, db, &op->err, sql, "i", op->id)) < 0 ||
        (rc = rows(&got, st, db, &op->err)) < 0)
        return rc;
    op->result = json_incref(json_array_get(got, 0)); /* NULL when none */
    json_decref(got);
    return 0;
}

static int do_list_runs(sqlite3 *db, struct op *op)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(&st, db, &op->err,
                  "SELECT id, app, trigger_id AS trigger, revision, state, message, started_at AS startedAt,"
                  " finished_at AS finishedAt, dry_run AS dryRun FROM runs WHERE (?1 IS NULL OR app = ?1)"
                  " ORDER BY id DESC LIMIT ?2",
                  "sn", op->s[0], op->limit);
    return rc < 0 ? rc : rows(&op->result, st, db, &op->err);
}

static int do_op(sqlite3 *db, struct op *op)
{
    switch (op->kind) {
    case OP_ACCEPT: return do_accept(db, op);
    case OP_ROUTED: return do_routed(db, op);
    case OP_RUN_START: return do_run_start(db, op);
    case OP_RUN_FINISH: return do_run_finish(db, op);
    case OP_RUN_REQUEUE: return requeue(db, op->id, "Interrupted", &op->err);
    case OP_GET_RUN:
        return do_get(db, op, "SELECT id, app, trigger_id AS trigger, revision, prune, dry_run AS dryRun,"
                              " state, message, started_at AS startedAt, finished_at AS finishedAt,"
                              " report FROM runs WHERE id = ?");
    case OP_LIST_RUNS: return do_list_runs(db, op);
    case OP_GET_TRIGGER:
        return do_get(db, op, "SELECT id, source, provider, repo, ref, before, after, app, revision,"
                              " state, detail, received_at AS receivedAt, routed_at AS routedAt, routing"
                              " FROM triggers WHERE id = ?");
    }
    return WS_EINVAL;
}

static void batch_work(uv_work_t *w)
{
    struct ws_store *st = ws_container_of(w, struct ws_store, work);
    struct ws_err err;
    struct op *op;
    int rc;
    if ((rc = exec(st->db, "BEGIN IMMEDIATE", &err)) < 0)
        goto fail;
    for (op = st->batch; op; op = op->next) {
        exec(st->db, "SAVEPOINT op", &op->err);
        if ((op->code = do_op(st->db, op)) < 0) {
            exec(st->db, "ROLLBACK TO op", &err);
            json_decref(op->result);
            op->result = NULL;
            op->duplicate = 0;
        }
        exec(st->db, "RELEASE op", &err);
    }
    if ((rc = exec(st->db, "COMMIT", &err)) == 0)
        return;
    exec(st->db, "ROLLBACK", NULL);
fail:
    for (op = st->batch; op; op = op->next) {
        op->code = rc;
        op->err = err;
        json_decref(op->result);
        op->result = NULL;
    }
}

static void op_free(struct op *op)
{
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(op->s); i++)
        free(op->s[i]);
    json_decref(op->json);
    json_decref(op->result);
    free(op);
}

static void flush(struct ws_store *st);

static void finish_close(struct ws_store *st);

static void batch_done(uv_work_t *w, int status)
{
    struct ws_store *st = ws_container_of(w, struct ws_store, work);
    struct op *op = st->batch, *next;
    st->batch = NULL;
    st->nbatch = 0;
    st->in_done = 1;
    for (; op; op = next) {
        next = op->next;
        if (status < 0 && op->code == 0) /* canceled: never ran */
            op->code = ws_err_set(&op->err, WS_ECANCELED, "store: the batch could not be queued");
        const struct ws_err *err = op->code < 0 ? &op->err : NULL;
        if (op->accept_cb)
            op->accept_cb(op->code, err, op->out_id, op->duplicate, op->data);
        else if (op->json_cb)
            op->json_cb(op->code, err, op->result, op->data);
        else if (op->done_cb)
            op->done_cb(op->code, err, op->data);
        op_free(op);
    }
    st->in_done = 0;
    if (st->queued)
        flush(st);
    else if (st->closing)
        finish_close(st);
}

static void flush(struct ws_store *st)
{
    if (st->batch || !st->queued)
        return;
    st->batch = st->queued;
    st->nbatch = st->nqueued;
    st->queued = NULL;
    st->queued_tail = &st->queued;
    st->nqueued = 0;
    if (uv_queue_work(st->loop, &st->work, batch_work, batch_done) < 0) {
        ws_error("store: cannot queue a batch");
        batch_done(&st->work, UV_ECANCELED);
    }
}

/* uv_check runs once per loop iteration after I/O: everything the
 * iteration's callbacks queued goes to disk together. */
static void on_check(uv_check_t *h)
{
    struct ws_store *st = ws_container_of(h, struct ws_store, check);
    uv_check_stop(h);
    uv_idle_stop(&st->idle);
    flush(st);
}

/* Operations queued outside an iteration's I/O phase (before uv_run, in a
 * timer, check or close callback) must not wait for an unrelated wakeup: an
 * active idle handle makes the poll return at once and keeps the loop alive. */
static void on_idle(uv_idle_t *h)
{
    struct ws_store *st = ws_container_of(h, struct ws_store, idle);
    uv_idle_stop(h);
    uv_check_stop(&st->check);
    flush(st);
}

static struct op *op_new(struct ws_store *st, enum op_kind kind)
{
    struct op *op = calloc(1, sizeof(*op));
    if (!op || st->closing) {
        free(op);
        return NULL;
    }
    op->kind = kind;
    return op;
}

static int enqueue(struct ws_store *st, struct op *op, int nomem)
{
    if (nomem) {
        op_free(op);
        return WS_ENOMEM;
    }
    *st->queued_tail = op;
    st->queued_tail = &op->next;
    st->nqueued++;
    if (!st->batch) {
        uv_check_start(&st->check, on_check);
        uv_idle_start(&st->idle, on_idle);
    }
    return 0;
}

/* --- API -------------------------------------------------------------------------- */

/* Bring the schema to WS_STORE_SCHEMA_VERSION, or refuse a newer one. */
static int migrate(sqlite3 *db, const char *path, struct ws_err *err)
{
    sqlite3_stmt *q = NULL;
    int version, rc;
    char sql[64];
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return db_fail(err, db, "reading the schema version");
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
    if ((rc = exec(db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    for (int v = version; v < WS_STORE_SCHEMA_VERSION; v++)
        if ((rc = exec(db, migrations[v], err)) < 0) {
            exec(db, "ROLLBACK", NULL);
            ws_err_prefix(err, "migrating %s from schema version %d", path, v);
            return rc;
        }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", WS_STORE_SCHEMA_VERSION);
    if ((rc = exec(db, sql, err)) < 0 || (rc = exec(db, "COMMIT", err)) < 0) {
        exec(db, "ROLLBACK", NULL);
        return rc;
    }
    if (version > 0) /* a new file is no news */
        ws_info("store: %s migrated from schema version %d to %d", path, version, WS_STORE_SCHEMA_VERSION);
    return 0;
}

int ws_store_open(struct ws_store **out, uv_loop_t *loop, const char *path, struct ws_err *err)
{
    struct ws_store *st = calloc(1, sizeof(*st));
    sqlite3_stmt *q = NULL;
    json_t *stale = NULL, *v;
    size_t i;
    int rc;
    *out = NULL;
    if (!st)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    st->loop = loop;
    st->queued_tail = &st->queued;
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = ws_err_set(err, WS_EIO, "store: cannot open %s: %s", path,
                        st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL with synchronous=FULL: a committed trigger survives a crash and
     * a power loss; the batching amortises the fsync. */
    if ((rc = exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err)) < 0 ||
        (rc = migrate(st->db, path, err)) < 0)
        goto fail;
    /* replay protection remembers deliveries for 90 days */
    if ((rc = prep(&q, st->db, err, "DELETE FROM deliveries WHERE received_at < ?", "i",
                   ws_wall_s() - 90 * 24 * 3600)) < 0 ||
        (rc = run(q, st->db, err)) < 0)
        goto fail;
    /* runs a crash interrupted run again */
    if ((rc = prep(&q, st->db, err, "SELECT id FROM runs WHERE state = 'running' ORDER BY id", "")) < 0 ||
        (rc = rows(&stale, q, st->db, err)) < 0)
        goto fail;
    json_array_foreach(stale, i, v) {
        int64_t id = json_integer_value(json_object_get(v, "id"));
        if ((rc = requeue(st->db, id, "Interrupted", err)) < 0)
            goto fail;
        ws_warn("store: run %lld was interrupted by a stop; it runs again", (long long)id);
    }
    json_decref(stale);
    stale = NULL;
    uv_check_init(loop, &st->check);
    uv_unref((uv_handle_t *)&st->check);
    uv_idle_init(loop, &st->idle); /* referenced: active only while operations wait */
    *out = st;
    return 0;
fail:
    if (st->db && rc < 0 && err && !strstr(err->msg, path))
        ws_err_prefix(err, "%s", path);
    json_decref(stale);
    sqlite3_close(st->db);
    free(st);
    return rc;
}

int ws_store_recover(json_t **out, struct ws_store *st, struct ws_err *err)
{
    sqlite3_stmt *q = NULL;
    json_t *triggers = NULL, *pending = NULL, *awaiting = NULL, *last = NULL;
    int rc;
    *out = NULL;
    if ((rc = prep(&q, st->db, err,
                   "SELECT id, source, provider, repo, ref, before, after, extra FROM triggers"
                   " WHERE state = 'received' ORDER BY id", "")) < 0 ||
        (rc = rows(&triggers, q, st->db, err)) < 0 ||
        (rc = prep(&q, st->db, err,
                   "SELECT app, trigger_id AS trigger, revision, prune, dry_run AS dryRun FROM pending"
                   " ORDER BY trigger_id", "")) < 0 ||
        (rc = rows(&pending, q, st->db, err)) < 0 ||
        (rc = prep(&q, st->db, err,
                   "SELECT app, trigger_id AS trigger, revision, since FROM awaiting ORDER BY app", "")) < 0 ||
        (rc = rows(&awaiting, q, st->db, err)) < 0 ||
        /* each application's newest finished run: what it was last synced to */
        (rc = prep(&q, st->db, err,
                   "SELECT r.id, r.app, r.state AS result, json_extract(r.report, '$.revision') AS revision,"
                   " r.finished_at AS finishedAt FROM runs r"
                   " JOIN (SELECT app, MAX(id) AS id FROM runs WHERE finished_at IS NOT NULL AND dry_run = 0"
                   " GROUP BY app) m ON m.id = r.id", "")) < 0 ||
        (rc = rows(&last, q, st->db, err)) < 0) {
        json_decref(triggers);
        json_decref(pending);
        json_decref(awaiting);
        return rc;
    }
    *out = json_pack("{s:o, s:o, s:o, s:o}", "triggers", triggers, "pending", pending, "awaiting", awaiting,
                     "lastRuns", last); /* steals all four */
    return *out ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
}

static void closed_handle(uv_handle_t *h)
{
    struct ws_store *st = h->data;
    void (*cb)(void *) = st->closed_cb;
    void *data = st->closed_data;
    if (--st->nhandles > 0)
        return;
    sqlite3_close(st->db);
    free(st);
    if (cb)
        cb(data);
}

static void finish_close(struct ws_store *st)
{
    st->check.data = st->idle.data = st;
    st->nhandles = 2;
    uv_close((uv_handle_t *)&st->check, closed_handle);
    uv_close((uv_handle_t *)&st->idle, closed_handle);
}

void ws_store_close(struct ws_store *st, void (*closed)(void *data), void *data)
{
    if (!st)
        return;
    st->closing = 1;
    st->closed_cb = closed;
    st->closed_data = data;
    uv_check_stop(&st->check);
    uv_idle_stop(&st->idle);
    if (st->batch || st->in_done)
        return; /* batch_done finishes the queue and closes */
    if (st->queued)
        flush(st);
    else
        finish_close(st);
}

size_t ws_store_backlog(const struct ws_store *st)
{
    return st->nqueued + st->nbatch;
}

static int dup_into(char **dst, const char *s)
{
    return s && !(*dst = strdup(s));
}

int ws_store_accept(struct ws_store *st, const struct ws_trigger_in *t, ws_store_accept_cb cb,
                    void *data)
{
    struct op *op = op_new(st, OP_ACCEPT);
    int nomem;
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    nomem = dup_into(&op->s[0], t->delivery_key) | dup_into(&op->s[1], t->source ? t->source : "webhook") |
            dup_into(&op->s[2], t->provider) | dup_into(&op->s[3], t->repo) |
            dup_into(&op->s[4], t->ref) | dup_into(&op->s[5], t->before) |
            dup_into(&op->s[6], t->after) | dup_into(&op->s[7], t->app) |
            dup_into(&op->s[8], t->revision) | dup_into(&op->s[9], t->body_key);
    op->prune = t->prune;
    op->dry_run = t->dry_run;
    op->json = t->extra ? json_deep_copy(t->extra) : NULL; /* the worker reads it later */
    op->accept_cb = cb;
    op->data = data;
    return enqueue(st, op, nomem);
}

int ws_store_routed(struct ws_store *st, int64_t trigger, json_t *apps, const json_t *paths, const char *state,
                    const char *detail, ws_store_done_cb cb, void *data)
{
    struct op *op = op_new(st, OP_ROUTED);
    int nomem;
    json_t *routing;
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->id = trigger;
    op->json = apps ? json_deep_copy(apps) : json_array(); /* the worker reads it later */
    routing = json_pack("{s:O, s:O}", "paths", paths ? paths : json_null(), "applications", op->json ? op->json : json_null());
    op->s[2] = routing ? json_dumps(routing, JSON_COMPACT) : NULL;
    json_decref(routing);
    nomem = dup_into(&op->s[0], state) | dup_into(&op->s[1], detail) | !op->json | !op->s[2];
    op->done_cb = cb;
    op->data = data;
    return enqueue(st, op, nomem);
}

int ws_store_run_start(struct ws_store *st, const char *app, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, OP_RUN_START);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, dup_into(&op->s[0], app));
}

int ws_store_run_finish(struct ws_store *st, int64_t run_id, const char *result, const char *message,
                        json_t *report, ws_store_done_cb cb, void *data)
{
    struct op *op = op_new(st, OP_RUN_FINISH);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->id = run_id;
    op->json = report ? json_deep_copy(report) : NULL; /* the worker reads it later */
    op->done_cb = cb;
    op->data = data;
    return enqueue(st, op, dup_into(&op->s[0], result) | dup_into(&op->s[1], message));
}

int ws_store_run_requeue(struct ws_store *st, int64_t run_id, ws_store_done_cb cb, void *data)
{
    struct op *op = op_new(st, OP_RUN_REQUEUE);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->id = run_id;
    op->done_cb = cb;
    op->data = data;
    return enqueue(st, op, 0);
}

static int get_op(struct ws_store *st, enum op_kind kind, int64_t id, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, kind);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->id = id;
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, 0);
}

int ws_store_get_run(struct ws_store *st, int64_t id, ws_store_json_cb cb, void *data)
{
    return get_op(st, OP_GET_RUN, id, cb, data);
}

int ws_store_get_trigger(struct ws_store *st, int64_t id, ws_store_json_cb cb, void *data)
{
    return get_op(st, OP_GET_TRIGGER, id, cb, data);
}

int ws_store_list_runs(struct ws_store *st, const char *app, int limit, ws_store_json_cb cb,
                       void *data)
{
    struct op *op = op_new(st, OP_LIST_RUNS);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->limit = limit > 0 ? limit : 20;
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, dup_into(&op->s[0], app));
}
