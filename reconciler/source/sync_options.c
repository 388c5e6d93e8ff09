/* sync_options.c — parsing Argo CD's sync options ("Prune=false,Replace=true")
 * into WS_OPT_* flags; see sync_options.h. */
#include "source/sync_options.h"

#include <string.h>

#include "base/util.h"

static const struct {
    const char *key;
    const char *on;    /* the value that sets `flag` */
    int confirm;       /* "confirm" is accepted too (Argo CD 2.x, see below) */
    unsigned flag;
    unsigned off;      /* set by the other value, where that overrides the Application's */
} sync_opts[] = {
    {"Prune", "false", 1, WS_OPT_PRUNE_FALSE, 0},
    {"Delete", "false", 1, WS_OPT_DELETE_FALSE, 0},
    {"Replace", "true", 0, WS_OPT_REPLACE, 0},
    {"Force", "true", 0, WS_OPT_FORCE, 0},
    {"Validate", "false", 0, WS_OPT_VALIDATE_FALSE, 0},
    {"PruneLast", "true", 0, WS_OPT_PRUNE_LAST, 0},
    {"ApplyOutOfSyncOnly", "true", 0, WS_OPT_OUT_OF_SYNC_ONLY, 0},
    {"CreateNamespace", "true", 0, WS_OPT_CREATE_NAMESPACE, 0},
    {"SkipDryRunOnMissingResource", "true", 0, WS_OPT_SKIP_DRY_RUN, 0},
    {"ServerSideApply", "true", 0, WS_OPT_SERVER_SIDE_APPLY, 0},
    /* on an object, =false turns off the Application's =true for that one
     * object (Argo CD's per-resource override) */
    {"RespectIgnoreDifferences", "true", 0, WS_OPT_RESPECT_IGNORE, WS_OPT_RESPECT_IGNORE_FALSE},
};

int ws_sync_options_parse(unsigned *flags, const char *s, struct ws_err *err)
{
    unsigned acc = 0;
    struct ws_tok t;
    if (!s)
        return 0;
    while (ws_csv_next(&s, &t)) {
        const char *eq = memchr(t.s, '=', t.n);
        struct ws_tok key, val;
        size_t i;
        if (!eq || (key = ws_tok_trim(t.s, eq)).n == 0)
            return ws_err_set(err, WS_EINVAL, "sync option \"%.*s\" is not Key=value", (int)t.n,
                              t.s);
        val = ws_tok_trim(eq + 1, t.s + t.n);
        /* Keys and values compare case-insensitively: Argo CD compares whole
         * tokens exactly and silently ignores "prune=false", which then prunes —
         * the one mistake worth forgiving. */
        for (i = 0; i < WS_ARRAY_SIZE(sync_opts); i++)
            if (ws_tok_ieq(key, sync_opts[i].key))
                break;
        /* Unknown keys are ignored as Argo CD ignores them; several are valid
         * Application-level options (PrunePropagationPolicy=background,
         * FailOnSharedResource=true). */
        if (i == WS_ARRAY_SIZE(sync_opts))
            continue;
        /* Prune=confirm / Delete=confirm (Argo CD ≥ 2.6) mean "only after a
         * person confirms". We have no confirmation step, so they are the safe
         * half of that: never prune / delete automatically. */
        if (ws_tok_ieq(val, sync_opts[i].on) || (sync_opts[i].confirm && ws_tok_ieq(val, "confirm")))
            acc |= sync_opts[i].flag;
        else if (ws_tok_ieq(val, "true") || ws_tok_ieq(val, "false"))
            acc |= sync_opts[i].off;
        else
            return ws_err_set(err, WS_EINVAL, "sync option \"%.*s\": %s takes true or false%s",
                              (int)t.n, t.s, sync_opts[i].key,
                              sync_opts[i].confirm ? " (or confirm)" : "");
    }
    *flags |= acc;
    return 0;
}

int ws_sync_options_parse_list(unsigned *flags, const json_t *list, struct ws_err *err)
{
    unsigned acc = 0;
    size_t i;
    json_t *v;
    int rc;
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return ws_err_set(err, WS_EINVAL, "syncOptions is not a list of strings");
    json_array_foreach(list, i, v) {
        if (!json_is_string(v))
            return ws_err_set(err, WS_EINVAL, "syncOptions[%zu] is not a string", i);
        if ((rc = ws_sync_options_parse(&acc, json_string_value(v), err)) < 0)
            return rc;
    }
    *flags |= acc;
    return 0;
}

