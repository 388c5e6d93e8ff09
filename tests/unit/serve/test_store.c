/* test_store.c — tests for reconciler/serve/store.c on a real SQLite file in a
 * mkdtemp folder and a real libuv loop: schema and WAL, replay protection,
 * group commit, routing, runs, crash recovery, close, failure isolation.
 *
 * With $WS_TEST_PG_DSN (a PostgreSQL server where this user may create
 * databases: tests/e2e/store_pg.sh starts one), the same scenarios run again
 * on PostgreSQL, each in a database of its own, and then the replicas':
 * leases, takeover, fencing, one running run per application. */
#include "serve/store.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "tap.h"
#include "base/util.h"

#include "serve/store_int.h"

static char root[64];
static const char *pg_base; /* $WS_TEST_PG_DSN */
static int on_pg;           /* this pass runs on PostgreSQL */

/* One database and one loop per scenario, so scenarios cannot leak state. */
struct fx {
    uv_loop_t loop;
    uv_prepare_t iter_counter; /* counts loop iterations, to count batches */
    struct ws_store *st;
    char path[512];          /* SQLite: the file; PostgreSQL: the connection string */
    unsigned iter;
    int closed;
};

static void count_iteration(uv_prepare_t *h)
{
    ws_container_of(h, struct fx, iter_counter)->iter++;
}

static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* A statement on PostgreSQL (conninfo), its first value as an integer;
 * -1 when it fails. */
static long long pg_int(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    long long v = -1;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
        v = 0;
    else
        tap_diag("  %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* PostgreSQL: a new database for each scenario name, made the first time
 * the pass uses it (so that a scenario can reopen it). */
static void path_for(char *out, size_t n, const char *name)
{
    static char made[32][40];
    char db[40], sql[128];
    size_t k;
    if (!on_pg) {
        snprintf(out, n, "%s/%s.db", root, name);
        return;
    }
    snprintf(db, sizeof(db), "wst_%s", name);
    for (char *p = db; *p; p++)
        *p = isalnum((unsigned char)*p) ? *p : '_';
    snprintf(out, n, "%s dbname=%s", pg_base, db);
    for (k = 0; k < WS_ARRAY_SIZE(made) && made[k][0]; k++)
        if (strcmp(made[k], db) == 0)
            return;
    if (k < WS_ARRAY_SIZE(made))
        snprintf(made[k], sizeof(made[k]), "%s", db);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
    pg_int(pg_base, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    pg_int(pg_base, sql);
}

/* Open `name` (kept when the scenario reopens it); returns the open code. */
static int fx_open(struct fx *f, const char *name, int new_loop)
{
    struct ws_err err;
    int rc;
    if (new_loop) {
        memset(f, 0, sizeof(*f));
        uv_loop_init(&f->loop);
        uv_prepare_init(&f->loop, &f->iter_counter);
        uv_prepare_start(&f->iter_counter, count_iteration);
        uv_unref((uv_handle_t *)&f->iter_counter);
        path_for(f->path, sizeof(f->path), name);
    }
    ws_err_clear(&err);
    if (on_pg) {
        struct ws_store_opts o = { .postgres = f->path, .where = name, .replica = "test" };
        rc = ws_store_open_opts(&f->st, &f->loop, &o, &err);
    } else {
        rc = ws_store_open(&f->st, &f->loop, f->path, &err);
    }
    if (rc < 0)
        tap_diag("open %s: %s", f->path, err.msg);
    return rc;
}

static void on_closed(void *data)
{
    ((struct fx *)data)->closed++;
}

/* Close the store and run the loop until its closed callback; the loop
 * stays usable (fx_open(f, name, 0) reopens on it). */
static void fx_close_store(struct fx *f)
{
    f->closed = 0;
    ws_store_close(f->st, on_closed, f);
    f->st = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void fx_done(struct fx *f, const char *what)
{
    char name[128];
    if (f->st)
        fx_close_store(f);
    snprintf(name, sizeof(name), "%s: closed callback once", what);
    tap_is_int(f->closed, 1, name);
    uv_close((uv_handle_t *)&f->iter_counter, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    snprintf(name, sizeof(name), "%s: uv_loop_close returns 0 after close", what);
    tap_is_int(uv_loop_close(&f->loop), 0, name);
}

/* Run the loop until *counter reaches want (10 s at most). A repeating
 * 1 ms timer keeps the loop alive meanwhile: the store's own check handle
 * is unreferenced (see test_wakeup for what that costs). */
struct pump {
    uv_timer_t timer;
    const int *counter;
    int want;
    uint64_t deadline;
};

static void pump_tick(uv_timer_t *t)
{
    struct pump *p = ws_container_of(t, struct pump, timer);
    if (*p->counter >= p->want || uv_now(t->loop) > p->deadline)
        uv_close((uv_handle_t *)t, NULL);
}

static int run_until(struct fx *f, const int *counter, int want)
{
    struct pump p = { .counter = counter, .want = want };
    p.deadline = uv_now(&f->loop) + 10000;
    uv_timer_init(&f->loop, &p.timer);
    uv_timer_start(&p.timer, pump_tick, 1, 1);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    if (*counter < want)
        tap_diag("  only %d of %d callbacks arrived", *counter, want);
    return *counter >= want;
}

/* --- callback recorders ------------------------------------------------------------ */

static int ncalls; /* every callback, across recorders: submission order */

struct rec {
    int calls, code, seq, duplicate, err_set;
    unsigned iter;
    int64_t id;
    json_t *json; /* a reference to the result, or NULL */
    char msg[sizeof(((struct ws_err *)0)->msg)];
    struct fx *f;
};

static void rec_common(struct rec *r, int code, const struct ws_err *err)
{
    r->calls++;
    r->code = code;
    r->seq = ncalls++;
    r->iter = r->f ? r->f->iter : 0;
    r->err_set = err != NULL;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void rec_accept(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct rec *r = data;
    rec_common(r, code, err);
    r->id = id;
    r->duplicate = duplicate;
}

static void rec_done(int code, const struct ws_err *err, void *data)
{
    rec_common(data, code, err);
}

static void rec_json(int code, const struct ws_err *err, json_t *result, void *data)
{
    struct rec *r = data;
    rec_common(r, code, err);
    json_decref(r->json);
    r->json = json_incref(result); /* borrowed for the call: keep our own reference */
}

static void rec_reset(struct rec *r, struct fx *f)
{
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
    r->f = f;
}

/* Synchronous wrappers: queue one operation and run the loop until its
 * callback. The result of the json ones is in r->json. */
static int64_t accept1(struct fx *f, const struct ws_trigger_in *t, int *duplicate)
{
    struct rec r = { .f = f };
    if (ws_store_accept(f->st, t, rec_accept, &r) < 0 || !run_until(f, &r.calls, 1))
        return -1000;
    if (duplicate)
        *duplicate = r.duplicate;
    if (r.code < 0)
        tap_diag("  accept: %s", r.msg);
    return r.code < 0 ? r.code : r.id;
}

static int64_t accept_push(struct fx *f, const char *key, const char *after)
{
    struct ws_trigger_in t = { .delivery_key = key, .source = "webhook", .provider = "github",
                               .repo = "main", .ref = "refs/heads/main", .before = "b0", .after = after };
    return accept1(f, &t, NULL);
}

static int64_t accept_manual(struct fx *f, const char *app, const char *rev, int prune, int dry_run,
                             json_t *extra)
{
    struct ws_trigger_in t = { .source = "api", .app = app, .revision = rev, .prune = prune,
                               .dry_run = dry_run, .extra = extra };
    return accept1(f, &t, NULL);
}

static int routed1(struct fx *f, int64_t trigger, const char *apps_json, const char *state,
                   const char *detail)
{
    struct rec r = { .f = f };
    json_t *apps = apps_json ? json_loads(apps_json, 0, NULL) : NULL;
    int rc = ws_store_routed(f->st, trigger, apps, NULL, state, detail, rec_done, &r);
    json_decref(apps); /* the store keeps its own reference */
    if (rc < 0 || !run_until(f, &r.calls, 1))
        return -1000;
    return r.code;
}

static int json1(struct fx *f, struct rec *r, int rc)
{
    if (rc < 0 || !run_until(f, &r->calls, 1))
        return -1000;
    return r->code;
}

static int64_t start1(struct fx *f, struct rec *r, const char *app)
{
    rec_reset(r, f);
    if (json1(f, r, ws_store_run_start(f->st, app, rec_json, r)) < 0)
        return -1;
    return r->json ? json_integer_value(json_object_get(r->json, "id")) : 0;
}

static int done1(struct fx *f, int rc, struct rec *r)
{
    if (rc < 0 || !run_until(f, &r->calls, 1))
        return -1000;
    return r->code;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The one element of `arr` whose "app" is `app`, or NULL. */
static json_t *by_app(json_t *arr, const char *app)
{
    json_t *v;
    size_t i;
    json_array_foreach(arr, i, v) {
        if (jstr(v, "app") && strcmp(jstr(v, "app"), app) == 0)
            return v;
    }
    return NULL;
}

/* SELECT <one integer> on the file through a second connection. */
static long long sql_int(const char *path, const char *sql)
{
    if (on_pg)
        return pg_int(path, sql);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* --- open ------------------------------------------------------------------------- */

static void test_open(void)
{
    static const char *const tables[] = { "deliveries", "triggers", "pending", "runs", "awaiting" };
    struct fx f;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char sql[128], name[96];
    size_t i;

    tap_is_int(fx_open(&f, "open", 1), 0, "open: creates the database");
    fx_close_store(&f);
    tap_is_int(f.closed, 1, "open: closed callback of an idle store");
    tap_is_int(fx_open(&f, "open", 0), 0, "open: reopens an existing database (schema kept)");
    fx_done(&f, "open");

    tap_ok(sqlite3_open_v2(f.path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
               sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
               sqlite3_step(q) == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0,
           "open: journal_mode is WAL (seen by another connection after close)");
    sqlite3_finalize(q);
    sqlite3_close(db);
    for (i = 0; i < WS_ARRAY_SIZE(tables); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        snprintf(name, sizeof(name), "open: schema has table %s", tables[i]);
        tap_is_int(sql_int(f.path, sql), 1, name);
    }
    ws_store_close(NULL, on_closed, NULL); /* documented no-op: must not crash */
}

static void test_open_errors(void)
{
    static const struct {
        const char *name, *file, *contents, *want;
    } cases[] = {
        { "err_missing_dir", "no/such/dir/x.db", NULL, "cannot open" },
        { "err_not_a_database", "garbage.db", "this is certainly not an SQLite database file, "
                                              "it is long enough to have a header................",
          "not a database" },
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        uv_loop_t loop;
        struct ws_store *st = (struct ws_store *)&loop; /* must be reset to NULL */
        struct ws_err err;
        char path[160], name[128];
        int rc;
        snprintf(path, sizeof(path), "%s/%s", root, cases[i].file);
        if (cases[i].contents) {
            FILE *fp = fopen(path, "w");
            if (fp) {
                for (int k = 0; k < 100; k++)
                    fputs(cases[i].contents, fp);
                fclose(fp);
            }
        }
        uv_loop_init(&loop);
        ws_err_clear(&err);
        rc = ws_store_open(&st, &loop, path, &err);
        snprintf(name, sizeof(name), "open %s: WS_EIO", cases[i].name);
        tap_is_int(rc, WS_EIO, name);
        snprintf(name, sizeof(name), "open %s: *out is NULL", cases[i].name);
        tap_ok(st == NULL, "%s", name);
        snprintf(name, sizeof(name), "open %s: message says why", cases[i].name);
        tap_contains(err.msg, cases[i].want, name);
        snprintf(name, sizeof(name), "open %s: nothing left on the loop", cases[i].name);
        tap_is_int(uv_loop_close(&loop), 0, name);
        if (cases[i].contents)
            unlink(path);
    }
}

/* --- accept ------------------------------------------------------------------------ */

static void test_accept(void)
{
    struct fx f;
    struct rec r[8];
    struct ws_trigger_in t = { .source = "webhook", .provider = "github", .repo = "main",
                               .ref = "refs/heads/main", .before = "b1", .after = "a1" };
    /* queued together in one iteration: duplicates inside one batch too */
    static const struct {
        const char *key;
        int want_dup;
        int same_as; /* index whose id a duplicate returns, -1 new */
    } batch[] = {
        { "github:2", 0, -1 }, { "github:1", 1, -2 }, { "github:3", 0, -1 },
        { "github:3", 1, 2 },  { NULL, 0, -1 },       { NULL, 0, -1 },
    };
    int64_t first, last;
    int dup = -1, i, ok_order = 1;
    char name[128];

    if (fx_open(&f, "accept", 1) < 0)
        return;
    t.delivery_key = "github:1";
    first = accept1(&f, &t, &dup);
    tap_ok(first > 0, "accept: first delivery gets an id");
    tap_is_int(dup, 0, "accept: first delivery is not a duplicate");

    memset(r, 0, sizeof(r));
    for (i = 0; i < (int)WS_ARRAY_SIZE(batch); i++) {
        struct ws_trigger_in u = t;
        u.delivery_key = batch[i].key;
        r[i].f = &f;
        if (ws_store_accept(f.st, &u, rec_accept, &r[i]) < 0)
            tap_diag("  accept %d refused", i);
    }
    run_until(&f, &ncalls, ncalls + (int)WS_ARRAY_SIZE(batch));
    last = first;
    for (i = 0; i < (int)WS_ARRAY_SIZE(batch); i++) {
        int64_t want = batch[i].same_as == -2 ? first : batch[i].same_as >= 0 ? r[batch[i].same_as].id : 0;
        const char *k = batch[i].key ? batch[i].key : "NULL";
        snprintf(name, sizeof(name), "accept batch[%d] %s: code 0", i, k);
        tap_is_int(r[i].code, 0, name);
        snprintf(name, sizeof(name), "accept batch[%d] %s: duplicate=%d", i, k, batch[i].want_dup);
        tap_is_int(r[i].duplicate, batch[i].want_dup, name);
        if (batch[i].want_dup) {
            snprintf(name, sizeof(name), "accept batch[%d] %s: duplicate returns the first id", i, k);
            tap_is_int(r[i].id, want, name);
        } else {
            snprintf(name, sizeof(name), "accept batch[%d] %s: a new, larger id", i, k);
            tap_ok(r[i].id > last, "%s", name);
            last = r[i].id;
        }
        if (i > 0 && r[i].seq != r[i - 1].seq + 1)
            ok_order = 0;
    }
    tap_ok(ok_order, "accept: callbacks in submission order");
    tap_is_int(sql_int(f.path, "SELECT count(*) FROM triggers"), 5,
               "accept: duplicates stored nothing (1 + 4 new triggers)");
    tap_is_int(sql_int(f.path, "SELECT count(*) FROM deliveries"), 3,
               "accept: one delivery row per distinct key, none for NULL keys");

    /* a later iteration: still a duplicate */
    dup = -1;
    tap_is_int(accept1(&f, &t, &dup), first, "accept: same key later returns the first id");
    tap_is_int(dup, 1, "accept: same key later is a duplicate");

    {
        struct rec g = { .f = &f };
        tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, first, rec_json, &g)), 0, "get_trigger: code 0");
        tap_is_str(jstr(g.json, "source"), "webhook", "get_trigger: source");
        tap_is_str(jstr(g.json, "provider"), "github", "get_trigger: provider");
        tap_is_str(jstr(g.json, "repo"), "main", "get_trigger: repo");
        tap_is_str(jstr(g.json, "ref"), "refs/heads/main", "get_trigger: ref");
        tap_is_str(jstr(g.json, "after"), "a1", "get_trigger: after");
        tap_is_str(jstr(g.json, "state"), "received", "get_trigger: a push starts 'received'");
        tap_ok(jint(g.json, "receivedAt") > 1500000000, "get_trigger: receivedAt is a wall-clock time");
        rec_reset(&g, &f);
        tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, 987654, rec_json, &g)), 0,
                   "get_trigger unknown: code 0");
        tap_ok(g.json == NULL, "get_trigger unknown: NULL result");
        rec_reset(&g, NULL);
    }
    for (i = 0; i < (int)WS_ARRAY_SIZE(batch); i++)
        json_decref(r[i].json);
    fx_done(&f, "accept");
}

/* --- group commit ------------------------------------------------------------------- */

#define NBURST 200

struct burst {
    struct fx *f;
    struct rec r[NBURST];
    int nmore; /* ops the first callback queues */
    struct rec more[50];
};

static void burst_first(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct burst *b = ws_container_of((struct rec *)data, struct burst, r[0]);
    struct ws_trigger_in t = { .source = "hook" };
    rec_accept(code, err, id, duplicate, data);
    for (int i = 0; i < b->nmore; i++) {
        b->more[i].f = b->f;
        ws_store_accept(b->f->st, &t, rec_accept, &b->more[i]);
    }
}

static int distinct_iters(const struct rec *r, int n)
{
    int k = n > 0 ? 1 : 0;
    for (int i = 1; i < n; i++)
        k += r[i].iter != r[i - 1].iter;
    return k;
}

static int ordered(const struct rec *r, int n, int *ids_up)
{
    int ok = 1;
    *ids_up = 1;
    for (int i = 1; i < n; i++) {
        ok &= r[i].seq == r[i - 1].seq + 1;
        *ids_up &= r[i].id > r[i - 1].id;
    }
    return ok;
}

static void test_group_commit(void)
{
    static struct burst b; /* large: not on the stack */
    struct ws_trigger_in t = { .source = "webhook", .repo = "main", .after = "x" };
    struct fx f;
    int i, nok = 0, ids_up, base;

    if (fx_open(&f, "group", 1) < 0)
        return;
    memset(&b, 0, sizeof(b));
    b.f = &f;
    for (i = 0; i < NBURST; i++) {
        b.r[i].f = &f;
        ws_store_accept(f.st, &t, rec_accept, &b.r[i]);
    }
    tap_is_int(ws_store_backlog(f.st), NBURST, "group: backlog counts queued operations");
    base = ncalls;
    run_until(&f, &ncalls, base + NBURST);
    for (i = 0; i < NBURST; i++)
        nok += b.r[i].calls == 1 && b.r[i].code == 0;
    tap_is_int(nok, NBURST, "group: every queued accept called back once with code 0");
    tap_ok(ordered(b.r, NBURST, &ids_up), "group: callbacks in submission order");
    tap_ok(ids_up, "group: ids increase in submission order");
    tap_is_int(distinct_iters(b.r, NBURST), 1, "group: one iteration's operations complete as one batch");
    tap_is_int(ws_store_backlog(f.st), 0, "group: backlog back to 0");
    tap_is_int(sql_int(f.path, "SELECT count(*) FROM triggers"), NBURST, "group: all stored");

    /* operations queued while a batch is being called back form the next batch */
    memset(&b, 0, sizeof(b));
    b.f = &f;
    b.nmore = 50;
    b.r[0].f = &f;
    ws_store_accept(f.st, &t, burst_first, &b.r[0]);
    for (i = 1; i < 50; i++) {
        b.r[i].f = &f;
        ws_store_accept(f.st, &t, rec_accept, &b.r[i]);
    }
    base = ncalls;
    run_until(&f, &ncalls, base + 100);
    memcpy(&b.r[50], b.more, sizeof(b.more)); /* one sequence of 100, submission order */
    nok = 0;
    for (i = 0; i < 100; i++)
        nok += b.r[i].calls == 1 && b.r[i].code == 0;
    tap_is_int(nok, 100, "group: 50 + 50 queued from a callback, all called back with code 0");
    tap_ok(ordered(b.r, 100, &ids_up), "group: the second wave is called back after the first, in order");
    tap_ok(ids_up, "group: second wave ids follow the first");
    tap_is_int(distinct_iters(b.r, 100), 2, "group: two waves, two batches");
    tap_is_int(ws_store_backlog(f.st), 0, "group: backlog 0 after both waves");

    /* pushes with other operations in one batch (with several replicas,
       reads, runs and leases come in between all the time): all done, the
       pushes all stored (on PostgreSQL, pipelined apart from the rest) */
    {
        static struct rec mixed[30];
        struct ws_trigger_in man = { .source = "api", .app = "mixed", .revision = "r" };
        int before = (int)sql_int(f.path, "SELECT count(*) FROM triggers");
        memset(mixed, 0, sizeof(mixed));
        for (i = 0; i < 30; i++) {
            mixed[i].f = &f;
            if (i % 6 == 5)
                ws_store_list_runs(f.st, NULL, 5, rec_json, &mixed[i]);
            else if (i == 13)
                ws_store_accept(f.st, &man, rec_accept, &mixed[i]);
            else
                ws_store_accept(f.st, &t, rec_accept, &mixed[i]);
        }
        base = ncalls;
        run_until(&f, &ncalls, base + 30);
        nok = 0;
        for (i = 0; i < 30; i++) {
            nok += mixed[i].calls == 1 && mixed[i].code == 0;
            rec_reset(&mixed[i], NULL);
        }
        tap_is_int(nok, 30, "group: 24 pushes, a manual sync and 5 reads queued together: all called back with code 0");
        tap_is_int((int)sql_int(f.path, "SELECT count(*) FROM triggers") - before, 25,
                   "group: the pushes and the manual sync all stored");
    }
    fx_done(&f, "group");
}

/* --- routing and pending runs ---------------------------------------------------------- */

static void test_routed(void)
{
    struct fx f;
    struct rec g = { 0 };
    int64_t t1, t2, t3, t4;
    static const struct {
        const char *app, *rev;
        int which; /* 1, 2, 3: expected trigger t1..t3 */
    } want[] = {
        { "a", "r3", 3 }, /* t2 set it, t3 replaced it, t1 (older, routed last) did not */
        { "b", "r2", 2 },
        { "c", "r1", 1 }, /* no pending row before: the old trigger creates it */
    };
    char name[128];

    if (fx_open(&f, "routed", 1) < 0)
        return;
    g.f = &f;
    t1 = accept_push(&f, "k1", "r1");
    t2 = accept_push(&f, "k2", "r2");
    t3 = accept_push(&f, "k3", "r3");
    t4 = accept_push(&f, "k4", "r4");
    tap_ok(t1 > 0 && t2 > t1 && t3 > t2 && t4 > t3, "routed: four triggers accepted in order");
    tap_is_int(routed1(&f, t2, "[{\"app\":\"a\",\"revision\":\"r2\"},{\"app\":\"b\",\"revision\":\"r2\"}]",
                       "routed", "2 apps"),
               0, "routed t2 -> a, b");
    tap_is_int(routed1(&f, t3, "[{\"app\":\"a\",\"revision\":\"r3\"},{\"revision\":\"no app: skipped\"}]",
                       "routed", "1 app"),
               0, "routed t3 -> a (newer)");
    tap_is_int(routed1(&f, t1, "[{\"app\":\"a\",\"revision\":\"r1\"},{\"app\":\"c\",\"revision\":\"r1\"}]",
                       "routed", "late"),
               0, "routed t1 -> a, c (older, late)");
    tap_is_int(routed1(&f, t4, NULL, "failed", "no application matches"), 0, "routed t4 failed, no apps");

    tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, t1, rec_json, &g)), 0, "routed: get t1");
    tap_is_str(jstr(g.json, "state"), "routed", "routed: t1 state routed");
    tap_is_str(jstr(g.json, "detail"), "late", "routed: t1 detail");
    tap_ok(jint(g.json, "routedAt") >= jint(g.json, "receivedAt") && jint(g.json, "routedAt") > 0,
           "routed: t1 routedAt set");
    rec_reset(&g, &f);
    tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, t4, rec_json, &g)), 0, "routed: get t4");
    tap_is_str(jstr(g.json, "state"), "failed", "routed: t4 state failed");
    tap_is_str(jstr(g.json, "detail"), "no application matches", "routed: t4 detail");
    rec_reset(&g, &f);
    {   /* what routing found is kept with the trigger: the paths, the applications */
        struct rec r = { .f = &f };
        json_t *apps = json_loads("[{\"app\":\"z\",\"revision\":\"r5\"}]", 0, NULL);
        json_t *paths = json_loads("[\"a/cm.yaml\",\"shared/x.yaml\"]", 0, NULL);
        int64_t t5 = accept_push(&f, "t5", "r5");
        tap_is_int(ws_store_routed(f.st, t5, apps, paths, "routed", "2 paths", rec_done, &r), 0, "routing: stored");
        run_until(&f, &r.calls, 1);
        json_decref(apps);
        json_decref(paths);
        tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, t5, rec_json, &g)), 0, "routing: get t5");
        tap_is_str(json_string_value(json_array_get(json_object_get(json_object_get(g.json, "routing"), "paths"), 1)),
                   "shared/x.yaml", "routing: the changed paths come back");
        tap_is_str(jstr(json_array_get(json_object_get(json_object_get(g.json, "routing"), "applications"), 0), "app"),
                   "z", "routing: and the applications");
        rec_reset(&g, &f);
    }

    for (size_t i = 0; i < WS_ARRAY_SIZE(want); i++) {
        int64_t trig = want[i].which == 1 ? t1 : want[i].which == 2 ? t2 : t3;
        snprintf(name, sizeof(name), "routed: run_start %s takes its pending run", want[i].app);
        tap_ok(start1(&f, &g, want[i].app) > 0, "%s", name);
        snprintf(name, sizeof(name), "routed: %s pending revision %s", want[i].app, want[i].rev);
        tap_is_str(jstr(g.json, "revision"), want[i].rev, name);
        snprintf(name, sizeof(name), "routed: %s pending trigger t%d", want[i].app, want[i].which);
        tap_is_int(jint(g.json, "trigger"), trig, name);
    }
    tap_is_int(start1(&f, &g, "nobody"), 0, "routed: an app never routed has nothing pending");
    tap_is_int(g.code, 0, "routed: nothing pending is not an error");
    rec_reset(&g, NULL);
    fx_done(&f, "routed");
}

static void test_runs(void)
{
    struct fx f;
    struct rec g = { 0 }, d = { 0 };
    json_t *extra = json_pack("{s:s, s:i}", "statusTarget", "https://x/1", "n", 7);
    json_t *report = json_pack("{s:s, s:[i,i], s:{s:b}}", "result", "Succeeded", "objects", 1, 2, "meta",
                               "ok", 1);
    int64_t tm, run, runs[5];
    static const char *const apps[5] = { "x", "y", "x", "x", "y" };
    int i;

    if (fx_open(&f, "runs", 1) < 0)
        goto out;
    g.f = d.f = &f;
    tm = accept_manual(&f, "m", "abc123", 1, 1, extra);
    tap_ok(tm > 0, "manual: accepted");
    tap_is_int(json1(&f, &g, ws_store_get_trigger(f.st, tm, rec_json, &g)), 0, "manual: get trigger");
    tap_is_str(jstr(g.json, "state"), "routed", "manual: trigger is routed at once");
    tap_is_str(jstr(g.json, "app"), "m", "manual: trigger names the app");

    run = start1(&f, &g, "m");
    tap_ok(run > 0, "run_start: manual app pending at once, run id");
    tap_is_str(jstr(g.json, "app"), "m", "run_start: app");
    tap_is_int(jint(g.json, "trigger"), tm, "run_start: trigger");
    tap_is_str(jstr(g.json, "revision"), "abc123", "run_start: revision");
    tap_is_int(jint(g.json, "prune"), 1, "run_start: prune");
    tap_is_int(jint(g.json, "dryRun"), 1, "run_start: dryRun");
    tap_ok(json_equal(json_object_get(g.json, "extra"), extra), "run_start: extra decoded as JSON");
    tap_is_int(start1(&f, &g, "m"), 0, "run_start again: nothing pending");
    tap_ok(g.calls == 1 && g.code == 0 && g.json == NULL, "run_start again: NULL result, code 0");

    tap_is_int(done1(&f, ws_store_get_run(f.st, run, rec_json, &d), &d), 0, "get_run running: code 0");
    tap_is_str(jstr(d.json, "state"), "running", "get_run: started run is running");
    tap_ok(json_is_null(json_object_get(d.json, "finishedAt")), "get_run: running has no finishedAt");
    rec_reset(&d, &f);
    tap_is_int(done1(&f, ws_store_run_finish(f.st, run, "Succeeded", "all good", report, rec_done, &d), &d),
               0, "run_finish: code 0");
    rec_reset(&d, &f);
    tap_is_int(done1(&f, ws_store_get_run(f.st, run, rec_json, &d), &d), 0, "get_run: code 0");
    tap_is_int(jint(d.json, "id"), run, "get_run: id");
    tap_is_str(jstr(d.json, "state"), "Succeeded", "get_run: state recorded");
    tap_is_str(jstr(d.json, "message"), "all good", "get_run: message recorded");
    tap_ok(json_equal(json_object_get(d.json, "report"), report), "get_run: report decoded as JSON");
    tap_ok(jint(d.json, "finishedAt") >= jint(d.json, "startedAt") && jint(d.json, "startedAt") > 0,
           "get_run: startedAt <= finishedAt");
    tap_is_str(jstr(d.json, "revision"), "abc123", "get_run: revision");
    rec_reset(&d, &f);
    tap_is_int(done1(&f, ws_store_get_run(f.st, 424242, rec_json, &d), &d), 0, "get_run unknown: code 0");
    tap_ok(d.json == NULL, "get_run unknown: NULL result");

    /* five runs of x and y (each finished before the next), then list them */
    for (i = 0; i < 5; i++) {
        accept_manual(&f, apps[i], "r", 0, 0, NULL);
        runs[i] = start1(&f, &g, apps[i]);
        rec_reset(&d, &f);
        done1(&f, ws_store_run_finish(f.st, runs[i], "Succeeded", "", NULL, rec_done, &d), &d);
    }
    {
        static const struct {
            const char *app;
            int limit, n;
            int idx[6]; /* expected: index into runs, -1 = the manual run of m */
        } lists[] = {
            { NULL, 0, 6, { 4, 3, 2, 1, 0, -1 } },
            { "x", 0, 3, { 3, 2, 0 } },
            { "x", 2, 2, { 3, 2 } },
            { "y", 50, 2, { 4, 1 } },
            { "m", 1, 1, { -1 } },
            { "none", 5, 0, { 0 } },
        };
        for (size_t k = 0; k < WS_ARRAY_SIZE(lists); k++) {
            char name[128];
            int same = 1;
            rec_reset(&d, &f);
            done1(&f, ws_store_list_runs(f.st, lists[k].app, lists[k].limit, rec_json, &d), &d);
            snprintf(name, sizeof(name), "list_runs(%s, %d): %d runs", lists[k].app ? lists[k].app : "NULL",
                     lists[k].limit, lists[k].n);
            tap_is_int(json_array_size(d.json), lists[k].n, name);
            for (i = 0; i < lists[k].n; i++) {
                json_t *v = json_array_get(d.json, (size_t)i);
                int64_t want = lists[k].idx[i] < 0 ? run : runs[lists[k].idx[i]];
                same &= jint(v, "id") == want &&
                        (!lists[k].app || strcmp(jstr(v, "app") ? jstr(v, "app") : "", lists[k].app) == 0);
            }
            snprintf(name, sizeof(name), "list_runs(%s, %d): newest first, right app",
                     lists[k].app ? lists[k].app : "NULL", lists[k].limit);
            tap_ok(same, "%s", name);
        }
    }
    /* at most one running run of an application: one pending while it runs
       waits (busy), and starts once the first has finished */
    accept_manual(&f, "x", "r", 0, 0, NULL);
    int64_t first = start1(&f, &g, "x");
    accept_manual(&f, "x", "r2", 0, 0, NULL);
    tap_is_int(start1(&f, &g, "x"), 0, "run_start while x runs: no run");
    tap_ok(g.code == 0 && json_is_true(json_object_get(g.json, "busy")) && jint(g.json, "run") == first,
           "run_start while x runs: busy, naming the running run");
    rec_reset(&d, &f);
    done1(&f, ws_store_run_finish(f.st, first, "Succeeded", "", NULL, rec_done, &d), &d);
    tap_ok(start1(&f, &g, "x") > first, "run_start after it finished: the pending run starts");
    rec_reset(&d, &f);
    tap_is_int(done1(&f, ws_store_run_finish(f.st, first, "Failed", "again", NULL, rec_done, &d), &d), WS_ECONFLICT,
               "run_finish of a run that already finished: WS_ECONFLICT");
    rec_reset(&d, &f);
    done1(&f, ws_store_run_finish(f.st, jint(g.json, "id"), "Succeeded", "", NULL, rec_done, &d), &d);

    rec_reset(&g, NULL);
    rec_reset(&d, NULL);
    fx_done(&f, "runs");
out:
    json_decref(extra);
    json_decref(report);
}

/* --- recovery and requeue ------------------------------------------------------------- */

static void test_recovery(void)
{
    struct fx f;
    struct rec g = { 0 };
    json_t *extra = json_pack("{s:s}", "defaultBranch", "main");
    json_t *state = NULL, *p, *trigs;
    struct ws_err err;
    int64_t tr, rr, tn_new, rn, w1, w2, w3;

    if (fx_open(&f, "recover", 1) < 0)
        goto out;
    g.f = &f;
    tr = accept_manual(&f, "r", "rev1", 1, 0, NULL);
    rr = start1(&f, &g, "r");
    accept_manual(&f, "n", "old", 0, 0, NULL);
    rn = start1(&f, &g, "n");
    tn_new = accept_manual(&f, "n", "new", 0, 1, NULL); /* newer, pending while "old" runs */
    {
        struct ws_trigger_in t = { .delivery_key = "gh:w1", .source = "webhook", .provider = "github",
                                   .repo = "main", .ref = "refs/heads/main", .before = "b", .after = "a1",
                                   .extra = extra };
        w1 = accept1(&f, &t, NULL);
        t.delivery_key = "gh:w3";
        t.after = "a3";
        w3 = accept1(&f, &t, NULL);
        t.delivery_key = "gh:w2";
        t.after = "a2";
        w2 = accept1(&f, &t, NULL);
    }
    routed1(&f, w3, "[]", "routed", NULL); /* routed: not recovered */
    tap_ok(rr > 0 && rn > 0 && tn_new > 0 && w1 > 0 && w2 > w3, "recover: setup");
    fx_close_store(&f); /* the runs are left "running", as a crash would */
    tap_is_int(f.closed, 1, "recover: store closed with runs still running");

    tap_is_int(fx_open(&f, "recover", 0), 0, "recover: reopen");
    rec_reset(&g, &f);
    done1(&f, ws_store_get_run(f.st, rr, rec_json, &g), &g);
    tap_is_str(jstr(g.json, "state"), "Interrupted", "recover: the running run is Interrupted");
    tap_contains(jstr(g.json, "message"), "stopped", "recover: with a message");
    tap_ok(jint(g.json, "finishedAt") > 0, "recover: and a finishedAt");
    rec_reset(&g, &f);
    done1(&f, ws_store_get_run(f.st, rn, rec_json, &g), &g);
    tap_is_str(jstr(g.json, "state"), "Interrupted", "recover: the other running run too");

    ws_err_clear(&err);
    tap_is_int(ws_store_recover(&state, f.st, &err), 0, "recover: ws_store_recover");
    p = json_object_get(state, "pending");
    tap_is_int(json_array_size(p), 2, "recover: two pending apps");
    tap_is_str(jstr(by_app(p, "r"), "revision"), "rev1", "recover: r pending again with its revision");
    tap_is_int(jint(by_app(p, "r"), "trigger"), tr, "recover: r pending with its trigger");
    tap_is_int(jint(by_app(p, "r"), "prune"), 1, "recover: r keeps prune");
    tap_is_str(jstr(by_app(p, "n"), "revision"), "new", "recover: n keeps the newer pending revision");
    tap_is_int(jint(by_app(p, "n"), "trigger"), tn_new, "recover: n keeps the newer trigger");
    tap_is_int(jint(by_app(p, "n"), "dryRun"), 1, "recover: n keeps the newer dryRun");
    tap_ok(jint(json_array_get(p, 0), "trigger") < jint(json_array_get(p, 1), "trigger"),
           "recover: pending ordered by trigger");
    trigs = json_object_get(state, "triggers");
    tap_is_int(json_array_size(trigs), 2, "recover: two unrouted triggers (manual and routed excluded)");
    tap_is_int(jint(json_array_get(trigs, 0), "id"), w1, "recover: oldest trigger first");
    tap_is_int(jint(json_array_get(trigs, 1), "id"), w2, "recover: then the next");
    tap_is_str(jstr(json_array_get(trigs, 1), "after"), "a2", "recover: trigger after");
    tap_is_str(jstr(json_array_get(trigs, 0), "repo"), "main", "recover: trigger repo");
    tap_ok(json_equal(json_object_get(json_array_get(trigs, 0), "extra"), extra),
           "recover: trigger extra decoded as JSON");

    tap_ok(start1(&f, &g, "r") > rn, "recover: r runs again as a new run");
    tap_is_str(jstr(g.json, "revision"), "rev1", "recover: with the interrupted revision");
    rec_reset(&g, NULL);
    fx_done(&f, "recover");
out:
    json_decref(state);
    json_decref(extra);
}

/* Manual applications: a push records them as awaiting (never pending); a
 * successful, non-dry run asked after the push settles them; recovery
 * returns what still waits. */
static void test_awaiting(void)
{
    struct fx f;
    struct rec g = { 0 }, d = { 0 };
    json_t *state = NULL, *aw;
    struct ws_err err;
    int64_t p1, p2, old, m1, run;

    if (fx_open(&f, "awaiting", 1) < 0)
        return;
    g.f = d.f = &f;
    old = accept_push(&f, "gh:aw0", "c0");
    p1 = accept_push(&f, "gh:aw1", "c1");
    p2 = accept_push(&f, "gh:aw2", "c2");
    tap_is_int(routed1(&f, p1, "[{\"app\": \"man\", \"manual\": true, \"commit\": \"c1\"},"
                               " {\"app\": \"auto\"}]", "routed", NULL), 0, "awaiting: routed");
    tap_is_int(start1(&f, &g, "man"), 0, "awaiting: a manual application gets no pending run");
    tap_ok(start1(&f, &g, "auto") > 0, "awaiting: the automated one does");
    tap_is_int(routed1(&f, p2, "[{\"app\": \"man\", \"manual\": true, \"commit\": \"c2\"}]", "routed", NULL), 0,
               "awaiting: a newer push");
    tap_is_int(routed1(&f, old, "[{\"app\": \"man\", \"manual\": true, \"commit\": \"c0\"}]", "routed", NULL), 0,
               "awaiting: an older push routed late");
    tap_is_int(sql_int(f.path, "SELECT COUNT(*) FROM awaiting WHERE app = 'man' AND revision = 'c2'"), 1,
               "awaiting: the newest pushed commit is kept, an older one routed late does not replace it");

    /* a dry run does not settle it, a failed run does not, a successful one does */
    accept_manual(&f, "man", NULL, 0, 1, NULL);
    run = start1(&f, &g, "man");
    done1(&f, ws_store_run_finish(f.st, run, "Succeeded", NULL, NULL, rec_done, &d), &d);
    tap_is_int(sql_int(f.path, "SELECT COUNT(*) FROM awaiting"), 1, "awaiting: a dry run leaves it awaiting");
    m1 = accept_manual(&f, "man", NULL, 0, 0, NULL);
    run = start1(&f, &g, "man");
    rec_reset(&d, &f);
    done1(&f, ws_store_run_finish(f.st, run, "Failed", "deadline", NULL, rec_done, &d), &d);
    tap_is_int(sql_int(f.path, "SELECT COUNT(*) FROM awaiting"), 1, "awaiting: a failed run leaves it awaiting");

    fx_close_store(&f);
    tap_is_int(fx_open(&f, "awaiting", 0), 0, "awaiting: reopen");
    ws_err_clear(&err);
    tap_is_int(ws_store_recover(&state, f.st, &err), 0, "awaiting: recover");
    aw = json_object_get(state, "awaiting");
    tap_is_int(json_array_size(aw), 1, "awaiting: recovered");
    tap_is_str(jstr(by_app(aw, "man"), "revision"), "c2", "awaiting: with the pushed commit");
    tap_is_int(jint(by_app(aw, "man"), "trigger"), p2, "awaiting: and its trigger");
    tap_ok(jint(by_app(aw, "man"), "since") > 0, "awaiting: and since when");

    tap_ok(m1 > p2, "awaiting: the manual request came after the push");
    accept_manual(&f, "man", NULL, 0, 0, NULL);
    g.f = d.f = &f;
    run = start1(&f, &g, "man");
    rec_reset(&d, &f);
    done1(&f, ws_store_run_finish(f.st, run, "Succeeded", NULL, NULL, rec_done, &d), &d);
    tap_is_int(sql_int(f.path, "SELECT COUNT(*) FROM awaiting"), 0, "awaiting: a successful sync settles it");
    rec_reset(&g, NULL);
    rec_reset(&d, NULL);
    json_decref(state);
    fx_done(&f, "awaiting");
}

static void test_requeue(void)
{
    struct fx f;
    struct rec g = { 0 }, d = { 0 };
    int64_t q1, q2;

    if (fx_open(&f, "requeue", 1) < 0)
        return;
    g.f = d.f = &f;
    accept_manual(&f, "q", "q1", 0, 0, NULL);
    q1 = start1(&f, &g, "q");
    tap_is_int(done1(&f, ws_store_run_requeue(f.st, q1, rec_done, &d), &d), 0, "requeue: code 0");
    rec_reset(&d, &f);
    done1(&f, ws_store_get_run(f.st, q1, rec_json, &d), &d);
    tap_is_str(jstr(d.json, "state"), "Interrupted", "requeue: the run is Interrupted");
    q2 = start1(&f, &g, "q");
    tap_ok(q2 > q1, "requeue: the app is pending again");
    tap_is_str(jstr(g.json, "revision"), "q1", "requeue: with the same revision");

    accept_manual(&f, "q", "q2", 0, 0, NULL); /* newer, while q2 runs */
    rec_reset(&d, &f);
    tap_is_int(done1(&f, ws_store_run_requeue(f.st, q2, rec_done, &d), &d), 0,
               "requeue with newer pending: code 0");
    tap_ok(start1(&f, &g, "q") > q2, "requeue with newer pending: one pending run");
    tap_is_str(jstr(g.json, "revision"), "q2", "requeue with newer pending: the newer revision wins");
    tap_is_int(start1(&f, &g, "q"), 0, "requeue with newer pending: only one");
    rec_reset(&g, NULL);
    rec_reset(&d, NULL);
    fx_done(&f, "requeue");
}

/* --- close and failures ---------------------------------------------------------------- */

static int closed_seq = -1;

static void on_closed_seq(void *data)
{
    ((struct fx *)data)->closed++;
    closed_seq = ncalls++;
}

static void noop_idle(uv_idle_t *h)
{
    (void)h;
}

static void stop_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
}

static void test_close_queued(void)
{
    struct fx f;
    struct rec r[6];
    struct ws_trigger_in t = { .source = "webhook", .repo = "main" };
    uv_idle_t awake;
    int i, all = 1;

    if (fx_open(&f, "close", 1) < 0)
        return;
    memset(r, 0, sizeof(r));
    for (i = 0; i < 3; i++)
        ws_store_accept(f.st, &t, rec_accept, &r[i]);
    /* one iteration (an idle handle keeps it from being skipped): the first
     * three go to the worker; two more queue behind them */
    uv_idle_init(&f.loop, &awake);
    uv_idle_start(&awake, noop_idle);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    uv_close((uv_handle_t *)&awake, NULL);
    ws_store_accept(f.st, &t, rec_accept, &r[3]);
    ws_store_list_runs(f.st, NULL, 5, rec_json, &r[4]);
    closed_seq = -1;
    ws_store_close(f.st, on_closed_seq, &f);
    tap_is_int(ws_store_accept(f.st, &t, rec_accept, &r[5]), WS_ECANCELED,
               "close: an operation queued after close is refused with WS_ECANCELED");
    f.st = NULL;
    uv_run(&f.loop, UV_RUN_DEFAULT);
    for (i = 0; i < 5; i++)
        all &= r[i].calls == 1 && r[i].code == 0 && (i == 0 || r[i].seq == r[i - 1].seq + 1);
    tap_ok(all, "close: the 5 queued operations are called back, in order, code 0");
    tap_is_int(r[5].calls, 0, "close: the refused one is never called back");
    tap_is_int(f.closed, 1, "close: closed callback once");
    tap_is_int(closed_seq, r[4].seq + 1, "close: closed callback after the queued ones");
    tap_ok(json_is_array(r[4].json), "close: a read queued before close still answers");
    json_decref(r[4].json);
    uv_close((uv_handle_t *)&f.iter_counter, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    tap_is_int(uv_loop_close(&f.loop), 0, "close: uv_loop_close returns 0");
}

/* One batch with failing operations among good ones: each failure rolls back
 * to its own savepoint only. */
static void test_failure_isolation(void)
{
    struct fx f;
    struct rec g = { 0 }, r[5];
    struct ws_trigger_in good = { .source = "api", .app = "iso", .revision = "good" };
    json_t *apps = json_pack("[{s:s, s:s}]", "app", "ghost", "revision", "x");
    int64_t trig, run;
    int i;

    if (fx_open(&f, "isolation", 1) < 0)
        goto out;
    g.f = &f;
    trig = accept_push(&f, "iso:1", "a");
    accept_manual(&f, "fin", "f1", 0, 0, NULL);
    run = start1(&f, &g, "fin");
    memset(r, 0, sizeof(r));
    for (i = 0; i < 5; i++)
        r[i].f = &f;
    ws_store_accept(f.st, &good, rec_accept, &r[0]);
    /* a NULL state violates triggers.state NOT NULL after the pending row was written */
    ws_store_routed(f.st, trig, apps, NULL, NULL, "x", rec_done, &r[1]);
    good.revision = "good2";
    good.app = "iso2";
    ws_store_accept(f.st, &good, rec_accept, &r[2]);
    ws_store_run_finish(f.st, run, NULL, "no result", NULL, rec_done, &r[3]); /* runs.state NOT NULL */
    ws_store_get_run(f.st, run, rec_json, &r[4]);
    run_until(&f, &r[4].calls, 1);

    tap_is_int(distinct_iters(r, 5), 1, "isolation: one batch");
    tap_is_int(r[0].code, 0, "isolation: accept before the failure succeeds");
    tap_is_int(r[1].code, WS_EIO, "isolation: routed with a NULL state fails with WS_EIO");
    tap_ok(r[1].err_set, "isolation: the failure carries an error");
    tap_ok(strstr(r[1].msg, "NOT NULL") || strstr(r[1].msg, "not-null"), "isolation: the error says why: %s", r[1].msg);
    tap_is_int(r[2].code, 0, "isolation: accept after the failure succeeds");
    tap_is_int(r[3].code, WS_EIO, "isolation: run_finish with a NULL result fails");
    tap_is_int(r[4].code, 0, "isolation: read after the failures succeeds");
    tap_is_str(jstr(r[4].json, "state"), "running", "isolation: the failed run_finish changed nothing");
    tap_is_int(start1(&f, &g, "ghost"), 0, "isolation: the failed routed's pending row was rolled back");
    tap_ok(start1(&f, &g, "iso") > 0, "isolation: the first accept's pending run is stored");
    tap_is_str(jstr(g.json, "revision"), "good", "isolation: with its revision");
    tap_ok(start1(&f, &g, "iso2") > 0, "isolation: the second accept's pending run is stored");
    rec_reset(&g, &f);
    json1(&f, &g, ws_store_get_trigger(f.st, trig, rec_json, &g));
    tap_is_str(jstr(g.json, "state"), "received", "isolation: the trigger of the failed routed is unchanged");
    rec_reset(&g, NULL);
    json_decref(r[4].json);
    fx_done(&f, "isolation");
out:
    json_decref(apps);
}

/* --- wakeup: operations queued outside an iteration's I/O phase ------------------------ */

struct wake {
    struct fx *f;
    uv_timer_t server;  /* stands for the service's listening socket: keeps the loop alive */
    uv_timer_t trigger; /* queues the operation from a timer callback */
    int server_fired, accepted, server_fired_first;
    struct rec r;
};

static void wake_accepted(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct wake *w = ws_container_of((struct rec *)data, struct wake, r);
    rec_accept(code, err, id, duplicate, data);
    w->accepted = 1;
    w->server_fired_first = w->server_fired;
    if (!w->server_fired) {
        uv_timer_stop(&w->server);
        uv_close((uv_handle_t *)&w->server, NULL);
    }
}

static void wake_server(uv_timer_t *t)
{
    struct wake *w = ws_container_of(t, struct wake, server);
    w->server_fired = 1;
    uv_close((uv_handle_t *)t, NULL);
}

static void wake_queue(uv_timer_t *t)
{
    struct wake *w = ws_container_of(t, struct wake, trigger);
    struct ws_trigger_in in = { .source = "api" };
    /* not closed here: a closing handle would itself make the poll return at once */
    ws_store_accept(w->f->st, &in, wake_accepted, &w->r);
}

static void test_wakeup(void)
{
    struct fx f;
    struct wake w;
    struct ws_trigger_in in = { .source = "api" };
    uint64_t t0;

    /* (a) nothing else alive: the queued operation must still run */
    if (fx_open(&f, "wake", 1) < 0)
        return;
    memset(&w, 0, sizeof(w));
    ws_store_accept(f.st, &in, rec_accept, &w.r);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    tap_is_int(w.r.calls, 1, "wakeup: an operation queued before uv_run runs though nothing else is alive");
    run_until(&f, &w.r.calls, 1); /* drain it if not */

    /* (b) queued before uv_run while a server keeps the loop alive: it must
     * not wait for the server's next event (serve.c queues the recovered
     * routings and pending runs just so) */
    memset(&w, 0, sizeof(w));
    w.f = &f;
    uv_timer_init(&f.loop, &w.server);
    uv_timer_start(&w.server, wake_server, 1000, 0);
    t0 = uv_now(&f.loop);
    ws_store_accept(f.st, &in, wake_accepted, &w.r);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    tap_ok(w.accepted && !w.server_fired_first,
           "wakeup: queued before uv_run, done without waiting for another event");
    tap_diag("  took %llu ms", (unsigned long long)(uv_now(&f.loop) - t0));

    /* (c) queued from a timer callback (timers run outside the I/O phase) */
    memset(&w, 0, sizeof(w));
    w.f = &f;
    uv_timer_init(&f.loop, &w.server);
    uv_timer_start(&w.server, wake_server, 1000, 0);
    uv_timer_init(&f.loop, &w.trigger);
    uv_timer_start(&w.trigger, wake_queue, 5, 0);
    t0 = uv_now(&f.loop);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    tap_ok(w.accepted && !w.server_fired_first,
           "wakeup: queued from a timer callback, done without waiting for another event");
    tap_diag("  took %llu ms", (unsigned long long)(uv_now(&f.loop) - t0));
    uv_close((uv_handle_t *)&w.trigger, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    fx_done(&f, "wakeup");
}

/* --- closing from inside a store callback (in a child: the bug aborts) ------------------ */

struct inner {
    struct ws_store *st;
    int queue_more, closed, more_calls, more_code, order_ok;
};

static void inner_closed(void *data)
{
    struct inner *in = data;
    in->closed++;
    in->order_ok = in->queue_more ? in->more_calls == 1 : 1;
}

static void inner_more(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct inner *in = data;
    in->more_calls++;
    in->more_code = code;
}

static void inner_cb(int code, const struct ws_err *err, int64_t id, int duplicate, void *data)
{
    struct inner *in = data;
    struct ws_trigger_in t = { .source = "api" };
    if (in->queue_more)
        ws_store_accept(in->st, &t, inner_more, in);
    ws_store_close(in->st, inner_closed, in);
}

/* Returns the exit status of a child that closes the store from a callback. */
static int close_in_callback(int queue_more, const char *name)
{
    pid_t pid;
    int status = 0;
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) == 0) {
        struct fx f;
        struct inner in = { .queue_more = queue_more };
        uv_idle_t awake;
        struct ws_trigger_in t = { .source = "api" };
        if (fx_open(&f, name, 1) < 0)
            exit(3);
        in.st = f.st;
        ws_store_accept(f.st, &t, inner_cb, &in);
        uv_idle_init(&f.loop, &awake); /* gets the first batch going whatever the wakeup bug */
        uv_idle_start(&awake, stop_idle);
        uv_run(&f.loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&awake, NULL);
        uv_close((uv_handle_t *)&f.iter_counter, NULL);
        uv_run(&f.loop, UV_RUN_DEFAULT);
        if (in.closed != 1 || !in.order_ok || (queue_more && in.more_code != 0) || uv_loop_close(&f.loop)) {
            printf("# child %s: closed=%d order_ok=%d more_code=%d\n", name, in.closed, in.order_ok,
                   in.more_code);
            fflush(stdout);
            exit(2);
        }
        exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    if (WIFSIGNALED(status))
        tap_diag("  child %s killed by signal %d", name, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        tap_diag("  child %s exited %d", name, WEXITSTATUS(status));
    return status;
}

static void test_close_in_callback(void)
{
    tap_is_int(close_in_callback(0, "inner0"), 0,
               "close from a callback (nothing queued): closed once, no crash, no leak");
    tap_is_int(close_in_callback(1, "inner1"), 0,
               "close from a callback after queueing one more: it runs, then closed once");
}

static void cleanup(void)
{
    static const char *const names[] = { "open", "accept", "group", "routed", "runs", "recover", "requeue",
                                         "close", "awaiting", "isolation", "wake", "inner0", "inner1",
                                         "versions-new", "versions-old", "versions-1", "versions-newer", "alone" };
    static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
    char p[192];
    for (size_t i = 0; i < WS_ARRAY_SIZE(names); i++)
        for (size_t k = 0; k < WS_ARRAY_SIZE(ext); k++) {
            path_for(p, sizeof(p) - 16, names[i]);
            strcat(p, ext[k]);
            unlink(p);
        }
    if (rmdir(root) < 0)
        tap_diag("could not remove %s", root);
}

/* --- schema versions ------------------------------------------------------------------ */

/* The state file of the release before schema versions (user_version 0),
 * with a delivery, a routed trigger, a finished run and a pending one: what
 * a wavesync upgraded in place finds in its stateDir. */
static const char previous_release[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE deliveries (key TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, received_at INTEGER NOT NULL);"
    "CREATE TABLE triggers (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, provider TEXT, repo TEXT,"
    "  ref TEXT, before TEXT, after TEXT, app TEXT, revision TEXT, prune INTEGER DEFAULT 0,"
    "  dry_run INTEGER DEFAULT 0, extra TEXT, state TEXT NOT NULL, detail TEXT,"
    "  received_at INTEGER NOT NULL, routed_at INTEGER);"
    "CREATE INDEX triggers_state ON triggers(state);"
    "CREATE TABLE pending (app TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, revision TEXT,"
    "  prune INTEGER DEFAULT 0, dry_run INTEGER DEFAULT 0, queued_at INTEGER NOT NULL);"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, trigger_id INTEGER,"
    "  revision TEXT, prune INTEGER DEFAULT 0, dry_run INTEGER DEFAULT 0, state TEXT NOT NULL, message TEXT,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER, report TEXT);"
    "CREATE INDEX runs_app ON runs(app, id);"
    "CREATE TABLE awaiting (app TEXT PRIMARY KEY, trigger_id INTEGER NOT NULL, revision TEXT,"
    "  since INTEGER NOT NULL);"
    "INSERT INTO deliveries VALUES ('github:old-1', 1, strftime('%s','now'));"
    "INSERT INTO triggers (source, provider, repo, ref, before, after, state, received_at, routed_at)"
    "  VALUES ('webhook', 'github', 'ml', 'refs/heads/main', 'a', 'b', 'routed', 1, 2);"
    "INSERT INTO triggers (source, app, state, received_at) VALUES ('api', 'serving', 'queued', 3);"
    "INSERT INTO runs (app, trigger_id, revision, state, message, started_at, finished_at)"
    "  VALUES ('training', 1, 'b', 'Succeeded', '', 2, 4);"
    "INSERT INTO pending VALUES ('serving', 2, NULL, 0, 0, 3);";

static int write_db(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int ok = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

static void test_schema_versions(void)
{
    struct fx f;
    json_t *state = NULL;
    struct ws_err err;
    char path[160];
    uv_loop_t loop;
    struct ws_store *st = NULL;
    int rc;

    /* a new file starts at the current version */
    if (fx_open(&f, "versions-new", 1) == 0)
        tap_is_int(sql_int(f.path, "PRAGMA user_version"), WS_STORE_SCHEMA_VERSION,
                   "versions: a new state file has the current schema version");
    fx_done(&f, "versions-new");

    /* the previous release's state file: migrated, nothing lost */
    path_for(path, sizeof(path), "versions-old");
    if (!tap_ok(write_db(path, previous_release), "versions: a state file in the previous release's format"))
        return;
    tap_is_int(sql_int(path, "PRAGMA user_version"), 0, "versions: it has no schema version");
    if (fx_open(&f, "versions-old", 1) == 0) {
        tap_is_int(sql_int(f.path, "PRAGMA user_version"), WS_STORE_SCHEMA_VERSION,
                   "versions: opening it migrates it to the current version");
        ws_err_clear(&err);
        tap_is_int(ws_store_recover(&state, f.st, &err), 0, "versions: its state reads");
        tap_is_int(json_array_size(json_object_get(state, "pending")), 1, "versions: the pending run is kept");
        tap_is_str(json_string_value(json_object_get(json_array_get(json_object_get(state, "pending"), 0), "app")),
                   "serving", "versions: for its application");
        json_decref(state);
        tap_is_int(sql_int(f.path, "SELECT count(*) FROM runs WHERE state = 'Succeeded'"), 1,
                   "versions: the finished run is kept");
        tap_is_int(sql_int(f.path, "SELECT count(*) FROM deliveries"), 1,
                   "versions: replay protection is kept");
    }
    fx_done(&f, "versions-old");
    tap_is_int(fx_open(&f, "versions-old", 1), 0, "versions: a migrated file opens again as is");
    fx_done(&f, "versions-old-again");

    /* version 1 (the first versioned release): gains the routing column */
    {
        char *v1 = NULL;
        path_for(path, sizeof(path), "versions-1");
        if (asprintf(&v1, "%sPRAGMA user_version = 1;", previous_release) < 0 ||
            !tap_ok(write_db(path, v1), "versions: a state file at schema version 1")) {
            free(v1);
            return;
        }
        free(v1);
        if (fx_open(&f, "versions-1", 1) == 0) {
            tap_is_int(sql_int(f.path, "PRAGMA user_version"), WS_STORE_SCHEMA_VERSION,
                       "versions: version 1 is migrated to the current version");
            tap_is_int(sql_int(f.path, "SELECT count(*) FROM pragma_table_info('triggers') WHERE name = 'routing'"), 1,
                       "versions: its triggers gained the routing column");
            tap_is_int(sql_int(f.path, "SELECT count(*) FROM runs WHERE state = 'Succeeded'"), 1,
                       "versions: and kept their runs");
        }
        fx_done(&f, "versions-1");
    }

    /* a newer wavesync's file: refused, untouched */
    path_for(path, sizeof(path), "versions-newer");
    if (!tap_ok(write_db(path, "CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;"),
                "versions: a state file of a later wavesync"))
        return;
    uv_loop_init(&loop);
    ws_err_clear(&err);
    rc = ws_store_open(&st, &loop, path, &err);
    tap_is_int(rc, WS_ECONFIG, "versions: a newer schema is refused (WS_ECONFIG)");
    tap_ok(st == NULL, "versions: no store");
    tap_contains(err.msg, "has schema version 99, written by a newer wavesync (this one reads up to version",
                 "versions: the message says which versions");
    tap_is_int(sql_int(path, "PRAGMA user_version"), 99, "versions: the file is untouched");
    tap_is_int(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'triggers'"), 0,
               "versions: no table was added to it");
    tap_is_int(uv_loop_close(&loop), 0, "versions: nothing left on the loop");
}

/* --- replicas ------------------------------------------------------------------------ */

static void sleep_tick(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, NULL);
}

static void sleep_ms(struct fx *f, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    uv_timer_start(&t, sleep_tick, ms, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static int json_on(struct fx *f, struct rec *r, int rc)
{
    rec_reset(r, f);
    return rc;
}

/* A second replica on the same database (and loop). */
static struct ws_store *replica(struct fx *f, const char *name, int lease_ms)
{
    struct ws_store *st = NULL;
    struct ws_err err;
    struct ws_store_opts o = { .postgres = f->path, .where = "test", .replica = name, .lease_ms = lease_ms };
    ws_err_clear(&err);
    if (ws_store_open_opts(&st, &f->loop, &o, &err) < 0)
        tap_diag("open replica %s: %s", name, err.msg);
    return st;
}

static void test_replicas(void)
{
    struct fx f;
    struct rec g = { 0 }, d = { 0 }, r2[2];
    struct ws_store *a = NULL, *b = NULL, *main_st;
    int64_t ta, ra, rb;
    int dup;

    if (fx_open(&f, "replicas", 1) < 0)
        return;
    main_st = f.st;
    if (!(a = replica(&f, "a", 400)) || !(b = replica(&f, "b", 20000)))
        goto out;
    tap_ok(ws_store_shared(a) && ws_store_replica(a) != ws_store_replica(b) && ws_store_replica(b) > 0,
           "replicas: each one registered with an id of its own");

    /* every replica counts the live ones */
    f.st = a;
    json_on(&f, &g, 0);
    done1(&f, ws_store_heartbeat(a, rec_json, &g), &g);
    tap_ok(json_is_true(json_object_get(g.json, "ok")) && jint(g.json, "replicas") == 3,
           "replicas: a's heartbeat renews its lease and counts 3 replicas");

    /* a holds a trigger and a run */
    ta = accept_push(&f, "rep:1", "c1");
    accept_manual(&f, "app1", "r1", 0, 0, NULL);
    ra = start1(&f, &g, "app1");
    tap_ok(ta > 0 && ra > 0, "replicas: a accepted a push and started a run of app1");
    accept_manual(&f, "app1", "r2", 0, 0, NULL);

    /* b may not run app1 meanwhile, nor route a's trigger */
    f.st = b;
    tap_is_int(start1(&f, &g, "app1"), 0, "replicas: b cannot start app1 while a runs it");
    tap_ok(json_is_true(json_object_get(g.json, "busy")) && jint(g.json, "run") == ra,
           "replicas: b hears it is busy with a's run");
    tap_is_int(routed1(&f, ta, "[]", "routed", NULL), WS_ECONFLICT, "replicas: b cannot route a's trigger");
    json_on(&f, &g, 0);
    done1(&f, ws_store_takeover(b, rec_json, &g), &g);
    tap_ok(json_array_size(json_object_get(g.json, "runs")) == 0 &&
               json_array_size(json_object_get(g.json, "triggers")) == 0,
           "replicas: nothing to take over while a's lease lasts");

    /* a stops renewing (as kill -9 would): its lease runs out */
    sleep_ms(&f, 700);
    json_on(&f, &g, 0);
    done1(&f, ws_store_takeover(b, rec_json, &g), &g);
    tap_is_int(jint(json_array_get(json_object_get(g.json, "runs"), 0), "run"), ra,
               "replicas: b takes over a's running run");
    tap_is_int(jint(json_array_get(json_object_get(g.json, "triggers"), 0), "id"), ta,
               "replicas: and a's unrouted trigger");
    json_on(&f, &d, 0);
    done1(&f, ws_store_get_run(b, ra, rec_json, &d), &d);
    tap_is_str(jstr(d.json, "state"), "Interrupted", "replicas: a's run is Interrupted");
    tap_contains(jstr(d.json, "message"), "replica a", "replicas: the message names the replica that stopped");
    json_on(&f, &g, 0);
    done1(&f, ws_store_takeover(b, rec_json, &g), &g);
    tap_is_int((int)json_array_size(json_object_get(g.json, "runs")), 0, "replicas: taken over once");

    /* a comes back: fenced */
    f.st = a;
    json_on(&f, &d, 0);
    tap_is_int(done1(&f, ws_store_run_finish(a, ra, "Succeeded", "late", NULL, rec_done, &d), &d), WS_ECONFLICT,
               "replicas: a's late run_finish is refused");
    tap_is_int(routed1(&f, ta, "[]", "routed", NULL), WS_ECONFLICT, "replicas: a's late routing is refused");
    json_on(&f, &g, 0);
    done1(&f, ws_store_heartbeat(a, rec_json, &g), &g);
    tap_ok(!json_is_true(json_object_get(g.json, "ok")), "replicas: a's heartbeat says its lease had run out");

    /* b goes on with them */
    f.st = b;
    tap_is_int(routed1(&f, ta, "[{\"app\": \"app2\", \"revision\": \"c1\"}]", "routed", NULL), 0,
               "replicas: b routes the trigger it took over");
    rb = start1(&f, &g, "app1");
    tap_ok(rb > ra && strcmp(jstr(g.json, "revision") ? jstr(g.json, "revision") : "", "r2") == 0,
           "replicas: b runs app1 at the newest pending revision");

    /* what every replica reads of the others: pending, running, finished */
    json_on(&f, &g, 0);
    done1(&f, ws_store_refresh(a, 0, 0, rec_json, &g), &g);
    {
        json_t *running = json_object_get(g.json, "running"), *fin = json_object_get(g.json, "finished"), *v;
        size_t i;
        int saw_taken = 0;
        tap_ok(json_array_size(running) == 1 && jint(json_array_get(running, 0), "run") == rb &&
                   jint(json_array_get(running, 0), "owner") == ws_store_replica(b),
               "replicas: refresh shows b's running run of app1, and its owner");
        json_array_foreach(fin, i, v)
            saw_taken |= jint(v, "id") == ra && strcmp(jstr(v, "result"), "Interrupted") == 0;
        tap_ok(saw_taken, "replicas: and a's run that ended Interrupted");
        tap_ok(by_app(json_object_get(g.json, "pending"), "app2") != NULL,
               "replicas: and the pending run the routed push left (app2)");
    }

    /* repositories to poll, shared out: each live replica its share, no name twice */
    {
        json_t *names = json_pack("[s,s,s,s]", "repo:w", "repo:x", "repo:y", "repo:z"), *hb = NULL, *hm = NULL;
        struct rec h = { 0 };
        json_on(&f, &h, 0);
        done1(&f, ws_store_leases(b, names, rec_json, &h), &h);
        hb = json_incref(h.json);
        json_on(&f, &h, 0);
        done1(&f, ws_store_leases(main_st, names, rec_json, &h), &h);
        hm = json_incref(h.json);
        tap_ok(json_array_size(hb) == 2 && json_array_size(hm) == 2, "replicas: four repositories, two live replicas: two each (%zu, %zu)",
               json_array_size(hb), json_array_size(hm));
        int overlap = 0;
        json_t *x, *y;
        size_t i, k;
        json_array_foreach(hb, i, x) json_array_foreach(hm, k, y) overlap |= json_equal(x, y);
        tap_ok(!overlap, "replicas: and none held twice");
        json_decref(hm);
        json_on(&f, &h, 0);
        done1(&f, ws_store_leases(b, names, rec_json, &h), &h);
        tap_ok(json_equal(h.json, hb), "replicas: asked again, b keeps what it holds");
        json_decref(hb);
        rec_reset(&h, NULL);
        json_decref(names);
    }

    /* the live state of a cluster: written by the replica holding its lease
       only, read by the others (refresh: the summary; live_get: the objects) */
    {
        json_t *names = json_pack("[s]", "cluster:p"), *rows;
        struct rec h = { 0 };
        json_on(&f, &h, 0);
        done1(&f, ws_store_leases(b, names, rec_json, &h), &h);
        tap_ok(json_array_size(h.json) == 1, "live: b takes the lease of cluster p");
        json_on(&f, &h, 0);
        done1(&f, ws_store_leases(main_st, names, rec_json, &h), &h);
        tap_ok(json_array_size(h.json) == 0, "live: the other replica does not");
        rows = json_pack("[{s:s, s:s, s:{s:b, s:s, s:s, s:i}, s:[{s:s, s:s}]}]", "app", "app1", "lease", "cluster:p",
                         "summary", "tracked", 1, "sync", "OutOfSync", "health", "Degraded", "objects", 3,
                         "resources", "kind", "Job", "name", "train");
        json_on(&f, &h, 0);
        done1(&f, ws_store_live_put(b, rows, rec_json, &h), &h);
        tap_is_int(jint(h.json, "written"), 1, "live: b writes app1's live state");
        json_object_set_new(json_object_get(json_array_get(rows, 0), "summary"), "sync", json_string("Synced"));
        json_on(&f, &h, 0);
        done1(&f, ws_store_live_put(main_st, rows, rec_json, &h), &h);
        tap_is_int(jint(h.json, "written"), 0, "live: a replica without the cluster's lease writes nothing");
        json_on(&f, &h, 0);
        done1(&f, ws_store_refresh(main_st, 0, 0, rec_json, &h), &h);
        {
            json_t *row = by_app(json_object_get(h.json, "live"), "app1");
            tap_ok(row && jint(row, "owner") == ws_store_replica(b) &&
                       strcmp(jstr(json_object_get(row, "summary"), "sync") ?: "", "OutOfSync") == 0 &&
                       jint(json_object_get(row, "summary"), "objects") == 3 && jint(row, "updatedAt") > 0,
                   "live: the others read b's summary of app1 (owner, parsed, with its time)");
            int64_t at = row ? jint(row, "updatedAt") : 0;
            json_on(&f, &h, 0);
            done1(&f, ws_store_refresh(main_st, 0, at + 1, rec_json, &h), &h);
            tap_ok(json_array_size(json_object_get(h.json, "live")) == 0,
                   "live: a refresh from a later time reads no row");
        }
        json_on(&f, &h, 0);
        done1(&f, ws_store_live_get(main_st, "app1", rec_json, &h), &h);
        tap_is_str(jstr(json_array_get(json_object_get(h.json, "resources"), 0), "name"), "train",
                   "live: and its objects, one application at a time");
        json_on(&f, &h, 0);
        done1(&f, ws_store_live_get(main_st, "nope", rec_json, &h), &h);
        tap_ok(h.json == NULL, "live: no row for an application nobody follows");
        rec_reset(&h, NULL);
        json_decref(rows);
        json_decref(names);
    }

    /* the same delivery at two replicas at once: stored once */
    {
        struct ws_trigger_in t = { .delivery_key = "rep:same", .source = "webhook", .provider = "github",
                                   .repo = "main", .ref = "refs/heads/main", .before = "b", .after = "same" };
        memset(r2, 0, sizeof(r2));
        r2[0].f = r2[1].f = &f;
        ws_store_accept(main_st, &t, rec_accept, &r2[0]);
        ws_store_accept(b, &t, rec_accept, &r2[1]);
        f.st = b;
        run_until(&f, &r2[0].calls, 1);
        run_until(&f, &r2[1].calls, 1);
        dup = r2[0].duplicate + r2[1].duplicate;
        tap_ok(r2[0].code == 0 && r2[1].code == 0 && dup == 1 && r2[0].id == r2[1].id,
               "replicas: one delivery sent to two replicas at once is stored once (%d, %d; dup %d)", r2[0].code,
               r2[1].code, dup);
    }
out:
    rec_reset(&g, NULL);
    rec_reset(&d, NULL);
    f.st = main_st;
    if (a)
        ws_store_close(a, NULL, NULL);
    if (b)
        ws_store_close(b, NULL, NULL);
    fx_done(&f, "replicas");
}

/* SQLite: one replica; the same calls answer as they do for a lone one. */
static void test_replica_alone(void)
{
    struct fx f;
    struct rec g = { 0 };
    if (fx_open(&f, "alone", 1) < 0)
        return;
    tap_ok(!ws_store_shared(f.st) && ws_store_replica(f.st) > 0, "alone: SQLite is not shared; a replica id");
    json_on(&f, &g, 0);
    done1(&f, ws_store_heartbeat(f.st, rec_json, &g), &g);
    tap_ok(json_is_true(json_object_get(g.json, "ok")) && jint(g.json, "replicas") == 1,
           "alone: heartbeat ok, one replica");
    json_on(&f, &g, 0);
    done1(&f, ws_store_takeover(f.st, rec_json, &g), &g);
    tap_ok(json_array_size(json_object_get(g.json, "runs")) == 0, "alone: nothing to take over");
    rec_reset(&g, NULL);
    fx_done(&f, "alone");
}

/* PostgreSQL: the schema is made once, by whichever replica comes first; a
 * newer one is refused; an unreachable server is said so. */
static void test_pg_open(void)
{
    struct fx f;
    struct ws_store *st = NULL;
    struct ws_err err;
    char conn[600];
    int from = -2, to = 0, rc;
    uv_loop_t loop;

    tap_is_int(fx_open(&f, "pgopen", 1), 0, "pg open: creates the schema");
    tap_is_int(sql_int(f.path, "SELECT max(version) FROM wavesync_schema"), WS_STORE_PG_SCHEMA_VERSION,
               "pg open: at the current version");
    tap_is_int(sql_int(f.path, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                               " AND table_name IN ('deliveries','triggers','pending','runs','awaiting','replicas',"
                               "'leases','live')"),
               8, "pg open: every table");
    fx_done(&f, "pgopen");
    /* a user that may only read and write rows runs the service on a
       database its owner migrated */
    {
        char role[64], sql[400];
        struct fx g;
        snprintf(role, sizeof(role), "ws_rows_%d", (int)getpid());
        snprintf(sql, sizeof(sql),
                 "CREATE ROLE %s LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
                 " GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s;"
                 " GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %s",
                 role, role, role);
        pg_int(f.path, sql);
        fx_open(&g, "pgopen", 1); /* as the owner: the loop and the connection string */
        fx_close_store(&g);
        snprintf(g.path + strlen(g.path), sizeof(g.path) - strlen(g.path), " user=%s", role);
        tap_is_int(fx_open(&g, "pgopen", 0), 0, "pg open: a user without CREATE opens a migrated database");
        tap_ok(g.st && accept_push(&g, "rows:1", "c1") > 0, "pg open: and stores a push");
        fx_done(&g, "pg open as a row-only user");
        snprintf(sql, sizeof(sql), "DROP OWNED BY %s; DROP ROLE %s", role, role);
        pg_int(f.path, sql);
    }
    {
        struct ws_store_opts o = { .postgres = f.path };
        ws_err_clear(&err);
        tap_is_int(ws_store_migrate(&o, &from, &to, &err), 0, "pg migrate: an up-to-date database");
        tap_ok(from == to && to == WS_STORE_PG_SCHEMA_VERSION, "pg migrate: found and left at the version");
    }
    pg_int(f.path, "UPDATE wavesync_schema SET version = 99");
    uv_loop_init(&loop);
    {
        struct ws_store_opts o = { .postgres = f.path, .where = "pgopen" };
        ws_err_clear(&err);
        rc = ws_store_open_opts(&st, &loop, &o, &err);
    }
    tap_is_int(rc, WS_ECONFIG, "pg open: a newer schema is refused");
    tap_contains(err.msg, "schema version 99, written by a newer wavesync", "pg open: saying so");
    snprintf(conn, sizeof(conn), "host=127.0.0.1 port=1 dbname=none user=nobody connect_timeout=2");
    {
        struct ws_store_opts o = { .postgres = conn, .where = "127.0.0.1:1" };
        ws_err_clear(&err);
        rc = ws_store_open_opts(&st, &loop, &o, &err);
    }
    tap_is_int(rc, WS_ENET, "pg open: an unreachable server: WS_ENET");
    tap_contains(err.msg, "PostgreSQL at 127.0.0.1:1", "pg open: the message names it");
    tap_is_int(uv_loop_close(&loop), 0, "pg open: nothing left on the loop");
}

/* What both databases must do alike: run on SQLite, then on PostgreSQL. */
static void shared_scenarios(void)
{
    test_accept();
    test_group_commit();
    test_routed();
    test_runs();
    test_recovery();
    test_awaiting();
    test_requeue();
    test_close_queued();
    test_failure_isolation();
    test_wakeup();
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/ws-store-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    ws_log_setup(WS_LOG_ERROR, 0); /* recovery warns on purpose */
    test_close_in_callback(); /* first: forks before the thread pool exists */
    test_open();
    test_open_errors();
    test_schema_versions();
    shared_scenarios();
    test_replica_alone();
    cleanup();
    if ((pg_base = getenv("WS_TEST_PG_DSN")) && *pg_base) {
        /* the same scenarios on PostgreSQL, then what only replicas have */
        on_pg = 1;
        test_pg_open();
        shared_scenarios();
        test_replicas();
    } else {
        tap_diag("WS_TEST_PG_DSN is not set: the PostgreSQL pass is left to tests/e2e/store_pg.sh");
    }
    return tap_done();
}
