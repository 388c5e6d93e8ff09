/* compare.c — desired (what wavesync applies) against live, field by field,
 * the way server-side apply sees ownership (compare.h). */
#include "sync/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sync/diff.h"

#define PATH_MAX_LEN 1024

const char *ws_sync_status_str(enum ws_sync_status s)
{
    static const char *const names[] = {
#define WS_X(name, text) text,
        WS_SYNC_STATUSES(WS_X)
#undef WS_X
    };
    return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "Unknown";
}

struct cmp {
    json_t *out;
    size_t max;
    const json_t *obj;      /* the object rules are matched against */
    const json_t *managed;  /* live metadata.managedFields */
    const char *manager;
    ws_compare_ignore_cb ignore;
    void *data;
    int secret; /* a Secret: differences name paths, never values */
};

int ws_pointer_append(char *out, size_t size, const char *token)
{
    size_t n = strlen(out);
    if (n + 1 >= size)
        return -1;
    out[n++] = '/';
    for (const char *t = token; *t; t++) {
        const char *esc = *t == '~' ? "~0" : *t == '/' ? "~1" : NULL;
        size_t k = esc ? 2 : 1;
        if (n + k >= size)
            return -1;
        memcpy(out + n, esc ? esc : t, k);
        n += k;
    }
    out[n] = '\0';
    return 0;
}

static int pointer_index(char *out, size_t size, size_t i)
{
    char num[32];
    snprintf(num, sizeof(num), "%zu", i);
    return ws_pointer_append(out, size, num);
}

/* Fields the apiserver writes itself: never a difference. */
static int server_owned(const char *p)
{
    return ws_diff_server_owned(p, '/');
}

/* ---- resource quantities ("500m" = 0.5, "1Gi" = 1073741824) --------------- */

static int quantity_path(const char *p)
{
    return strstr(p, "/resources/") || strstr(p, "/capacity") || strstr(p, "/hard/") ||
           strstr(p, "/storage") || strstr(p, "/overhead/");
}

static int parse_quantity(double *out, const json_t *v)
{
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {
        {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
        {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}, {"n", 1e-9}, {"u", 1e-6},
        {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18}, {"", 1},
    };
    const char *s;
    char *end;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (!(s = json_string_value(v)) || !*s)
        return -1;
    *out = strtod(s, &end);
    if (end == s)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(end, units[i].suffix) == 0) {
            *out *= units[i].scale;
            return 0;
        }
    return -1;
}

static int same_scalar(const char *path, const json_t *d, const json_t *l)
{
    double a, b;
    if (json_equal(d, l))
        return 1;
    if (json_is_number(d) && json_is_number(l))
        return json_number_value(d) == json_number_value(l);
    if (quantity_path(path) && parse_quantity(&a, d) == 0 && parse_quantity(&b, l) == 0)
        return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
    return 0;
}

/* ---- managedFields: who owns a path ------------------------------------------ */

/* Does list element `el` match a "k:{...}" key (every key field equal)? */
static int key_matches(const json_t *key, const json_t *el)
{
    const char *k;
    json_t *v;
    if (!json_is_object(key) || !json_is_object(el))
        return 0;
    json_object_foreach((json_t *)key, k, v) {
        if (!json_equal(v, json_object_get(el, k)))
            return 0;
    }
    return 1;
}

/* The same for an element of the desired list, which may leave key fields
 * to the server's defaults (a port's protocol: the key says "TCP", Git
 * says nothing): the fields it sets must match, and it must set one. */
static int key_matches_desired(const json_t *key, const json_t *el)
{
    const char *k;
    json_t *v, *mine;
    int any = 0;
    if (!json_is_object(key) || !json_is_object(el))
        return 0;
    json_object_foreach((json_t *)key, k, v) {
        if (!(mine = json_object_get(el, k)))
            continue;
        if (!json_equal(v, mine))
            return 0;
        any = 1;
    }
    return any;
}

/* The fieldsV1 entry for element `idx` of list `list`, or NULL. */
static const json_t *fields_for_element(const json_t *fields, const json_t *list, size_t idx)
{
    const char *k;
    json_t *sub;
    const json_t *el = json_array_get(list, idx);
    json_object_foreach((json_t *)fields, k, sub) {
        int hit = 0;
        if (strncmp(k, "k:", 2) == 0 || strncmp(k, "v:", 2) == 0) {
            json_t *parsed = json_loads(k + 2, JSON_DECODE_ANY, NULL);
            hit = k[0] == 'k' ? key_matches(parsed, el) : json_equal(parsed, el);
            json_decref(parsed);
        } else if (strncmp(k, "i:", 2) == 0) {
            hit = strtoul(k + 2, NULL, 10) == idx;
        }
        if (hit)
            return sub;
    }
    return NULL;
}

/* Is `pointer` (relative to fields/value) inside what fieldsV1 `fields`
 * claims? A leaf entry ({} or {".": {}}) owns everything under it. */
static int fields_own(const json_t *fields, const json_t *value, const char *pointer)
{
    char tok[PATH_MAX_LEN], key[PATH_MAX_LEN + 2];
    const char *next;
    size_t n = 0;
    if (!json_is_object(fields))
        return 0;
    if (!*pointer || json_object_size(fields) == 0 ||
        (json_object_size(fields) == 1 && json_object_get(fields, ".")))
        return 1;
    pointer++; /* the '/' */
    next = strchr(pointer, '/');
    for (const char *p = pointer; p < (next ? next : pointer + strlen(pointer)) && n + 1 < sizeof(tok); p++) {
        if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
            tok[n++] = p[1] == '0' ? '~' : '/';
            p++;
        } else {
            tok[n++] = *p;
        }
    }
    tok[n] = '\0';
    next = next ? next : pointer + strlen(pointer);
    if (json_is_array(value)) {
        char *end;
        size_t idx = strtoul(tok, &end, 10);
        const json_t *sub = *end ? NULL : fields_for_element(fields, value, idx);
        return sub && fields_own(sub, json_array_get(value, idx), next);
    }
    snprintf(key, sizeof(key), "f:%s", tok);
    return fields_own(json_object_get(fields, key), json_object_get(value, tok), next);
}

/* Is the difference at `path` to be dropped: ignored outright, or owned by
 * a manager ignoreDifferences names? */
static int ignored(struct cmp *c, const char *path, const json_t *live_root)
{
    size_t i;
    json_t *m;
    if (!c->ignore)
        return 0;
    if (c->ignore(c->obj, path, NULL, c->data))
        return 1;
    json_array_foreach(c->managed, i, m) {
        const char *name = json_string_value(json_object_get(m, "manager"));
        if (!name || (c->manager && strcmp(name, c->manager) == 0))
            continue;
        if (fields_own(json_object_get(m, "fieldsV1"), live_root, path) && c->ignore(c->obj, path, name, c->data))
            return 1;
    }
    return 0;
}

static void add(struct cmp *c, const char *path, const json_t *d, const json_t *l)
{
    json_t *e;
    if (c->max && json_array_size(c->out) >= c->max)
        return;
    if (!(e = json_pack("{s:s}", "path", path[0] ? path : "/")))
        return;
    if (c->secret) {
        json_array_append_new(c->out, e); /* steals */
        return;
    }
    if (d)
        json_object_set(e, "desired", (json_t *)d);
    if (l)
        json_object_set(e, "live", (json_t *)l);
    json_array_append_new(c->out, e); /* steals */
}

/* Already reported at `path` or above it (a list that differs as a whole). */
static int covered(const struct cmp *c, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach(c->out, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        size_t n = p ? strlen(p) : 0;
        if (p && (strcmp(p, "/") == 0 || (strncmp(path, p, n) == 0 && (path[n] == '/' || !path[n]))))
            return 1;
    }
    return 0;
}

static int empty(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* Every field desired sets, compared with live. */
static void walk_desired(struct cmp *c, char *path, const json_t *d, const json_t *l, const json_t *live_root)
{
    size_t len = strlen(path);
    if (server_owned(path) || !d || json_is_null(d))
        return;
    if (empty(d) && empty(l))
        return;
    if (json_is_object(d) && json_is_object(l)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)d, k, v) {
            if (ws_pointer_append(path, PATH_MAX_LEN, k) == 0)
                walk_desired(c, path, v, json_object_get(l, k), live_root);
            path[len] = '\0';
        }
        return;
    }
    if (json_is_array(d) && json_is_array(l) && json_array_size(d) == json_array_size(l)) {
        for (size_t i = 0; i < json_array_size(d); i++) {
            if (pointer_index(path, PATH_MAX_LEN, i) == 0)
                walk_desired(c, path, json_array_get(d, i), json_array_get(l, i), live_root);
            path[len] = '\0';
        }
        return;
    }
    if (json_is_object(d) || json_is_array(d) || !same_scalar(path, d, l)) {
        if (!ignored(c, path, live_root))
            add(c, path, d, l);
    }
}

/* The index of the element of `list` a fieldsV1 list key names ("k:{…}" a
 * key, "v:…" a value, "i:N" an index; `parsed` the JSON after "k:"/"v:"),
 * or (size_t)-1. Elements of the desired list may leave key fields to the
 * server's defaults. */
static size_t find_element(const json_t *list, const char *k, const json_t *parsed, int desired)
{
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
        const json_t *el = json_array_get(list, i);
        if (k[0] == 'k'   ? (desired ? key_matches_desired(parsed, el) : key_matches(parsed, el))
            : k[0] == 'v' ? json_equal(parsed, el)
                          : strtoul(k + 2, NULL, 10) == i)
            return i;
    }
    return (size_t)-1;
}

/* Fields wavesync's Apply owns live (fieldsV1) that desired no longer sets. */
static void walk_owned(struct cmp *c, char *path, const json_t *fields, const json_t *d, const json_t *l,
                       const json_t *live_root)
{
    size_t len = strlen(path);
    const char *k;
    json_t *sub;
    if (!json_is_object(fields))
        return;
    json_object_foreach((json_t *)fields, k, sub) {
        const json_t *dv = NULL, *lv = NULL;
        json_t *parsed = NULL;
        if (strncmp(k, "f:", 2) == 0) {
            dv = json_is_object(d) ? json_object_get(d, k + 2) : NULL;
            lv = json_is_object(l) ? json_object_get(l, k + 2) : NULL;
            if (ws_pointer_append(path, PATH_MAX_LEN, k + 2) < 0)
                continue;
        } else if (strncmp(k, "k:", 2) == 0 || strncmp(k, "v:", 2) == 0 || strncmp(k, "i:", 2) == 0) {
            size_t li;
            if (k[0] != 'i' && !(parsed = json_loads(k + 2, JSON_DECODE_ANY, NULL)))
                continue;
            li = find_element(l, k, parsed, 0);
            lv = json_array_get(l, li);
            dv = json_array_get(d, find_element(d, k, parsed, 1));
            json_decref(parsed);
            if (li == (size_t)-1 || pointer_index(path, PATH_MAX_LEN, li) < 0)
                continue; /* not live any more: nothing of ours to report there */
        } else {
            continue; /* "." (the element itself) */
        }
        if (!server_owned(path) && lv) {
            if (!dv || json_is_null(dv)) {
                if (!covered(c, path) && !ignored(c, path, live_root))
                    add(c, path, NULL, lv);
            } else {
                walk_owned(c, path, sub, dv, lv, live_root);
            }
        }
        path[len] = '\0';
    }
}

/* A Secret's stringData is write-only: the apiserver folds it into data
 * (base64) and never shows it. Compare each entry with live data decoded,
 * and return desired without stringData (a new reference), so the rest of
 * the comparison sees what the server keeps. */
static json_t *fold_string_data(struct cmp *c, const json_t *desired, const json_t *live)
{
    const json_t *sd = json_object_get(desired, "stringData");
    json_t *copy, *data, *v;
    const char *k, *kind = json_string_value(json_object_get(desired, "kind"));
    char path[PATH_MAX_LEN];
    if (!kind || strcmp(kind, "Secret") != 0 || !json_is_object(sd) || !(copy = json_copy((json_t *)desired)))
        return json_incref((json_t *)desired);
    json_object_del(copy, "stringData");
    if (json_is_object(json_object_get(copy, "data"))) {
        data = json_copy(json_object_get(copy, "data"));
        json_object_set_new(copy, "data", data ? data : json_object()); /* steals */
    }
    data = json_object_get(copy, "data");
    json_object_foreach((json_t *)sd, k, v) {
        const char *enc = json_string_value(json_object_get(json_object_get(live, "data"), k));
        char *plain = NULL;
        size_t n = 0;
        int same = 0;
        json_object_del(data, k); /* stringData wins over data */
        if (enc && json_is_string(v) && ws_base64_decode(&plain, &n, enc, strlen(enc)) == 0)
            same = n == json_string_length(v) && memcmp(plain, json_string_value(v), n) == 0;
        free(plain);
        path[0] = '\0';
        if (!same && ws_pointer_append(path, sizeof(path), "stringData") == 0 &&
            ws_pointer_append(path, sizeof(path), k) == 0 && !ignored(c, path, live))
            add(c, path, v, NULL);
    }
    return copy;
}

json_t *ws_compare(const json_t *desired, const json_t *live, const char *manager, ws_compare_ignore_cb ignore,
                   void *data, size_t max)
{
    json_t *folded;
    struct cmp c = {0};
    char path[PATH_MAX_LEN] = "";
    size_t i;
    json_t *m;
    if (!(c.out = json_array()))
        return NULL;
    c.max = max;
    c.obj = live ? live : desired;
    c.manager = manager;
    c.ignore = ignore;
    c.data = data;
    c.managed = json_object_get(json_object_get(live, "metadata"), "managedFields");
    c.secret = json_string_value(json_object_get(desired, "kind")) &&
               strcmp(json_string_value(json_object_get(desired, "kind")), "Secret") == 0;
    if (!live) {
        add(&c, "", desired, NULL); /* missing */
        return c.out;
    }
    folded = fold_string_data(&c, desired, live);
    walk_desired(&c, path, folded, live, live);
    json_array_foreach(c.managed, i, m) {
        const char *name = json_string_value(json_object_get(m, "manager"));
        const char *op = json_string_value(json_object_get(m, "operation"));
        if (manager && name && strcmp(name, manager) == 0 && op && strcmp(op, "Apply") == 0) {
            path[0] = '\0';
            walk_owned(&c, path, json_object_get(m, "fieldsV1"), folded, live, live);
        }
    }
    json_decref(folded);
    return c.out;
}
