/* store_pg.c — the store in PostgreSQL, shared by several `wavesync serve`
 * replicas. One blocking libpq connection, used by the store's worker thread
 * (one batch at a time); a lost connection is made again, at most every
 * backoff interval (0.25 s doubling to 1 s), and meanwhile every operation
 * fails at once with WS_ENET — a webhook then gets 503, never a 202 for a
 * delivery that is not stored. */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "serve/store.h"
#include "serve/store_int.h"

struct pg {
    struct db db;
    PGconn *conn;
    char *keys[10], *vals[10]; /* the connection's parameters, for the listener's own */
    char *host, *port;      /* the server the first connection reached (NULL: a socket) */
    char where[300];        /* host:port/dbname, for messages (no password) */
    uint64_t next_try_ms;   /* when a lost connection may be tried again */
    uint64_t backoff_ms;
    char sqlstate[6];       /* of the last failed statement */
    int lost;               /* the connection was lost and not made again yet */
    char prepared[4][32];   /* statements prepared on this connection (a reconnection forgets them) */
};

/* The schema, version by version (migrations[v] takes v to v + 1); applied
 * by one replica while it holds the advisory lock, the others wait for it. */
static const char *const migrations[WS_STORE_PG_SCHEMA_VERSION] = {
    /* 0 → 1: the tables of the SQLite store's version 3 */
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  key TEXT PRIMARY KEY, trigger_id BIGINT NOT NULL, received_at BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries(received_at);"
    "CREATE TABLE IF NOT EXISTS triggers ("
    "  id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, provider TEXT, repo TEXT,"
    "  ref TEXT, before TEXT, after TEXT, app TEXT, revision TEXT, prune INTEGER DEFAULT 0,"
    "  dry_run INTEGER DEFAULT 0, extra TEXT, state TEXT NOT NULL, detail TEXT,"
    "  received_at BIGINT NOT NULL, routed_at BIGINT, routing TEXT, owner BIGINT);"
    "CREATE INDEX IF NOT EXISTS triggers_state ON triggers(state);"
    "CREATE TABLE IF NOT EXISTS pending ("
    "  app TEXT PRIMARY KEY, trigger_id BIGINT NOT NULL, revision TEXT, prune INTEGER DEFAULT 0,"
    "  dry_run INTEGER DEFAULT 0, queued_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id BIGSERIAL PRIMARY KEY, app TEXT NOT NULL, trigger_id BIGINT, revision TEXT,"
    "  prune INTEGER DEFAULT 0, dry_run INTEGER DEFAULT 0, state TEXT NOT NULL, message TEXT,"
    "  started_at BIGINT NOT NULL, finished_at BIGINT, report TEXT, owner BIGINT);"
    "CREATE INDEX IF NOT EXISTS runs_app ON runs(app, id);"
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running ON runs(app) WHERE state = 'running';"
    "CREATE TABLE IF NOT EXISTS awaiting ("
    "  app TEXT PRIMARY KEY, trigger_id BIGINT NOT NULL, revision TEXT, since BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS replicas ("
    "  id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, started_at BIGINT NOT NULL, lease_until BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner BIGINT NOT NULL, since BIGINT NOT NULL);",
    /* 1 → 2: each application's live state as the replica following its
       cluster wrote it, for the others' API */
    "CREATE TABLE IF NOT EXISTS live ("
    "  app TEXT PRIMARY KEY, owner BIGINT, updated_at BIGINT NOT NULL, summary TEXT NOT NULL, resources TEXT);"
    "CREATE INDEX IF NOT EXISTS live_updated ON live(updated_at);",
};

/* 'wavesync' in ASCII: the advisory lock held while the schema changes */
#define SCHEMA_LOCK "8606195652543491683"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* libpq's message, on one line */
static void one_line(char *dst, size_t n, const char *msg)
{
    size_t k = 0;
    for (const char *p = msg ? msg : ""; *p && k + 1 < n; p++)
        dst[k++] = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
    while (k > 0 && dst[k - 1] == ' ')
        k--;
    dst[k] = '\0';
}

static int conn_fail(struct pg *p, struct ws_err *err, const char *what)
{
    char msg[600];
    one_line(msg, sizeof(msg), PQerrorMessage(p->conn));
    if (PQstatus(p->conn) != CONNECTION_OK) {
        p->lost = 1;
        return ws_err_set(err, WS_ENET, "store: PostgreSQL at %s: %s: %s", p->where, what, msg);
    }
    return ws_err_set(err, WS_EIO, "store: PostgreSQL at %s: %s: %s", p->where, what, msg);
}

/* A statement's result: 0, or its error (WS_ENET when the connection went) */
static int result_fail(struct pg *p, PGresult *res, struct ws_err *err, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[600];
    snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", state ? state : "");
    if (PQstatus(p->conn) != CONNECTION_OK)
        return conn_fail(p, err, what);
    one_line(msg, sizeof(msg), res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
    return ws_err_set(err, WS_EIO, "store: PostgreSQL: %s: %s", what, msg);
}

static int pg_exec(struct db *db, const char *sql, struct ws_err *err)
{
    struct pg *p = (struct pg *)db;
    PGresult *res = PQexec(p->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = result_fail(p, res, err, sql);
    PQclear(res);
    return rc;
}

static json_t *cell(const PGresult *res, int r, int c)
{
    const char *v;
    if (PQgetisnull(res, r, c))
        return json_null();
    v = PQgetvalue(res, r, c);
    switch (PQftype(res, c)) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        return json_integer(strtoll(v, NULL, 10));
    case 16: /* bool */
        return json_integer(v[0] == 't');
    default:
        return json_string(v);
    }
}

static json_t *result_rows(const PGresult *res)
{
    int nr = PQntuples(res), nf = PQnfields(res);
    json_t *arr = json_array();
    for (int r = 0; arr && r < nr; r++) {
        json_t *o = json_object();
        for (int c = 0; o && c < nf; c++)
            json_object_set_new(o, PQfname(res, c), cell(res, r, c)); /* steals */
        ws__db_decode_json(o);
        json_array_append_new(arr, o); /* steals */
    }
    return arr;
}

static int pg_query(struct db *db, json_t **rows, int64_t *changed, struct ws_err *err, const char *sql,
                    const char *types, va_list ap)
{
    struct pg *p = (struct pg *)db;
    size_t n = strlen(types);
    const char *values[16];
    char nums[16][24];
    Oid oids[16];
    PGresult *res;
    json_t *arr = NULL;
    char *text;
    int rc = 0;
    if (n > WS_ARRAY_SIZE(values))
        return ws_err_set(err, WS_EINVAL, "store: too many parameters");
    for (size_t i = 0; i < n; i++) {
        if (types[i] == 's') {
            values[i] = va_arg(ap, const char *);
            oids[i] = 25; /* text */
        } else if (types[i] == 'i') {
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)va_arg(ap, int64_t));
            values[i] = nums[i];
            oids[i] = 20; /* int8 */
        } else {
            snprintf(nums[i], sizeof(nums[i]), "%d", va_arg(ap, int));
            values[i] = nums[i];
            oids[i] = 23; /* int4 */
        }
    }
    if (!(text = ws__db_rewrite(DB_PG, sql)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    res = PQexecParams(p->conn, text, (int)n, oids, values, NULL, NULL, 0);
    free(text);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = result_fail(p, res, err, rows ? "read" : "write");
        PQclear(res);
        return rc;
    }
    if (rows && !(*rows = arr = result_rows(res)))
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    if (changed)
        *changed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

static Oid type_oid(char t)
{
    return t == 's' ? 25 : t == 'i' ? 20 : 23; /* text, int8, int4 */
}

/* The statement `q` names, prepared on this connection (once): 0, or an
 * error. Outside a pipeline. */
static int prepare(struct pg *p, const struct db_stmt *q, struct ws_err *err)
{
    size_t k, np = strlen(q->types);
    Oid oids[16];
    char *text;
    PGresult *res;
    int rc = 0;
    for (k = 0; k < WS_ARRAY_SIZE(p->prepared) && p->prepared[k][0]; k++)
        if (strcmp(p->prepared[k], q->name) == 0)
            return 0;
    if (k == WS_ARRAY_SIZE(p->prepared) || strlen(q->name) >= sizeof(p->prepared[k]))
        return ws_err_set(err, WS_EINVAL, "store: too many prepared statements");
    for (size_t i = 0; i < np && i < 16; i++)
        oids[i] = type_oid(q->types[i]);
    if (!(text = ws__db_rewrite(DB_PG, q->sql)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    res = PQprepare(p->conn, q->name, text, (int)np, oids);
    free(text);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = result_fail(p, res, err, "prepare");
    else
        snprintf(p->prepared[k], sizeof(p->prepared[k]), "%s", q->name);
    PQclear(res);
    return rc;
}

static int pg_pipeline(struct db *db, struct db_stmt *stmts, size_t n, struct ws_err *err)
{
    struct pg *p = (struct pg *)db;
    PGresult *res;
    size_t got = 0;
    int rc = 0, failed = 0, committed = 0;
    for (size_t i = 0; i < n; i++)
        if (stmts[i].name && (rc = prepare(p, &stmts[i], err)) < 0)
            return rc;
    if (!PQenterPipelineMode(p->conn))
        return conn_fail(p, err, "pipeline");
    if (!PQsendQueryParams(p->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        failed = 1;
    for (size_t i = 0; i < n && !failed; i++) {
        size_t np = strlen(stmts[i].types);
        Oid oids[16];
        char *text;
        if (stmts[i].name) {
            failed = !PQsendQueryPrepared(p->conn, stmts[i].name, (int)np, stmts[i].vals, NULL, NULL, 0);
            continue;
        }
        text = ws__db_rewrite(DB_PG, stmts[i].sql);
        for (size_t k = 0; k < np && k < 16; k++)
            oids[k] = type_oid(stmts[i].types[k]);
        if (!text || !PQsendQueryParams(p->conn, text, (int)np, oids, stmts[i].vals, NULL, NULL, 0))
            failed = 1;
        free(text);
    }
    if (failed || !PQsendQueryParams(p->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(p->conn)) {
        rc = conn_fail(p, err, "pipeline");
        PQexitPipelineMode(p->conn);
        return rc < 0 ? rc : WS_EIO;
    }
    /* BEGIN, each statement, COMMIT: a result and a NULL each; then the sync */
    for (size_t k = 0; k < n + 2; k++) {
        while ((res = PQgetResult(p->conn))) {
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_TUPLES_OK && k >= 1 && k <= n) {
                stmts[k - 1].rows = result_rows(res);
                got++;
            } else if (st == PGRES_COMMAND_OK && k == n + 1) {
                committed = 1;
            } else if (st == PGRES_FATAL_ERROR && !rc) {
                rc = result_fail(p, res, err, "write");
            } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !rc) {
                rc = ws_err_set(err, WS_EIO, "store: PostgreSQL: a statement of the batch was not run");
            }
            PQclear(res);
        }
        if (PQstatus(p->conn) != CONNECTION_OK)
            break;
    }
    while ((res = PQgetResult(p->conn))) { /* the sync */
        int sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (sync)
            break;
    }
    PQexitPipelineMode(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK)
        return conn_fail(p, err, "pipeline");
    if (!rc && (!committed || got != n))
        rc = ws_err_set(err, WS_EIO, "store: PostgreSQL: the batch was not committed");
    if (rc)
        pg_exec(db, "ROLLBACK", NULL); /* an aborted transaction: end it */
    return rc;
}

static int pg_notify(struct db *db, const char *payload, struct ws_err *err)
{
    return ws__db_query(db, NULL, NULL, err, "SELECT pg_notify('wavesync', ?)", "s", payload);
}

static int pg_ensure(struct db *db, struct ws_err *err)
{
    struct pg *p = (struct pg *)db;
    uint64_t now = mono_ms();
    if (PQstatus(p->conn) == CONNECTION_OK && !p->lost)
        return 0;
    if (now < p->next_try_ms)
        return ws_err_set(err, WS_ENET, "store: PostgreSQL at %s is unreachable; trying again", p->where);
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        p->backoff_ms = p->backoff_ms ? (p->backoff_ms * 2 > 1000 ? 1000 : p->backoff_ms * 2) : 250;
        p->next_try_ms = mono_ms() + p->backoff_ms;
        p->lost = 1;
        return conn_fail(p, err, "connecting");
    }
    memset(p->prepared, 0, sizeof(p->prepared));
    if (p->lost)
        ws_info("store: connected to PostgreSQL at %s again", p->where);
    p->lost = 0;
    p->backoff_ms = 0;
    return 0;
}

static int pg_retryable(struct db *db)
{
    struct pg *p = (struct pg *)db;
    /* a deadlock, a serialization failure, a unique key written meanwhile */
    return strcmp(p->sqlstate, "40P01") == 0 || strcmp(p->sqlstate, "40001") == 0 ||
           strcmp(p->sqlstate, "23505") == 0;
}

static void pg_close(struct db *db)
{
    struct pg *p = (struct pg *)db;
    if (!p)
        return;
    PQfinish(p->conn);
    for (size_t i = 0; i < WS_ARRAY_SIZE(p->keys); i++) {
        if (p->vals[i] && p->keys[i] && strcmp(p->keys[i], "password") == 0)
            explicit_bzero(p->vals[i], strlen(p->vals[i]));
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->host);
    free(p->port);
    free(p);
}

/* NOTICEs ("already exists, skipping"…) are for people at psql, not the log */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    ws_debug("store: PostgreSQL: %s", message);
}

static const struct db_impl pg_impl = {
    .query = pg_query,
    .exec = pg_exec,
    .begin = "BEGIN",
    .notify = pg_notify,
    .ensure = pg_ensure,
    .retryable = pg_retryable,
    .close = pg_close,
    .pipeline = pg_pipeline,
};

/* Bring the schema to WS_STORE_PG_SCHEMA_VERSION: one replica at a time
 * (the advisory lock, released at the commit). A database already there is
 * only read, so a user with no right to create tables (the schema migrated
 * by its owner, `wavesync store migrate`) can run the service. */
static int migrate(struct pg *p, int *from, struct ws_err *err)
{
    json_t *rows = NULL;
    int version, rc;
    char sql[96];
    if ((rc = ws__db_query(&p->db, &rows, NULL, err,
                           "SELECT count(*) AS n FROM pg_catalog.pg_tables WHERE tablename = 'wavesync_schema'"
                           " AND schemaname = ANY (current_schemas(false))",
                           "")) < 0)
        return rc;
    version = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
    json_decref(rows);
    rows = NULL;
    if (version && (rc = ws__db_query(&p->db, &rows, NULL, err, "SELECT max(version) AS v FROM wavesync_schema", "")) < 0)
        return rc;
    version = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "v"));
    json_decref(rows);
    rows = NULL;
    if (version == WS_STORE_PG_SCHEMA_VERSION) {
        if (from)
            *from = version;
        return 0;
    }
    if ((rc = pg_exec(&p->db, "BEGIN", err)) < 0)
        return rc;
    if ((rc = pg_exec(&p->db, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")", err)) < 0 ||
        (rc = pg_exec(&p->db, "CREATE TABLE IF NOT EXISTS wavesync_schema (version INTEGER NOT NULL)", err)) < 0 ||
        (rc = ws__db_query(&p->db, &rows, NULL, err, "SELECT max(version) AS v FROM wavesync_schema", "")) < 0)
        goto fail;
    version = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "v"));
    json_decref(rows);
    if (from)
        *from = version;
    if (version > WS_STORE_PG_SCHEMA_VERSION) {
        rc = ws_err_set(err, WS_ECONFIG,
                        "store: PostgreSQL at %s has schema version %d, written by a newer wavesync (this one "
                        "reads up to version %d): run that wavesync, or give this one another database",
                        p->where, version, WS_STORE_PG_SCHEMA_VERSION);
        goto fail;
    }
    for (int v = version; v < WS_STORE_PG_SCHEMA_VERSION; v++)
        if ((rc = pg_exec(&p->db, migrations[v], err)) < 0) {
            ws_err_prefix(err, "migrating PostgreSQL at %s from schema version %d", p->where, v);
            goto fail;
        }
    snprintf(sql, sizeof(sql), "DELETE FROM wavesync_schema; INSERT INTO wavesync_schema VALUES (%d)",
             WS_STORE_PG_SCHEMA_VERSION);
    if (version < WS_STORE_PG_SCHEMA_VERSION && (rc = pg_exec(&p->db, sql, err)) < 0)
        goto fail;
    if ((rc = pg_exec(&p->db, "COMMIT", err)) < 0)
        goto fail;
    if (version < WS_STORE_PG_SCHEMA_VERSION)
        ws_info("store: PostgreSQL at %s: schema version %d → %d", p->where, version, WS_STORE_PG_SCHEMA_VERSION);
    return 0;
fail:
    pg_exec(&p->db, "ROLLBACK", NULL);
    return rc;
}

int ws__db_pg_open(struct db **out, const struct ws_store_opts *o, int *from, struct ws_err *err)
{
    struct pg *p = calloc(1, sizeof(*p));
    /* the string (keywords or a URI) expanded as dbname, then what
       wavesync.yaml says apart from it, which wins: the password (so that it
       is never part of a string that is shown) and the TLS settings */
    const char *keys[10], *vals[10];
    int n = 0, rc;
#define KV(k, v)                                                                                                       \
    do {                                                                                                               \
        if (v) {                                                                                                       \
            keys[n] = (k);                                                                                             \
            vals[n++] = (v);                                                                                           \
        }                                                                                                              \
    } while (0)
    KV("dbname", o->postgres);
    KV("password", o->password);
    KV("sslmode", o->sslmode);
    KV("sslrootcert", o->ca_file);
    KV("sslcert", o->cert_file);
    KV("sslkey", o->key_file);
    KV("fallback_application_name", "wavesync");
    KV("connect_timeout", "5");
#undef KV
    keys[n] = vals[n] = NULL;
    *out = NULL;
    if (!p)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    p->db.kind = DB_PG;
    p->db.impl = &pg_impl;
    for (int i = 0; i < n; i++)
        if (!(p->keys[i] = strdup(keys[i])) || !(p->vals[i] = strdup(vals[i]))) {
            pg_close(&p->db);
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn) {
        pg_close(&p->db);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    PQsetNoticeProcessor(p->conn, quiet, NULL);
    snprintf(p->where, sizeof(p->where), "%s:%s/%s", PQhost(p->conn) ? PQhost(p->conn) : "?",
             PQport(p->conn) ? PQport(p->conn) : "?", PQdb(p->conn) ? PQdb(p->conn) : "?");
    if (PQstatus(p->conn) != CONNECTION_OK) {
        rc = conn_fail(p, err, "connecting");
        pg_close(&p->db);
        return rc;
    }
    /* the listener connects to the same server (a TCP one: its name is
       resolved off the loop each time, libpq would resolve it on it) */
    if (PQhost(p->conn) && PQhost(p->conn)[0] && PQhost(p->conn)[0] != '/' &&
        (!(p->host = strdup(PQhost(p->conn))) || !(p->port = strdup(PQport(p->conn) ? PQport(p->conn) : "5432")))) {
        pg_close(&p->db);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    /* the writes of a batch are durable at its commit (the default; said
       here so that a server configured otherwise does not weaken it) */
    if ((rc = pg_exec(&p->db, "SET synchronous_commit = on", err)) < 0 || (rc = migrate(p, from, err)) < 0) {
        pg_close(&p->db);
        return rc;
    }
    *out = &p->db;
    return 0;
}

/* --- LISTEN: the other replicas' news, on the loop --------------------------------
 *
 * A connection of its own in non-blocking mode, driven by a uv_poll on its
 * socket: connecting (PQconnectPoll), LISTEN wavesync, then each readable
 * moment PQconsumeInput and every notification to the callback. Lost: made
 * again after a backoff (0.5 s doubling to 10 s), and "refresh" is reported
 * (what was said meanwhile is lost). */

struct ws__pg_listener {
    uv_loop_t *loop;
    struct pg *p;
    PGconn *conn;
    uv_poll_t *poll;
    int fd;
    uv_timer_t timer;
    uv_getaddrinfo_t resolve;
    uint64_t backoff_ms;
    enum { L_CONNECTING, L_LISTEN_SENT, L_LISTENING, L_WAITING } state;
    int stopping;
    int resolving, timer_closed; /* freed once both are over */
    void (*cb)(const char *payload, void *data);
    void *data;
};

static void l_step(struct ws__pg_listener *l);

static void l_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void l_unpoll(struct ws__pg_listener *l)
{
    if (l->poll) {
        uv_close((uv_handle_t *)l->poll, l_poll_closed);
        l->poll = NULL;
    }
    l->fd = -1;
}

static void l_on_poll(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    l_step(h->data);
}

/* watch the connection's socket for `events` (it may change while connecting) */
static int l_watch(struct ws__pg_listener *l, int events)
{
    int fd = PQsocket(l->conn);
    if (fd < 0)
        return -1;
    if (fd != l->fd) {
        l_unpoll(l);
        if (!(l->poll = calloc(1, sizeof(*l->poll))) || uv_poll_init(l->loop, l->poll, fd) < 0) {
            free(l->poll);
            l->poll = NULL;
            return -1;
        }
        l->poll->data = l;
        l->fd = fd;
    }
    return uv_poll_start(l->poll, events, l_on_poll);
}

static void l_retry(struct ws__pg_listener *l, const char *why);

/* Connect (non-blocking) with the store's parameters, to `hostaddr` (a
 * list of numeric addresses, `hosts` the name repeated as often: libpq
 * looks nothing up, tries each in turn) when the server is reached over
 * TCP; the name stays for TLS to check the certificate against. */
static void l_connect(struct ws__pg_listener *l, const char *hostaddr, const char *hosts, const char *ports)
{
    const char *keys[16], *vals[16];
    size_t n = 0;
    for (size_t i = 0; i < WS_ARRAY_SIZE(l->p->keys) && l->p->keys[i]; i++) {
        keys[n] = l->p->keys[i];
        vals[n++] = l->p->vals[i];
    }
    if (hostaddr) { /* after the connection string: these win */
        keys[n] = "host", vals[n++] = hosts;
        keys[n] = "port", vals[n++] = ports;
        keys[n] = "hostaddr", vals[n++] = hostaddr;
    }
    keys[n] = vals[n] = NULL;
    l->conn = PQconnectStartParams(keys, vals, 1);
    l->state = L_CONNECTING;
    if (!l->conn || PQstatus(l->conn) == CONNECTION_BAD || l_watch(l, UV_WRITABLE) < 0)
        l_step(l); /* fails and waits */
}

static void l_free_when_done(struct ws__pg_listener *l)
{
    if (l->timer_closed && !l->resolving)
        free(l);
}

static void l_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct ws__pg_listener *l = req->data;
    struct ws_buf addrs = { 0 }, hosts = { 0 }, ports = { 0 };
    int n = 0;
    l->resolving = 0;
    if (l->stopping) {
        uv_freeaddrinfo(res);
        l_free_when_done(l);
        return;
    }
    /* every address, in the resolver's order (IPv6 and IPv4, as libpq would) */
    for (struct addrinfo *a = status == 0 ? res : NULL; a && n < 8; a = a->ai_next) {
        char addr[INET6_ADDRSTRLEN] = "";
        if (uv_ip_name(a->ai_addr, addr, sizeof(addr)) != 0 || (addrs.data && strstr(addrs.data, addr)))
            continue;
        ws_buf_appendf(&addrs, "%s%s", n ? "," : "", addr);
        ws_buf_appendf(&hosts, "%s%s", n ? "," : "", l->p->host);
        ws_buf_appendf(&ports, "%s%s", n ? "," : "", l->p->port);
        n++;
    }
    uv_freeaddrinfo(res);
    if (n && addrs.data && hosts.data && ports.data)
        l_connect(l, addrs.data, hosts.data, ports.data);
    ws_buf_free(&addrs);
    ws_buf_free(&hosts);
    ws_buf_free(&ports);
    if (!n) {
        char why[200];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", l->p->host, status < 0 ? uv_strerror(status) : "no address");
        l->state = L_CONNECTING; /* said in the log */
        l_retry(l, why);
    }
}

static void l_on_timer(uv_timer_t *t)
{
    struct ws__pg_listener *l = t->data;
    struct in6_addr a6;
    struct in_addr a4;
    struct addrinfo hints;
    if (l->stopping)
        return;
    if (!l->p->host) { /* a Unix socket */
        l_connect(l, NULL, NULL, NULL);
        return;
    }
    if (inet_pton(AF_INET, l->p->host, &a4) == 1 || inet_pton(AF_INET6, l->p->host, &a6) == 1) {
        l_connect(l, l->p->host, l->p->host, l->p->port);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    l->resolve.data = l;
    if (uv_getaddrinfo(l->loop, &l->resolve, l_on_resolved, l->p->host, l->p->port, &hints) == 0) {
        l->resolving = 1;
        return;
    }
    l->state = L_CONNECTING;
    l_retry(l, "cannot start resolving its host name");
}

static void l_retry(struct ws__pg_listener *l, const char *why)
{
    char msg[300];
    one_line(msg, sizeof(msg), why);
    if (l->state != L_WAITING)
        ws_warn("store: listening to PostgreSQL at %s: %s; trying again", l->p->where, msg);
    l_unpoll(l);
    PQfinish(l->conn);
    l->conn = NULL;
    l->state = L_WAITING;
    l->backoff_ms = l->backoff_ms ? (l->backoff_ms * 2 > 10000 ? 10000 : l->backoff_ms * 2) : 500;
    if (!l->stopping)
        uv_timer_start(&l->timer, l_on_timer, l->backoff_ms, 0);
}

static void l_step(struct ws__pg_listener *l)
{
    PGnotify *n;
    PGresult *res;
    if (l->stopping || !l->conn) {
        if (!l->stopping && !l->conn)
            l_retry(l, "out of memory");
        return;
    }
    if (l->state == L_CONNECTING) {
        switch (PQconnectPoll(l->conn)) {
        case PGRES_POLLING_READING:
            if (l_watch(l, UV_READABLE) < 0)
                l_retry(l, "cannot watch its socket");
            return;
        case PGRES_POLLING_WRITING:
            if (l_watch(l, UV_WRITABLE) < 0)
                l_retry(l, "cannot watch its socket");
            return;
        case PGRES_POLLING_OK:
            break;
        default:
            l_retry(l, PQerrorMessage(l->conn));
            return;
        }
        PQsetnonblocking(l->conn, 1);
        if (!PQsendQuery(l->conn, "LISTEN wavesync") || l_watch(l, UV_READABLE) < 0) {
            l_retry(l, PQerrorMessage(l->conn));
            return;
        }
        PQflush(l->conn);
        l->state = L_LISTEN_SENT;
        return;
    }
    if (!PQconsumeInput(l->conn)) {
        l_retry(l, PQerrorMessage(l->conn));
        return;
    }
    if (l->state == L_LISTEN_SENT) {
        while (!PQisBusy(l->conn) && (res = PQgetResult(l->conn))) {
            int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            PQclear(res);
            if (!ok) {
                l_retry(l, PQerrorMessage(l->conn));
                return;
            }
            if (l->state == L_LISTEN_SENT) {
                if (l->backoff_ms)
                    ws_info("store: listening to PostgreSQL at %s again", l->p->where);
                l->state = L_LISTENING;
                l->backoff_ms = 0;
                l->cb("refresh", l->data); /* anything said before now is unknown */
            }
        }
    }
    while ((n = PQnotifies(l->conn))) {
        if (!l->stopping)
            l->cb(n->extra, l->data);
        PQfreemem(n);
    }
}

int ws__pg_listen_start(struct ws__pg_listener **out, uv_loop_t *loop, struct db *db,
                        void (*cb)(const char *payload, void *data), void *data)
{
    struct ws__pg_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return WS_ENOMEM;
    l->loop = loop;
    l->p = (struct pg *)db;
    l->fd = -1;
    l->cb = cb;
    l->data = data;
    l->state = L_WAITING;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, l_on_timer, 0, 0);
    *out = l;
    return 0;
}

static void l_timer_closed(uv_handle_t *h)
{
    struct ws__pg_listener *l = h->data;
    l->timer_closed = 1;
    l_free_when_done(l);
}

void ws__pg_listen_stop(struct ws__pg_listener *l)
{
    if (!l)
        return;
    l->stopping = 1;
    if (l->resolving)
        uv_cancel((uv_req_t *)&l->resolve); /* its callback frees l if it comes last */
    l_unpoll(l);
    PQfinish(l->conn);
    l->conn = NULL;
    uv_close((uv_handle_t *)&l->timer, l_timer_closed);
}
