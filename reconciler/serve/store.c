/* store.c — SQLite behind the service: operations queued on the loop thread
 * run in batches (one transaction per batch, one savepoint per operation)
 * on a worker thread, so the loop never waits for the disk and a burst of
 * webhooks costs one fsync. */
#include "serve/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "serve/store_int.h"

enum op_kind { OP_ACCEPT, OP_ROUTED, OP_RUN_START, OP_RUN_FINISH, OP_RUN_REQUEUE, OP_GET_RUN,
               OP_LIST_RUNS, OP_GET_TRIGGER, OP_HEARTBEAT, OP_TAKEOVER, OP_REFRESH, OP_REGISTER, OP_LEASES,
               OP_LIVE_PUT, OP_LIVE_GET };

struct op {
    struct op *next;
    enum op_kind kind;
    /* inputs (owned copies) */
    char *s[10];
    int64_t id, since;
    int prune, dry_run, limit;
    json_t *json; /* owned */
    /* outputs */
    int code;
    struct ws_err err;
    int64_t out_id;
    int duplicate;
    json_t *result;
    char notify[300]; /* told the other replicas after the commit ("" = nothing) */
    /* callbacks */
    ws_store_accept_cb accept_cb;
    ws_store_done_cb done_cb;
    ws_store_json_cb json_cb;
    void *data;
};

struct ws_store {
    uv_loop_t *loop;
    struct db *db;
    int64_t replica;       /* this replica's id in `replicas` (written by the worker at a
                              registration, read by the loop: atomic) */
    char *replica_name;
    int lease_ms;
    char describe[340];    /* "SQLite <path>" or "PostgreSQL <host:port/db>" */
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
    struct ws__pg_listener *listener; /* PostgreSQL: the other replicas' news */
};

/* --- the SQL both databases run ------------------------------------------------- */

int ws__db_query(struct db *db, json_t **rows, int64_t *changed, struct ws_err *err, const char *sql,
                 const char *types, ...)
{
    va_list ap;
    int rc;
    va_start(ap, types);
    rc = db->impl->query(db, rows, changed, err, sql, types, ap);
    va_end(ap);
    return rc;
}

static int starts(const char *p, const char *word)
{
    return strncmp(p, word, strlen(word)) == 0;
}

char *ws__db_rewrite(enum db_kind kind, const char *sql)
{
    struct ws_buf b = { 0 };
    int next = 1;
    for (const char *p = sql; *p;) {
        if (*p == '\'') { /* a literal: copied as is */
            const char *e = strchr(p + 1, '\'');
            size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
            ws_buf_append(&b, p, n);
            p += n;
        } else if (*p == '?') {
            char *end;
            long n = strtol(p + 1, &end, 10);
            if (end == p + 1)
                n = next++;
            if (kind == DB_PG)
                ws_buf_appendf(&b, "$%ld", n);
            else
                ws_buf_appendf(&b, "?%ld", n);
            p = end;
        } else if (starts(p, "@now_ms")) {
            ws_buf_appendf(&b, "%s", kind == DB_PG ? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
                                                   : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)");
            p += 7;
        } else if (starts(p, "@lock(")) {
            const char *e = strchr(p, ')');
            if (!e)
                break;
            if (kind == DB_PG)
                ws_buf_appendf(&b, "FOR UPDATE OF %.*s SKIP LOCKED", (int)(e - p - 6), p + 6);
            p = e + 1;
        } else if (starts(p, "@json(")) {
            const char *comma = strchr(p, ','), *e = strchr(p, ')');
            if (!comma || !e || comma > e)
                break;
            int nc = (int)(comma - p - 6), nk = (int)(e - comma - 1);
            if (kind == DB_PG)
                ws_buf_appendf(&b, "(%.*s::jsonb ->> '%.*s')", nc, p + 6, nk, comma + 1);
            else
                ws_buf_appendf(&b, "json_extract(%.*s, '$.%.*s')", nc, p + 6, nk, comma + 1);
            p = e + 1;
        } else {
            ws_buf_append(&b, p, 1);
            p++;
        }
    }
    if (!b.data) /* an empty statement, or out of memory */
        ws_buf_append(&b, "", 0);
    return b.data;
}

void ws__db_decode_json(json_t *row)
{
    static const char *const cols[] = { "report", "extra", "routing" };
    for (size_t i = 0; i < WS_ARRAY_SIZE(cols); i++) {
        json_t *v = json_object_get(row, cols[i]), *d;
        if (json_is_string(v) && (d = json_loads(json_string_value(v), 0, NULL)))
            json_object_set_new(row, cols[i], d); /* steals */
    }
}

#define Q(db, rows, err, ...) ws__db_query((db), (rows), NULL, (err), __VA_ARGS__)

static void notify_add(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify_add(struct op *op, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(op->notify);
    if (n && n + 2 < sizeof(op->notify))
        op->notify[n++] = ' ';
    va_start(ap, fmt);
    vsnprintf(op->notify + n, sizeof(op->notify) - n, fmt, ap);
    va_end(ap);
}

/* --- operations (worker thread) ---------------------------------------------- */

static const char accept_sql[] =
    "WITH k AS (SELECT x AS key FROM unnest(ARRAY[?1, ?2]) AS x WHERE x IS NOT NULL),"
    " dup AS (SELECT trigger_id FROM deliveries WHERE key IN (SELECT key FROM k) LIMIT 1),"
    " ins AS (INSERT INTO triggers (source, provider, repo, ref, before, after, app, revision,"
    "  prune, dry_run, extra, state, received_at, owner)"
    "  SELECT ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'received', ?14, ?15"
    "  WHERE NOT EXISTS (SELECT 1 FROM dup) RETURNING id),"
    " d AS (INSERT INTO deliveries (key, trigger_id, received_at) SELECT k.key, ins.id, ?14 FROM k, ins)"
    " SELECT (SELECT id FROM ins) AS id, (SELECT trigger_id FROM dup) AS dup";

static void accept_result(struct op *op, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);
    if (json_is_integer(json_object_get(row, "dup"))) {
        op->duplicate = 1;
        op->out_id = json_integer_value(json_object_get(row, "dup"));
    } else {
        op->out_id = json_integer_value(json_object_get(row, "id"));
    }
}

/* PostgreSQL, a burst of pushes: every one's statement, BEGIN and COMMIT
 * sent at once (one round trip for the batch). Not all pushes, or any
 * failure: WS_EINVAL / the error, and the batch runs the usual way. */
static int accept_pipelined(struct ws_store *st, struct ws_err *err)
{
    struct db_stmt *stmts;
    char **extras;
    size_t n = 0, i;
    struct op *op;
    int64_t now = ws_wall_s();
    int rc;
    for (op = st->batch; op; op = op->next, n++)
        if (op->kind != OP_ACCEPT || op->s[7])
            return WS_EINVAL;
    stmts = calloc(n, sizeof(*stmts));
    extras = calloc(n, sizeof(*extras));
    if (!stmts || !extras) {
        free(stmts);
        free(extras);
        return WS_ENOMEM;
    }
    for (op = st->batch, i = 0; op; op = op->next, i++) {
        struct db_stmt *q = &stmts[i];
        const char *sv[] = { op->s[0], op->s[9], op->s[1], op->s[2], op->s[3], op->s[4], op->s[5], op->s[6],
                             op->s[7], op->s[8] };
        extras[i] = op->json ? json_dumps(op->json, JSON_COMPACT) : NULL;
        q->name = "ws_accept";
        q->sql = accept_sql;
        q->types = "ssssssssssnnsii";
        for (size_t k = 0; k < 10; k++)
            q->vals[k] = sv[k];
        snprintf(q->nums[10], sizeof(q->nums[10]), "%d", op->prune);
        snprintf(q->nums[11], sizeof(q->nums[11]), "%d", op->dry_run);
        snprintf(q->nums[13], sizeof(q->nums[13]), "%lld", (long long)now);
        snprintf(q->nums[14], sizeof(q->nums[14]), "%lld", (long long)st->replica);
        q->vals[10] = q->nums[10];
        q->vals[11] = q->nums[11];
        q->vals[12] = extras[i];
        q->vals[13] = q->nums[13];
        q->vals[14] = q->nums[14];
    }
    rc = st->db->impl->pipeline(st->db, stmts, n, err);
    for (op = st->batch, i = 0; op; op = op->next, i++) {
        if (rc == 0) {
            op->code = 0;
            accept_result(op, stmts[i].rows);
        }
        json_decref(stmts[i].rows);
        free(extras[i]);
    }
    free(stmts);
    free(extras);
    return rc;
}

/* PostgreSQL, a push (no application named): the whole of do_accept in one
 * statement — one round trip. A replica storing the same delivery at the
 * same moment makes the deliveries insert fail (a unique key), and the
 * operation runs again: then it is a replay. */
static int accept_one_statement(struct ws_store *st, struct op *op, const char *extra, int64_t now)
{
    json_t *got = NULL;
    int rc = Q(st->db, &got, &op->err, accept_sql, "ssssssssssnnsii", op->s[0], op->s[9], op->s[1], op->s[2],
               op->s[3], op->s[4], op->s[5], op->s[6], op->s[7], op->s[8], op->prune, op->dry_run, extra, now,
               st->replica);
    if (rc < 0)
        return rc;
    accept_result(op, got);
    json_decref(got);
    return 0;
}

static int do_accept(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    json_t *got = NULL;
    char *extra = op->json ? json_dumps(op->json, JSON_COMPACT) : NULL;
    int64_t now = ws_wall_s();
    int rc;
    if (st->db->kind == DB_PG && !op->s[7]) {
        rc = accept_one_statement(st, op, extra, now);
        free(extra);
        return rc;
    }
    if (op->s[0] || op->s[9]) { /* the delivery id, or the same body again under another id */
        if ((rc = Q(db, &got, &op->err, "SELECT trigger_id FROM deliveries WHERE key IN (?, ?)", "ss", op->s[0],
                    op->s[9])) < 0)
            goto out;
        if (json_array_size(got)) {
            op->duplicate = 1;
            op->out_id = json_integer_value(json_object_get(json_array_get(got, 0), "trigger_id"));
            goto out;
        }
        json_decref(got);
        got = NULL;
    }
    if ((rc = Q(db, &got, &op->err,
                "INSERT INTO triggers (source, provider, repo, ref, before, after, app, revision,"
                " prune, dry_run, extra, state, received_at, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                "ssssssssnnssii", op->s[1], op->s[2], op->s[3], op->s[4], op->s[5], op->s[6], op->s[7], op->s[8],
                op->prune, op->dry_run, extra, op->s[7] ? "routed" : "received", now, st->replica)) < 0)
        goto out;
    op->out_id = json_integer_value(json_object_get(json_array_get(got, 0), "id"));
    /* the delivery's keys: a replica that stored the same delivery at the
       same moment makes this insert fail (a unique key): then it is a
       replay, seen when the operation runs again */
    for (int k = 0; k < 10; k += 9)
        if (op->s[k] && (rc = Q(db, NULL, &op->err, "INSERT INTO deliveries (key, trigger_id, received_at) VALUES (?,?,?)",
                                "sii", op->s[k], op->out_id, now)) < 0)
            goto out;
    /* A manual request (or a retry) names its application: pending at once.
     * It replaces a pending run, except that a dry run never replaces a real
     * one and a retry never replaces anything (what is pending is newer). */
    if (op->s[7]) {
        if ((rc = Q(db, NULL, &op->err,
                    "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
                    " VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(app) DO UPDATE SET trigger_id = excluded.trigger_id,"
                    " revision = excluded.revision, prune = excluded.prune, dry_run = excluded.dry_run,"
                    " queued_at = excluded.queued_at"
                    " WHERE ?7 = 0 AND (excluded.dry_run = 0 OR pending.dry_run = 1)",
                    "sisnnin", op->s[7], op->out_id, op->s[8], op->prune, op->dry_run, now,
                    op->s[1] && strcmp(op->s[1], "retry") == 0)) < 0)
            goto out;
        notify_add(op, "pending %s", op->s[7]);
    }
out:
    json_decref(got);
    free(extra);
    return rc < 0 ? rc : 0;
}

static int do_routed(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    json_t *v;
    size_t i;
    int64_t now = ws_wall_s(), changed = 0;
    int rc = 0;
    char *detail = op->s[1] ? strdup(op->s[1]) : json_dumps(op->json, JSON_COMPACT);
    /* only while this replica holds the trigger: one that another took over
       (this one was thought gone) is routed there, not twice */
    if ((rc = ws__db_query(db, NULL, &changed, &op->err,
                           "UPDATE triggers SET state = ?, detail = ?, routed_at = ?, routing = ?"
                           " WHERE id = ? AND (owner = ? OR owner IS NULL) AND state = 'received'",
                           "ssisii", op->s[0], detail, now, op->s[2], op->id, st->replica)) < 0)
        goto out;
    if (!changed) {
        rc = ws_err_set(&op->err, WS_ECONFLICT, "store: trigger %lld was routed already, or by another replica",
                        (long long)op->id);
        goto out;
    }
    json_array_foreach(op->json, i, v) {
        const char *app = json_string_value(json_object_get(v, "app"));
        const char *rev = json_string_value(json_object_get(v, "revision"));
        if (!app)
            continue;
        if (json_is_true(json_object_get(v, "manual"))) {
            /* Argo CD's manual sync policy: the push only makes the application
               OutOfSync at the pushed commit; nothing is queued. */
            if ((rc = Q(db, NULL, &op->err,
                        "INSERT INTO awaiting (app, trigger_id, revision, since) VALUES (?,?,?,?)"
                        " ON CONFLICT(app) DO UPDATE SET trigger_id = excluded.trigger_id,"
                        " revision = excluded.revision WHERE excluded.trigger_id > awaiting.trigger_id",
                        "sisi", app, op->id, json_string_value(json_object_get(v, "commit")), now)) < 0)
                goto out;
            notify_add(op, "awaiting %s", app);
            continue;
        }
        /* Pushes of one repository are routed in order, so a push replaces
           what is pending unless that came later (a manual run asked for after
           this push arrived); it always replaces a pending dry run. */
        if ((rc = Q(db, NULL, &op->err,
                    "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
                    " VALUES (?,?,?,0,0,?) ON CONFLICT(app) DO UPDATE SET"
                    " trigger_id = excluded.trigger_id, revision = excluded.revision,"
                    " prune = 0, dry_run = 0, queued_at = excluded.queued_at"
                    " WHERE excluded.trigger_id > pending.trigger_id OR pending.dry_run = 1",
                    "sisi", app, op->id, rev, now)) < 0)
            goto out;
        notify_add(op, "pending %s", app);
    }
out:
    free(detail);
    return rc;
}

static int do_run_start(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    json_t *got = NULL, *row, *busy = NULL, *ins = NULL;
    int rc;
    /* the pending run, unless another replica is taking it right now */
    if ((rc = Q(db, &got, &op->err,
                "SELECT p.app, p.trigger_id AS trigger, p.revision, p.prune, p.dry_run AS \"dryRun\","
                " t.extra, t.owner AS \"triggerOwner\", t.received_at AS \"receivedAt\""
                " FROM pending p LEFT JOIN triggers t ON t.id = p.trigger_id WHERE p.app = ? @lock(p)",
                "s", op->s[0])) < 0)
        return rc;
    if (!(row = json_array_get(got, 0)))
        goto out;
    /* at most one run of an application at a time, across replicas */
    if ((rc = Q(db, &busy, &op->err, "SELECT id, owner FROM runs WHERE app = ? AND state = 'running'", "s",
                op->s[0])) < 0)
        goto out;
    if (json_array_size(busy)) {
        op->result = json_pack("{s:b, s:O}", "busy", 1, "run", json_object_get(json_array_get(busy, 0), "id"));
        goto out;
    }
    if ((rc = Q(db, NULL, &op->err, "DELETE FROM pending WHERE app = ?", "s", op->s[0])) < 0 ||
        (rc = Q(db, &ins, &op->err,
                "INSERT INTO runs (app, trigger_id, revision, prune, dry_run, state, started_at, owner)"
                " VALUES (?,?,?,?,?, 'running', ?, ?) RETURNING id",
                "sisnnii", op->s[0], json_integer_value(json_object_get(row, "trigger")),
                json_string_value(json_object_get(row, "revision")),
                (int)json_integer_value(json_object_get(row, "prune")),
                (int)json_integer_value(json_object_get(row, "dryRun")), ws_wall_s(), st->replica)) < 0)
        goto out;
    json_object_set(row, "id", json_object_get(json_array_get(ins, 0), "id"));
    op->result = json_incref(row);
    notify_add(op, "run %s", op->s[0]);
out:
    json_decref(got);
    json_decref(busy);
    json_decref(ins);
    return rc;
}

static int do_run_finish(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    char *report = op->json ? json_dumps(op->json, JSON_COMPACT) : NULL;
    json_t *got = NULL;
    int rc = Q(db, &got, &op->err,
               "UPDATE runs SET state = ?, message = ?, report = ?, finished_at = ?"
               " WHERE id = ? AND state = 'running' AND (owner = ? OR owner IS NULL) RETURNING app",
               "sssiii", op->s[0], op->s[1], report, ws_wall_s(), op->id, st->replica);
    free(report);
    if (rc == 0 && !json_array_size(got))
        rc = ws_err_set(&op->err, WS_ECONFLICT,
                        "store: run %lld is no longer this replica's (it was taken over)", (long long)op->id);
    /* a successful sync asked after the push that made a manual application
       OutOfSync settles it (a dry run does not) */
    if (rc == 0 && strcmp(op->s[0], "Succeeded") == 0)
        rc = Q(db, NULL, &op->err,
               "DELETE FROM awaiting WHERE app = (SELECT app FROM runs WHERE id = ?1 AND dry_run = 0)"
               " AND trigger_id <= (SELECT COALESCE(trigger_id, 0) FROM runs WHERE id = ?1)",
               "i", op->id);
    if (rc == 0)
        notify_add(op, "done %s", json_string_value(json_object_get(json_array_get(got, 0), "app")));
    json_decref(got);
    return rc;
}

/* Runs that did not finish go back to pending unless something newer is:
 * `where` picks them among the running runs, with `arg` as ?2 if it uses it. */
static int requeue_where(struct db *db, struct ws_err *err, const char *message, const char *where, int64_t arg,
                         json_t **apps)
{
    char sql[700];
    int rc;
    snprintf(sql, sizeof(sql),
             "INSERT INTO pending (app, trigger_id, revision, prune, dry_run, queued_at)"
             " SELECT app, COALESCE(trigger_id, 0), revision, prune, dry_run, ?1 FROM runs"
             " WHERE state = 'running' AND %s ON CONFLICT(app) DO NOTHING",
             where);
    /* SQLite refuses a value for a parameter past the statement's last */
    if ((rc = Q(db, NULL, err, sql, strstr(where, "?2") ? "ii" : "i", ws_wall_s(), arg)) < 0)
        return rc;
    snprintf(sql, sizeof(sql),
             "UPDATE runs SET state = 'Interrupted', finished_at = ?1, message = ?3 WHERE state = 'running' AND %s"
             " RETURNING id AS run, app",
             where);
    return Q(db, apps, err, sql, "iis", ws_wall_s(), arg, message);
}

static int do_requeue(struct ws_store *st, struct op *op)
{
    json_t *apps = NULL;
    int rc = requeue_where(st->db, &op->err, "the service stopped during this run; it runs again at the next start",
                           "id = ?2", op->id, &apps);
    if (rc == 0 && json_array_size(apps))
        notify_add(op, "pending %s", json_string_value(json_object_get(json_array_get(apps, 0), "app")));
    json_decref(apps);
    return rc;
}

static int do_get(struct ws_store *st, struct op *op, const char *sql)
{
    json_t *got = NULL;
    int rc;
    if ((rc = Q(st->db, &got, &op->err, sql, "i", op->id)) < 0)
        return rc;
    op->result = json_incref(json_array_get(got, 0)); /* NULL when none */
    json_decref(got);
    return 0;
}

static int do_list_runs(struct ws_store *st, struct op *op)
{
    return Q(st->db, &op->result, &op->err,
             "SELECT id, app, trigger_id AS trigger, revision, state, message, started_at AS \"startedAt\","
             " finished_at AS \"finishedAt\", dry_run AS \"dryRun\" FROM runs WHERE (?1 IS NULL OR app = ?1)"
             " ORDER BY id DESC LIMIT ?2",
             "sn", op->s[0], op->limit);
}

/* This replica is alive for lease_ms more; {ok, replicas}: ok false when its
 * lease had run out (another may have taken its work over). */
static int do_heartbeat(struct ws_store *st, struct op *op)
{
    json_t *n = NULL;
    int64_t changed = 0;
    int rc;
    if ((rc = ws__db_query(st->db, NULL, &changed, &op->err,
                           "UPDATE replicas SET lease_until = @now_ms + ? WHERE id = ? AND lease_until >= @now_ms", "ii",
                           (int64_t)st->lease_ms, st->replica)) < 0 ||
        (rc = Q(st->db, &n, &op->err, "SELECT count(*) AS n FROM replicas WHERE lease_until >= @now_ms", "")) < 0)
        return rc;
    op->result = json_pack("{s:b, s:O}", "ok", changed > 0, "replicas", json_object_get(json_array_get(n, 0), "n"));
    json_decref(n);
    return 0;
}

/* The work of replicas whose lease ran out: their running runs are
 * Interrupted and pending again (from the start, as after a restart), their
 * unrouted triggers this replica's to route; each such replica taken by one
 * replica only (its row locked, others skip it). Also what an older
 * wavesync left without an owner. {runs: [{run, app}], triggers: [...]} */
static int do_takeover(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    json_t *dead = NULL, *runs = json_array(), *trigs = json_array(), *v;
    size_t i;
    char msg[400];
    int rc;
    if ((rc = Q(db, &dead, &op->err,
                "SELECT id, name FROM replicas WHERE lease_until < @now_ms AND id <> ? ORDER BY id LIMIT 20 @lock(replicas)",
                "i", st->replica)) < 0)
        goto out;
    json_array_foreach(dead, i, v) {
        json_t *got = NULL;
        int64_t id = json_integer_value(json_object_get(v, "id"));
        snprintf(msg, sizeof(msg), "replica %s (%lld) stopped renewing its lease during this run; it runs again",
                 json_string_value(json_object_get(v, "name")), (long long)id);
        if ((rc = requeue_where(db, &op->err, msg, "owner = ?2", id, &got)) < 0)
            goto out;
        json_array_extend(runs, got);
        json_decref(got);
        if ((rc = Q(db, &got, &op->err,
                    "UPDATE triggers SET owner = ? WHERE owner = ? AND state = 'received'"
                    " RETURNING id, source, provider, repo, ref, before, after, extra",
                    "ii", st->replica, id)) < 0)
            goto out;
        json_array_extend(trigs, got);
        json_decref(got);
        if ((rc = Q(db, NULL, &op->err, "DELETE FROM leases WHERE owner = ?", "i", id)) < 0 ||
            (rc = Q(db, NULL, &op->err, "DELETE FROM replicas WHERE id = ?", "i", id)) < 0)
            goto out;
        ws_info("store: took over the work of replica %s (%lld): %zu run(s) queued again",
                json_string_value(json_object_get(v, "name")), (long long)id, json_array_size(runs));
    }
    /* what a wavesync before replicas left: no owner */
    if (!json_array_size(dead) && st->db->kind == DB_SQLITE) {
        json_t *got = NULL;
        if ((rc = requeue_where(db, &op->err, "the service stopped during this run; it runs again at the next start",
                                "owner IS NULL", 0, &got)) < 0)
            goto out;
        json_array_extend(runs, got);
        json_decref(got);
        if ((rc = Q(db, &got, &op->err,
                    "UPDATE triggers SET owner = ? WHERE owner IS NULL AND state = 'received'"
                    " RETURNING id, source, provider, repo, ref, before, after, extra",
                    "i", st->replica)) < 0)
            goto out;
        json_array_extend(trigs, got);
        json_decref(got);
    }
    /* oldest first: routed in the order they arrived */
    json_array_foreach(runs, i, v)
        notify_add(op, "pending %s", json_string_value(json_object_get(v, "app")));
    op->result = json_pack("{s:O, s:O}", "runs", runs, "triggers", trigs);
out:
    json_decref(dead);
    json_decref(runs);
    json_decref(trigs);
    return rc;
}

/* Columns stored as JSON text, parsed in place (on the worker): a column
 * that does not parse (or is NULL) becomes null. */
static void parse_columns(json_t *rows, const char *const *cols, size_t ncols)
{
    json_t *row;
    size_t i;
    json_array_foreach(rows, i, row)
        for (size_t c = 0; c < ncols; c++) {
            const char *text = json_string_value(json_object_get(row, cols[c]));
            json_object_set_new(row, cols[c], text ? json_loads(text, 0, NULL) : NULL); /* steals; NULL: null */
        }
}

/* What other replicas did (PostgreSQL): the applications with a pending
 * run, the running runs and their owners, the runs finished after run
 * `since`, the manual applications awaiting a sync, and the live-state
 * summaries written from op->since (wall ms) on. */
static int do_refresh(struct ws_store *st, struct op *op)
{
    static const char *const cols[] = { "summary" };
    struct db *db = st->db;
    json_t *pending = NULL, *running = NULL, *finished = NULL, *awaiting = NULL, *live = NULL;
    int rc;
    if ((rc = Q(db, &pending, &op->err, "SELECT app FROM pending ORDER BY trigger_id", "")) < 0 ||
        (rc = Q(db, &running, &op->err, "SELECT id AS run, app, owner FROM runs WHERE state = 'running'", "")) < 0 ||
        (rc = Q(db, &finished, &op->err,
                "SELECT id, app, state AS result, @json(report,revision) AS revision, finished_at AS \"finishedAt\","
                " dry_run AS \"dryRun\", trigger_id AS trigger, owner, message"
                " FROM runs WHERE id >= ? AND finished_at IS NOT NULL ORDER BY id",
                "i", op->id)) < 0 ||
        (rc = Q(db, &awaiting, &op->err, "SELECT app, trigger_id AS trigger, revision, since FROM awaiting", "")) < 0 ||
        (rc = Q(db, &live, &op->err,
                "SELECT app, owner, updated_at AS \"updatedAt\", summary FROM live WHERE updated_at >= ?"
                " ORDER BY updated_at",
                "i", op->since)) < 0)
        goto out;
    parse_columns(live, cols, WS_ARRAY_SIZE(cols));
    op->result = json_pack("{s:O, s:O, s:O, s:O, s:O}", "pending", pending, "running", running, "finished", finished,
                           "awaiting", awaiting, "live", live);
out:
    json_decref(live);
    json_decref(pending);
    json_decref(running);
    json_decref(finished);
    json_decref(awaiting);
    return rc;
}

/* Work shared out by name ("repo:<name>"): each live replica holds about
 * its share (the names over the live replicas, rounded up; rounded down
 * while some replica has less than that) — it keeps what it holds, lets go
 * of what is over its share or no longer named, and takes names nobody holds
 * (a replica gone, a name new) until it has its share. The primary key
 * decides when two replicas reach for one name. Result: the names this
 * replica holds. */
static int do_leases(struct ws_store *st, struct op *op)
{
    struct db *db = st->db;
    json_t *got = NULL, *mine = json_array(), *v;
    size_t i, n = json_array_size(op->json), live, share;
    int64_t now = ws_wall_s(), changed;
    int rc;
    if ((rc = Q(db, &got, &op->err, "SELECT count(*) AS n FROM replicas WHERE lease_until >= @now_ms", "")) < 0)
        goto out;
    live = (size_t)json_integer_value(json_object_get(json_array_get(got, 0), "n"));
    share = live ? (n + live - 1) / live : n;
    json_decref(got);
    got = NULL;
    /* a replica below its lower share (one that just came): the others keep
       only that much, so that it finds names to take */
    if (live > 1 && n % live) {
        if ((rc = Q(db, &got, &op->err,
                    "SELECT count(*) AS n FROM replicas r WHERE r.lease_until >= @now_ms AND"
                    " (SELECT count(*) FROM leases l WHERE l.owner = r.id) < ?",
                    "i", (int64_t)(n / live))) < 0)
            goto out;
        if (json_integer_value(json_object_get(json_array_get(got, 0), "n")) > 0)
            share = n / live;
        json_decref(got);
        got = NULL;
    }
    /* the leases of replicas whose own lease ran out are free */
    if ((rc = Q(db, NULL, &op->err,
                "DELETE FROM leases WHERE owner NOT IN (SELECT id FROM replicas WHERE lease_until >= @now_ms)", "")) < 0 ||
        (rc = Q(db, &got, &op->err, "SELECT name FROM leases WHERE owner = ? ORDER BY name", "i", st->replica)) < 0)
        goto out;
    json_array_foreach(got, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        int named = 0;
        json_t *w;
        size_t k;
        json_array_foreach(op->json, k, w) named |= strcmp(json_string_value(w), name) == 0;
        if (named && json_array_size(mine) < share) {
            json_array_append_new(mine, json_string(name)); /* steals */
        } else if ((rc = Q(db, NULL, &op->err, "DELETE FROM leases WHERE name = ? AND owner = ?", "si", name,
                           st->replica)) < 0) {
            goto out;
        }
    }
    json_array_foreach(op->json, i, v) {
        if (json_array_size(mine) >= share)
            break;
        if ((rc = ws__db_query(db, NULL, &changed, &op->err,
                               "INSERT INTO leases (name, owner, since) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                               "sii", json_string_value(v), st->replica, now)) < 0)
            goto out;
        if (changed)
            json_array_append(mine, v);
    }
    op->result = json_incref(mine);
out:
    json_decref(got);
    json_decref(mine);
    return rc;
}

/* The live state of applications this replica follows, for the others'
 * API: op->json [{app, lease, summary, resources}], each row written only
 * while this replica holds `lease` (the cluster's: a replica that let it go
 * cannot overwrite what the new holder wrote). Result: {written: n}. */
static int do_live_put(struct ws_store *st, struct op *op)
{
    json_t *v;
    size_t i;
    int64_t written = 0, changed;
    int rc = 0;
    json_array_foreach(op->json, i, v) {
        char *sum = json_dumps(json_object_get(v, "summary"), JSON_COMPACT);
        char *res = json_dumps(json_object_get(v, "resources"), JSON_COMPACT);
        if (!sum)
            rc = ws_err_set(&op->err, WS_ENOMEM, "out of memory");
        else
            rc = ws__db_query(st->db, NULL, &changed, &op->err,
                              "INSERT INTO live (app, owner, updated_at, summary, resources)"
                              " SELECT ?1, ?2, @now_ms, ?3, ?4 WHERE EXISTS"
                              " (SELECT 1 FROM leases WHERE name = ?5 AND owner = ?2)"
                              " ON CONFLICT(app) DO UPDATE SET owner = excluded.owner,"
                              " updated_at = excluded.updated_at, summary = excluded.summary,"
                              " resources = excluded.resources",
                              "sisss", json_string_value(json_object_get(v, "app")), st->replica, sum, res,
                              json_string_value(json_object_get(v, "lease")));
        free(sum);
        free(res);
        if (rc < 0)
            return rc;
        written += changed;
    }
    if (written)
        notify_add(op, "live");
    op->result = json_pack("{s:I}", "written", (json_int_t)written);
    return 0;
}

static int do_live_get(struct ws_store *st, struct op *op)
{
    static const char *const cols[] = { "summary", "resources" };
    json_t *got = NULL;
    int rc;
    if ((rc = Q(st->db, &got, &op->err,
                "SELECT app, owner, updated_at AS \"updatedAt\", summary, resources FROM live WHERE app = ?", "s",
                op->s[0])) < 0)
        return rc;
    parse_columns(got, cols, WS_ARRAY_SIZE(cols));
    op->result = json_incref(json_array_get(got, 0)); /* NULL when none */
    json_decref(got);
    return 0;
}

static int register_replica(struct ws_store *st, struct op *op);

static int do_op(struct ws_store *st, struct op *op)
{
    switch (op->kind) {
    case OP_ACCEPT: return do_accept(st, op);
    case OP_ROUTED: return do_routed(st, op);
    case OP_RUN_START: return do_run_start(st, op);
    case OP_RUN_FINISH: return do_run_finish(st, op);
    case OP_RUN_REQUEUE: return do_requeue(st, op);
    case OP_GET_RUN:
        return do_get(st, op,
                      "SELECT id, app, trigger_id AS trigger, revision, prune, dry_run AS \"dryRun\","
                      " state, message, started_at AS \"startedAt\", finished_at AS \"finishedAt\","
                      " report FROM runs WHERE id = ?");
    case OP_LIST_RUNS: return do_list_runs(st, op);
    case OP_GET_TRIGGER:
        return do_get(st, op,
                      "SELECT id, source, provider, repo, ref, before, after, app, revision,"
                      " state, detail, received_at AS \"receivedAt\", routed_at AS \"routedAt\", routing"
                      " FROM triggers WHERE id = ?");
    case OP_HEARTBEAT: return do_heartbeat(st, op);
    case OP_TAKEOVER: return do_takeover(st, op);
    case OP_REFRESH: return do_refresh(st, op);
    case OP_REGISTER: return register_replica(st, op);
    case OP_LEASES: return do_leases(st, op);
    case OP_LIVE_PUT: return do_live_put(st, op);
    case OP_LIVE_GET: return do_live_get(st, op);
    }
    return WS_EINVAL;
}

static void op_reset(struct op *op)
{
    json_decref(op->result);
    op->result = NULL;
    op->duplicate = 0;
    op->notify[0] = '\0';
}

static void batch_run(struct ws_store *st);

/* A burst of pushes on PostgreSQL goes through in one round trip, in a
 * transaction of its own, whatever else the batch holds (the runs, reads
 * and leases of several replicas come in between all the time); the rest,
 * or everything when that failed, the usual way. The pushes' callbacks come
 * first. SQLite: the batch as it came. */
static void batch_work(uv_work_t *w)
{
    struct ws_store *st = ws_container_of(w, struct ws_store, work);
    const struct db_impl *db = st->db->impl;
    struct op *pushes = NULL, **pt = &pushes, *rest = NULL, **rt = &rest, *op, *next;
    struct ws_err err;
    int rc = WS_EINVAL;
    if (!db->pipeline) {
        batch_run(st);
        return;
    }
    for (op = st->batch; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (op->kind == OP_ACCEPT && !op->s[7]) {
            *pt = op;
            pt = &op->next;
        } else {
            *rt = op;
            rt = &op->next;
        }
    }
    st->batch = pushes;
    ws_err_clear(&err);
    if (pushes && pushes->next && (!db->ensure || db->ensure(st->db, &err) == 0))
        rc = accept_pipelined(st, &err);
    if (rc < 0) { /* not tried, or failed: every operation the usual way */
        for (op = pushes; op; op = op->next)
            op_reset(op);
        *pt = rest;
        st->batch = pushes;
        batch_run(st);
        return;
    }
    st->batch = rest;
    if (rest)
        batch_run(st);
    *pt = rest;
    st->batch = pushes;
}

/* One batch, one transaction: each operation in a savepoint, so that one
 * that fails leaves the others; one that met another replica's write at the
 * same moment (a deadlock, a unique key) runs once more. What they tell the
 * other replicas goes out at the commit. */
static void batch_run(struct ws_store *st)
{
    const struct db_impl *db = st->db->impl;
    struct ws_buf note = { 0 };
    struct ws_err err;
    struct op *op;
    int rc;
    ws_err_clear(&err);
    if (db->ensure && (rc = db->ensure(st->db, &err)) < 0)
        goto fail;
    if ((rc = db->exec(st->db, db->begin, &err)) < 0)
        goto fail;
    /* first without savepoints (two round trips less per operation): nearly
       always nothing fails; when something does, the batch is undone and run
       again, each operation in its savepoint */
    {
        int ok = 1;
        for (op = st->batch; op && ok; op = op->next)
            ok = (op->code = do_op(st, op)) == 0;
        for (op = st->batch; ok && op; op = op->next)
            if (op->notify[0] && db->notify && note.len < 7000)
                ws_buf_appendf(&note, "%s%s", note.len ? " " : "", op->notify);
        if (ok && (!note.len || db->notify(st->db, note.len < 7000 ? note.data : "refresh", &err) == 0) &&
            db->exec(st->db, "COMMIT", &err) == 0) {
            ws_buf_free(&note);
            return;
        }
        db->exec(st->db, "ROLLBACK", NULL);
        ws_buf_free(&note);
        for (op = st->batch; op; op = op->next)
            op_reset(op);
        ws_err_clear(&err);
        if ((db->ensure && (rc = db->ensure(st->db, &err)) < 0) || (rc = db->exec(st->db, db->begin, &err)) < 0)
            goto fail;
    }
    for (op = st->batch; op; op = op->next) {
        for (int attempt = 0; attempt < 3; attempt++) {
            if ((op->code = db->exec(st->db, "SAVEPOINT op", &op->err)) == 0 && (op->code = do_op(st, op)) == 0)
                break;
            db->exec(st->db, "ROLLBACK TO SAVEPOINT op", NULL);
            op_reset(op);
            if (!db->retryable || !db->retryable(st->db))
                break;
        }
        db->exec(st->db, "RELEASE SAVEPOINT op", NULL);
        if (op->code == 0 && op->notify[0] && db->notify && note.len < 7000)
            ws_buf_appendf(&note, "%s%s", note.len ? " " : "", op->notify);
    }
    /* PostgreSQL holds a notification to 8,000 bytes: past that, "refresh"
       has every listener read it all again */
    if (note.len && (rc = db->notify(st->db, note.len < 7000 ? note.data : "refresh", &err)) < 0)
        goto fail_rollback;
    ws_buf_free(&note);
    if ((rc = db->exec(st->db, "COMMIT", &err)) == 0)
        return;
fail_rollback:
    db->exec(st->db, "ROLLBACK", NULL);
fail:
    ws_buf_free(&note);
    for (op = st->batch; op; op = op->next) {
        op->code = rc;
        op->err = err;
        op_reset(op);
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

/* A transaction at startup (BLOCKING): fn(st, op), committed. */
static int startup_tx(struct ws_store *st, int (*fn)(struct ws_store *, struct op *), struct op *op, struct ws_err *err)
{
    const struct db_impl *db = st->db->impl;
    int rc;
    if ((rc = db->exec(st->db, db->begin, err)) < 0)
        return rc;
    if ((rc = fn(st, op)) < 0) {
        *err = op->err;
        db->exec(st->db, "ROLLBACK", NULL);
        return rc;
    }
    if (op->notify[0] && db->notify && (rc = db->notify(st->db, op->notify, err)) < 0) {
        db->exec(st->db, "ROLLBACK", NULL);
        return rc;
    }
    return db->exec(st->db, "COMMIT", err);
}

/* This replica in `replicas`: an earlier run of it (SQLite: any, the state
 * folder's lock says it is gone; PostgreSQL: one of the same name) is gone,
 * and what it held is taken over at once rather than when its lease runs
 * out. Deliveries older than 90 days are forgotten (replay protection). */
static int register_replica(struct ws_store *st, struct op *op)
{
    json_t *got = NULL;
    int rc;
    if ((rc = Q(st->db, NULL, &op->err, "DELETE FROM deliveries WHERE received_at < ?", "i",
                ws_wall_s() - 90 * 24 * 3600)) < 0 ||
        (rc = Q(st->db, NULL, &op->err, "UPDATE replicas SET lease_until = 0 WHERE name = ? OR ? = 1", "sn",
                st->replica_name, st->db->kind == DB_SQLITE)) < 0 ||
        (rc = Q(st->db, &got, &op->err,
                "INSERT INTO replicas (name, started_at, lease_until) VALUES (?, ?, @now_ms + ?) RETURNING id", "sii",
                st->replica_name, ws_wall_s(), (int64_t)st->lease_ms)) < 0)
        return rc;
    __atomic_store_n(&st->replica, json_integer_value(json_object_get(json_array_get(got, 0), "id")), __ATOMIC_RELEASE);
    json_decref(got);
    if ((rc = do_takeover(st, op)) < 0)
        return rc;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(op->result, "runs"), i, v)
        ws_warn("store: run %lld of %s was interrupted by a stop; it runs again",
                (long long)json_integer_value(json_object_get(v, "run")),
                json_string_value(json_object_get(v, "app")));
    return 0;
}

static int open_db(struct ws_store **out, uv_loop_t *loop, struct db *db, const struct ws_store_opts *o,
                   struct ws_err *err)
{
    struct ws_store *st = calloc(1, sizeof(*st));
    struct op op;
    char host[128] = "wavesync";
    int rc;
    *out = NULL;
    if (!st) {
        db->impl->close(db);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    st->loop = loop;
    st->db = db;
    st->queued_tail = &st->queued;
    st->lease_ms = o->lease_ms > 0 ? o->lease_ms : WS_STORE_LEASE_MS;
    gethostname(host, sizeof(host) - 1);
    st->replica_name = strdup(o->replica && *o->replica ? o->replica : host);
    if (db->kind == DB_PG)
        snprintf(st->describe, sizeof(st->describe), "PostgreSQL (%s)", o->where ? o->where : "?");
    else
        snprintf(st->describe, sizeof(st->describe), "SQLite %s", o->path);
    memset(&op, 0, sizeof(op));
    if (!st->replica_name)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    else
        rc = startup_tx(st, register_replica, &op, err);
    json_decref(op.result);
    if (rc < 0) {
        db->impl->close(db);
        free(st->replica_name);
        free(st);
        return rc;
    }
    uv_check_init(loop, &st->check);
    uv_unref((uv_handle_t *)&st->check);
    uv_idle_init(loop, &st->idle); /* referenced: active only while operations wait */
    *out = st;
    return 0;
}

int ws_store_open(struct ws_store **out, uv_loop_t *loop, const char *path, struct ws_err *err)
{
    struct ws_store_opts o = { .path = path };
    return ws_store_open_opts(out, loop, &o, err);
}

int ws_store_open_opts(struct ws_store **out, uv_loop_t *loop, const struct ws_store_opts *o, struct ws_err *err)
{
    struct db *db = NULL;
    int rc;
    *out = NULL;
    if (o->postgres)
        rc = ws__db_pg_open(&db, o, NULL, err);
    else
        rc = ws__db_sqlite_open(&db, o->path, err);
    if (rc < 0)
        return rc;
    if ((rc = open_db(out, loop, db, o, err)) < 0 && o->path && !o->postgres && !strstr(err->msg, o->path))
        ws_err_prefix(err, "%s", o->path);
    return rc;
}

int ws_store_migrate(const struct ws_store_opts *o, int *from, int *to, struct ws_err *err)
{
    struct db *db = NULL;
    int rc;
    if (o->postgres) {
        rc = ws__db_pg_open(&db, o, from, err);
        *to = WS_STORE_PG_SCHEMA_VERSION;
    } else {
        rc = ws__db_sqlite_open(&db, o->path, err);
        *from = -1; /* SQLite migrates at open and says so in the log */
        *to = WS_STORE_SCHEMA_VERSION;
    }
    if (rc == 0)
        db->impl->close(db);
    return rc;
}

int ws_store_recover(json_t **out, struct ws_store *st, struct ws_err *err)
{
    struct db *db = st->db;
    json_t *triggers = NULL, *pending = NULL, *awaiting = NULL, *last = NULL;
    int rc;
    *out = NULL;
    if ((rc = Q(db, &triggers, err,
                "SELECT id, source, provider, repo, ref, before, after, extra FROM triggers"
                " WHERE state = 'received' AND owner = ? ORDER BY id",
                "i", st->replica)) < 0 ||
        (rc = Q(db, &pending, err,
                "SELECT app, trigger_id AS trigger, revision, prune, dry_run AS \"dryRun\" FROM pending"
                " ORDER BY trigger_id",
                "")) < 0 ||
        (rc = Q(db, &awaiting, err, "SELECT app, trigger_id AS trigger, revision, since FROM awaiting ORDER BY app",
                "")) < 0 ||
        /* each application's newest finished run: what it was last synced to */
        (rc = Q(db, &last, err,
                "SELECT r.id, r.app, r.state AS result, @json(r.report,revision) AS revision,"
                " r.finished_at AS \"finishedAt\" FROM runs r"
                " JOIN (SELECT app, MAX(id) AS id FROM runs WHERE finished_at IS NOT NULL AND dry_run = 0"
                " GROUP BY app) m ON m.id = r.id",
                "")) < 0) {
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
    st->db->impl->close(st->db);
    free(st->replica_name);
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
    ws__pg_listen_stop(st->listener);
    st->listener = NULL;
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

int ws_store_heartbeat(struct ws_store *st, ws_store_json_cb cb, void *data)
{
    return get_op(st, OP_HEARTBEAT, 0, cb, data);
}

int ws_store_takeover(struct ws_store *st, ws_store_json_cb cb, void *data)
{
    return get_op(st, OP_TAKEOVER, 0, cb, data);
}

int ws_store_refresh(struct ws_store *st, int64_t since_run, int64_t since_live_ms, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, OP_REFRESH);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->id = since_run;
    op->since = since_live_ms;
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, 0);
}

int ws_store_live_put(struct ws_store *st, const json_t *rows, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, OP_LIVE_PUT);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->json = json_deep_copy(rows); /* the worker reads it later */
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, !op->json);
}

int ws_store_live_get(struct ws_store *st, const char *app, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, OP_LIVE_GET);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, dup_into(&op->s[0], app));
}

int ws_store_shared(const struct ws_store *st)
{
    return st->db->kind == DB_PG;
}

int64_t ws_store_replica(const struct ws_store *st)
{
    return __atomic_load_n(&st->replica, __ATOMIC_ACQUIRE);
}

const char *ws_store_replica_name(const struct ws_store *st)
{
    return st->replica_name;
}

int ws_store_lease_ms(const struct ws_store *st)
{
    return st->lease_ms;
}

const char *ws_store_describe(const struct ws_store *st)
{
    return st->describe;
}

int ws_store_listen(struct ws_store *st, void (*cb)(const char *payload, void *data), void *data)
{
    if (st->db->kind != DB_PG || st->listener)
        return 0;
    return ws__pg_listen_start(&st->listener, st->loop, st->db, cb, data);
}

int ws_store_register(struct ws_store *st, ws_store_json_cb cb, void *data)
{
    return get_op(st, OP_REGISTER, 0, cb, data);
}

int ws_store_leases(struct ws_store *st, const json_t *names, ws_store_json_cb cb, void *data)
{
    struct op *op = op_new(st, OP_LEASES);
    if (!op)
        return st->closing ? WS_ECANCELED : WS_ENOMEM;
    op->json = json_deep_copy(names); /* the worker reads it later */
    op->json_cb = cb;
    op->data = data;
    return enqueue(st, op, !op->json);
}
