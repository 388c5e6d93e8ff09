/* kube.c — the Kubernetes client: request queue, credentials, retries,
 * discovery and the object operations. Watches live in kube_watch.c. */
#include "kube/kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "base/log.h"
#include "base/timer.h"

#define RESPONSE_MAX (256u << 20) /* a List of every object of a big kind */
#define TOKEN_FILE_REFRESH_MS 60000  /* client-go re-reads token files every minute */
#define EXEC_EXPIRY_MARGIN_S 10

/* ---- request lists ------------------------------------------------------- */

void ws__req_list_push(struct ws__req_list *l, struct ws_kube_req *r)
{
    r->list = l;
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_push_head(struct ws__req_list *l, struct ws_kube_req *r)
{
    r->list = l;
    r->prev = NULL;
    r->next = l->head;
    if (l->head)
        l->head->prev = r;
    else
        l->tail = r;
    l->head = r;
}

void ws__req_list_remove(struct ws_kube_req *r)
{
    struct ws__req_list *l = r->list;
    if (!l)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->list = NULL;
    r->prev = r->next = NULL;
}

/* ---- identity and errors (pure) ----------------------------------------- */

void ws_kube_ident(char *out, size_t len, const char *api_version, const char *kind,
                   const char *ns, const char *name)
{
    const char *av = api_version && *api_version ? api_version : "?";
    const char *k = kind && *kind ? kind : "?";
    if (name && *name)
        snprintf(out, len, "%s %s %s%s%s", av, k, ns && *ns ? ns : "", ns && *ns ? "/" : "", name);
    else if (ns && *ns) /* a collection: "v1 ConfigMap (namespace e2e)" */
        snprintf(out, len, "%s %s (namespace %s)", av, k, ns);
    else
        snprintf(out, len, "%s %s", av, k);
}

void ws_kube_ident_obj(char *out, size_t len, const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    if (!name)
        name = json_string_value(json_object_get(md, "generateName"));
    ws_kube_ident(out, len, json_string_value(json_object_get(obj, "apiVersion")),
                  json_string_value(json_object_get(obj, "kind")),
                  json_string_value(json_object_get(md, "namespace")), name);
}

static int code_for_status(long status)
{
    switch (status) {
    case 400:
    case 422:
        return WS_EINVAL;
    case 401:
    case 403:
        return WS_EAUTH;
    case 404:
        return WS_ENOTFOUND;
    case 409:
        return WS_ECONFLICT;
    case 410:
        return WS_EGONE;
    case 504:
        return WS_ETIMEOUT;
    default:
        return WS_EHTTP;
    }
}

int ws_kube_decode_error(struct ws_err *err, long status, const char *body, size_t body_len,
                         const char *what)
{
    json_t *st = body && body_len ? json_loadb(body, body_len, 0, NULL) : NULL;
    const char *reason = NULL, *message = NULL;
    int code = code_for_status(status);
    if (json_is_object(st) && json_is_string(json_object_get(st, "kind")) &&
        strcmp(json_string_value(json_object_get(st, "kind")), "Status") == 0) {
        reason = json_string_value(json_object_get(st, "reason"));
        message = json_string_value(json_object_get(st, "message"));
    }
    if (message && status == 500 && strstr(message, "field not declared in schema")) {
        /* Server-side apply refuses a field the type's schema does not
         * have (fieldValidation=Strict, or any apply) with a reasonless 500:
         * it is the manifest that is wrong, not the server. */
        code = WS_EINVAL;
        ws_err_set(err, code, "%s: %ld Invalid: %s (a field the API server does not know: misspelt, or of "
                   "another version of the kind)", what, status, message);
    } else if (message) {
        ws_err_set(err, code, "%s: %ld %s: %s", what, status, reason && *reason ? reason : "Error",
                   message);
    } else {
        char snippet[200];
        size_t n = body_len < sizeof(snippet) - 1 ? body_len : sizeof(snippet) - 1;
        memcpy(snippet, body ? body : "", n);
        snippet[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (snippet[i] == '\n' || snippet[i] == '\r')
                snippet[i] = ' ';
        ws_err_set(err, code, "%s: HTTP %ld%s%s", what, status, n ? ": " : "", snippet);
    }
    if (err) {
        err->http_status = (int)status;
        snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
    }
    json_decref(st);
    return code;
}

/* ---- exec credentials (parse is pure) ------------------------------------ */

void ws_exec_cred_free(struct ws_exec_cred *c)
{
    if (!c)
        return;
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->cert_pem);
    if (c->key_pem)
        memset(c->key_pem, 0, strlen(c->key_pem));
    free(c->key_pem);
    memset(c, 0, sizeof(*c));
}

int ws_exec_cred_parse(struct ws_exec_cred *out, const char *text, size_t len,
                       const char *command, struct ws_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr), *status;
    const char *kind, *token, *cert, *key, *exp;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!root)
        return ws_err_set(err, WS_EAUTH, "exec plugin %s: output is not JSON: %s (line %d)",
                          command, jerr.text, jerr.line);
    kind = json_string_value(json_object_get(root, "kind"));
    status = json_object_get(root, "status");
    if (!kind || strcmp(kind, "ExecCredential") != 0) {
        rc = ws_err_set(err, WS_EAUTH, "exec plugin %s: output is not an ExecCredential", command);
        goto out;
    }
    if (!json_is_object(status)) {
        rc = ws_err_set(err, WS_EAUTH, "exec plugin %s: ExecCredential has no status", command);
        goto out;
    }
    token = json_string_value(json_object_get(status, "token"));
    cert = json_string_value(json_object_get(status, "clientCertificateData"));
    key = json_string_value(json_object_get(status, "clientKeyData"));
    exp = json_string_value(json_object_get(status, "expirationTimestamp"));
    if (!(token && *token) && !(cert && *cert && key && *key)) {
        rc = ws_err_set(err, WS_EAUTH,
                        "exec plugin %s: ExecCredential has neither status.token nor a client "
                        "certificate and key",
                        command);
        goto out;
    }
    if ((cert && *cert) != (key && *key)) {
        rc = ws_err_set(err, WS_EAUTH,
                        "exec plugin %s: clientCertificateData and clientKeyData must come together",
                        command);
        goto out;
    }
    if (exp && ws_time_parse_rfc3339(&out->expires_at, exp) < 0) {
        rc = ws_err_set(err, WS_EAUTH, "exec plugin %s: bad expirationTimestamp \"%s\"", command, exp);
        goto out;
    }
    if ((token && *token && !(out->token = strdup(token))) ||
        (cert && *cert && !(out->cert_pem = strdup(cert))) ||
        (key && *key && !(out->key_pem = strdup(key))))
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
out:
    json_decref(root);
    if (rc < 0)
        ws_exec_cred_free(out);
    return rc;
}

/* ---- credentials ----------------------------------------------------------- */

static void pump(struct ws_kube *k);
static void fail_list(struct ws_kube *k, struct ws__req_list *l, const struct ws_err *e);

static void set_bearer(struct ws_kube *k, const char *token)
{
    if (k->auth_header) {
        memset(k->auth_header, 0, strlen(k->auth_header));
        free(k->auth_header);
        k->auth_header = NULL;
    }
    if (token && *token && asprintf(&k->auth_header, "Authorization: Bearer %s", token) < 0)
        k->auth_header = NULL;
}

/* A credential refresh outlives nothing: if the client is freed while it
 * runs, the job finds kube == NULL and only frees itself. */
struct cred_job {
    struct ws_kube *kube;
    uv_work_t work;
    char *path;
    char *token;
    struct ws_err err;
    int rc;
    char command[256];
};

static void cred_done(struct ws_kube *k, int rc, const struct ws_err *e)
{
    k->cred_job = NULL;
    if (rc < 0) {
        k->cred_state = WS__CRED_STALE;
        ws_warn("cluster %s: %s", k->cfg.server, e->msg);
        fail_list(k, &k->pending, e);
        return;
    }
    k->cred_state = WS__CRED_READY;
    pump(k);
}

static void on_exec_done(const struct ws_proc_result *res, void *data)
{
    struct cred_job *job = data;
    struct ws_kube *k = job->kube;
    struct ws_exec_cred cred;
    struct ws_err e;
    int rc;
    ws_err_clear(&e);
    if (!k)
        goto out;
    if (res->end != WS_PROC_EXITED || res->exit_status != 0) {
        char why[400];
        ws_proc_describe(res, why, sizeof(why));
        rc = ws_err_set(&e, WS_EAUTH, "exec plugin %s %s", job->command, why);
        cred_done(k, rc, &e);
        goto out;
    }
    if ((rc = ws_exec_cred_parse(&cred, res->out, res->out_len, job->command, &e)) < 0) {
        cred_done(k, rc, &e);
        goto out;
    }
    set_bearer(k, cred.token);
    ws_exec_cred_free(&k->exec_cred);
    k->exec_cred = cred;
    if (cred.expires_at) {
        int64_t left = cred.expires_at - ws_wall_s() - EXEC_EXPIRY_MARGIN_S;
        k->cred_expires_ms = ws_now_ms() + (uint64_t)(left > 0 ? left : 0) * 1000;
    } else {
        k->cred_expires_ms = 0; /* valid until the server says 401 */
    }
    k->exec_runs++;
    cred_done(k, 0, &e);
out:
    free(job);
}

static void read_token_work(uv_work_t *w)
{
    struct cred_job *job = ws_container_of(w, struct cred_job, work);
    job->rc = ws_file_read(&job->token, NULL, job->path, 1u << 20, &job->err);
}

static void read_token_after(uv_work_t *w, int status)
{
    struct cred_job *job = ws_container_of(w, struct cred_job, work);
    struct ws_kube *k = job->kube;
    (void)status;
    if (k) {
        if (job->rc < 0) {
            ws_err_prefix(&job->err, "token file");
            cred_done(k, WS_EAUTH, &job->err);
        } else {
            job->token[strcspn(job->token, "\r\n")] = '\0';
            set_bearer(k, job->token);
            k->cred_expires_ms = ws_now_ms() + TOKEN_FILE_REFRESH_MS;
            cred_done(k, 0, &job->err);
        }
    }
    if (job->token) {
        memset(job->token, 0, strlen(job->token));
        free(job->token);
    }
    free(job->path);
    free(job);
}

static char *exec_info_env(const struct ws_kube *k)
{
    json_t *info = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion", k->cfg.exec->api_version, "kind",
                             "ExecCredential", "spec", "interactive", 0);
    char *s = NULL, *out = NULL;
    if (info && k->cfg.exec->provide_cluster_info) {
        json_t *cluster = json_pack("{s:s}", "server", k->cfg.server);
        if (cluster && k->cfg.ca_data) {
            char *b64 = ws_base64_encode(k->cfg.ca_data, k->cfg.ca_len);
            json_object_set_new(cluster, "certificate-authority-data", json_string(b64)); /* steals */
            free(b64);
        }
        if (cluster && k->cfg.insecure)
            json_object_set_new(cluster, "insecure-skip-tls-verify", json_true()); /* steals */
        json_object_set_new(json_object_get(info, "spec"), "cluster", cluster); /* steals */
    }
    if (info && (s = json_dumps(info, JSON_COMPACT)) && asprintf(&out, "KUBERNETES_EXEC_INFO=%s", s) < 0)
        out = NULL;
    free(s);
    json_decref(info);
    return out;
}

static void start_cred_refresh(struct ws_kube *k)
{
    struct cred_job *job = calloc(1, sizeof(*job));
    struct ws_err e;
    ws_err_clear(&e);
    if (!job) {
        ws_err_set(&e, WS_ENOMEM, "out of memory");
        cred_done(k, WS_ENOMEM, &e);
        return;
    }
    job->kube = k;
    k->cred_state = WS__CRED_REFRESHING;
    k->cred_job = job;
    if (k->cfg.exec) {
        struct ws_proc_opts po;
        extern char **environ;
        size_t nenv = 0, nextra = 0, i;
        char **env, *info = exec_info_env(k);
        const char *const *argv;
        char **args;
        int rc;
        snprintf(job->command, sizeof(job->command), "%s", k->cfg.exec->command);
        while (environ[nenv])
            nenv++;
        while (k->cfg.exec->env[nextra])
            nextra++;
        for (i = 0; k->cfg.exec->args[i]; i++)
            ;
        env = calloc(nenv + nextra + 2, sizeof(char *));
        args = calloc(i + 2, sizeof(char *));
        if (!env || !args || !info) {
            free(env);
            free(args);
            free(info);
            ws_err_set(&e, WS_ENOMEM, "out of memory");
            free(job);
            cred_done(k, WS_ENOMEM, &e);
            return;
        }
        memcpy(env, environ, nenv * sizeof(char *));
        memcpy(env + nenv, k->cfg.exec->env, nextra * sizeof(char *));
        env[nenv + nextra] = info;
        args[0] = k->cfg.exec->command;
        memcpy(args + 1, k->cfg.exec->args, i * sizeof(char *));
        argv = (const char *const *)args;
        memset(&po, 0, sizeof(po));
        po.argv = argv;
        po.env = (const char *const *)env;
        po.limits.max_output = 1u << 20;
        po.limits.timeout_ms = 60000;
        rc = ws_proc_run(k->loop, &po, on_exec_done, job, &e);
        free(env);
        free(args);
        free(info);
        if (rc < 0) {
            ws_err_prefix(&e, "exec plugin");
            free(job);
            cred_done(k, WS_EAUTH, &e);
        }
        return;
    }
    /* token file */
    if (!(job->path = strdup(k->cfg.token_file))) {
        free(job);
        ws_err_set(&e, WS_ENOMEM, "out of memory");
        cred_done(k, WS_ENOMEM, &e);
        return;
    }
    uv_queue_work(k->loop, &job->work, read_token_work, read_token_after);
}

/* Credentials are usable now; otherwise a refresh is started (or running)
 * and the caller waits for pump(). */
static int creds_ready(struct ws_kube *k)
{
    if (k->cred_state == WS__CRED_READY && k->cred_expires_ms && ws_now_ms() >= k->cred_expires_ms)
        k->cred_state = WS__CRED_STALE;
    if (k->cred_state == WS__CRED_READY)
        return 1;
    if (k->cred_state == WS__CRED_STALE)
        start_cred_refresh(k);
    return k->cred_state == WS__CRED_READY;
}

/* ---- requests ------------------------------------------------------------ */

static void req_free(struct ws_kube_req *r)
{
    ws__req_list_remove(r);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    ws_buf_free(&r->resp);
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r->api_version);
    free(r->kind);
    free(r->ns);
    free(r->name);
    free(r->sub);
    json_decref(r->done_body);
    free(r);
}

static void stop_backoff(struct ws_kube_req *r)
{
    ws_timer_close(&r->backoff);
}

/* Deliver the final result and free the request. */
/* Deliver finished requests: their callbacks run from here, on a loop
 * iteration of their own, so no call ever calls back before it returns. */
static void deliver(uv_timer_t *t)
{
    struct ws_kube *k = t->data;
    struct ws_kube_req *r;
    while ((r = k->completed.head)) {
        struct ws_kube_result res;
        ws__req_list_remove(r);
        memset(&res, 0, sizeof(res));
        res.code = r->done_code;
        res.status = r->status;
        res.body = r->done_body;
        res.err = &r->done_err;
        res.resource = r->resolved ? &r->resource : NULL;
        if (r->cb)
            r->cb(&res, r->data);
        req_free(r);
    }
}

/* Record the outcome and queue it for delivery. */
static void req_finish(struct ws_kube_req *r, int code, const struct ws_err *e, json_t *body)
{
    struct ws_kube *k = r->kube;
    stop_backoff(r);
    ws__req_list_remove(r);
    r->done_code = code;
    if (e)
        r->done_err = *e;
    else
        ws_err_clear(&r->done_err);
    r->done_body = json_incref(body);
    ws__req_list_push(&k->completed, r);
    uv_timer_start(k->deliver_timer, deliver, 0, 0);
}

static void req_fail(struct ws_kube_req *r, const struct ws_err *e)
{
    req_finish(r, e->code < 0 ? e->code : WS_EHTTP, e, NULL);
}

static void fail_list(struct ws_kube *k, struct ws__req_list *l, const struct ws_err *e)
{
    struct ws_kube_req *r;
    /* Move everything aside first: callbacks may queue new requests. */
    while ((r = l->head)) {
        ws__req_list_remove(r);
        ws__req_list_push(&k->failing, r);
    }
    while ((r = k->failing.head))
        req_fail(r, e);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct ws_kube_req *r = userp;
    size_t n = size * nmemb;
    long status = 0;
    if (r->canceled)
        return 0;
    if (r->stream_cb) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            int keep;
            r->in_callback = 1;
            keep = r->stream_cb(r, ptr, n, r->data);
            r->in_callback = 0;
            return keep && !r->canceled ? n : 0;
        }
    }
    if (ws_buf_append(&r->resp, ptr, n) < 0) {
        r->too_large = 1;
        return 0;
    }
    return n;
}

static int is_retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
        return 1;
    default:
        return 0;
    }
}

static uint64_t backoff_ms(const struct ws_kube *k, int attempt)
{
    uint64_t d = k->opts.retry_base_ms;
    for (int i = 1; i < attempt && d < k->opts.retry_max_ms; i++)
        d *= 2;
    if (d > k->opts.retry_max_ms)
        d = k->opts.retry_max_ms;
    /* ±25% jitter so a burst of failed requests does not retry in lockstep */
    return d * 3 / 4 + (uint64_t)rand() % (d / 2 + 1);
}

static void on_backoff(uv_timer_t *t)
{
    struct ws_kube_req *r = t->data;
    stop_backoff(r);
    ws__req_list_remove(r);
    list_push_head(&r->kube->pending, r);
    pump(r->kube);
}

int ws_kube_req_throttled(const struct ws_kube_req *r)
{
    return r ? r->throttled : 0;
}

static void schedule_retry(struct ws_kube_req *r, uint64_t delay)
{
    struct ws_kube *k = r->kube;
    k->stats.retries++;
    if (!(r->backoff = ws_timer_start(k->loop, delay, on_backoff, r))) {
        list_push_head(&k->pending, r);
        pump(k);
        return;
    }
    ws__req_list_push(&k->waiting, r);
}

static uint64_t retry_after_ms(CURL *easy)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h &&
        h->value) {
        long s = strtol(h->value, NULL, 10);
        if (s > 0)
            return (uint64_t)(s > 60 ? 60 : s) * 1000;
    }
    return 0;
}

/* One more response for /metrics' requests by method and code. */
static void count_response(struct ws_kube_stats *st, const char *method, int code)
{
    size_t i;
    for (i = 0; i < st->nby_code; i++)
        if (st->by_code[i].code == code && strcmp(st->by_code[i].method, method) == 0) {
            st->by_code[i].n++;
            return;
        }
    if (st->nby_code == WS_KUBE_STAT_CODES) {
        st->other++;
        return;
    }
    snprintf(st->by_code[i].method, sizeof(st->by_code[i].method), "%s", method);
    st->by_code[i].code = code;
    st->by_code[i].n = 1;
    st->nby_code++;
}

static void on_done(CURL *easy, CURLcode result, void *data)
{
    struct ws_kube_req *r = data;
    struct ws_kube *k = r->kube;
    struct ws_err e;
    json_t *body = NULL;
    long status = 0;
    long request_bytes = 0;
    uint64_t retry_after = 0;
    int can_retry = r->attempt <= k->opts.max_retries && !r->no_retry;
    ws_err_clear(&e);
    if (!r->stream_cb)
        k->active_count--;
    ws__req_list_remove(r);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    ws_debug("kube: <- %s: %ld (curl %d)", r->what, status, (int)result);
    {
        long version = 0;
        curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
        if (version == CURL_HTTP_VERSION_2_0)
            k->stats.http2++;
    }
    if (status == 429) /* headers die with the easy handle: read it now */
        retry_after = retry_after_ms(easy);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_bytes);
    k->stats.by_class[status >= 200 && status < 600 ? status / 100 : 0]++;
    count_response(&k->stats, r->method, (int)status);
    curl_easy_cleanup(easy);
    r->easy = NULL;
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;

    if (r->canceled) { /* canceled from its own stream callback */
        req_free(r);
        pump(k);
        return;
    }
    if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && r->stream_cb && !r->too_large)) {
        if (r->too_large) {
            ws_err_set(&e, WS_ELIMIT, "%s: response larger than %u MiB", r->what,
                       RESPONSE_MAX >> 20);
        } else if (is_retryable_curl(result) && can_retry &&
                   (strcmp(r->method, "POST") != 0 || result == CURLE_COULDNT_CONNECT ||
                    result == CURLE_COULDNT_RESOLVE_HOST)) {
            /* a POST that may have reached the server is not repeated: it
             * could create a second object */
            ws_debug("%s: %s; retrying (attempt %d)", r->what, curl_easy_strerror(result),
                     r->attempt);
            ws_buf_free(&r->resp);
            schedule_retry(r, backoff_ms(k, r->attempt));
            pump(k);
            return;
        } else {
            /* a timeout before the request went out is "cannot reach", not slowness */
            ws_err_set(&e, result == CURLE_OPERATION_TIMEDOUT && request_bytes > 0 ? WS_ETIMEOUT : WS_ENET,
                       "%s: cannot reach %s: %s%s", r->what, k->where,
                       r->errbuf[0] ? r->errbuf : curl_easy_strerror(result),
                       r->attempt > 1 ? " (gave up after retries)" : "");
        }
        req_fail(r, &e);
        pump(k);
        return;
    }
    if (status == 401 && (k->cfg.exec || k->cfg.token_file) && !r->auth_retried) {
        /* The credential may have rotated or expired early: refresh once. */
        r->auth_retried = 1;
        if (k->cred_state == WS__CRED_READY)
            k->cred_state = WS__CRED_STALE;
        ws_buf_free(&r->resp);
        list_push_head(&k->pending, r);
        pump(k);
        return;
    }
    if (status == 429 && !r->no_retry && k->opts.max_retries > 0 &&
        ws_now_ms() - r->created_ms + retry_after < k->opts.throttle_max_ms) {
        /* back-pressure: send fewer at once, wait as asked (spread, so the
           throttled requests do not come back in lockstep) or back off, and
           try again as long as the budget lasts; not counted against
           max_retries */
        r->throttled++;
        k->stats.throttled++;
        if (k->inflight_limit > 1)
            k->inflight_limit /= 2;
        ws_debug("%s: throttled by the API server (429, %d so far, %zu in flight at most now); retrying", r->what,
                 r->throttled, k->inflight_limit);
        ws_buf_free(&r->resp);
        schedule_retry(r, retry_after ? retry_after + (uint64_t)rand() % (retry_after / 2 + 1)
                                      : backoff_ms(k, r->throttled < 6 ? r->throttled : 6));
        pump(k);
        return;
    }
    if (status >= 500 && status != 501 && strcmp(r->method, "POST") != 0 &&
        !(r->resp.data && strstr(r->resp.data, "failed to create typed patch object")) && can_retry) {
        ws_buf_free(&r->resp);
        schedule_retry(r, retry_after ? retry_after : backoff_ms(k, r->attempt));
        pump(k);
        return;
    }
    if (status < 200 || status >= 300) {
        /* callers may need more than the message (a Status's details) */
        json_t *st = r->resp.len ? json_loadb(r->resp.data, r->resp.len, 0, NULL) : NULL;
        ws_kube_decode_error(&e, status, r->resp.data, r->resp.len, r->what);
        if (status == 429)
            ws_err_prefix(&e, "throttled by the API server for %llu s",
                          (unsigned long long)((ws_now_ms() - r->created_ms) / 1000));
        req_finish(r, e.code < 0 ? e.code : WS_EHTTP, &e, st);
        json_decref(st);
        pump(k);
        return;
    }
    if (r->resp.len) {
        json_error_t jerr;
        if (!(body = json_loadb(r->resp.data, r->resp.len, 0, &jerr))) {
            ws_err_set(&e, WS_EHTTP, "%s: response is not JSON: %s", r->what, jerr.text);
            e.http_status = (int)status;
            req_fail(r, &e);
            pump(k);
            return;
        }
    }
    if (k->inflight_limit < k->opts.max_inflight)
        k->inflight_limit++; /* recovering from throttling */
    req_finish(r, 0, &e, body);
    json_decref(body);
    pump(k);
}

/* Called by curl for every socket it opens: counts new connections. */
static int on_new_socket(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct ws_kube *k = clientp;
    (void)fd;
    if (purpose == CURLSOCKTYPE_IPCXN)
        k->stats.connections++;
    return CURL_SOCKOPT_OK;
}

static int add_header(struct ws_kube_req *r, const char *h)
{
    struct curl_slist *n = curl_slist_append(r->hdrs, h);
    if (!n)
        return WS_ENOMEM;
    r->hdrs = n;
    return 0;
}

/* Build the easy handle for one attempt and put it on the wire. */
static int send_attempt(struct ws_kube_req *r, struct ws_err *e)
{
    struct ws_kube *k = r->kube;
    const struct ws_kubeconfig *c = &k->cfg;
    CURL *easy = curl_easy_init();
    char *url = NULL, ctype[128];
    int rc;
    if (!easy)
        return ws_err_set(e, WS_ENOMEM, "out of memory");
    r->easy = easy;
    r->attempt++;
    r->errbuf[0] = '\0';
    ws_buf_free(&r->resp);
    ws_buf_init(&r->resp, RESPONSE_MAX);
    if (asprintf(&url, "%s%s%s%s", c->server, r->path, r->query && *r->query ? "?" : "",
                 r->query ? r->query : "") < 0)
        return ws_err_set(e, WS_ENOMEM, "out of memory");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, k->opts.user_agent);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)k->opts.connect_timeout_ms);
    if (!r->stream_cb)
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)k->opts.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, on_new_socket);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, k);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r->method);
    if (strcmp(r->method, "GET") == 0)
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    if (r->body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
    }
    /* TLS: the server is verified unless the config says insecure. */
    if (c->insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->ca_data) {
        struct curl_blob b = {c->ca_data, c->ca_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->ca_file) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
    }
    if (k->exec_cred.cert_pem) {
        /* copied: a refresh may free these while curl still holds the handle */
        struct curl_blob cb = {k->exec_cred.cert_pem, strlen(k->exec_cred.cert_pem), CURL_BLOB_COPY};
        struct curl_blob kb = {k->exec_cred.key_pem, strlen(k->exec_cred.key_pem), CURL_BLOB_COPY};
        curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &kb);
    } else if (c->cert_data) {
        struct curl_blob cb = {c->cert_data, c->cert_len, CURL_BLOB_NOCOPY};
        struct curl_blob kb = {c->key_data, c->key_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &kb);
    } else if (c->cert_file) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, c->cert_file);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, c->key_file);
    }
    if (c->cert_data || c->cert_file || k->exec_cred.cert_pem) {
        curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->username && !k->auth_header) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(easy, CURLOPT_USERNAME, c->username);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, c->password ? c->password : "");
    }
    snprintf(ctype, sizeof(ctype), "Content-Type: %s",
             r->content_type[0] ? r->content_type : "application/json");
    if ((rc = add_header(r, "Accept: application/json")) < 0 ||
        (r->body && (rc = add_header(r, ctype)) < 0) ||
        (k->auth_header && (rc = add_header(r, k->auth_header)) < 0))
        return ws_err_set(e, WS_ENOMEM, "out of memory");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->hdrs);
    if ((rc = ws_http_add(k->http, easy, on_done, r)) < 0)
        return ws_err_set(e, rc, "%s: cannot start request", r->what);
    ws_debug("kube: -> %s (%s %s)", r->what, r->method, r->path);
    if (!r->stream_cb) /* long-lived watches do not hold request slots */
        k->active_count++;
    k->stats.requests++;
    ws__req_list_push(&k->active, r);
    return 0;
}

/* Start queued requests while slots and credentials allow. */
static void pump(struct ws_kube *k)
{
    struct ws_kube_req *r;
    if (k->pumping) /* re-entered from a failing start: the outer loop goes on */
        return;
    if (k->pending.head && k->active_count >= k->inflight_limit)
        ws_debug("kube: %zu requests in flight; queueing %s", k->active_count, k->pending.head->what);
    k->pumping = 1;
    while (k->pending.head &&
           (k->active_count < k->inflight_limit || k->pending.head->stream_cb)) {
        struct ws_err e;
        if (!creds_ready(k))
            break;
        r = k->pending.head;
        ws__req_list_remove(r);
        ws_err_clear(&e);
        if (send_attempt(r, &e) < 0) {
            if (r->easy) {
                curl_easy_cleanup(r->easy);
                r->easy = NULL;
            }
            req_fail(r, &e);
        }
    }
    k->pumping = 0;
}

struct ws_kube_req *ws__req_new(struct ws_kube *k, const char *method, const char *what,
                                ws_kube_cb cb, void *data)
{
    struct ws_kube_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kube = k;
    r->cb = cb;
    r->data = data;
    r->created_ms = ws_now_ms();
    if (!(r->method = strdup(method))) {
        free(r);
        return NULL;
    }
    snprintf(r->what, sizeof(r->what), "%s", what);
    ws_buf_init(&r->resp, RESPONSE_MAX);
    return r;
}

void ws__req_submit(struct ws_kube_req *r)
{
    ws__req_list_push(&r->kube->pending, r);
    pump(r->kube);
}

static int set_body(struct ws_kube_req *r, const json_t *body, const char *content_type)
{
    if (body) {
        if (!(r->body = json_dumps(body, JSON_COMPACT)))
            return WS_ENOMEM;
        r->body_len = strlen(r->body);
    }
    snprintf(r->content_type, sizeof(r->content_type), "%s",
             content_type ? content_type : "application/json");
    return 0;
}

/* Report an error for a request that never made it to the queue. */
/* A request that fails before it starts (bad arguments, no memory): its
 * callback still runs later, from the loop. NULL only when even that
 * cannot be arranged (then the callback has run already). */
static struct ws_kube_req *fail_now(struct ws_kube *k, ws_kube_cb cb, void *data, int code,
                                    const char *what, const char *why)
{
    struct ws_err e;
    struct ws_kube_req *r = ws__req_new(k, "GET", what, cb, data);
    ws_err_clear(&e);
    ws_err_set(&e, code, "%s: %s", what, why);
    if (!r) {
        struct ws_kube_result res;
        memset(&res, 0, sizeof(res));
        res.code = code;
        res.err = &e;
        if (cb)
            cb(&res, data);
        return NULL;
    }
    req_finish(r, code, &e, NULL);
    return r;
}

struct ws_kube_req *ws_kube_request(struct ws_kube *k, const char *method, const char *path,
                                    const json_t *body, const char *content_type,
                                    const char *what, ws_kube_cb cb, void *data)
{
    char label[512];
    struct ws_kube_req *r;
    const char *q = strchr(path, '?');
    snprintf(label, sizeof(label), "%s", what ? what : path);
    if (!(r = ws__req_new(k, method, label, cb, data)))
        return fail_now(k, cb, data, WS_ENOMEM, label, "out of memory");
    r->path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
    r->query = q ? strdup(q + 1) : NULL;
    if (!r->path || (q && !r->query) || set_body(r, body, content_type) < 0) {
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, label, "out of memory");
    }
    ws__req_submit(r);
    return r;
}

/* ---- discovery ----------------------------------------------------------- */

static void resolve_step(struct ws_kube_req *r);

struct disc_fetch {
    struct ws_kube *kube;
    char api_version[320];
};

static void wake_resolvers(struct ws_kube *k, const char *api_version, const struct ws_err *e)
{
    struct ws_kube_req *r, *next;
    struct ws__req_list woken = {0};
    /* Collect first: resolve_step may re-queue onto k->resolving. */
    for (r = k->resolving.head; r; r = next) {
        next = r->next;
        if (strcmp(r->api_version, api_version) == 0) {
            ws__req_list_remove(r);
            ws__req_list_push(&woken, r);
        }
    }
    while ((r = woken.head)) {
        ws__req_list_remove(r);
        ws__req_list_push(&k->failing, r); /* a list cancel() can unlink from */
        if (e)
            req_fail(r, e);
        else {
            ws__req_list_remove(r);
            resolve_step(r);
        }
    }
}

static void on_discovery(const struct ws_kube_result *res, void *data)
{
    struct disc_fetch *f = data;
    struct ws_kube *k = f->kube;
    struct ws_err e;
    ws_err_clear(&e);
    json_object_del(k->disc_inflight, f->api_version);
    if (res->code == WS_ENOTFOUND) {
        ws_discovery_store_missing(k->disc, f->api_version, ws_now_ms());
        wake_resolvers(k, f->api_version, NULL);
    } else if (res->code < 0) {
        wake_resolvers(k, f->api_version, res->err);
    } else if (ws_discovery_store(k->disc, f->api_version, res->body, ws_now_ms(), &e) < 0) {
        wake_resolvers(k, f->api_version, &e);
    } else {
        wake_resolvers(k, f->api_version, NULL);
    }
    free(f);
}

static void fetch_discovery(struct ws_kube *k, const char *api_version)
{
    struct disc_fetch *f;
    char path[400], what[400];
    if (json_object_get(k->disc_inflight, api_version))
        return;
    if (!(f = calloc(1, sizeof(*f)))) {
        struct ws_err e;
        ws_err_clear(&e);
        ws_err_set(&e, WS_ENOMEM, "out of memory");
        wake_resolvers(k, api_version, &e);
        return;
    }
    f->kube = k;
    snprintf(f->api_version, sizeof(f->api_version), "%s", api_version);
    json_object_set_new(k->disc_inflight, api_version, json_true()); /* steals */
    ws_discovery_gv_path(path, sizeof(path), api_version);
    snprintf(what, sizeof(what), "discovery of %s", api_version);
    ws_kube_request(k, "GET", path, NULL, NULL, what, on_discovery, f);
}

static int build_path(struct ws_kube_req *r)
{
    struct ws_buf b;
    const char *ns = r->ns;
    int rc;
    ws_buf_init(&b, 0);
    if (r->resource.namespaced && !r->all_namespaces && !(ns && *ns))
        ns = r->kube->cfg.namespace_;
    if (r->all_namespaces)
        ns = NULL;
    if ((rc = ws_resource_path(&b, &r->resource, ns, r->name, r->sub)) < 0) {
        ws_buf_free(&b);
        return rc;
    }
    free(r->path);
    r->path = ws_buf_steal(&b);
    return 0;
}

static void resolve_step(struct ws_kube_req *r)
{
    struct ws_kube *k = r->kube;
    uint64_t at = 0;
    struct ws_err e;
    int rc = ws_discovery_lookup(k->disc, r->api_version, r->kind, &r->resource, &at);
    ws_err_clear(&e);
    if (rc == WS_ENOTFOUND && at <= r->created_ms && !r->refetched) {
        /* Cached before this request began: a CRD applied a moment ago may
         * have added the kind since. Refresh once. */
        ws_discovery_forget(k->disc, r->api_version);
        rc = 1;
    }
    if (rc == 1) {
        r->refetched = 1;
        ws__req_list_push(&k->resolving, r);
        fetch_discovery(k, r->api_version);
        return;
    }
    if (rc < 0) {
        ws_err_set(&e, WS_ENOTFOUND, "%s: no matches for kind \"%s\" in version \"%s\"", r->what,
                   r->kind, r->api_version);
        req_fail(r, &e);
        return;
    }
    r->resolved = 1;
    if (r->resolve_only) {
        req_finish(r, 0, &e, NULL);
        return;
    }
    if (build_path(r) < 0) {
        ws_err_set(&e, WS_ENOMEM, "out of memory");
        req_fail(r, &e);
        return;
    }
    ws__req_submit(r);
}

struct ws_kube_req *ws__kind_req(struct ws_kube *k, const char *method, const char *verb,
                                 const struct ws_kube_ref *ref, ws_kube_cb cb, void *data, int *failed)
{
    *failed = 1; /* until the request is ready to start */
    char ident[512], what[600];
    struct ws_kube_req *r;
    char g[254], v[64];
    ws_kube_ident(ident, sizeof(ident), ref->api_version, ref->kind, ref->namespace_, ref->name);
    snprintf(what, sizeof(what), "%s %s", verb, ident);
    if (!ref->api_version || !ref->kind || !*ref->kind ||
        ws_api_version_split(ref->api_version, g, sizeof(g), v, sizeof(v)) < 0)
        return fail_now(k, cb, data, WS_EINVAL, what,
                        !ref->api_version || !*ref->api_version || !ref->kind || !*ref->kind
                            ? "apiVersion and kind are required"
                            : "apiVersion is not \"version\" or \"group/version\"");
    if (!(r = ws__req_new(k, method, what, cb, data)))
        return fail_now(k, cb, data, WS_ENOMEM, what, "out of memory");
    r->api_version = strdup(ref->api_version);
    r->kind = strdup(ref->kind);
    r->ns = ws_strdup0(ref->namespace_);
    r->name = ws_strdup0(ref->name);
    if (!r->api_version || !r->kind || (ref->namespace_ && !r->ns) || (ref->name && !r->name)) {
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, what, "out of memory");
    }
    *failed = 0;
    return r;
}

void ws__kind_req_start(struct ws_kube_req *r)
{
    resolve_step(r);
}

struct ws_kube_req *ws_kube_resolve(struct ws_kube *k, const struct ws_kube_ref *ref,
                                    ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_req *r = ws__kind_req(k, "GET", "resolve", ref, cb, data, &failed);
    if (failed) /* the callback will report it */
        return r;
    r->resolve_only = 1;
    ws__kind_req_start(r);
    return r;
}

/* ---- operations ---------------------------------------------------------- */

struct ws_kube_ref ws_kube_ref_of(const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    struct ws_kube_ref ref = {
        json_string_value(json_object_get(obj, "apiVersion")),
        json_string_value(json_object_get(obj, "kind")),
        json_string_value(json_object_get(md, "namespace")),
        json_string_value(json_object_get(md, "name")),
    };
    return ref;
}

struct ws_kube_req *ws_kube_apply(struct ws_kube *k, const json_t *obj, const char *field_manager,
                                  unsigned flags, ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_ref ref = ws_kube_ref_of(obj);
    struct ws_kube_req *r;
    char *fm;
    if (!ref.name || !*ref.name) {
        char ident[512];
        ws_kube_ident_obj(ident, sizeof(ident), obj);
        return fail_now(k, cb, data, WS_EINVAL, ident, "apply: metadata.name is required");
    }
    if (!(r = ws__kind_req(k, "PATCH", "apply", &ref, cb, data, &failed)) || failed)
        return r;
    fm = ws_url_escape(field_manager ? field_manager : "wavesync");
    if (!fm || asprintf(&r->query, "fieldManager=%s%s%s%s", fm, flags & WS_APPLY_FORCE ? "&force=true" : "",
                        flags & WS_APPLY_DRY_RUN ? "&dryRun=All" : "",
                        flags & WS_APPLY_NO_VALIDATION ? "&fieldValidation=Ignore"
                                                       : "&fieldValidation=Strict") < 0 ||
        set_body(r, obj, "application/apply-patch+yaml") < 0) {
        free(fm);
        r->query = NULL;
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, "apply", "out of memory");
    }
    free(fm);
    ws__kind_req_start(r);
    return r;
}

struct ws_kube_req *ws_kube_create(struct ws_kube *k, const json_t *obj, unsigned flags,
                                   ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_ref ref = ws_kube_ref_of(obj);
    struct ws_kube_req *r;
    ref.name = NULL; /* POST to the collection; the name (or generateName) is in the body */
    if (!(r = ws__kind_req(k, "POST", "create", &ref, cb, data, &failed)) || failed)
        return r;
    ws_kube_ident_obj(r->what + 7, sizeof(r->what) - 7, obj); /* "create " + the object */
    if ((flags & WS_APPLY_DRY_RUN && !(r->query = strdup("dryRun=All"))) ||
        set_body(r, obj, "application/json") < 0) {
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, "create", "out of memory");
    }
    ws__kind_req_start(r);
    return r;
}

struct ws_kube_req *ws_kube_replace(struct ws_kube *k, const json_t *obj, ws_kube_cb cb,
                                    void *data)
{
    struct ws_kube_ref ref = ws_kube_ref_of(obj);
    int failed;
    struct ws_kube_req *r = ws__kind_req(k, "PUT", "replace", &ref, cb, data, &failed);
    if (failed)
        return r;
    if (set_body(r, obj, "application/json") < 0) {
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, "replace", "out of memory");
    }
    ws__kind_req_start(r);
    return r;
}

int ws_kube_is_namespaced(struct ws_kube *k, const char *api_version, const char *kind)
{
    struct ws_resource res;
    if (ws_discovery_lookup(k->disc, api_version, kind, &res, NULL) != 0)
        return -1;
    return res.namespaced;
}

struct ws_kube_req *ws_kube_get(struct ws_kube *k, const struct ws_kube_ref *ref, ws_kube_cb cb,
                                void *data)
{
    int failed;
    struct ws_kube_req *r = ws__kind_req(k, "GET", "get", ref, cb, data, &failed);
    if (!failed)
        ws__kind_req_start(r);
    return r;
}

struct ws_kube_req *ws_kube_delete(struct ws_kube *k, const struct ws_kube_ref *ref,
                                   const char *propagation, ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_req *r = ws__kind_req(k, "DELETE", "delete", ref, cb, data, &failed);
    if (failed)
        return r;
    if (propagation) {
        json_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                                 "propagationPolicy", propagation);
        int rc = opts ? set_body(r, opts, "application/json") : WS_ENOMEM;
        json_decref(opts);
        if (rc < 0) {
            req_free(r);
            return fail_now(k, cb, data, WS_ENOMEM, "delete", "out of memory");
        }
    }
    ws__kind_req_start(r);
    return r;
}

struct ws_kube_req *ws_kube_list(struct ws_kube *k, const struct ws_kube_ref *ref,
                                 const char *label_selector, ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_ref lref = *ref;
    struct ws_kube_req *r;
    lref.name = NULL;
    if (!(r = ws__kind_req(k, "GET", "list", &lref, cb, data, &failed)) || failed)
        return r;
    r->all_namespaces = !ref->namespace_ || !*ref->namespace_;
    if (label_selector && *label_selector) {
        char *sel = ws_url_escape(label_selector);
        if (!sel || asprintf(&r->query, "labelSelector=%s", sel) < 0) {
            free(sel);
            r->query = NULL;
            req_free(r);
            return fail_now(k, cb, data, WS_ENOMEM, "list", "out of memory");
        }
        free(sel);
    }
    ws__kind_req_start(r);
    return r;
}

struct ws_kube_req *ws_kube_patch_status(struct ws_kube *k, const struct ws_kube_ref *ref,
                                         const json_t *patch, ws_kube_cb cb, void *data)
{
    int failed;
    struct ws_kube_req *r = ws__kind_req(k, "PATCH", "patch status of", ref, cb, data, &failed);
    if (failed)
        return r;
    if (!(r->sub = strdup("status")) || set_body(r, patch, "application/merge-patch+json") < 0) {
        req_free(r);
        return fail_now(k, cb, data, WS_ENOMEM, "patch status", "out of memory");
    }
    ws__kind_req_start(r);
    return r;
}

static void cancel_now(void *arg);

void ws_kube_cancel(struct ws_kube_req *r)
{
    struct ws_kube *k;
    if (!r || r->canceled)
        return;
    k = r->kube;
    r->canceled = 1;
    r->cb = NULL;
    if (r->in_callback) /* inside its own write callback: on_done frees it */
        return;
    if (r->easy && r->list == &k->active && ws_http_in_curl(k->http)) {
        /* curl still points at our buffers: free them once it returns */
        if (ws_http_defer(k->http, cancel_now, r) == 0)
            return;
    }
    cancel_now(r);
}

/* The second half of ws_kube_cancel, outside curl. */
static void cancel_now(void *arg)
{
    struct ws_kube_req *r = arg;
    struct ws_kube *k = r->kube;
    if (r->easy && r->list == &k->active) {
        ws_http_remove(k->http, r->easy); /* the transport cleans it up */
        r->easy = NULL;
        if (!r->stream_cb)
            k->active_count--;
    }
    stop_backoff(r);
    req_free(r);
    pump(k);
}

/* ---- client lifecycle ---------------------------------------------------- */

int ws_kube_new(struct ws_kube **out, uv_loop_t *loop, struct ws_http *http,
                struct ws_kubeconfig *cfg, const struct ws_kube_opts *opts, struct ws_err *err)
{
    struct ws_kube *k = calloc(1, sizeof(*k));
    if (!k)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    k->loop = loop;
    k->http = http;
    k->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    if (opts)
        k->opts = *opts;
    if (!(k->name = strdup(k->opts.name ? k->opts.name : ""))) {
        ws_kubeconfig_free(&k->cfg);
        free(k);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    k->opts.name = k->name;
    if (*k->name)
        snprintf(k->where, sizeof(k->where), "cluster \"%s\" (%s)", k->name, k->cfg.server ? k->cfg.server : "?");
    else
        snprintf(k->where, sizeof(k->where), "%s", k->cfg.server ? k->cfg.server : "?");
    if (!k->opts.max_inflight)
        k->opts.max_inflight = 64;
    k->inflight_limit = k->opts.max_inflight;
    if (!k->opts.timeout_ms)
        k->opts.timeout_ms = 30000;
    if (!k->opts.connect_timeout_ms)
        k->opts.connect_timeout_ms = 10000;
    if (k->opts.max_retries == 0)
        k->opts.max_retries = 4;
    else if (k->opts.max_retries < 0)
        k->opts.max_retries = 0;
    if (!k->opts.retry_base_ms)
        k->opts.retry_base_ms = 200;
    if (!k->opts.retry_max_ms)
        k->opts.retry_max_ms = 5000;
    if (!k->opts.throttle_max_ms)
        k->opts.throttle_max_ms = 10 * 60 * 1000;
    if (!k->opts.user_agent)
        k->opts.user_agent = "wavesync/" PACKAGE_VERSION;
    k->deliver_timer = ws_timer_new(loop, k);
    if (!k->deliver_timer || ws_discovery_new(&k->disc) < 0 || !(k->disc_inflight = json_object())) {
        ws_kube_free(k);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (k->cfg.exec || (k->cfg.token_file && !k->cfg.token)) {
        k->cred_state = WS__CRED_STALE;
    } else {
        k->cred_state = WS__CRED_READY;
        set_bearer(k, k->cfg.token);
        if (k->cfg.token_file) /* in-cluster: token read at startup, re-read every minute */
            k->cred_expires_ms = ws_now_ms() + TOKEN_FILE_REFRESH_MS;
    }
    *out = k;
    return 0;
}

static void drop_list(struct ws_kube *k, struct ws__req_list *l)
{
    struct ws_kube_req *r;
    while ((r = l->head)) {
        if (r->easy && l == &k->active) {
            ws_http_remove(k->http, r->easy);
            r->easy = NULL;
        }
        stop_backoff(r);
        req_free(r);
    }
}

void ws_kube_free(struct ws_kube *k)
{
    if (!k)
        return;
    ws__watch_stop_all(k);
    drop_list(k, &k->active);
    drop_list(k, &k->pending);
    drop_list(k, &k->waiting);
    drop_list(k, &k->resolving);
    drop_list(k, &k->failing);
    drop_list(k, &k->completed);
    ws_timer_close(&k->deliver_timer);
    if (k->cred_job)
        ((struct cred_job *)k->cred_job)->kube = NULL;
    set_bearer(k, NULL);
    ws_exec_cred_free(&k->exec_cred);
    ws_discovery_free(k->disc);
    json_decref(k->disc_inflight);
    ws_kubeconfig_free(&k->cfg);
    free(k->name);
    free(k);
}

const struct ws_kubeconfig *ws_kube_config(const struct ws_kube *k)
{
    return &k->cfg;
}

static size_t list_len(const struct ws__req_list *l, int count_streams)
{
    size_t n = 0;
    for (const struct ws_kube_req *r = l->head; r; r = r->next)
        n += count_streams || !r->stream_cb;
    return n;
}

size_t ws_kube_outstanding(const struct ws_kube *k)
{
    return list_len(&k->pending, 0) + list_len(&k->active, 0) + list_len(&k->waiting, 0) +
           list_len(&k->resolving, 0) + list_len(&k->completed, 0);
}

uv_loop_t *ws_kube_loop(const struct ws_kube *k)
{
    return k->loop;
}

const struct ws_kube_stats *ws_kube_stats(const struct ws_kube *k)
{
    return &k->stats;
}

unsigned ws__kube_exec_runs(const struct ws_kube *k)
{
    return k->exec_runs;
}
