/* config.c — wavesync.yaml: strict parsing (unknown keys are errors naming
 * file:line from the YAML position mirror), secret references, loading each
 * cluster's access settings, and the lookups routing and sync use.
 * Blocking file reads (kubeconfigs, file: secrets): call at startup only. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "base/util.h"
#include "base/yaml.h"

#define CONFIG_MAX_BYTES (4u << 20)
#define SECRET_MAX_BYTES (64u << 10)

/* What every parse step needs to point an error at the right place. */
struct cfg {
    const char *name;     /* file name for messages */
    const char *base_dir; /* relative paths resolve here */
    struct ws_err *err;
};

static int fail(const struct cfg *x, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct cfg *x, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        return ws_err_set(x->err, WS_ECONFIG, "%s:%d: %s", x->name, line, msg);
    return ws_err_set(x->err, WS_ECONFIG, "%s: %s", x->name, msg);
}

static int nomem(const struct cfg *x)
{
    return ws_err_set(x->err, WS_ENOMEM, "out of memory");
}

/* --- paths ------------------------------------------------------------------- */

/* `p` made absolute against `base` ("~/" against $HOME). Caller frees. */
static char *abs_path(const char *base, const char *p)
{
    const char *home = getenv("HOME");
    char *out = NULL;
    if (!p)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    if (p[0] == '~' && (p[1] == '/' || !p[1]) && home && *home) {
        if (asprintf(&out, "%s%s", home, p + 1) < 0)
            return NULL;
        return out;
    }
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (!strcmp(p, "."))
        p = "";
    if (asprintf(&out, "%s%s%s", base ? base : ".", *p ? "/" : "", p) < 0)
        return NULL;
    return out;
}

/* --- secrets ----------------------------------------------------------------- */

static void free_secret(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}

int ws_secret_resolve(char **out, const char *ref, const char *base_dir, struct ws_err *err)
{
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    if (!ref)
        return ws_err_set(err, WS_EINVAL, "no secret given");
    if (strncmp(ref, "env:", 4) == 0) {
        const char *name = ref + 4, *v;
        if (!*name)
            return ws_err_set(err, WS_ECONFIG, "\"env:\" needs a variable name");
        v = getenv(name);
        if (!v || !*v)
            return ws_err_set(err, WS_ECONFIG, "environment variable %s is %s", name,
                              v ? "empty" : "not set");
        if (!(*out = strdup(v)))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        return 0;
    }
    if (strncmp(ref, "file:", 5) != 0) {
        if (!(*out = strdup(ref)))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        return 0;
    }
    if (!ref[5])
        return ws_err_set(err, WS_ECONFIG, "\"file:\" needs a path");
    if (!(path = abs_path(base_dir, ref + 5)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    /* ws_file_read's messages name the path, never the content. */
    if ((rc = ws_file_read(&buf, &len, path, SECRET_MAX_BYTES, err)) < 0) {
        ws_err_prefix(err, "secret file");
        rc = rc == WS_ENOMEM ? rc : WS_ECONFIG;
        if (err)
            err->code = rc;
        goto out;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0 || strlen(buf) != len) {
        rc = ws_err_set(err, WS_ECONFIG, "secret file %s %s", path,
                        len == 0 ? "is empty" : "contains a NUL byte");
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    if (buf)
        memset(buf, 0, len);
    free(buf);
    free(path);
    return rc;
}

/* --- URL normalisation -------------------------------------------------------- */

static void lower_into(struct ws_buf *b, const char *s, size_t n, int *bad)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        *bad |= ws_buf_append(b, &c, 1) < 0;
    }
}

/* Append a path, collapsing repeated slashes. */
static void path_into(struct ws_buf *b, const char *s, size_t n, int *bad)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == '/' && b->len > 0 && b->data[b->len - 1] == '/')
            continue;
        *bad |= ws_buf_append(b, &s[i], 1) < 0;
    }
}

static const char *default_port(const char *scheme, size_t n)
{
    static const char *const ports[][2] = {{"https", "443"}, {"http", "80"}, {"ssh", "22"},
                                           {"git+ssh", "22"}, {"ssh+git", "22"},
                                           {"git", "9418"}};
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(ports); i++)
        if (strlen(ports[i][0]) == n && strncasecmp(scheme, ports[i][0], n) == 0)
            return ports[i][1];
    return NULL;
}

/* host[:port] of an authority (user info already dropped), lower-cased,
 * the scheme's default port dropped. */
static void host_into(struct ws_buf *b, const char *h, size_t n, const char *defport, int *bad)
{
    const char *colon = NULL, *p;
    for (p = h + n; p > h; p--) {
        if (p[-1] == ']')
            break;
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    }
    if (colon && defport && (size_t)(h + n - colon - 1) == strlen(defport) &&
        strncmp(colon + 1, defport, strlen(defport)) == 0)
        n = (size_t)(colon - h);
    else if (colon && colon + 1 == h + n) /* "host:" */
        n = (size_t)(colon - h);
    lower_into(b, h, n, bad);
}

char *ws_git_url_normalize(const char *url)
{
    struct ws_buf b;
    const char *s = url ? url : "", *e, *sep, *p;
    size_t n;
    int bad = 0;
    ws_buf_init(&b, 0);
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    for (p = s; p < e && (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'); p++)
        ;
    sep = p > s && e - p >= 3 && strncmp(p, "://", 3) == 0 ? p : NULL;
    if (sep) {
        const char *auth = sep + 3, *aend, *at, *q;
        for (aend = auth; aend < e && *aend != '/' && *aend != '?' && *aend != '#'; aend++)
            ;
        for (q = aend; q < e && *q != '?' && *q != '#'; q++)
            ;
        e = q; /* query and fragment never identify a repository */
        for (at = aend; at > auth && at[-1] != '@'; at--)
            ;
        if ((size_t)(sep - s) == 4 && strncasecmp(s, "file", 4) == 0) {
            if (at < aend && !(aend - at == 9 && strncasecmp(at, "localhost", 9) == 0)) {
                lower_into(&b, at, (size_t)(aend - at), &bad);
            }
        } else {
            host_into(&b, at, (size_t)(aend - at), default_port(s, (size_t)(sep - s)), &bad);
        }
        path_into(&b, aend, (size_t)(e - aend), &bad);
    } else if (s < e && *s != '/' && (p = memchr(s, ':', (size_t)(e - s))) &&
               !memchr(s, '/', (size_t)(p - s))) {
        /* scp-like "user@host:path" is ssh */
        const char *at = p;
        while (at > s && at[-1] != '@')
            at--;
        lower_into(&b, at, (size_t)(p - at), &bad);
        bad |= ws_buf_append(&b, "/", 1) < 0;
        path_into(&b, p + 1, (size_t)(e - p - 1), &bad);
    } else {
        path_into(&b, s, (size_t)(e - s), &bad);
    }
    if (bad) {
        ws_buf_free(&b);
        return NULL;
    }
    if (!b.data) /* nothing was appended */
        return strdup("");
    n = b.len;
    while (n > 1 && b.data[n - 1] == '/')
        n--;
    if (n > 4 && strncmp(b.data + n - 4, ".git", 4) == 0)
        n -= 4;
    while (n > 1 && b.data[n - 1] == '/')
        n--;
    b.data[n] = '\0';
    b.len = n;
    return ws_buf_steal(&b);
}

/* Server URLs compare as their scheme, lower-cased, then the rest
 * normalised as a Git URL is (host lower-cased, the scheme's default port and
 * trailing '/' dropped). NULL when not a URL or on ENOMEM. */
static char *server_normalize(const char *url)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    char *rest, *out = NULL, *p;
    if (!sep || !(rest = ws_git_url_normalize(url)))
        return NULL;
    if (asprintf(&out, "%.*s://%s", (int)(sep - url), url, rest) < 0)
        out = NULL;
    for (p = out; p && *p != ':'; p++)
        *p = (char)tolower((unsigned char)*p);
    free(rest);
    return out;
}

static int same_server(const char *want, const char *have)
{
    char *n = have ? server_normalize(have) : NULL;
    int same = n && strcmp(n, want) == 0;
    free(n);
    return same;
}

/* The first of clusters[0..n) whose server or an alias is `server`. */
static const struct ws_cluster_cfg *find_server(const struct ws_config *c, size_t n,
                                                const char *server)
{
    const struct ws_cluster_cfg *found = NULL;
    char *want = server ? server_normalize(server) : NULL;
    size_t i, j;
    for (i = 0; want && !found && i < n; i++) {
        if (same_server(want, c->clusters[i].kc.server))
            found = &c->clusters[i];
        for (j = 0; !found && j < c->clusters[i].naliases; j++)
            if (same_server(want, c->clusters[i].aliases[j]))
                found = &c->clusters[i];
    }
    free(want);
    return found;
}

/* --- field helpers ------------------------------------------------------------ */

/* Closest allowed key within edit distance 2 (case-insensitive), for
 * "did you mean". */
static const char *suggest(const char *key, const char *const *allowed)
{
    size_t i, r, c, best_d = 3, d[64], diag, up, lk = strlen(key);
    const char *best = NULL;
    for (i = 0; allowed[i] && lk < 63; i++) {
        size_t la = strlen(allowed[i]);
        for (c = 0; c <= la && la < 63; c++)
            d[c] = c;
        for (r = 1; r <= lk && la < 63; r++) {
            for (diag = d[0]++, c = 1; c <= la; c++, diag = up) {
                up = d[c];
                d[c] = diag + ((key[r - 1] | 32) != (allowed[i][c - 1] | 32));
                d[c] = d[c - 1] + 1 < d[c] ? d[c - 1] + 1 : d[c];
                d[c] = up + 1 < d[c] ? up + 1 : d[c];
            }
        }
        if (la < 63 && d[la] < best_d) {
            best_d = d[la];
            best = allowed[i];
        }
    }
    return best;
}

/* Every key of `obj` must be in `allowed`; `where` names the mapping
 * ("clusters[1]"), NULL for the top level. */
static int check_keys(const struct cfg *x, const json_t *obj, const json_t *pos,
                      const char *const *allowed, const char *where)
{
    const char *key, *hint;
    json_t *v;
    size_t i;
    json_object_foreach((json_t *)obj, key, v) {
        for (i = 0; allowed[i] && strcmp(key, allowed[i]) != 0; i++)
            ;
        if (allowed[i])
            continue;
        hint = suggest(key, allowed);
        return fail(x, ws_yaml_key_line(pos, key), "unknown key \"%s\" %s%s%s%s%s", key,
                    where ? "in " : "at the top level", where ? where : "",
                    hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
    }
    return 0;
}

/* Optional string: absent, null or "" leaves *out NULL. */
static int get_str(const struct cfg *x, char **out, const json_t *obj, const json_t *pos,
                   const char *key, const char *where)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a string", where, key);
    if (json_string_length(v) == 0)
        return 0;
    if (!(*out = strdup(json_string_value(v))))
        return nomem(x);
    return 0;
}

static int require_str(const struct cfg *x, char **out, const json_t *obj, const json_t *pos,
                       const char *key, const char *where)
{
    int rc = get_str(x, out, obj, pos, key, where);
    if (rc == 0 && !*out)
        return fail(x, ws_yaml_line(pos), "%s: %s is required", where, key);
    return rc;
}

/* A string that may be a secret reference (env:NAME, file:PATH). */
static int get_secret(const struct cfg *x, char **out, const json_t *obj, const json_t *pos,
                      const char *key, const char *where)
{
    char *ref = NULL;
    int rc = get_str(x, &ref, obj, pos, key, where);
    if (rc < 0 || !ref)
        return rc;
    if ((rc = ws_secret_resolve(out, ref, x->base_dir, x->err)) < 0)
        ws_err_prefix(x->err, "%s:%d: %s.%s", x->name, ws_yaml_key_line(pos, key), where, key);
    free_secret(ref);
    return rc;
}

/* A section that must be a mapping (or a list): absent/null → NULL. */
static int get_typed(const struct cfg *x, const json_t **out, const json_t *obj, const json_t *pos,
                     const char *key, const char *where, int list)
{
    const json_t *v = json_object_get(obj, key);
    *out = v && !json_is_null(v) ? v : NULL;
    if (*out && (list ? !json_is_array(v) : !json_is_object(v)))
        return fail(x, ws_yaml_key_line(pos, key), "%s%s%s must be a %s", where, *where ? "." : "", key,
                    list ? "list" : "mapping");
    return 0;
}

/* --- repositories ------------------------------------------------------------- */

static const char *const repo_keys[] = {"name",      "url",       "type",         "enableOCI", "plainHTTP",
                                        "offlineIndex", "caFile", "credentials", "webhook",   "status",
                                        NULL};
static const char *const cred_keys[] = {"username", "password", "token", "certFile", "keyFile", NULL};
static const char *const webhook_keys[] = {"secret", "allowUnsigned", NULL};
static const char *const status_keys[] = {"provider", "apiURL", "token", "project", NULL};

static int get_bool(const struct cfg *x, int *out, const json_t *obj, const json_t *pos,
                    const char *key, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be true or false", where, key);
    *out = json_is_true(v);
    return 0;
}

static int parse_repo_webhook(const struct cfg *x, struct ws_repo *r, const json_t *obj,
                              const json_t *pos, const char *where)
{
    char w[96];
    int rc;
    snprintf(w, sizeof(w), "%s.webhook", where);
    if ((rc = check_keys(x, obj, pos, webhook_keys, w)) < 0 ||
        (rc = get_secret(x, &r->webhook_secret, obj, pos, "secret", w)) < 0 ||
        (rc = get_bool(x, &r->allow_unsigned, obj, pos, "allowUnsigned", w)) < 0)
        return rc;
    return 0;
}

static int parse_repo_status(const struct cfg *x, struct ws_repo *r, const json_t *obj,
                             const json_t *pos, const char *where)
{
    char w[96];
    int rc;
    snprintf(w, sizeof(w), "%s.status", where);
    if ((rc = check_keys(x, obj, pos, status_keys, w)) < 0 ||
        (rc = require_str(x, &r->status_provider, obj, pos, "provider", w)) < 0 ||
        (rc = get_str(x, &r->status_api_url, obj, pos, "apiURL", w)) < 0 ||
        (rc = get_secret(x, &r->status_token, obj, pos, "token", w)) < 0 ||
        (rc = get_str(x, &r->status_project, obj, pos, "project", w)) < 0)
        return rc;
    if (strcmp(r->status_provider, "github") != 0 && strcmp(r->status_provider, "gitlab") != 0)
        return fail(x, ws_yaml_key_line(pos, "provider"),
                    "%s.provider must be \"github\" or \"gitlab\" (got \"%s\")", w, r->status_provider);
    if (!r->status_token)
        return fail(x, ws_yaml_line(pos), "%s: token is required", w);
    if (!r->status_api_url &&
        !(r->status_api_url = strdup(strcmp(r->status_provider, "github") == 0
                                         ? "https://api.github.com"
                                         : "https://gitlab.com/api/v4")))
        return nomem(x);
    return 0;
}

/* A file path relative to the configuration's folder, made absolute. */
static int get_path(const struct cfg *x, char **out, const json_t *obj, const json_t *pos, const char *key,
                    const char *where)
{
    char *raw = NULL;
    int rc = get_str(x, &raw, obj, pos, key, where);
    if (rc < 0 || !raw)
        return rc;
    *out = abs_path(x->base_dir, raw);
    free(raw);
    return *out ? 0 : nomem(x);
}

/* type, enableOCI, plainHTTP, offlineIndex, caFile. */
static int parse_repo_helm(const struct cfg *x, struct ws_repo *r, const json_t *obj, const json_t *pos,
                           const char *where)
{
    char *type = NULL;
    int rc, oci_url = strncasecmp(r->url, "oci://", 6) == 0;
    if ((rc = get_str(x, &type, obj, pos, "type", where)) < 0 ||
        (rc = get_bool(x, &r->enable_oci, obj, pos, "enableOCI", where)) < 0 ||
        (rc = get_bool(x, &r->plain_http, obj, pos, "plainHTTP", where)) < 0 ||
        (rc = get_bool(x, &r->offline_index, obj, pos, "offlineIndex", where)) < 0 ||
        (rc = get_path(x, &r->ca_file, obj, pos, "caFile", where)) < 0) {
        free(type);
        return rc;
    }
    if (type && strcmp(type, "helm") == 0)
        r->type = WS_REPO_HELM;
    else if (type && strcmp(type, "git") == 0)
        r->type = WS_REPO_GIT;
    else if (type)
        rc = fail(x, ws_yaml_key_line(pos, "type"), "%s.type must be \"git\" or \"helm\" (got \"%s\")", where,
                  type);
    free(type);
    if (rc < 0)
        return rc;
    if (oci_url)
        r->enable_oci = 1;
    if (r->enable_oci && r->type == WS_REPO_GIT)
        return fail(x, ws_yaml_key_line(pos, "type"), "%s: an OCI registry (%s) holds Helm charts, not Git (type: git)",
                    where, oci_url ? "oci:// URL" : "enableOCI");
    if (r->enable_oci)
        r->type = WS_REPO_HELM;
    if ((r->offline_index || r->plain_http) && r->type != WS_REPO_HELM)
        return fail(x, ws_yaml_line(pos), "%s: %s is for Helm repositories: add type: helm", where,
                    r->offline_index ? "offlineIndex" : "plainHTTP");
    return 0;
}

static int parse_repo(const struct cfg *x, struct ws_repo *r, const json_t *obj,
                      const json_t *pos, size_t i)
{
    char where[64], cwhere[96];
    const json_t *cred = NULL, *cpos = ws_yaml_pos_child(pos, "credentials");
    const json_t *hook = NULL, *status = NULL;
    int rc;
    snprintf(where, sizeof(where), "repositories[%zu]", i);
    r->line = ws_yaml_line(pos);
    if (!json_is_object(obj))
        return fail(x, r->line, "%s must be a mapping", where);
    if ((rc = check_keys(x, obj, pos, repo_keys, where)) < 0 ||
        (rc = require_str(x, &r->name, obj, pos, "name", where)) < 0 ||
        (rc = require_str(x, &r->url, obj, pos, "url", where)) < 0 ||
        (rc = get_typed(x, &cred, obj, pos, "credentials", where, 0)) < 0 ||
        (rc = get_typed(x, &hook, obj, pos, "webhook", where, 0)) < 0 ||
        (rc = get_typed(x, &status, obj, pos, "status", where, 0)) < 0)
        return rc;
    if (!(r->norm_url = ws_git_url_normalize(r->url)))
        return nomem(x);
    if ((rc = parse_repo_helm(x, r, obj, pos, where)) < 0)
        return rc;
    if (hook && (rc = parse_repo_webhook(x, r, hook, ws_yaml_pos_child(pos, "webhook"), where)) < 0)
        return rc;
    if (status && (rc = parse_repo_status(x, r, status, ws_yaml_pos_child(pos, "status"), where)) < 0)
        return rc;
    if (!cred)
        return 0;
    snprintf(cwhere, sizeof(cwhere), "%s.credentials", where);
    if ((rc = check_keys(x, cred, cpos, cred_keys, cwhere)) < 0 ||
        (rc = get_secret(x, &r->username, cred, cpos, "username", cwhere)) < 0 ||
        (rc = get_secret(x, &r->password, cred, cpos, "password", cwhere)) < 0 ||
        (rc = get_secret(x, &r->token, cred, cpos, "token", cwhere)) < 0 ||
        (rc = get_path(x, &r->cert_file, cred, cpos, "certFile", cwhere)) < 0 ||
        (rc = get_path(x, &r->key_file, cred, cpos, "keyFile", cwhere)) < 0)
        return rc;
    if (!r->cert_file != !r->key_file)
        return fail(x, ws_yaml_line(cpos), "%s: certFile and keyFile go together", cwhere);
    if (r->token && (r->username || r->password))
        return fail(x, ws_yaml_key_line(cpos, "token"), "%s: give a token or a username and password, not both",
                    cwhere);
    return 0;
}

/* --- clusters ----------------------------------------------------------------- */

static const char *const cluster_keys[] = {
    "name",     "kubeconfig", "context",  "aliases",  "server",   "caFile",
    "caData",   "insecure",   "tlsServerName", "token", "tokenFile", "certFile",
    "certData", "keyFile",    "keyData",  "exec",     "namespace", "labels", "inCluster",
    "serviceAccountDir", NULL};
/* Inline settings that make no sense next to a kubeconfig. */
static const char *const inline_only[] = {"caFile",  "caData",   "insecure", "tlsServerName",
                                          "token",   "tokenFile", "certFile", "certData",
                                          "keyFile", "keyData",  "exec",     NULL};
static const char *const cluster_strings[] = {
    "name",      "kubeconfig", "context",  "server",   "caFile",  "caData",  "tlsServerName",
    "token",     "tokenFile",  "certFile", "certData", "keyFile", "keyData", "namespace",
    "serviceAccountDir", NULL};
static const char *const inline_paths[] = {"caFile", "tokenFile", "certFile", "keyFile", NULL};

static int parse_aliases(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj,
                         const json_t *pos, const char *where)
{
    const json_t *list = NULL, *v, *lpos = ws_yaml_pos_child(pos, "aliases");
    size_t i;
    int rc;
    if ((rc = get_typed(x, &list, obj, pos, "aliases", where, 1)) < 0 || !list)
        return rc;
    if (!(c->aliases = calloc(json_array_size(list) + 1, sizeof(char *))))
        return nomem(x);
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        size_t n;
        if (!s || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
            return fail(x, ws_yaml_line(ws_yaml_pos_item(lpos, i)),
                        "%s.aliases[%zu] must be a server URL (https://…)", where, i);
        if (!(c->aliases[i] = strdup(s)))
            return nomem(x);
        c->naliases++;
        n = strlen(s);
        while (n > 0 && c->aliases[i][n - 1] == '/')
            c->aliases[i][--n] = '\0';
    }
    return 0;
}

/* Make obj[key] absolute against base; 0, or -1 when out of memory. */
static int set_abs(json_t *obj, const char *key, const char *base)
{
    const char *p = json_string_value(json_object_get(obj, key));
    char *abs;
    int rc;
    if (!p || !*p || p[0] == '/')
        return 0;
    abs = abs_path(base, p);
    rc = abs ? json_object_set_new(obj, key, json_string(abs)) : -1; /* steals */
    free(abs);
    return rc;
}

/* Inline settings: a copy of the mapping with paths made absolute, handed to
 * ws_kubeconfig_from_inline; the token (maybe a secret reference) is
 * resolved separately and never copied around. */
static int load_inline(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj,
                       const json_t *pos, const char *where, const char *label)
{
    json_t *copy = json_deep_copy(obj), *exec;
    const char *cmd;
    char prefix[1200];
    size_t k;
    int rc = 0;
    if (!copy)
        return nomem(x);
    json_object_del(copy, "name");
    json_object_del(copy, "aliases");
    json_object_del(copy, "token");
    for (k = 0; inline_paths[k] && rc == 0; k++)
        rc = set_abs(copy, inline_paths[k], x->base_dir);
    /* an exec command with a '/' is relative to the config file, a bare name is looked up in PATH */
    exec = json_object_get(copy, "exec");
    cmd = json_string_value(json_object_get(exec, "command"));
    if (rc == 0 && cmd && strchr(cmd, '/'))
        rc = set_abs(exec, "command", x->base_dir);
    if (rc < 0) {
        rc = nomem(x);
        goto out;
    }
    snprintf(prefix, sizeof(prefix), "%s:%d: %s", x->name, c->line, label);
    if ((rc = ws_kubeconfig_from_inline(&c->kc, copy, prefix, x->err)) < 0) {
        if (x->err && rc != WS_ENOMEM)
            x->err->code = rc = WS_ECONFIG;
        goto out;
    }
    rc = get_secret(x, &c->kc.token, obj, pos, "token", where);
out:
    json_decref(copy);
    return rc;
}

static int load_kubeconfig(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj,
                           const json_t *pos, const char *where, const char *label)
{
    const char *file = json_string_value(json_object_get(obj, "kubeconfig"));
    const char *ctx = json_string_value(json_object_get(obj, "context"));
    const char *ns = json_string_value(json_object_get(obj, "namespace"));
    char *path;
    size_t k;
    int rc;
    for (k = 0; inline_only[k]; k++)
        if (json_object_get(obj, inline_only[k]))
            return fail(x, ws_yaml_key_line(pos, inline_only[k]),
                        "%s: \"%s\" is an inline setting: use it with server, not with kubeconfig",
                        where, inline_only[k]);
    if (!(path = abs_path(x->base_dir, file)))
        return nomem(x);
    rc = ws_kubeconfig_load(&c->kc, path, ctx && *ctx ? ctx : NULL, x->err);
    free(path);
    if (rc < 0) {
        /* point at the context when it is what was not found */
        int line = ws_yaml_key_line(pos, "kubeconfig");
        if (ctx && x->err && strstr(x->err->msg, "context \"") && strstr(x->err->msg, "not found"))
            line = ws_yaml_key_line(pos, "context");
        ws_err_prefix(x->err, "%s:%d: %s", x->name, line, label);
        if (x->err && rc != WS_ENOMEM)
            x->err->code = rc = WS_ECONFIG;
        return rc;
    }
    if (ns && *ns) { /* the cluster entry's namespace overrides the context's */
        char *dup = strdup(ns);
        if (!dup)
            return nomem(x);
        free(c->kc.namespace_);
        c->kc.namespace_ = dup;
    }
    return 0;
}

/* Argo CD's name for the cluster it runs in; an Application's
 * destination.server with it means the in-cluster cluster. */
#define IN_CLUSTER_URL "https://kubernetes.default.svc"

/* inCluster: true — the cluster this pod runs in, reached as a pod does:
 * $KUBERNETES_SERVICE_HOST/PORT and the service account's token, ca.crt and
 * namespace (serviceAccountDir, default the standard mount; a projected
 * token volume may sit elsewhere). Argo CD's https://kubernetes.default.svc
 * selects it without being listed in aliases. */
static int load_in_cluster(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj,
                           const json_t *pos, const char *label)
{
    static const char *const not_with[] = {"kubeconfig", "context", "server", NULL};
    const char *dir = json_string_value(json_object_get(obj, "serviceAccountDir"));
    const char *ns = json_string_value(json_object_get(obj, "namespace"));
    char *path = NULL, **grown;
    size_t k;
    int rc;
    for (k = 0; not_with[k]; k++)
        if (json_object_get(obj, not_with[k]))
            return fail(x, ws_yaml_key_line(pos, not_with[k]),
                        "%s: inCluster uses the pod's service account: \"%s\" does not go with it", label,
                        not_with[k]);
    for (k = 0; inline_only[k]; k++)
        if (json_object_get(obj, inline_only[k]))
            return fail(x, ws_yaml_key_line(pos, inline_only[k]),
                        "%s: inCluster uses the pod's service account: \"%s\" does not go with it", label,
                        inline_only[k]);
    if (dir && *dir && !(path = abs_path(x->base_dir, dir)))
        return nomem(x);
    rc = ws_kubeconfig_in_cluster(&c->kc, path, x->err);
    free(path);
    if (rc < 0) {
        ws_err_prefix(x->err, "%s:%d: %s", x->name, ws_yaml_key_line(pos, "inCluster"), label);
        if (x->err && rc != WS_ENOMEM)
            x->err->code = rc = WS_ECONFIG;
        return rc;
    }
    if (ns && *ns) { /* the entry's namespace overrides the service account's */
        char *dup = strdup(ns);
        if (!dup)
            return nomem(x);
        free(c->kc.namespace_);
        c->kc.namespace_ = dup;
    }
    for (k = 0; k < c->naliases; k++)
        if (strcmp(c->aliases[k], IN_CLUSTER_URL) == 0)
            return 0;
    if (!(grown = realloc(c->aliases, (c->naliases + 2) * sizeof(char *))))
        return nomem(x);
    c->aliases = grown;
    if (!(c->aliases[c->naliases] = strdup(IN_CLUSTER_URL)))
        return nomem(x);
    c->aliases[++c->naliases] = NULL;
    return 0;
}

/* labels: {key: value} strings, for ApplicationSet cluster generators. */
static int parse_labels(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj, const json_t *pos,
                        const char *label)
{
    const json_t *v = json_object_get(obj, "labels"), *val;
    const char *key;
    if (!v || json_is_null(v)) {
        c->labels = json_object();
        return c->labels ? 0 : nomem(x);
    }
    if (!json_is_object(v))
        return fail(x, ws_yaml_key_line(pos, "labels"), "%s: labels must be a mapping of strings", label);
    json_object_foreach((json_t *)v, key, val)
        if (!json_is_string(val))
            return fail(x, ws_yaml_key_line(ws_yaml_pos_child(pos, "labels"), key),
                        "%s: label \"%s\" must be a string (quote numbers and booleans)", label, key);
    c->labels = json_deep_copy(v);
    return c->labels ? 0 : nomem(x);
}

static int parse_cluster(const struct cfg *x, struct ws_cluster_cfg *c, const json_t *obj,
                         const json_t *pos, size_t i)
{
    char where[64], label[400];
    json_t *v;
    size_t k;
    int rc, has_kc, has_server, in_cluster;
    snprintf(where, sizeof(where), "clusters[%zu]", i);
    c->line = ws_yaml_line(pos);
    if (!json_is_object(obj))
        return fail(x, c->line, "%s must be a mapping", where);
    if ((rc = check_keys(x, obj, pos, cluster_keys, where)) < 0)
        return rc;
    for (k = 0; cluster_strings[k]; k++) {
        v = json_object_get(obj, cluster_strings[k]);
        if (v && !json_is_null(v) && !json_is_string(v))
            return fail(x, ws_yaml_key_line(pos, cluster_strings[k]), "%s.%s must be a string", where,
                        cluster_strings[k]);
    }
    v = json_object_get(obj, "insecure");
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return fail(x, ws_yaml_key_line(pos, "insecure"), "%s.insecure must be true or false", where);
    v = json_object_get(obj, "inCluster");
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return fail(x, ws_yaml_key_line(pos, "inCluster"), "%s.inCluster must be true or false", where);
    in_cluster = json_is_true(v);
    if (in_cluster && !json_object_get(obj, "name")) { /* Argo CD's name for it */
        if (!(c->name = strdup("in-cluster")))
            return nomem(x);
    } else if ((rc = require_str(x, &c->name, obj, pos, "name", where)) < 0) {
        return rc;
    }
    snprintf(label, sizeof(label), "%s \"%s\"", where, c->name);
    if (!in_cluster && json_object_get(obj, "serviceAccountDir"))
        return fail(x, ws_yaml_key_line(pos, "serviceAccountDir"), "%s: serviceAccountDir needs inCluster: true",
                    label);
    if (in_cluster) {
        if ((rc = parse_aliases(x, c, obj, pos, where)) < 0 || (rc = parse_labels(x, c, obj, pos, label)) < 0)
            return rc;
        return load_in_cluster(x, c, obj, pos, label);
    }
    has_kc = json_string_length(json_object_get(obj, "kubeconfig")) > 0;
    has_server = json_string_length(json_object_get(obj, "server")) > 0;
    if (has_kc && has_server)
        return fail(x, ws_yaml_key_line(pos, "server"),
                    "%s: give either kubeconfig (and context) or server (inline settings), not both",
                    label);
    if (!has_kc && !has_server)
        return fail(x, c->line, "%s: needs kubeconfig (and context), server (inline settings) or inCluster: true",
                    label);
    if (!has_kc && json_string_length(json_object_get(obj, "context")) > 0)
        return fail(x, ws_yaml_key_line(pos, "context"), "%s: context needs kubeconfig", label);
    if ((rc = parse_aliases(x, c, obj, pos, where)) < 0 || (rc = parse_labels(x, c, obj, pos, label)) < 0)
        return rc;
    if (has_kc)
        return load_kubeconfig(x, c, obj, pos, where, label);
    return load_inline(x, c, obj, pos, where, label);
}

/* Two clusters answering to the same server URL would make
 * destination.server ambiguous. */
static int check_servers(const struct cfg *x, const struct ws_config *c)
{
    size_t i, a;
    for (i = 1; i < c->nclusters; i++) {
        const struct ws_cluster_cfg *ci = &c->clusters[i], *hit;
        for (a = 0; a <= ci->naliases; a++) {
            const char *url = a ? ci->aliases[a - 1] : ci->kc.server;
            if ((hit = find_server(c, i, url)))
                return fail(x, ci->line,
                            "clusters[%zu] \"%s\": server %s also selects cluster \"%s\" (line %d)",
                            i, ci->name, url, hit->name, hit->line);
        }
    }
    return 0;
}

/* --- applications and settings ------------------------------------------------ */

static const char *const appdir_keys[] = {"repository", "path", "revision", NULL};
static const char *const settings_keys[] = {"waveTimeout", "syncTimeout", "concurrency",
                                            "stateDir", "inventoryNamespace", "pollInterval", "tools",
                                            NULL};

static int parse_app_dir(const struct cfg *x, const struct ws_config *c, struct ws_app_dir *d,
                         const json_t *obj, const json_t *pos, size_t i)
{
    char where[64], *raw = NULL;
    int rc;
    snprintf(where, sizeof(where), "applications[%zu]", i);
    d->line = ws_yaml_line(pos);
    if (!json_is_object(obj))
        return fail(x, d->line, "%s must be a mapping", where);
    if ((rc = check_keys(x, obj, pos, appdir_keys, where)) < 0 ||
        (rc = require_str(x, &d->repository, obj, pos, "repository", where)) < 0 ||
        (rc = get_str(x, &d->revision, obj, pos, "revision", where)) < 0 ||
        (rc = get_str(x, &raw, obj, pos, "path", where)) < 0)
        return rc;
    if (!ws_config_repo_by_name(c, d->repository))
        rc = fail(x, ws_yaml_key_line(pos, "repository"), "%s: unknown repository \"%s\"", where,
                  d->repository);
    else if (ws_config_repo_by_name(c, d->repository)->type == WS_REPO_HELM)
        rc = fail(x, ws_yaml_key_line(pos, "repository"),
                  "%s: repository \"%s\" is a Helm repository; Applications are read from Git", where,
                  d->repository);
    else if ((rc = ws_repo_path_clean(&d->path, raw ? raw : "")) == WS_ENOMEM)
        rc = nomem(x);
    else if (rc < 0)
        rc = fail(x, ws_yaml_key_line(pos, "path"), "%s: path \"%s\" escapes the repository", where, raw);
    free(raw);
    return rc;
}

/* A duration; 0 is refused unless `zero_ok` (a key where 0 means "off"). */
static int get_duration_ext(const struct cfg *x, uint64_t *out, const json_t *obj, const json_t *pos,
                            const char *key, const char *where, int zero_ok)
{
    json_t *v = json_object_get(obj, key);
    char num[32];
    const char *s = json_string_value(v);
    uint64_t ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) { /* a bare number is seconds */
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    }
    if (!s || ws_duration_parse(&ms, s) < 0)
        return fail(x, ws_yaml_key_line(pos, key), "bad duration \"%s\" for %s.%s (e.g. \"90s\", \"5m\")",
                    s ? s : "(not a string)", where, key);
    if (ms == 0 && !zero_ok)
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be greater than zero", where, key);
    *out = ms;
    return 0;
}

static int get_duration(const struct cfg *x, uint64_t *out, const json_t *obj, const json_t *pos,
                        const char *key, const char *where)
{
    return get_duration_ext(x, out, obj, pos, key, where, 0);
}

/* RFC 1123 label, as Kubernetes requires of a namespace name. */
static int is_dns_label(const char *s)
{
    size_t i, n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* "25MB", "512KiB", "2Gi" (as Kubernetes writes memory), "1048576": a byte count. */
static int parse_size(size_t *out, const json_t *v)
{
    static const struct { const char *suffix; size_t mult; } units[] = {
        {"", 1}, {"B", 1}, {"K", 1000}, {"KB", 1000}, {"Ki", 1024}, {"KiB", 1024}, {"M", 1000000},
        {"MB", 1000000}, {"Mi", 1u << 20}, {"MiB", 1u << 20}, {"G", 1000000000}, {"GB", 1000000000},
        {"Gi", 1u << 30}, {"GiB", 1u << 30}, {"T", 1000000000000ull}, {"TB", 1000000000000ull},
        {"Ti", 1ull << 40}, {"TiB", 1ull << 40}};
    const char *s;
    char *end;
    unsigned long long n;
    size_t i;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = (size_t)json_integer_value(v);
        return 0;
    }
    if (!(s = json_string_value(v)) || !isdigit((unsigned char)*s))
        return WS_EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno == ERANGE) /* saturated at ULLONG_MAX: not "unlimited" */
        return WS_EINVAL;
    while (*end == ' ')
        end++;
    for (i = 0; i < WS_ARRAY_SIZE(units); i++)
        if (strcmp(end, units[i].suffix) == 0 && n > 0 && n <= SIZE_MAX / units[i].mult) {
            *out = (size_t)n * units[i].mult;
            return 0;
        }
    return WS_EINVAL;
}

static const char *const tools_keys[] = {"helm", "kustomize", "jsonnet", NULL};
static const char *const tool_keys[] = {"timeout", "memory", "cpu", NULL};

#define TOOL_MIN_MEMORY (64u << 20)

/* settings.tools.<tool>: {timeout, memory, cpu}. `where` ("settings.tools.helm")
 * is kept in the limits: a run that hits one names the key to raise. */
static int parse_tool(const struct cfg *x, struct ws_proc_limits *l, const json_t *obj, const json_t *pos,
                      const char *where)
{
    json_t *v;
    int rc;
    if (!obj)
        return 0;
    if ((rc = check_keys(x, obj, pos, tool_keys, where)) < 0 ||
        (rc = get_duration(x, &l->timeout_ms, obj, pos, "timeout", where)) < 0 ||
        (rc = get_duration(x, &l->cpu_ms, obj, pos, "cpu", where)) < 0)
        return rc;
    if ((v = json_object_get(obj, "memory")) && !json_is_null(v)) {
        size_t n = 0;
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        if (parse_size(&n, v) < 0)
            rc = fail(x, ws_yaml_key_line(pos, "memory"),
                      "%s.memory must be a size such as \"2Gi\" or \"4GiB\" (got %s)", where, text ? text : "?");
        else if (n < TOOL_MIN_MEMORY)
            rc = fail(x, ws_yaml_key_line(pos, "memory"),
                      "%s.memory must be at least 64Mi (got %s; a bare number is bytes)", where, text ? text : "?");
        free(text);
        if (rc < 0)
            return rc;
        l->memory_bytes = n;
    }
    return 0;
}

/* settings.tools: limits on each run of helm and kustomize (kubectl kustomize too). */
static int parse_tools(const struct cfg *x, struct ws_settings *s, const json_t *settings, const json_t *spos)
{
    const json_t *tools = NULL, *helm = NULL, *kust = NULL, *jn = NULL, *pos = ws_yaml_pos_child(spos, "tools");
    int rc;
    s->helm.timeout_ms = s->kustomize.timeout_ms = WS_TOOL_DEFAULT_TIMEOUT_MS;
    s->helm.memory_bytes = s->kustomize.memory_bytes = WS_PROC_DEFAULT_MEMORY;
    s->helm.cpu_ms = s->kustomize.cpu_ms = WS_PROC_DEFAULT_CPU_MS;
    s->helm.setting = "settings.tools.helm";
    s->kustomize.setting = "settings.tools.kustomize";
    s->jsonnet.timeout_ms = 60000;
    s->jsonnet.memory_bytes = 1ull << 30;
    s->jsonnet.cpu_ms = WS_PROC_DEFAULT_CPU_MS;
    s->jsonnet.setting = "settings.tools.jsonnet";
    if (!settings)
        return 0;
    if ((rc = get_typed(x, &tools, settings, spos, "tools", "settings", 0)) < 0 || !tools)
        return rc;
    if ((rc = check_keys(x, tools, pos, tools_keys, "settings.tools")) < 0 ||
        (rc = get_typed(x, &helm, tools, pos, "helm", "settings.tools", 0)) < 0 ||
        (rc = get_typed(x, &kust, tools, pos, "kustomize", "settings.tools", 0)) < 0 ||
        (rc = get_typed(x, &jn, tools, pos, "jsonnet", "settings.tools", 0)) < 0 ||
        (rc = parse_tool(x, &s->helm, helm, ws_yaml_pos_child(pos, "helm"), "settings.tools.helm")) < 0 ||
        (rc = parse_tool(x, &s->jsonnet, jn, ws_yaml_pos_child(pos, "jsonnet"), "settings.tools.jsonnet")) < 0)
        return rc;
    return parse_tool(x, &s->kustomize, kust, ws_yaml_pos_child(pos, "kustomize"), "settings.tools.kustomize");
}

static char *default_state_dir(const char *base_dir)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *out = NULL;
    int n;
    if (xdg && xdg[0] == '/') /* the XDG spec ignores relative values */
        n = asprintf(&out, "%s/wavesync", xdg);
    else if (home && *home)
        n = asprintf(&out, "%s/.local/state/wavesync", home);
    else
        n = asprintf(&out, "%s/.wavesync", base_dir);
    return n < 0 ? NULL : out;
}

static int parse_settings(const struct cfg *x, struct ws_settings *s, const json_t *obj,
                          const json_t *pos)
{
    json_t *v;
    char *dir = NULL;
    int rc = 0;
    s->wave_timeout_ms = 5 * 60 * 1000;
    s->sync_timeout_ms = 30 * 60 * 1000;
    s->concurrency = 4;
    s->poll_interval_ms = 2 * 60 * 1000;
    if (obj) {
        if ((rc = check_keys(x, obj, pos, settings_keys, "settings")) < 0 ||
            (rc = get_duration(x, &s->wave_timeout_ms, obj, pos, "waveTimeout", "settings")) < 0 ||
            (rc = get_duration(x, &s->sync_timeout_ms, obj, pos, "syncTimeout", "settings")) < 0 ||
            (rc = get_duration_ext(x, &s->poll_interval_ms, obj, pos, "pollInterval", "settings", 1)) < 0 ||
            (rc = get_str(x, &dir, obj, pos, "stateDir", "settings")) < 0 ||
            (rc = get_str(x, &s->inventory_namespace, obj, pos, "inventoryNamespace", "settings")) < 0)
            goto out;
        v = json_object_get(obj, "concurrency");
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX) {
                char *text = json_dumps(v, JSON_ENCODE_ANY);
                rc = fail(x, ws_yaml_key_line(pos, "concurrency"),
                          "settings.concurrency must be an integer of at least 1 (got %s)",
                          text ? text : "?");
                free(text);
                goto out;
            }
            s->concurrency = (int)json_integer_value(v);
        }
        /* below a second a poll would hammer every Git server for nothing;
           beyond a day it is no safety net */
        if (s->poll_interval_ms && (s->poll_interval_ms < 1000 || s->poll_interval_ms > 24 * 3600 * 1000)) {
            char *text = json_dumps(json_object_get(obj, "pollInterval"), JSON_ENCODE_ANY);
            rc = fail(x, ws_yaml_key_line(pos, "pollInterval"),
                      "settings.pollInterval must be 0 (off) or between 1s and 24h (got %s)", text ? text : "?");
            free(text);
            goto out;
        }
        if (s->inventory_namespace && !is_dns_label(s->inventory_namespace)) {
            rc = fail(x, ws_yaml_key_line(pos, "inventoryNamespace"),
                      "settings.inventoryNamespace \"%s\" is not a valid namespace name",
                      s->inventory_namespace);
            goto out;
        }
    }
    if ((rc = parse_tools(x, s, obj, pos)) < 0)
        goto out;
    s->state_dir = dir ? abs_path(x->base_dir, dir) : default_state_dir(x->base_dir);
    if (!s->inventory_namespace)
        s->inventory_namespace = strdup("wavesync");
    if (!s->state_dir || !s->inventory_namespace)
        rc = nomem(x);
out:
    free(dir);
    return rc;
}

/* --- server ------------------------------------------------------------------------ */

static const char *const server_keys[] = {"listen", "apiToken", "maxBodySize", "readTimeout",
                                          "fetchRetryTimeout", "shutdownGrace", "rateLimit", "publicURL",
                                          NULL};
static const char *const rate_keys[] = {"perSecond", "burst", NULL};

static int get_number(const struct cfg *x, double *out, const json_t *obj, const json_t *pos,
                      const char *key, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a number greater than zero", where,
                    key);
    *out = json_number_value(v);
    return 0;
}

/* "127.0.0.1:8080", ":8080", "[::1]:8080", "8080". */
static int parse_listen(struct ws_server_cfg *s, const char *text)
{
    const char *colon = strrchr(text, ':');
    const char *host = text, *port = text;
    size_t hl = 0;
    char *end;
    long p;
    if (colon) {
        port = colon + 1;
        hl = (size_t)(colon - text);
        if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
            host++;
            hl -= 2;
        } else if (memchr(text, ':', hl)) {
            return WS_EINVAL; /* an IPv6 literal needs brackets */
        }
    }
    p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return WS_EINVAL;
    s->listen_port = (int)p;
    if (hl) {
        free(s->listen_host);
        if (!(s->listen_host = strndup(host, hl)))
            return WS_ENOMEM;
    }
    return 0;
}

static int parse_server(const struct cfg *x, struct ws_server_cfg *s, const json_t *obj,
                        const json_t *pos)
{
    const json_t *rate = NULL, *v;
    char *listen = NULL;
    int rc = 0;
    s->listen_port = 8080;
    s->max_body_bytes = 25u * 1000 * 1000;
    s->read_timeout_ms = 10 * 1000;
    s->fetch_retry_ms = 2 * 60 * 1000;
    s->shutdown_grace_ms = 30 * 1000;
    s->rate_per_second = 100;
    s->rate_burst = 200;
    if (!(s->listen_host = strdup("127.0.0.1")))
        return nomem(x);
    if (!obj)
        return 0;
    if ((rc = check_keys(x, obj, pos, server_keys, "server")) < 0 ||
        (rc = get_str(x, &listen, obj, pos, "listen", "server")) < 0 ||
        (rc = get_secret(x, &s->api_token, obj, pos, "apiToken", "server")) < 0 ||
        (rc = get_duration(x, &s->read_timeout_ms, obj, pos, "readTimeout", "server")) < 0 ||
        (rc = get_duration(x, &s->fetch_retry_ms, obj, pos, "fetchRetryTimeout", "server")) < 0 ||
        (rc = get_duration(x, &s->shutdown_grace_ms, obj, pos, "shutdownGrace", "server")) < 0 ||
        (rc = get_str(x, &s->public_url, obj, pos, "publicURL", "server")) < 0 ||
        (rc = get_typed(x, &rate, obj, pos, "rateLimit", "server", 0)) < 0)
        goto out;
    if (listen && (rc = parse_listen(s, listen)) < 0) {
        rc = rc == WS_ENOMEM ? nomem(x)
                             : fail(x, ws_yaml_key_line(pos, "listen"),
                                    "server.listen \"%s\" is not HOST:PORT (e.g. \"0.0.0.0:8080\", "
                                    "\"[::1]:8080\")", listen);
        goto out;
    }
    if ((v = json_object_get(obj, "maxBodySize")) && !json_is_null(v) &&
        parse_size(&s->max_body_bytes, v) < 0) {
        rc = fail(x, ws_yaml_key_line(pos, "maxBodySize"),
                  "server.maxBodySize must be a size such as \"25MB\" or \"512KiB\"");
        goto out;
    }
    if (rate && ((rc = check_keys(x, rate, ws_yaml_pos_child(pos, "rateLimit"), rate_keys,
                                  "server.rateLimit")) < 0 ||
                 (rc = get_number(x, &s->rate_per_second, rate, ws_yaml_pos_child(pos, "rateLimit"),
                                  "perSecond", "server.rateLimit")) < 0 ||
                 (rc = get_number(x, &s->rate_burst, rate, ws_yaml_pos_child(pos, "rateLimit"),
                                  "burst", "server.rateLimit")) < 0))
        goto out;
    if (s->rate_burst < 1)
        s->rate_burst = 1;
out:
    free(listen);
    return rc;
}

/* --- store ---------------------------------------------------------------------- */

static const char *const store_keys[] = {"postgres", "password", "caFile", "certFile", "keyFile", "replica",
                                         "lease", NULL};

/* A host that is this machine (loopback, a unix socket folder). */
static int local_host(const char *h)
{
    return !h || !*h || h[0] == '/' || h[0] == '@' || strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 ||
           strcmp(h, "::1") == 0;
}

static int parse_store(const struct cfg *x, struct ws_store_cfg *s, const json_t *obj, const json_t *pos)
{
    PQconninfoOption *opts = NULL;
    char *perr = NULL, where[300];
    const char *host = NULL, *hostaddr = NULL, *port = NULL, *dbname = NULL, *user = NULL, *sslmode = NULL;
    int rc, line;
    s->lease_ms = 15000;
    if (!obj)
        return 0;
    s->line = line = ws_yaml_line(pos);
    if ((rc = check_keys(x, obj, pos, store_keys, "store")) < 0 ||
        (rc = get_str(x, &s->postgres, obj, pos, "postgres", "store")) < 0 ||
        (rc = get_secret(x, &s->password, obj, pos, "password", "store")) < 0 ||
        (rc = get_path(x, &s->ca_file, obj, pos, "caFile", "store")) < 0 ||
        (rc = get_path(x, &s->cert_file, obj, pos, "certFile", "store")) < 0 ||
        (rc = get_path(x, &s->key_file, obj, pos, "keyFile", "store")) < 0 ||
        (rc = get_str(x, &s->replica, obj, pos, "replica", "store")) < 0 ||
        (rc = get_duration(x, &s->lease_ms, obj, pos, "lease", "store")) < 0)
        return rc;
    if (!s->postgres || !*s->postgres)
        return fail(x, line, "store: postgres is required (a libpq connection string such as \"host=db "
                             "user=wavesync dbname=wavesync\", or a postgres:// URI); without store, the state is "
                             "kept in SQLite in stateDir");
    line = ws_yaml_key_line(pos, "postgres");
    if (s->lease_ms < 3000)
        return fail(x, ws_yaml_key_line(pos, "lease"), "store.lease must be at least 3s (it is renewed every third of it)");
    if (!(opts = PQconninfoParse(s->postgres, &perr))) {
        char msg[400];
        size_t k = 0;
        for (const char *p = perr ? perr : "out of memory"; *p && k + 1 < sizeof(msg); p++)
            msg[k++] = *p == '\n' ? ' ' : *p;
        msg[k] = '\0';
        PQfreemem(perr);
        return fail(x, line, "store.postgres is not a connection string libpq reads: %s", msg);
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = o->val;
    }
    snprintf(where, sizeof(where), "%s:%s/%s", host ? host : hostaddr ? hostaddr : "localhost", port ? port : "5432",
             dbname ? dbname : user ? user : "?");
    s->where = strdup(where);
    if (sslmode) {
        s->sslmode = strdup(sslmode);
    } else if (s->ca_file) {
        s->sslmode = strdup("verify-full");
    } else {
        int local = 1;
        char *hosts = strdup(host ? host : hostaddr ? hostaddr : "");
        for (char *h = hosts, *save = NULL, *t; hosts && (t = strtok_r(h, ",", &save)); h = NULL)
            local &= local_host(t);
        free(hosts);
        if (!local) {
            PQconninfoFree(opts);
            return fail(x, line,
                        "store.postgres: the connection to %s would not be verified: give store.caFile (the server "
                        "certificate is then verified: sslmode=verify-full), or say sslmode in the string",
                        where);
        }
        s->sslmode = strdup("disable");
    }
    PQconninfoFree(opts);
    return s->where && s->sslmode ? 0 : nomem(x);
}

/* --- the whole file -------------------------------------------------------------- */

static const char *const top_keys[] = {"repositories", "clusters", "applications", "settings",
                                       "server", "health", "plugins", "store", NULL};
static const char *const plugin_keys[] = {"name", "init", "generate", "discover", "timeout", "memory",
                                          "cpu", "maxOutput", NULL};
static const char *const discover_keys[] = {"fileName", NULL};

/* plugins[i].init / generate: a non-empty list of strings (an argument vector). */
static int get_argv(const struct cfg *x, char ***out, const json_t *obj, const json_t *pos, const char *key,
                    const char *where)
{
    const json_t *list = NULL, *v;
    size_t i;
    int rc;
    if ((rc = get_typed(x, &list, obj, pos, key, where, 1)) < 0 || !list)
        return rc;
    if (json_array_size(list) == 0)
        return fail(x, ws_yaml_key_line(pos, key), "%s.%s must be a non-empty argument vector, e.g. [\"sh\", "
                    "\"-c\", \"…\"]", where, key);
    if (!(*out = calloc(json_array_size(list) + 1, sizeof(char *))))
        return nomem(x);
    json_array_foreach(list, i, v) {
        if (!json_is_string(v) || (i == 0 && json_string_length(v) == 0))
            return fail(x, ws_yaml_line(ws_yaml_pos_item(ws_yaml_pos_child(pos, key), i)),
                        "%s.%s[%zu] must be a string%s", where, key, i, i == 0 ? " (the program)" : "");
        if (!((*out)[i] = strdup(json_string_value(v))))
            return nomem(x);
    }
    return 0;
}

static int parse_plugin(const struct cfg *x, struct ws_plugin_cfg *p, const json_t *obj, const json_t *pos,
                        size_t idx)
{
    const json_t *disc = NULL, *v;
    char where[32];
    int rc;
    snprintf(where, sizeof(where), "plugins[%zu]", idx);
    snprintf(p->setting, sizeof(p->setting), "%s", where);
    p->line = ws_yaml_line(pos);
    p->limits.timeout_ms = WS_PLUGIN_DEFAULT_TIMEOUT_MS;
    p->limits.setting = p->setting;
    if (!json_is_object(obj))
        return fail(x, p->line, "%s must be a mapping with name and generate", where);
    if ((rc = check_keys(x, obj, pos, plugin_keys, where)) < 0 ||
        (rc = require_str(x, &p->name, obj, pos, "name", where)) < 0 ||
        (rc = get_argv(x, &p->init, obj, pos, "init", where)) < 0 ||
        (rc = get_argv(x, &p->generate, obj, pos, "generate", where)) < 0 ||
        (rc = get_typed(x, &disc, obj, pos, "discover", where, 0)) < 0)
        return rc;
    if (!p->generate)
        return fail(x, p->line, "%s (\"%s\"): generate is required (an argument vector)", where, p->name);
    if (disc) {
        char w[48];
        snprintf(w, sizeof(w), "%s.discover", where);
        if ((rc = check_keys(x, disc, ws_yaml_pos_child(pos, "discover"), discover_keys, w)) < 0 ||
            (rc = get_str(x, &p->discover_file, disc, ws_yaml_pos_child(pos, "discover"), "fileName", w)) < 0)
            return rc;
    }
    if ((rc = get_duration(x, &p->limits.timeout_ms, obj, pos, "timeout", where)) < 0 ||
        (rc = get_duration(x, &p->limits.cpu_ms, obj, pos, "cpu", where)) < 0)
        return rc;
    if ((v = json_object_get(obj, "memory")) && !json_is_null(v)) {
        size_t n = 0;
        if (parse_size(&n, v) < 0 || n < TOOL_MIN_MEMORY)
            return fail(x, ws_yaml_key_line(pos, "memory"), "%s.memory must be a size of at least 64Mi, such as "
                        "\"2Gi\"", where);
        p->limits.memory_bytes = n;
    }
    if ((v = json_object_get(obj, "maxOutput")) && !json_is_null(v)) {
        size_t n = 0;
        if (parse_size(&n, v) < 0)
            return fail(x, ws_yaml_key_line(pos, "maxOutput"), "%s.maxOutput must be a size such as \"16Mi\"",
                        where);
        p->limits.max_output = n;
    }
    return 0;
}

static int parse_plugins(const struct cfg *x, struct ws_config *c, const json_t *list, const json_t *pos)
{
    const json_t *v;
    size_t i, j;
    int rc;
    if (!json_array_size(list))
        return 0;
    if (!(c->plugins = calloc(json_array_size(list), sizeof(*c->plugins))))
        return nomem(x);
    json_array_foreach(list, i, v) {
        c->nplugins++;
        if ((rc = parse_plugin(x, &c->plugins[i], v, ws_yaml_pos_item(pos, i), i)) < 0)
            return rc;
        for (j = 0; j < i; j++)
            if (strcmp(c->plugins[j].name, c->plugins[i].name) == 0)
                return fail(x, c->plugins[i].line, "duplicate plugin name \"%s\" (lines %d and %d)",
                            c->plugins[i].name, c->plugins[j].line, c->plugins[i].line);
    }
    return 0;
}
static const char *const health_keys[] = {"directory", "scripts", NULL};

/* health: {directory: PATH, scripts: {"group/Kind": lua}} — custom health
 * checks in Argo CD's health.lua format; the directory is read by health.c. */
static int parse_health(const struct cfg *x, struct ws_health_cfg *h, const json_t *obj, const json_t *pos)
{
    const json_t *scripts = NULL, *v;
    const char *key;
    char *dir = NULL;
    int rc;
    if (!obj)
        return 0;
    if ((rc = check_keys(x, obj, pos, health_keys, "health")) < 0 ||
        (rc = get_str(x, &dir, obj, pos, "directory", "health")) < 0 ||
        (rc = get_typed(x, &scripts, obj, pos, "scripts", "health", 0)) < 0)
        return rc;
    if (dir) {
        h->directory = abs_path(x->base_dir, dir);
        free(dir);
        if (!h->directory)
            return nomem(x);
    }
    json_object_foreach((json_t *)scripts, key, v) {
        const char *slash = strchr(key, '/');
        if (!json_is_string(v))
            return fail(x, ws_yaml_key_line(ws_yaml_pos_child(pos, "scripts"), key),
                        "health.scripts[\"%s\"] must be a Lua script (a string)", key);
        if (!*key || (slash && (!slash[1] || strchr(slash + 1, '/'))))
            return fail(x, ws_yaml_key_line(ws_yaml_pos_child(pos, "scripts"), key),
                        "health.scripts key \"%s\" must be \"group/Kind\" (\"Kind\" or \"/Kind\" for the core "
                        "group), e.g. \"kubeflow.org/PyTorchJob\"", key);
    }
    if (scripts && !(h->scripts = json_deep_copy(scripts)))
        return nomem(x);
    return 0;
}

static int parse_root(const struct cfg *x, struct ws_config *c, const json_t *root,
                      const json_t *pos)
{
    const json_t *repos = NULL, *clusters = NULL, *apps = NULL, *settings = NULL, *server = NULL, *health = NULL, *v;
    const json_t *plugins = NULL, *store = NULL;
    size_t i, j;
    int rc;
    if (json_is_null(root) || (json_is_object(root) && json_object_size(root) == 0))
        return fail(x, ws_yaml_line(pos) ? ws_yaml_line(pos) : 1,
                    "no repositories: the configuration is empty");
    if (!json_is_object(root))
        return fail(x, ws_yaml_line(pos), "expected a mapping with repositories, clusters, "
                                      "applications and settings");
    if ((rc = check_keys(x, root, pos, top_keys, NULL)) < 0 ||
        (rc = get_typed(x, &repos, root, pos, "repositories", "", 1)) < 0 ||
        (rc = get_typed(x, &clusters, root, pos, "clusters", "", 1)) < 0 ||
        (rc = get_typed(x, &apps, root, pos, "applications", "", 1)) < 0 ||
        (rc = get_typed(x, &settings, root, pos, "settings", "", 0)) < 0 ||
        (rc = get_typed(x, &server, root, pos, "server", "", 0)) < 0 ||
        (rc = get_typed(x, &health, root, pos, "health", "", 0)) < 0 ||
        (rc = get_typed(x, &plugins, root, pos, "plugins", "", 1)) < 0 ||
        (rc = get_typed(x, &store, root, pos, "store", "", 0)) < 0)
        return rc;
    if ((json_array_size(repos) && !(c->repos = calloc(json_array_size(repos), sizeof(*c->repos)))) ||
        (json_array_size(clusters) &&
         !(c->clusters = calloc(json_array_size(clusters), sizeof(*c->clusters)))) ||
        (json_array_size(apps) && !(c->app_dirs = calloc(json_array_size(apps), sizeof(*c->app_dirs)))))
        return nomem(x);
    json_array_foreach(repos, i, v) {
        struct ws_repo *r = &c->repos[i];
        c->nrepos++;
        if ((rc = parse_repo(x, r, v, ws_yaml_pos_item(ws_yaml_pos_child(pos, "repositories"), i), i)) < 0)
            return rc;
        for (j = 0; j < i; j++) {
            if (strcmp(c->repos[j].name, r->name) == 0)
                return fail(x, r->line, "duplicate repository name \"%s\" (lines %d and %d)",
                            r->name, c->repos[j].line, r->line);
            if (strcmp(c->repos[j].norm_url, r->norm_url) == 0)
                return fail(x, r->line,
                            "repositories \"%s\" (line %d) and \"%s\" (line %d) have the same URL",
                            c->repos[j].name, c->repos[j].line, r->name, r->line);
        }
    }
    json_array_foreach(clusters, i, v) {
        struct ws_cluster_cfg *cl = &c->clusters[i];
        c->nclusters++;
        if ((rc = parse_cluster(x, cl, v, ws_yaml_pos_item(ws_yaml_pos_child(pos, "clusters"), i), i)) < 0)
            return rc;
        for (j = 0; j < i; j++)
            if (strcmp(c->clusters[j].name, cl->name) == 0)
                return fail(x, cl->line, "duplicate cluster name \"%s\" (lines %d and %d)",
                            cl->name, c->clusters[j].line, cl->line);
    }
    if ((rc = check_servers(x, c)) < 0)
        return rc;
    json_array_foreach(apps, i, v) {
        c->napp_dirs++;
        if ((rc = parse_app_dir(x, c, &c->app_dirs[i], v, ws_yaml_pos_item(ws_yaml_pos_child(pos, "applications"), i),
                                i)) < 0)
            return rc;
    }
    if ((rc = parse_settings(x, &c->settings, settings, ws_yaml_pos_child(pos, "settings"))) < 0)
        return rc;
    if ((rc = parse_health(x, &c->health, health, ws_yaml_pos_child(pos, "health"))) < 0 ||
        (rc = parse_plugins(x, c, plugins, ws_yaml_pos_child(pos, "plugins"))) < 0 ||
        (rc = parse_store(x, &c->store, store, ws_yaml_pos_child(pos, "store"))) < 0)
        return rc;
    return parse_server(x, &c->server, server, ws_yaml_pos_child(pos, "server"));
}

int ws_config_parse(struct ws_config *out, const char *buf, size_t len, const char *name,
                    const char *base_dir, struct ws_err *err)
{
    struct ws_yaml_stream st = {NULL, 0};
    struct cfg x;
    const struct ws_yaml_doc *doc = NULL;
    char cwd[PATH_MAX], *abs = NULL;
    size_t i;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!name)
        name = "wavesync.yaml";
    if (!base_dir || !*base_dir)
        base_dir = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
    if (base_dir[0] != '/' && (abs = realpath(base_dir, NULL)))
        base_dir = abs;
    out->path = strdup(name);
    out->base_dir = strdup(base_dir);
    free(abs);
    x.name = name;
    x.base_dir = out->base_dir;
    x.err = err;
    if (!out->path || !out->base_dir) {
        rc = nomem(&x);
        goto out;
    }
    if ((rc = ws_yaml_parse(&st, buf, len, name, NULL, err)) < 0) {
        if (rc != WS_ENOMEM && err)
            err->code = rc = WS_ECONFIG;
        goto out;
    }
    for (i = 0; i < st.ndocs; i++) {
        if (json_is_null(st.docs[i].value))
            continue;
        if (doc) {
            rc = fail(&x, st.docs[i].line, "expected one YAML document, found another");
            goto out;
        }
        doc = &st.docs[i];
    }
    rc = doc ? parse_root(&x, out, doc->value, doc->pos) : parse_root(&x, out, json_null(), NULL);
out:
    ws_yaml_stream_free(&st);
    if (rc < 0)
        ws_config_free(out);
    return rc;
}

int ws_config_load(struct ws_config *out, const char *path, struct ws_err *err)
{
    char *buf = NULL, *dir = NULL, *slash;
    size_t len = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = ws_file_read(&buf, &len, path, CONFIG_MAX_BYTES, err)) < 0) {
        if (rc != WS_ENOMEM && err)
            err->code = rc = WS_ECONFIG;
        return rc;
    }
    if (!(dir = strdup(path))) {
        free(buf);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if ((slash = strrchr(dir, '/')))
        slash[slash == dir ? 1 : 0] = '\0';
    else
        strcpy(dir, ".");
    rc = ws_config_parse(out, buf, len, path, dir, err);
    free(dir);
    free(buf);
    return rc;
}

void ws_config_free(struct ws_config *c)
{
    size_t i, j;
    if (!c)
        return;
    for (i = 0; i < c->nrepos; i++) {
        free(c->repos[i].name);
        free(c->repos[i].url);
        free(c->repos[i].norm_url);
        free_secret(c->repos[i].username);
        free_secret(c->repos[i].password);
        free_secret(c->repos[i].token);
        free(c->repos[i].cert_file);
        free(c->repos[i].key_file);
        free(c->repos[i].ca_file);
        free_secret(c->repos[i].webhook_secret);
        free(c->repos[i].status_provider);
        free(c->repos[i].status_api_url);
        free_secret(c->repos[i].status_token);
        free(c->repos[i].status_project);
    }
    free(c->repos);
    for (i = 0; i < c->nclusters; i++) {
        free(c->clusters[i].name);
        for (j = 0; c->clusters[i].aliases && c->clusters[i].aliases[j]; j++)
            free(c->clusters[i].aliases[j]);
        free(c->clusters[i].aliases);
        ws_kubeconfig_free(&c->clusters[i].kc);
        json_decref(c->clusters[i].labels);
    }
    free(c->clusters);
    for (i = 0; i < c->napp_dirs; i++) {
        free(c->app_dirs[i].repository);
        free(c->app_dirs[i].path);
        free(c->app_dirs[i].revision);
    }
    free(c->app_dirs);
    free(c->settings.state_dir);
    free(c->settings.inventory_namespace);
    free(c->server.listen_host);
    free_secret(c->server.api_token);
    free(c->server.public_url);
    free(c->health.directory);
    json_decref(c->health.scripts);
    free(c->store.postgres);
    free_secret(c->store.password);
    free(c->store.sslmode);
    free(c->store.ca_file);
    free(c->store.cert_file);
    free(c->store.key_file);
    free(c->store.where);
    free(c->store.replica);
    for (i = 0; i < c->nplugins; i++) {
        free(c->plugins[i].name);
        for (j = 0; c->plugins[i].init && c->plugins[i].init[j]; j++)
            free(c->plugins[i].init[j]);
        free(c->plugins[i].init);
        for (j = 0; c->plugins[i].generate && c->plugins[i].generate[j]; j++)
            free(c->plugins[i].generate[j]);
        free(c->plugins[i].generate);
        free(c->plugins[i].discover_file);
    }
    free(c->plugins);
    free(c->path);
    free(c->base_dir);
    memset(c, 0, sizeof(*c));
}

int ws_config_set_listen(struct ws_config *c, const char *listen)
{
    return parse_listen(&c->server, listen);
}

/* --- lookups ------------------------------------------------------------------ */

const struct ws_repo *ws_config_repo_by_name(const struct ws_config *c, const char *name)
{
    size_t i;
    for (i = 0; name && i < c->nrepos; i++)
        if (c->repos[i].name && strcmp(c->repos[i].name, name) == 0)
            return &c->repos[i];
    return NULL;
}

const struct ws_repo *ws_config_repo_by_url(const struct ws_config *c, const char *url)
{
    const struct ws_repo *found = NULL;
    char *n = url ? ws_git_url_normalize(url) : NULL;
    size_t i;
    for (i = 0; n && !found && i < c->nrepos; i++)
        if (c->repos[i].norm_url && strcmp(c->repos[i].norm_url, n) == 0)
            found = &c->repos[i];
    free(n);
    return found;
}

const struct ws_plugin_cfg *ws_config_plugin_by_name(const struct ws_config *c, const char *name)
{
    size_t i;
    for (i = 0; c && name && i < c->nplugins; i++)
        if (strcmp(c->plugins[i].name, name) == 0)
            return &c->plugins[i];
    return NULL;
}

const struct ws_cluster_cfg *ws_config_cluster_by_name(const struct ws_config *c, const char *name)
{
    size_t i;
    for (i = 0; name && i < c->nclusters; i++)
        if (c->clusters[i].name && strcmp(c->clusters[i].name, name) == 0)
            return &c->clusters[i];
    return NULL;
}

const struct ws_cluster_cfg *ws_config_cluster_by_server(const struct ws_config *c,
                                                         const char *server)
{
    return find_server(c, c->nclusters, server);
}
