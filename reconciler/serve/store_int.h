/* store_int.h — the two databases behind store.c: SQLite (store_sqlite.c)
 * and PostgreSQL (store_pg.c), each one connection used by one thread at a
 * time (the store's worker). The operations in store.c are written once, in
 * the SQL both understand:
 *   ?  ?N       a parameter: the next one, the Nth (PostgreSQL: $N)
 *   @now_ms     the database's clock in milliseconds since the epoch — leases
 *               are compared with one clock, whichever replica writes them
 *   @lock(t)    FOR UPDATE OF t SKIP LOCKED on PostgreSQL (a row another
 *               replica holds is skipped, not waited for); nothing on SQLite,
 *               where the writer's transaction already excludes the others
 *   @json(c,k)  the text at key k of the JSON text in column c */
#ifndef WS_STORE_INT_H
#define WS_STORE_INT_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"

enum db_kind { DB_SQLITE, DB_PG };

struct db_impl;
struct db_stmt;

struct db {
    enum db_kind kind;
    const struct db_impl *impl;
};

struct db_impl {
    /* Run `sql` (after the rewriting above): parameters from `types` — 's'
     * text (NULL binds NULL), 'i' int64, 'n' int — and, when rows is not
     * NULL, its result as an array of objects named by the columns
     * ("report", "extra" and "routing" hold JSON and are decoded).
     * `*changed` (may be NULL): the rows it wrote. */
    int (*query)(struct db *db, json_t **rows, int64_t *changed, struct ws_err *err, const char *sql,
                 const char *types, va_list ap);
    /* Statements without parameters or rows (BEGIN, SAVEPOINT…). */
    int (*exec)(struct db *db, const char *sql, struct ws_err *err);
    /* A transaction that writes (SQLite: BEGIN IMMEDIATE). */
    const char *begin;
    /* Tell the other replicas (PostgreSQL: NOTIFY at commit); NULL = alone. */
    int (*notify)(struct db *db, const char *payload, struct ws_err *err);
    /* Is the connection usable? Else try to connect again (rate limited);
     * WS_ENET with the reason when it cannot. NULL = always usable. */
    int (*ensure)(struct db *db, struct ws_err *err);
    /* Was this error a conflict between replicas (a deadlock, a unique key
     * another one just wrote) worth running the operation again? */
    int (*retryable)(struct db *db);
    void (*close)(struct db *db);
    /* PostgreSQL: BEGIN, the n statements and COMMIT in one round trip
     * (libpq's pipeline mode). 0 when every one succeeded and the commit
     * too (each stmt's rows set); else an error, nothing committed. NULL:
     * not available. */
    int (*pipeline)(struct db *db, struct db_stmt *stmts, size_t n, struct ws_err *err);
};

/* One statement of a pipeline: parameters already text (NULL = NULL). */
struct db_stmt {
    const char *name;    /* a prepared statement's name (prepared once per connection), or NULL */
    const char *sql;     /* before the rewriting */
    const char *types;   /* as for query: 's', 'i', 'n' (the values' SQL types) */
    const char *vals[16];
    char nums[16][24];   /* room for the numbers among vals */
    json_t *rows;        /* the result (an array of objects), owned */
};

int ws__db_query(struct db *db, json_t **rows, int64_t *changed, struct ws_err *err, const char *sql,
                 const char *types, ...);

/* The statement rewritten for `kind` (see above); malloc'd, NULL when out
 * of memory. */
char *ws__db_rewrite(enum db_kind kind, const char *sql);

/* Decode the JSON columns of a row object in place. */
void ws__db_decode_json(json_t *row);

/* store_sqlite.c: open (creating) the file at `path` in WAL mode with its
 * schema migrated; a newer one is refused (WS_ECONFIG), the file untouched.
 * BLOCKING. */
int ws__db_sqlite_open(struct db **out, const char *path, struct ws_err *err);

/* store_pg.c: connect to o->postgres (a libpq keyword string or URI; the
 * password and TLS settings of `o` given apart, the password never shown) and bring the schema to this version,
 * once across replicas (an advisory lock held while it migrates); a newer
 * schema is refused (WS_ECONFIG). `from` (may be NULL): the version found.
 * BLOCKING. */
struct ws_store_opts;
int ws__db_pg_open(struct db **out, const struct ws_store_opts *o, int *from, struct ws_err *err);

/* LISTEN wavesync on a connection of its own, on the loop: cb(payload)
 * for each notification, and "refresh" when (re)connected. */
struct ws__pg_listener;
int ws__pg_listen_start(struct ws__pg_listener **out, uv_loop_t *loop, struct db *db,
                        void (*cb)(const char *payload, void *data), void *data);
void ws__pg_listen_stop(struct ws__pg_listener *l);

/* The PostgreSQL schema version this wavesync writes. */
#define WS_STORE_PG_SCHEMA_VERSION 2

#endif
