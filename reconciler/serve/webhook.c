/* webhook.c — provider detection, signature checks and payload parsing for
 * push notifications. Pure: the HTTP server hands in headers and body. */
#include "serve/webhook.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/util.h"

#define ZERO_OID "0000000000000000000000000000000000000000"

/* How a provider proves a delivery came from it. */
enum sig_style {
    SIG_NONE,
    SIG_PREFIXED, /* "sha256=" then hex HMAC-SHA256 of the body */
    SIG_HEX,      /* bare hex HMAC-SHA256 of the body */
    SIG_TOKEN,    /* the shared secret itself */
};

struct provider_info {
    const char *event_header;
    const char *delivery_header;
    const char *sig_header;
    enum sig_style sig;
};

static const struct provider_info providers[] = {
    [WS_HOOK_UNKNOWN] = {NULL, NULL, NULL, SIG_NONE},
    [WS_HOOK_GITHUB] = {"X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256", SIG_PREFIXED},
    [WS_HOOK_GITLAB] = {"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token", SIG_TOKEN},
    [WS_HOOK_GITEA] = {"X-Gitea-Event", "X-Gitea-Delivery", "X-Gitea-Signature", SIG_HEX},
    [WS_HOOK_GOGS] = {"X-Gogs-Event", "X-Gogs-Delivery", "X-Gogs-Signature", SIG_HEX},
    [WS_HOOK_BITBUCKET_SERVER] = {"X-Event-Key", "X-Request-Id", "X-Hub-Signature", SIG_PREFIXED},
    [WS_HOOK_GENERIC] = {"X-Wavesync-Event", "X-Wavesync-Delivery", "X-Wavesync-Signature-256",
                         SIG_PREFIXED},
};

#define NPROVIDERS WS_ARRAY_SIZE(providers)
_Static_assert(WS_ARRAY_SIZE(providers) == WS_HOOK_GENERIC + 1, "one providers[] row per provider");

static const char unrecognised_msg[] =
    "unrecognised webhook: no X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, X-Gogs-Event, "
    "X-Event-Key (Bitbucket Server) or X-Wavesync-Event header";

/* --- names ----------------------------------------------------------------- */

const char *ws_hook_provider_name(enum ws_hook_provider p)
{
    switch (p) {
#define WS_X(name, text) \
    case name:           \
        return text;
        WS_HOOK_PROVIDERS(WS_X)
#undef WS_X
    }
    return "unknown";
}

int ws_hook_provider_parse(enum ws_hook_provider *out, const char *name)
{
    static const struct {
        enum ws_hook_provider p;
        const char *text;
    } names[] = {
#define WS_X(name, text) {name, text},
        WS_HOOK_PROVIDERS(WS_X)
#undef WS_X
    };
    for (size_t i = 0; name && i < WS_ARRAY_SIZE(names); i++) {
        if (names[i].p != WS_HOOK_UNKNOWN && strcasecmp(name, names[i].text) == 0) {
            *out = names[i].p;
            return 0;
        }
    }
    return WS_EINVAL;
}

const char *ws_hook_kind_name(enum ws_hook_kind k)
{
    switch (k) {
#define WS_X(name, text) \
    case name:           \
        return text;
        WS_HOOK_KINDS(WS_X)
#undef WS_X
    }
    return "other";
}

const char *ws_hook_signature_header(enum ws_hook_provider p)
{
    return (size_t)p < NPROVIDERS ? providers[p].sig_header : NULL;
}

/* --- headers --------------------------------------------------------------- */

const char *ws_hook_header_get(const struct ws_hook_header *h, size_t nh, const char *name)
{
    for (size_t i = 0; i < nh; i++)
        if (h[i].name && h[i].value && strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* A header's value without surrounding blanks (HTTP parsers differ on
 * whether they strip them); NULL when absent or blank. */
static const char *header_trimmed(const struct ws_hook_header *h, size_t nh, const char *name,
                                  size_t *len)
{
    const char *v = ws_hook_header_get(h, nh, name);
    size_t n;
    if (!v)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    *len = n;
    return n ? v : NULL;
}

enum ws_hook_provider ws_hook_detect(const struct ws_hook_header *h, size_t nh)
{
    /* Most specific first: Gitea also sends X-Gogs-Event and X-GitHub-Event
     * (and Forgejo X-Gitea-Event), for hosts that only know those. */
    static const enum ws_hook_provider order[] = {WS_HOOK_GENERIC, WS_HOOK_GITEA, WS_HOOK_GOGS,
                                                  WS_HOOK_GITHUB, WS_HOOK_GITLAB};
    size_t n;
    for (size_t i = 0; i < WS_ARRAY_SIZE(order); i++)
        if (header_trimmed(h, nh, providers[order[i]].event_header, &n))
            return order[i];
    /* Bitbucket Cloud shares X-Event-Key but sends X-Hook-UUID, not X-Request-Id
     * (a proxy may add X-Request-Id, so X-Hook-UUID is what rules Cloud out). */
    if (header_trimmed(h, nh, "X-Event-Key", &n) && header_trimmed(h, nh, "X-Request-Id", &n) &&
        !ws_hook_header_get(h, nh, "X-Hook-UUID"))
        return WS_HOOK_BITBUCKET_SERVER;
    return WS_HOOK_UNKNOWN;
}

/* --- signatures ------------------------------------------------------------ */

static int hmac_sha256(unsigned char out[32], const char *key, size_t keylen, const char *body,
                       size_t len)
{
    unsigned int n = 0;
    if (keylen > INT_MAX)
        return WS_EINVAL;
    /* OpenSSL wants non-NULL pointers even for empty input. */
    if (!HMAC(EVP_sha256(), key ? key : "", (int)keylen, (const unsigned char *)(body ? body : ""),
              body ? len : 0, out, &n) ||
        n != 32)
        return WS_EINVAL;
    return 0;
}

void ws_hook_hmac_hex(char out[65], const char *key, size_t keylen, const char *body, size_t len)
{
    unsigned char md[32];
    out[0] = '\0';
    if (hmac_sha256(md, key, keylen, body, len) < 0)
        return;
    ws_hex_encode(out, md, sizeof(md));
    OPENSSL_cleanse(md, sizeof(md));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
static int decode_digest(unsigned char out[32], const char *s, size_t n)
{
    if (n != 64)
        return WS_EINVAL;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return WS_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* GitLab sends the secret itself. Comparing SHA-256 digests instead of the
 * strings keeps the comparison constant-time without leaking the length. */
int ws_hook_verify(enum ws_hook_provider p, const struct ws_hook_header *h, size_t nh,
                   const char *body, size_t len, const char *secret, struct ws_err *err)
{
    const struct provider_info *pi;
    const char *v;
    unsigned char want[32], got[32];
    size_t vlen = 0;
    int rc = WS_EAUTH;

    if (p == WS_HOOK_UNKNOWN)
        p = ws_hook_detect(h, nh);
    if (p == WS_HOOK_UNKNOWN || (size_t)p >= NPROVIDERS)
        return ws_err_set(err, WS_EINVAL, "%s", unrecognised_msg);
    pi = &providers[p];
    if (!secret || !*secret)
        return ws_err_set(err, WS_EAUTH, "no secret configured for %s webhooks",
                          ws_hook_provider_name(p));
    if (!(v = header_trimmed(h, nh, pi->sig_header, &vlen)))
        return ws_err_set(err, WS_EAUTH, "missing %s", pi->sig_header);

    if (pi->sig == SIG_TOKEN) {
        if (!ws_secret_eq(v, vlen, secret))
            return ws_err_set(err, WS_EAUTH, "%s does not match", pi->sig_header);
        return 0;
    }
    if (pi->sig == SIG_PREFIXED) {
        if (vlen < 7 || strncasecmp(v, "sha256=", 7) != 0)
            return ws_err_set(err, WS_EAUTH, "%s is not \"sha256=\" followed by 64 hex digits",
                              pi->sig_header);
        v += 7;
        vlen -= 7;
    }
    if (decode_digest(got, v, vlen) < 0)
        return ws_err_set(err, WS_EAUTH, "%s is not %s64 hex digits", pi->sig_header,
                          pi->sig == SIG_PREFIXED ? "\"sha256=\" followed by " : "");
    if (hmac_sha256(want, secret, strlen(secret), body, len) < 0)
        return ws_err_set(err, WS_EAUTH, "cannot compute HMAC-SHA256");
    if (ws_consttime_eq(want, sizeof(want), got, sizeof(got)))
        rc = 0;
    else
        ws_err_set(err, WS_EAUTH, "signature does not match");
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}

/* --- parsing --------------------------------------------------------------- */

/* A non-empty string member, or NULL. */
static const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

/* Set *dst to a copy of the first non-NULL of a, b (if any). */
static int set_str(char **dst, const char *a, const char *b)
{
    const char *s = a ? a : b;
    if (!s)
        return 0;
    return (*dst = strdup(s)) ? 0 : WS_ENOMEM;
}

static int add_url(struct ws_hook_event *e, const char *url)
{
    char **grown;
    if (!url)
        return 0;
    for (size_t i = 0; i < e->nrepo_urls; i++)
        if (strcmp(e->repo_urls[i], url) == 0)
            return 0;
    if (!(grown = realloc(e->repo_urls, (e->nrepo_urls + 1) * sizeof(*grown))))
        return WS_ENOMEM;
    e->repo_urls = grown;
    if (!(e->repo_urls[e->nrepo_urls] = strdup(url)))
        return WS_ENOMEM;
    e->nrepo_urls++;
    return 0;
}

/* The string members `keys` of obj, in order, as candidate URLs. */
static int add_urls(struct ws_hook_event *e, const json_t *obj, const char *const *keys)
{
    int rc = 0;
    for (; *keys && rc == 0; keys++)
        rc = add_url(e, jstr(obj, *keys));
    return rc;
}

/* Decode the application/x-www-form-urlencoded field `key` of body (GitHub,
 * Gitea and Gogs can post the JSON as a "payload" form field). Returns 0,
 * WS_ENOTFOUND, WS_EPARSE (bad %-escape) or WS_ENOMEM; caller frees *out. */
static int form_field(char **out, size_t *outlen, const char *body, size_t len, const char *key)
{
    const char *p = body, *end = body + len;
    size_t klen = strlen(key);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
        if (!amp)
            amp = end;
        eq = memchr(p, '=', (size_t)(amp - p));
        if (eq && (size_t)(eq - p) == klen && memcmp(p, key, klen) == 0) {
            char *d = malloc((size_t)(amp - eq));
            size_t n = 0;
            if (!d)
                return WS_ENOMEM;
            for (const char *s = eq + 1; s < amp; s++) {
                if (*s == '+') {
                    d[n++] = ' ';
                } else if (*s == '%') {
                    int hi = s + 2 < amp ? hexval(s[1]) : -1, lo = hi >= 0 ? hexval(s[2]) : -1;
                    if (lo < 0) {
                        free(d);
                        return WS_EPARSE;
                    }
                    d[n++] = (char)(hi << 4 | lo);
                    s += 2;
                } else {
                    d[n++] = *s;
                }
            }
            *out = d;
            *outlen = n;
            return 0;
        }
        p = amp + 1;
    }
    return WS_ENOTFOUND;
}

static int load_body(json_t **out, const struct ws_hook_header *h, size_t nh, const char *body,
                     size_t len, struct ws_err *err)
{
    static const char form_type[] = "application/x-www-form-urlencoded";
    const char *ct;
    char *form = NULL;
    size_t ctlen = 0, flen = 0;
    json_error_t jerr;
    json_t *root;
    int rc;

    ct = header_trimmed(h, nh, "Content-Type", &ctlen);
    if (ct && ctlen >= sizeof(form_type) - 1 && strncasecmp(ct, form_type, sizeof(form_type) - 1) == 0) {
        rc = form_field(&form, &flen, body ? body : "", body ? len : 0, "payload");
        if (rc == WS_ENOMEM)
            return ws_err_set(err, rc, "out of memory");
        if (rc == WS_ENOTFOUND)
            return ws_err_set(err, WS_EPARSE, "form-encoded body has no \"payload\" field");
        if (rc < 0)
            return ws_err_set(err, WS_EPARSE, "form-encoded \"payload\" has a malformed %%-escape");
        body = form;
        len = flen;
    }
    if (!body || len == 0) {
        free(form);
        return ws_err_set(err, WS_EPARSE, "body is empty");
    }
    root = json_loadb(body, len, 0, &jerr);
    free(form);
    if (!root)
        return ws_err_set(err, WS_EPARSE, "body is not JSON: %s (line %d, column %d)", jerr.text,
                          jerr.line, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return ws_err_set(err, WS_EPARSE, "body is not a JSON object");
    }
    *out = root;
    return 0;
}

static enum ws_hook_kind classify(enum ws_hook_provider p, const char *ev, const json_t *root)
{
    switch (p) {
    case WS_HOOK_GITHUB:
    case WS_HOOK_GENERIC:
        return strcmp(ev, "push") == 0 ? WS_HOOK_PUSH : strcmp(ev, "ping") == 0 ? WS_HOOK_PING : WS_HOOK_OTHER;
    case WS_HOOK_GITEA:
    case WS_HOOK_GOGS:
        return strcmp(ev, "push") == 0 ? WS_HOOK_PUSH : WS_HOOK_OTHER;
    case WS_HOOK_GITLAB:
        if (strcasecmp(ev, "Push Hook") == 0 || strcasecmp(ev, "Tag Push Hook") == 0)
            return WS_HOOK_PUSH;
        if (strcasecmp(ev, "System Hook") == 0) {
            /* System hooks carry every instance event; pushes have the
             * project hook's push shape. */
            const char *name = jstr(root, "event_name");
            if (name && (strcmp(name, "push") == 0 || strcmp(name, "tag_push") == 0))
                return WS_HOOK_PUSH;
        }
        return WS_HOOK_OTHER;
    case WS_HOOK_BITBUCKET_SERVER:
        /* "Test connection" sends diagnostics:ping. */
        return strcmp(ev, "repo:refs_changed") == 0   ? WS_HOOK_PUSH
               : strcmp(ev, "diagnostics:ping") == 0 ? WS_HOOK_PING
                                                     : WS_HOOK_OTHER;
    case WS_HOOK_UNKNOWN:
        break;
    }
    return WS_HOOK_OTHER;
}

/* Repository identity, default branch and pusher: best effort, for any kind
 * (a ping or an ignored event still logs which repository it was about). */
static int fill_repo(struct ws_hook_event *e, const json_t *root)
{
    static const char *const github_urls[] = {"clone_url", "ssh_url", "git_url", "html_url", "url", NULL};
    static const char *const gitea_urls[] = {"clone_url", "ssh_url", "html_url", NULL};
    static const char *const gitlab_project_urls[] = {"git_http_url", "git_ssh_url", "web_url", "http_url",
                                                      "ssh_url", "url", NULL};
    static const char *const gitlab_repo_urls[] = {"git_http_url", "git_ssh_url", "url", "homepage", NULL};
    const json_t *repo = json_object_get(root, "repository");
    const json_t *project = json_object_get(root, "project");
    const json_t *pusher = json_object_get(root, "pusher"), *sender = json_object_get(root, "sender");
    int rc = 0;

    switch (e->provider) {
    case WS_HOOK_GITHUB:
        if ((rc = add_urls(e, repo, github_urls)) < 0 ||
            (rc = set_str(&e->repo_full_name, jstr(repo, "full_name"), NULL)) < 0 ||
            (rc = set_str(&e->default_branch, jstr(repo, "default_branch"), jstr(repo, "master_branch"))) < 0)
            return rc;
        return set_str(&e->pusher, jstr(pusher, "name"), jstr(sender, "login"));
    case WS_HOOK_GITEA:
    case WS_HOOK_GOGS:
        if ((rc = add_urls(e, repo, gitea_urls)) < 0 ||
            (rc = set_str(&e->repo_full_name, jstr(repo, "full_name"), NULL)) < 0 ||
            (rc = set_str(&e->default_branch, jstr(repo, "default_branch"), NULL)) < 0)
            return rc;
        return set_str(&e->pusher, jstr(pusher, "login") ? jstr(pusher, "login") : jstr(pusher, "username"),
                       jstr(sender, "login"));
    case WS_HOOK_GITLAB: {
        const json_t *id = json_object_get(root, "project_id");
        if (!json_is_integer(id))
            id = json_object_get(project, "id");
        if (json_is_integer(id)) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            if ((rc = set_str(&e->project_id, buf, NULL)) < 0)
                return rc;
        }
        if ((rc = add_urls(e, project, gitlab_project_urls)) < 0 ||
            (rc = add_urls(e, repo, gitlab_repo_urls)) < 0 ||
            (rc = set_str(&e->repo_full_name, jstr(project, "path_with_namespace"), NULL)) < 0 ||
            (rc = set_str(&e->default_branch, jstr(project, "default_branch"), NULL)) < 0)
            return rc;
        return set_str(&e->pusher, jstr(root, "user_username"), jstr(root, "user_name"));
    }
    case WS_HOOK_BITBUCKET_SERVER: {
        const json_t *clone = json_object_get(json_object_get(repo, "links"), "clone"), *link;
        const json_t *actor = json_object_get(root, "actor");
        const char *key = jstr(json_object_get(repo, "project"), "key"), *slug = jstr(repo, "slug");
        size_t i;
        json_array_foreach(clone, i, link)
            if ((rc = add_url(e, jstr(link, "href"))) < 0)
                return rc;
        if (key && slug) {
            size_t n = strlen(key) + strlen(slug) + 2;
            if (!(e->repo_full_name = malloc(n)))
                return WS_ENOMEM;
            snprintf(e->repo_full_name, n, "%s/%s", key, slug);
        }
        return set_str(&e->pusher, jstr(actor, "name"), jstr(actor, "slug"));
    }
    case WS_HOOK_GENERIC:
        if ((rc = add_url(e, json_string_length(repo) ? json_string_value(repo) : NULL)) < 0)
            return rc;
        return set_str(&e->pusher, jstr(root, "pusher"), NULL);
    case WS_HOOK_UNKNOWN:
        break;
    }
    return 0;
}

/* Where a provider's push names its repository, for the error message. */
static const char *url_fields(enum ws_hook_provider p)
{
    switch (p) {
    case WS_HOOK_GITLAB:
        return "project.git_http_url, project.git_ssh_url, project.web_url";
    case WS_HOOK_BITBUCKET_SERVER:
        return "repository.links.clone";
    case WS_HOOK_GENERIC:
        return "\"repository\"";
    default:
        return "repository.clone_url, repository.ssh_url, repository.html_url";
    }
}

static int parse_oid(char out[41], const json_t *v, const char *field, struct ws_err *err)
{
    const char *s = json_string_value(v);
    if (!v || json_is_null(v))
        return ws_err_set(err, WS_EINVAL, "push event has no \"%s\"", field);
    if (!s)
        return ws_err_set(err, WS_EINVAL, "\"%s\" is not a 40-hex commit id (not a string)", field);
    if (strlen(s) != 40)
        goto bad;
    for (size_t i = 0; i < 40; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            goto bad;
        out[i] = "0123456789abcdef"[d];
    }
    out[40] = '\0';
    return 0;
bad:
    return ws_err_set(err, WS_EINVAL, "\"%s\" is not a 40-hex commit id: \"%.64s\"", field, s);
}

/* Append one ref update; names the fields as they appear in the body. */
static int add_change(struct ws_hook_event *e, const json_t *ref, const json_t *before, const json_t *after,
                      const char *ref_field, const char *before_field, const char *after_field,
                      struct ws_err *err)
{
    struct ws_hook_change c = {0}, *grown;
    const char *r = json_string_value(ref);
    int rc;
    if (!ref || json_is_null(ref))
        return ws_err_set(err, WS_EINVAL, "push event has no \"%s\"", ref_field);
    if (!r || strncmp(r, "refs/", 5) != 0 || !r[5])
        return ws_err_set(err, WS_EINVAL, "\"%s\" is not a full ref name (refs/...): \"%.128s\"",
                          ref_field, r ? r : "(not a string)");
    if ((rc = parse_oid(c.before, before, before_field, err)) < 0 ||
        (rc = parse_oid(c.after, after, after_field, err)) < 0)
        return rc;
    if (strcmp(c.before, ZERO_OID) == 0 && strcmp(c.after, ZERO_OID) == 0)
        return ws_err_set(err, WS_EINVAL, "\"%s\" and \"%s\" are both all zeros", before_field,
                          after_field);
    c.created = strcmp(c.before, ZERO_OID) == 0;
    c.deleted = strcmp(c.after, ZERO_OID) == 0;
    if (!(grown = realloc(e->changes, (e->nchanges + 1) * sizeof(*grown))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    e->changes = grown;
    if (!(c.ref = strdup(r)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    e->changes[e->nchanges++] = c;
    return 0;
}

static int parse_changes(struct ws_hook_event *e, const json_t *root, struct ws_err *err)
{
    const json_t *changes, *c;
    size_t i;
    int rc;

    if (e->provider != WS_HOOK_BITBUCKET_SERVER)
        return add_change(e, json_object_get(root, "ref"), json_object_get(root, "before"),
                          json_object_get(root, "after"), "ref", "before", "after", err);

    changes = json_object_get(root, "changes");
    if (!json_is_array(changes) || json_array_size(changes) == 0)
        return ws_err_set(err, WS_EINVAL, "push event has no \"changes\"");
    json_array_foreach(changes, i, c) {
        char fr[48], ff[48], ft[48];
        const json_t *ref = json_object_get(json_object_get(c, "ref"), "id");
        if (!json_is_object(c))
            return ws_err_set(err, WS_EINVAL, "\"changes[%zu]\" is not an object", i);
        if (!ref)
            ref = json_object_get(c, "refId");
        snprintf(fr, sizeof(fr), "changes[%zu].ref.id", i);
        snprintf(ff, sizeof(ff), "changes[%zu].fromHash", i);
        snprintf(ft, sizeof(ft), "changes[%zu].toHash", i);
        if ((rc = add_change(e, ref, json_object_get(c, "fromHash"), json_object_get(c, "toHash"), fr,
                             ff, ft, err)) < 0)
            return rc;
    }
    return 0;
}

int ws_hook_parse(struct ws_hook_event *out, enum ws_hook_provider p, const struct ws_hook_header *h,
                  size_t nh, const char *body, size_t len, struct ws_err *err)
{
    const struct provider_info *pi;
    const char *ev, *delivery;
    size_t evlen = 0, dlen = 0;
    json_t *root = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (p == WS_HOOK_UNKNOWN)
        p = ws_hook_detect(h, nh);
    if (p == WS_HOOK_UNKNOWN || (size_t)p >= NPROVIDERS)
        return ws_err_set(err, WS_EINVAL, "%s", unrecognised_msg);
    pi = &providers[p];
    out->provider = p;
    if (!(ev = header_trimmed(h, nh, pi->event_header, &evlen)))
        return ws_err_set(err, WS_EINVAL, "%s webhook has no %s header", ws_hook_provider_name(p),
                          pi->event_header);
    if (!(out->event_name = strndup(ev, evlen)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if ((delivery = header_trimmed(h, nh, pi->delivery_header, &dlen)) &&
        !(out->delivery_id = strndup(delivery, dlen)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");

    if ((rc = load_body(&root, h, nh, body, len, err)) < 0)
        return rc;
    out->kind = classify(p, out->event_name, root);
    if ((rc = fill_repo(out, root)) < 0) {
        ws_err_set(err, rc, "out of memory");
        goto out;
    }
    if (out->kind != WS_HOOK_PUSH)
        goto out;

    if (p == WS_HOOK_GENERIC && json_object_get(root, "repository") &&
        !json_is_string(json_object_get(root, "repository"))) {
        rc = ws_err_set(err, WS_EINVAL, "\"repository\" is not a URL string");
        goto out;
    }
    if (out->nrepo_urls == 0) {
        rc = p == WS_HOOK_GENERIC ? ws_err_set(err, WS_EINVAL, "push event has no \"repository\"")
                                  : ws_err_set(err, WS_EINVAL, "push event has no repository URL (%s)",
                                               url_fields(p));
        goto out;
    }
    if ((rc = parse_changes(out, root, err)) < 0)
        goto out;
    /* changes[0] flattened, for the common single-ref case. */
    if (!(out->ref = strdup(out->changes[0].ref))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(out->before, out->changes[0].before, sizeof(out->before));
    memcpy(out->after, out->changes[0].after, sizeof(out->after));
    out->created = out->changes[0].created;
    out->deleted = out->changes[0].deleted;
out:
    json_decref(root);
    return rc;
}

void ws_hook_event_free(struct ws_hook_event *e)
{
    if (!e)
        return;
    free(e->event_name);
    free(e->delivery_id);
    for (size_t i = 0; i < e->nrepo_urls; i++)
        free(e->repo_urls[i]);
    free(e->repo_urls);
    free(e->repo_full_name);
    free(e->project_id);
    free(e->default_branch);
    free(e->pusher);
    free(e->ref);
    for (size_t i = 0; i < e->nchanges; i++)
        free(e->changes[i].ref);
    free(e->changes);
    memset(e, 0, sizeof(*e));
}
