/* clusters.c — Kubernetes clients per configured cluster, made on demand. */
#include "sync/clusters.h"

#include <stdlib.h>
#include <string.h>

#include "kube/kube_http.h"

void ws_clusters_init(struct ws_clusters *cs, uv_loop_t *loop, const struct ws_config *cfg)
{
    memset(cs, 0, sizeof(*cs));
    cs->loop = loop;
    cs->cfg = cfg;
}

struct ws_kube *ws_clusters_for(struct ws_clusters *cs, const struct ws_app *app, struct ws_err *err)
{
    const struct ws_cluster_cfg *cl = app->dest_name ? ws_config_cluster_by_name(cs->cfg, app->dest_name)
                                                     : ws_config_cluster_by_server(cs->cfg, app->dest_server);
    struct ws_kubeconfig kc;
    struct ws_clusters_entry *grown;
    struct ws_kube *k;
    if (!cl) {
        ws_err_set(err, WS_ECONFIG, "%s:%d: Application \"%s\": destination %s \"%s\" matches no cluster in %s",
                   app->file, app->line, app->name, app->dest_name ? "name" : "server",
                   app->dest_name ? app->dest_name : app->dest_server, cs->cfg->path);
        return NULL;
    }
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].cfg == cl)
            return cs->v[i].kube;
    if (!cs->http && ws_http_new(&cs->http, cs->loop) < 0) {
        ws_err_set(err, WS_ENOMEM, "out of memory");
        return NULL;
    }
    if (ws_kubeconfig_copy(&kc, &cl->kc) < 0) {
        ws_err_set(err, WS_ENOMEM, "out of memory");
        return NULL;
    }
    struct ws_kube_opts opts = {.name = cl->name};
    if (ws_kube_new(&k, cs->loop, cs->http, &kc, &opts, err) < 0) {
        ws_kubeconfig_free(&kc);
        return NULL;
    }
    if (!(grown = realloc(cs->v, (cs->n + 1) * sizeof(*grown)))) {
        ws_kube_free(k);
        ws_err_set(err, WS_ENOMEM, "out of memory");
        return NULL;
    }
    cs->v = grown;
    cs->v[cs->n].cfg = cl;
    cs->v[cs->n++].kube = k;
    return k;
}

size_t ws_clusters_outstanding(const struct ws_clusters *cs)
{
    size_t busy = 0;
    for (size_t i = 0; i < cs->n; i++)
        busy += ws_kube_outstanding(cs->v[i].kube);
    return busy;
}

void ws_clusters_stats(const struct ws_clusters *cs, struct ws_kube_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < cs->n; i++) {
        const struct ws_kube_stats *s = ws_kube_stats(cs->v[i].kube);
        out->requests += s->requests;
        out->retries += s->retries;
        out->http2 += s->http2;
        out->connections += s->connections;
        out->other += s->other;
        for (size_t c = 0; c < 6; c++)
            out->by_class[c] += s->by_class[c];
        for (size_t j = 0; j < s->nby_code; j++) {
            size_t m;
            for (m = 0; m < out->nby_code; m++)
                if (out->by_code[m].code == s->by_code[j].code &&
                    strcmp(out->by_code[m].method, s->by_code[j].method) == 0)
                    break;
            if (m == WS_KUBE_STAT_CODES) {
                out->other += s->by_code[j].n;
                continue;
            }
            if (m == out->nby_code)
                out->by_code[out->nby_code++] = s->by_code[j];
            else
                out->by_code[m].n += s->by_code[j].n;
        }
    }
}

void ws_clusters_free(struct ws_clusters *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        ws_kube_free(cs->v[i].kube);
    free(cs->v);
    if (cs->http)
        ws_http_close(cs->http);
    memset(cs, 0, sizeof(*cs));
}
