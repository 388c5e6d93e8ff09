/* clusters.h — one Kubernetes client per configured cluster, created on
 * first use and shared by every application deploying there, over one HTTP
 * transport on the loop. The CLI and the service both use it. */
#ifndef WS_CLUSTERS_H
#define WS_CLUSTERS_H

#include <stddef.h>
#include <uv.h>

#include "source/app.h"
#include "config/config.h"
#include "kube/kube.h"

struct ws_clusters {
    uv_loop_t *loop;
    const struct ws_config *cfg; /* borrowed */
    struct ws_http *http;
    struct ws_clusters_entry { const struct ws_cluster_cfg *cfg; struct ws_kube *kube; } *v;
    size_t n;
};

void ws_clusters_init(struct ws_clusters *cs, uv_loop_t *loop, const struct ws_config *cfg);

/* The client for the cluster `app` deploys to (borrowed, valid until
 * ws_clusters_free). NULL with err set when the destination matches no
 * configured cluster (naming the Application's file and line). */
struct ws_kube *ws_clusters_for(struct ws_clusters *cs, const struct ws_app *app, struct ws_err *err);

/* Requests not yet answered, over every client. */
size_t ws_clusters_outstanding(const struct ws_clusters *cs);

/* Sum of every client's counters. */
void ws_clusters_stats(const struct ws_clusters *cs, struct ws_kube_stats *out);

/* Free every client and the transport; run the loop afterwards so their
 * handles close. */
void ws_clusters_free(struct ws_clusters *cs);

#endif
