/* kubeconfig.c — kubeconfig / inline / in-cluster cluster access settings. */
#include "config/kubeconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/yaml.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

void ws_kubeconfig_free(struct ws_kubeconfig *c)
{
    if (!c)
        return;
    free(c->context);
    free(c->server);
    free(c->namespace_);
    free(c->tls_server_name);
    free(c->ca_file);
    free(c->ca_data);
    free(c->cert_file);
    free(c->cert_data);
    free(c->key_file);
    free(c->key_data);
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->token_file);
    free(c->username);
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    free(c->password);
    if (c->exec) {
        char **p;
        free(c->exec->command);
        for (p = c->exec->args; p && *p; p++)
            free(*p);
        free(c->exec->args);
        for (p = c->exec->env; p && *p; p++)
            free(*p);
        free(c->exec->env);
        free(c->exec->api_version);
        free(c->exec);
    }
    memset(c, 0, sizeof(*c));
}

const char *ws_kubeconfig_auth_kind(const struct ws_kubeconfig *c)
{
    if (c->exec)
        return "exec plugin";
    if (c->cert_file || c->cert_data)
        return "client certificate";
    if (c->token_file)
        return "token file";
    if (c->token)
        return "bearer token";
    if (c->username)
        return "basic auth";
    return "none";
}

/* Look up the entry called `name` in a kubeconfig list (clusters, users,
 * contexts) and return its inner object (`inner` key). */
static json_t *find_named(const json_t *root, const char *list, const char *inner,
                          const char *name)
{
    json_t *arr = json_object_get(root, list), *item;
    size_t i;
    json_array_foreach(arr, i, item) {
        const char *n = json_string_value(json_object_get(item, "name"));
        if (n && strcmp(n, name) == 0) {
            json_t *v = json_object_get(item, inner);
            return json_is_object(v) ? v : NULL;
        }
    }
    return NULL;
}

/* Fetch an optional string field; a present non-string is an error. */
static int get_str(char **out, const json_t *obj, const char *key, const char *where,
                   struct ws_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return ws_err_set(err, WS_ECONFIG, "%s: \"%s\" must be a string", where, key);
    if (json_string_length(v) == 0)
        return 0;
    if (!(*out = strdup(json_string_value(v))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    return 0;
}

static int get_b64(char **out, size_t *outlen, const json_t *obj, const char *key,
                   const char *where, struct ws_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));
    *out = NULL;
    *outlen = 0;
    if (!s || !*s)
        return 0;
    if (ws_base64_decode(out, outlen, s, strlen(s)) < 0)
        return ws_err_set(err, WS_ECONFIG, "%s: \"%s\" is not valid base64", where, key);
    if (*outlen == 0) {
        /* "==" or blanks: a CA or key of no bytes would only fail later, in
         * the TLS handshake, with a message naming neither file nor key. */
        free(*out);
        *out = NULL;
        return ws_err_set(err, WS_ECONFIG, "%s: \"%s\" holds no data", where, key);
    }
    return 0;
}

static char *join_path(const char *dir, const char *path)
{
    char *out;
    if (!dir || !path || path[0] == '/')
        return ws_strdup0(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

/* Rewrite relative file paths of clusters/users against `dir`, as kubectl
 * resolves them relative to the file that defines them. */
static int resolve_paths(json_t *root, const char *dir)
{
    static const char *const keys[] = {"certificate-authority", "client-certificate",
                                        "client-key", "tokenFile"};
    static const char *const lists[][2] = {{"clusters", "cluster"}, {"users", "user"}};
    size_t l, i, k;
    json_t *item;
    if (!dir)
        return 0;
    for (l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(root, lists[l][0]), i, item) {
            json_t *inner = json_object_get(item, lists[l][1]), *exec;
            if (!json_is_object(inner))
                continue;
            for (k = 0; k < WS_ARRAY_SIZE(keys); k++) {
                const char *p = json_string_value(json_object_get(inner, keys[k]));
                if (p && *p && p[0] != '/') {
                    char *abs = join_path(dir, p);
                    if (!abs)
                        return WS_ENOMEM;
                    json_object_set_new(inner, keys[k], json_string(abs)); /* steals */
                    free(abs);
                }
            }
            /* An exec command with a slash is relative to the file; a bare
             * name is looked up in PATH. */
            exec = json_object_get(inner, "exec");
            if (json_is_object(exec)) {
                const char *cmd = json_string_value(json_object_get(exec, "command"));
                if (cmd && cmd[0] != '/' && strchr(cmd, '/')) {
                    char *abs = join_path(dir, cmd);
                    if (!abs)
                        return WS_ENOMEM;
                    json_object_set_new(exec, "command", json_string(abs)); /* steals */
                    free(abs);
                }
            }
        }
    }
    return 0;
}

static int parse_exec(struct ws_kubeconfig *out, const json_t *exec, const char *where,
                      struct ws_err *err)
{
    struct ws_kube_exec *x = calloc(1, sizeof(*x));
    json_t *args = json_object_get(exec, "args"), *env = json_object_get(exec, "env"), *v;
    size_t i, n;
    int rc;
    if (!x)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    out->exec = x;
    if ((rc = get_str(&x->command, exec, "command", where, err)) < 0)
        return rc;
    if (!x->command)
        return ws_err_set(err, WS_ECONFIG, "%s: exec plugin has no \"command\"", where);
    if ((rc = get_str(&x->api_version, exec, "apiVersion", where, err)) < 0)
        return rc;
    if (!x->api_version)
        return ws_err_set(err, WS_ECONFIG, "%s: exec plugin has no \"apiVersion\"", where);
    if (strcmp(x->api_version, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(x->api_version, "client.authentication.k8s.io/v1beta1") != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "%s: exec plugin apiVersion \"%s\" is not supported (use "
                          "client.authentication.k8s.io/v1 or v1beta1)",
                          where, x->api_version);
    x->provide_cluster_info = json_is_true(json_object_get(exec, "provideClusterInfo"));
    if (json_is_null(args)) /* kubectl and cloud CLIs write "args: null" */
        args = NULL;
    if (json_is_null(env))
        env = NULL;
    if (args && !json_is_array(args))
        return ws_err_set(err, WS_ECONFIG, "%s: exec \"args\" must be a list", where);
    n = json_array_size(args);
    if (!(x->args = calloc(n + 1, sizeof(char *))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    json_array_foreach(args, i, v) {
        if (!json_is_string(v))
            return ws_err_set(err, WS_ECONFIG, "%s: exec args[%zu] must be a string", where, i);
        if (!(x->args[i] = strdup(json_string_value(v))))
            return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (env && !json_is_array(env))
        return ws_err_set(err, WS_ECONFIG, "%s: exec \"env\" must be a list", where);
    n = json_array_size(env);
    if (!(x->env = calloc(n + 1, sizeof(char *))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    json_array_foreach(env, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *value = json_string_value(json_object_get(v, "value"));
        if (!name || !value)
            return ws_err_set(err, WS_ECONFIG, "%s: exec env[%zu] needs \"name\" and \"value\"",
                              where, i);
        if (asprintf(&x->env[i], "%s=%s", name, value) < 0)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    return 0;
}

/* Fill cluster fields from a kubeconfig `cluster` object. */
static int parse_cluster(struct ws_kubeconfig *out, const json_t *c, const char *where,
                         struct ws_err *err)
{
    int rc;
    size_t n;
    if ((rc = get_str(&out->server, c, "server", where, err)) < 0 ||
        (rc = get_str(&out->ca_file, c, "certificate-authority", where, err)) < 0 ||
        (rc = get_b64(&out->ca_data, &out->ca_len, c, "certificate-authority-data", where, err)) < 0 ||
        (rc = get_str(&out->tls_server_name, c, "tls-server-name", where, err)) < 0)
        return rc;
    if (!out->server)
        return ws_err_set(err, WS_ECONFIG, "%s: cluster has no \"server\"", where);
    if (strncmp(out->server, "https://", 8) != 0 && strncmp(out->server, "http://", 7) != 0)
        return ws_err_set(err, WS_ECONFIG, "%s: server \"%s\" must start with https:// or http://",
                          where, out->server);
    n = strlen(out->server);
    while (n > 0 && out->server[n - 1] == '/')
        out->server[--n] = '\0';
    if (!strchr(out->server, '/')) /* "https://" alone ended as "https:" */
        return ws_err_set(err, WS_ECONFIG, "%s: server \"%s\" names no host", where,
                          json_string_value(json_object_get(c, "server")));
    out->insecure = json_is_true(json_object_get(c, "insecure-skip-tls-verify"));
    if (out->insecure && (out->ca_file || out->ca_data))
        return ws_err_set(err, WS_ECONFIG,
                          "%s: insecure-skip-tls-verify cannot be combined with a certificate authority",
                          where);
    return 0;
}

static int parse_user(struct ws_kubeconfig *out, const json_t *u, const char *where,
                      struct ws_err *err)
{
    json_t *exec = json_object_get(u, "exec"), *ap = json_object_get(u, "auth-provider");
    int rc;
    if ((rc = get_str(&out->cert_file, u, "client-certificate", where, err)) < 0 ||
        (rc = get_b64(&out->cert_data, &out->cert_len, u, "client-certificate-data", where, err)) < 0 ||
        (rc = get_str(&out->key_file, u, "client-key", where, err)) < 0 ||
        (rc = get_b64(&out->key_data, &out->key_len, u, "client-key-data", where, err)) < 0 ||
        (rc = get_str(&out->token, u, "token", where, err)) < 0 ||
        (rc = get_str(&out->token_file, u, "tokenFile", where, err)) < 0 ||
        (rc = get_str(&out->username, u, "username", where, err)) < 0 ||
        (rc = get_str(&out->password, u, "password", where, err)) < 0)
        return rc;
    if ((out->cert_file || out->cert_data) && !(out->key_file || out->key_data))
        return ws_err_set(err, WS_ECONFIG, "%s: client certificate given without a client key", where);
    if ((out->key_file || out->key_data) && !(out->cert_file || out->cert_data))
        return ws_err_set(err, WS_ECONFIG, "%s: client key given without a client certificate", where);
    if (ap && !json_is_null(ap)) {
        const char *name = json_string_value(json_object_get(ap, "name"));
        return ws_err_set(err, WS_ECONFIG,
                          "%s: auth-provider \"%s\" is not supported (removed from kubectl); "
                          "use an exec credential plugin",
                          where, name ? name : "?");
    }
    if (exec && !json_is_null(exec)) {
        if (!json_is_object(exec))
            return ws_err_set(err, WS_ECONFIG, "%s: \"exec\" must be a mapping", where);
        return parse_exec(out, exec, where, err);
    }
    return 0;
}

/* Select a context in an already-loaded kubeconfig document. */
static int parse_root(struct ws_kubeconfig *out, const json_t *root, const char *name,
                      const char *context, struct ws_err *err)
{
    const char *ctxname = context, *cluster_name, *user_name, *ns;
    json_t *ctx, *cluster, *user = NULL;
    char where[512];
    int rc;
    if (!json_is_object(root))
        return ws_err_set(err, WS_ECONFIG, "%s: not a kubeconfig (expected a mapping)", name);
    if (!ctxname || !*ctxname)
        ctxname = json_string_value(json_object_get(root, "current-context"));
    if (!ctxname || !*ctxname)
        return ws_err_set(err, WS_ECONFIG, "%s: no current-context set and no context given", name);
    if (!(ctx = find_named(root, "contexts", "context", ctxname)))
        return ws_err_set(err, WS_ECONFIG, "%s: context \"%s\" not found", name, ctxname);
    cluster_name = json_string_value(json_object_get(ctx, "cluster"));
    user_name = json_string_value(json_object_get(ctx, "user"));
    if (!cluster_name)
        return ws_err_set(err, WS_ECONFIG, "%s: context \"%s\" names no cluster", name, ctxname);
    if (!(cluster = find_named(root, "clusters", "cluster", cluster_name)))
        return ws_err_set(err, WS_ECONFIG, "%s: context \"%s\": cluster \"%s\" not found", name,
                          ctxname, cluster_name);
    if (user_name && *user_name && !(user = find_named(root, "users", "user", user_name)))
        return ws_err_set(err, WS_ECONFIG, "%s: context \"%s\": user \"%s\" not found", name,
                          ctxname, user_name);
    if (!(out->context = strdup(ctxname)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    snprintf(where, sizeof(where), "%s: cluster \"%s\"", name, cluster_name);
    if ((rc = parse_cluster(out, cluster, where, err)) < 0)
        return rc;
    if (user) {
        snprintf(where, sizeof(where), "%s: user \"%s\"", name, user_name);
        if ((rc = parse_user(out, user, where, err)) < 0)
            return rc;
    }
    ns = json_string_value(json_object_get(ctx, "namespace"));
    if (!(out->namespace_ = strdup(ns && *ns ? ns : "default")))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    return 0;
}

static int load_doc(json_t **out, const char *buf, size_t len, const char *name,
                    const char *base_dir, struct ws_err *err)
{
    json_t *root = NULL;
    int rc;
    if ((rc = ws_yaml_parse_one(&root, buf, len, name, NULL, err)) < 0) {
        if (rc != WS_ENOMEM && err)
            err->code = WS_ECONFIG;
        return rc == WS_ENOMEM ? rc : WS_ECONFIG;
    }
    if (json_is_null(root)) { /* an empty file contributes nothing */
        json_decref(root);
        root = json_object();
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return ws_err_set(err, WS_ECONFIG, "%s: not a kubeconfig (expected a mapping)", name);
    }
    if ((rc = resolve_paths(root, base_dir)) < 0) {
        json_decref(root);
        return ws_err_set(err, rc, "out of memory");
    }
    *out = root;
    return 0;
}

int ws_kubeconfig_parse(struct ws_kubeconfig *out, const char *buf, size_t len,
                        const char *name, const char *base_dir, const char *context,
                        struct ws_err *err)
{
    json_t *root = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!name)
        name = "<kubeconfig>";
    if ((rc = load_doc(&root, buf, len, name, base_dir, err)) < 0)
        return rc;
    rc = parse_root(out, root, name, context, err);
    json_decref(root);
    if (rc < 0)
        ws_kubeconfig_free(out);
    return rc;
}

/* Merge `add` into `into` first-wins: named list entries already present are
 * kept, current-context is kept when set (kubectl's KUBECONFIG semantics). */
static void merge_docs(json_t *into, json_t *add)
{
    static const char *const lists[] = {"clusters", "users", "contexts"};
    size_t l, i, j;
    json_t *item, *have;
    const char *have_ctx = json_string_value(json_object_get(into, "current-context"));
    const char *add_ctx = json_string_value(json_object_get(add, "current-context"));
    if (!(have_ctx && *have_ctx) && add_ctx && *add_ctx) /* first non-empty wins */
        json_object_set_new(into, "current-context", json_string(add_ctx)); /* steals */
    for (l = 0; l < WS_ARRAY_SIZE(lists); l++) {
        json_t *dst = json_object_get(into, lists[l]);
        if (!json_is_array(dst)) {
            dst = json_array();
            json_object_set_new(into, lists[l], dst); /* steals */
        }
        json_array_foreach(json_object_get(add, lists[l]), i, item) {
            const char *n = json_string_value(json_object_get(item, "name"));
            int dup = 0;
            json_array_foreach(dst, j, have) {
                const char *hn = json_string_value(json_object_get(have, "name"));
                if (n && hn && strcmp(n, hn) == 0)
                    dup = 1;
            }
            if (!dup)
                json_array_append(dst, item);
        }
    }
}

/* The folder of a kubeconfig file, absolute so that paths resolved against
 * it stay valid whatever the working directory later is. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir, *abs;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (dir && (abs = realpath(dir, NULL))) {
        free(dir);
        return abs;
    }
    return dir;
}

int ws_kubeconfig_load(struct ws_kubeconfig *out, const char *path, const char *context,
                       struct ws_err *err)
{
    char *list = NULL, *save = NULL, *tok, *home_path = NULL;
    const char *src = path, *label;
    json_t *merged = json_object();
    int rc = 0, nfiles = 0, multi = 1;
    memset(out, 0, sizeof(*out));
    if (!merged)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (!src || !*src)
        src = getenv("KUBECONFIG");
    if (!src || !*src) {
        const char *home = getenv("HOME");
        if (asprintf(&home_path, "%s/.kube/config", home ? home : "") < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            goto out;
        }
        src = home_path;
    }
    label = src;
    /* Only $KUBECONFIG is a list; an explicit path is taken whole. */
    if (src == path)
        multi = 0;
    if (!(list = strdup(src))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (tok = multi ? strtok_r(list, ":", &save) : list; tok;
         tok = multi ? strtok_r(NULL, ":", &save) : NULL) {
        char *buf = NULL, *dir = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        rc = ws_file_read(&buf, &len, tok, KUBECONFIG_MAX_BYTES, err);
        if (rc == WS_ENOTFOUND && multi && strchr(src, ':')) { /* kubectl skips missing list members */
            rc = 0;
            continue;
        }
        if (rc < 0) {
            ws_err_prefix(err, "kubeconfig");
            rc = WS_ECONFIG;
            goto out;
        }
        dir = dir_of(tok);
        rc = load_doc(&doc, buf, len, tok, dir, err);
        free(buf);
        free(dir);
        if (rc < 0)
            goto out;
        merge_docs(merged, doc);
        json_decref(doc);
        nfiles++;
        if (!multi || !strchr(src, ':'))
            label = tok;
    }
    if (nfiles == 0) {
        rc = ws_err_set(err, WS_ECONFIG, "kubeconfig: none of \"%s\" exists", src);
        goto out;
    }
    rc = parse_root(out, merged, label, context, err);
out:
    json_decref(merged);
    free(list);
    free(home_path);
    if (rc < 0)
        ws_kubeconfig_free(out);
    return rc;
}

int ws_kubeconfig_in_cluster(struct ws_kubeconfig *out, const char *sa_dir, struct ws_err *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    char path[1024], *ns = NULL, *token = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!sa_dir)
        sa_dir = SA_DIR_DEFAULT;
    if (!host || !*host || !port || !*port)
        return ws_err_set(err, WS_ECONFIG,
                          "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
                          "(not running in a pod?)");
    if (asprintf(&out->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                 port) < 0)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "%s/token", sa_dir);
    if ((rc = ws_file_read(&token, NULL, path, 1u << 20, err)) < 0) {
        ws_err_prefix(err, "in-cluster: service account token");
        rc = WS_ECONFIG;
        goto fail;
    }
    token[strcspn(token, "\r\n")] = '\0';
    out->token = token;
    if (!(out->token_file = strdup(path)))
        goto nomem;
    snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
    if (!(out->ca_file = strdup(path)))
        goto nomem;
    snprintf(path, sizeof(path), "%s/namespace", sa_dir);
    if (ws_file_read(&ns, NULL, path, 4096, NULL) == 0) {
        ns[strcspn(ns, "\r\n")] = '\0';
        out->namespace_ = ns;
    } else if (!(out->namespace_ = strdup("default"))) {
        goto nomem;
    }
    return 0;
nomem:
    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
fail:
    ws_kubeconfig_free(out);
    return rc < 0 ? rc : WS_ECONFIG;
}

int ws_kubeconfig_from_inline(struct ws_kubeconfig *out, const json_t *obj, const char *name,
                              struct ws_err *err)
{
    /* Inline keys are the kubeconfig ones in camelCase; translate and reuse
     * the kubeconfig rules so both forms validate identically. */
    static const struct {
        const char *inline_key, *kube_key;
        int user;
    } keys[] = {
        {"server", "server", 0},
        {"caFile", "certificate-authority", 0},
        {"caData", "certificate-authority-data", 0},
        {"insecure", "insecure-skip-tls-verify", 0},
        {"tlsServerName", "tls-server-name", 0},
        {"token", "token", 1},
        {"tokenFile", "tokenFile", 1},
        {"certFile", "client-certificate", 1},
        {"certData", "client-certificate-data", 1},
        {"keyFile", "client-key", 1},
        {"keyData", "client-key-data", 1},
        {"exec", "exec", 1},
    };
    json_t *cluster = json_object(), *user = json_object();
    const char *ns = json_string_value(json_object_get(obj, "namespace"));
    size_t i;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!cluster || !user) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < WS_ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(obj, keys[i].inline_key);
        if (v)
            json_object_set(keys[i].user ? user : cluster, keys[i].kube_key, v);
    }
    if ((rc = parse_cluster(out, cluster, name, err)) < 0 ||
        (rc = parse_user(out, user, name, err)) < 0)
        goto out;
    if (!(out->namespace_ = strdup(ns && *ns ? ns : "default")))
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    json_decref(cluster);
    json_decref(user);
    if (rc < 0)
        ws_kubeconfig_free(out);
    return rc;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *out;
    if (!p)
        return NULL;
    if (!(out = malloc(n + 1)))
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static char **dup_list(char **v)
{
    size_t n = 0, i;
    char **out;
    while (v && v[n])
        n++;
    if (!(out = calloc(n + 1, sizeof(char *))))
        return NULL;
    for (i = 0; i < n; i++)
        if (!(out[i] = strdup(v[i])))
            return out; /* partial: the caller's free handles it */
    return out;
}

int ws_kubeconfig_copy(struct ws_kubeconfig *dst, const struct ws_kubeconfig *src)
{
    memset(dst, 0, sizeof(*dst));
#define DUP(f) if (src->f && !(dst->f = strdup(src->f))) goto nomem
    DUP(context);
    DUP(server);
    DUP(namespace_);
    DUP(tls_server_name);
    DUP(ca_file);
    DUP(cert_file);
    DUP(key_file);
    DUP(token);
    DUP(token_file);
    DUP(username);
    DUP(password);
#undef DUP
    dst->insecure = src->insecure;
    if ((src->ca_data && !(dst->ca_data = dup_bytes(src->ca_data, src->ca_len))) ||
        (src->cert_data && !(dst->cert_data = dup_bytes(src->cert_data, src->cert_len))) ||
        (src->key_data && !(dst->key_data = dup_bytes(src->key_data, src->key_len))))
        goto nomem;
    dst->ca_len = src->ca_len;
    dst->cert_len = src->cert_len;
    dst->key_len = src->key_len;
    if (src->exec) {
        if (!(dst->exec = calloc(1, sizeof(*dst->exec))))
            goto nomem;
        dst->exec->provide_cluster_info = src->exec->provide_cluster_info;
        if (!(dst->exec->command = strdup(src->exec->command)) ||
            !(dst->exec->api_version = strdup(src->exec->api_version)) ||
            !(dst->exec->args = dup_list(src->exec->args)) ||
            !(dst->exec->env = dup_list(src->exec->env)))
            goto nomem;
    }
    return 0;
nomem:
    ws_kubeconfig_free(dst);
    return WS_ENOMEM;
}
