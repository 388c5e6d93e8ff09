/* route_bench.c — times reconciler/source/route.c: an index of N applications laid
 * out like a team monorepo, routing a push of M changed paths, R runs each.
 * Built and run by bench/route.sh. Usage: route_bench [N [M [R]]]. */
#include "source/route.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/util.h"

#define SAMPLE_APPS 200 /* apps re-checked one by one against the whole push */

struct app {
    char path[96];
    const char *mgp; /* NULL, or points into mgp_buf */
    char mgp_buf[160];
};

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13; /* xorshift64, fixed seed: the same inputs every run */
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median (lower middle), p90 (nearest rank) and max of v[0..n), sorted in place */
static void summary(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    size_t p90 = (n * 90 + 99) / 100;
    printf("%-28s median %8.3f ms   p90 %8.3f ms   max %8.3f ms   (%zu runs)\n", what, v[(n - 1) / 2],
           v[p90 ? p90 - 1 : 0], v[n - 1], n);
}

/* Applications: teams/tNN/appNNNN (100 per team), some with overlays or a
 * chart below that; about a quarter with manifest-generate-paths. */
static void make_apps(struct app *apps, uint32_t n)
{
    static const char *const sub[] = {"", "", "", "", "/overlays/prod", "/overlays/staging", "/chart"};
    for (uint32_t i = 0; i < n; i++) {
        struct app *a = &apps[i];
        uint32_t team = i / 100;
        snprintf(a->path, sizeof(a->path), "teams/t%02u/app%04u%s", team, i, sub[i % WS_ARRAY_SIZE(sub)]);
        a->mgp = a->mgp_buf;
        switch (i % 20) {
        case 1: /* shared kustomize base */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), ".;/shared/base");
            break;
        case 2: /* every YAML under shared/ (one pattern for all of these apps) */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), ".; /shared/**/*.yaml");
            break;
        case 3: /* the team's common folder, relative: up to teams/tNN */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), ". ; %scommon",
                     strstr(a->path, "/overlays/") ? "../../../" : strstr(a->path, "/chart") ? "../../" : "../");
            break;
        case 4: /* a family of charts */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), ".;/charts/model-server-*/templates;/platform/crds");
            break;
        case 5: /* per team: any app's kustomization (one pattern per team) */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), "/teams/t%02u/*/kustomization.yaml;.", team);
            break;
        case 6: /* per app: a glob of its own */
            snprintf(a->mgp_buf, sizeof(a->mgp_buf), "overlays/*/values-*.yaml;;base/**/*.y?ml");
            break;
        default:
            a->mgp = NULL;
        }
    }
}

static const char *const files[] = {"kustomization.yaml", "deployment.yaml", "service.yaml", "values.yaml",
                                    "configmap.yaml", "values-prod.yaml", "hpa.yaml", "README.md"};

/* A push: M changed paths, depth 3-6, about half of them in applications. */
static char **make_paths(uint32_t m, uint32_t napps)
{
    static const char *const in_app[] = {"base", "overlays/prod", "overlays/staging", "chart/templates",
                                         "base/patches", "overlays/prod/patches"};
    static const char *const shared[] = {"shared/base", "shared/monitoring/rules", "shared/networking",
                                         "shared/base/crds"};
    static const char *const misc[] = {"docs/adr", "src/lib/feature", ".github/workflows", "platform/tools/lint",
                                       "notebooks/exp/2026", "platform/crds"};
    char **p = calloc(m, sizeof(*p));
    char buf[256];
    uint32_t teams = (napps + 99) / 100;
    if (!p)
        return NULL;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t k = rnd(100), app = rnd(napps), team = rnd(teams);
        const char *f = files[rnd(WS_ARRAY_SIZE(files))];
        if (k < 45) /* in an application */
            snprintf(buf, sizeof(buf), "teams/t%02u/app%04u/%s/%s", app / 100, app,
                     in_app[rnd(WS_ARRAY_SIZE(in_app))], f);
        else if (k < 52) /* an app folder that has no application (yet) */
            snprintf(buf, sizeof(buf), "teams/t%02u/app%04u/base/%s", team, napps + rnd(1000), f);
        else if (k < 57) /* a team's common folder or README */
            snprintf(buf, sizeof(buf), "teams/t%02u/%s", team, rnd(2) ? "common/labels.yaml" : "README.md");
        else if (k < 67)
            snprintf(buf, sizeof(buf), "%s/%s", shared[rnd(WS_ARRAY_SIZE(shared))], rnd(3) ? f : "rules.json");
        else if (k < 77)
            snprintf(buf, sizeof(buf), "charts/%s-%c/templates/%s", rnd(2) ? "model-server" : "feature-store",
                     'a' + (int)rnd(6), f);
        else
            snprintf(buf, sizeof(buf), "%s/%04u-%s", misc[rnd(WS_ARRAY_SIZE(misc))], rnd(10000), f);
        if (!(p[i] = strdup(buf)))
            return NULL;
    }
    return p;
}

static int build(struct ws_route **out, const struct app *apps, uint32_t n)
{
    struct ws_err err;
    int rc = ws_route_new(out);
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = ws_route_add_source(*out, apps[i].path, apps[i].mgp, i, &err);
    if (rc < 0)
        fprintf(stderr, "route_bench: building the index: %s\n", err.msg);
    return rc;
}

static uint32_t arg(int argc, char **argv, int i, uint32_t def)
{
    char *end;
    unsigned long v;
    if (argc <= i)
        return def;
    v = strtoul(argv[i], &end, 10);
    if (*end || v == 0 || v > 10000000) {
        fprintf(stderr, "route_bench: argument %d must be a number from 1 to 10000000\n", i);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    uint32_t n = arg(argc, argv, 1, 10000), m = arg(argc, argv, 2, 10000), runs = arg(argc, argv, 3, 50);
    struct app *apps = calloc(n, sizeof(*apps));
    char **paths = NULL;
    double *t_build = calloc(runs, sizeof(double)), *t_match = calloc(runs, sizeof(double));
    struct ws_route *r = NULL;
    uint32_t *ids = NULL, *first = NULL;
    size_t nids = 0, nfirst = 0, nodes, pats, nid, with_mgp = 0;
    long rss_inputs, rss_index;
    double t0, per_app_ms = 0;
    int failed = 0;

    if (!apps || !t_build || !t_match)
        return 1;
    make_apps(apps, n);
    if (!(paths = make_paths(m, n)))
        return 1;
    for (uint32_t i = 0; i < n; i++)
        with_mgp += apps[i].mgp != NULL;
    rss_inputs = peak_rss_kb();

    /* build R times (the last index is kept), then route the push R times */
    for (uint32_t k = 0; k < runs; k++) {
        ws_route_free(r);
        r = NULL;
        t0 = now_ms();
        if (build(&r, apps, n) < 0)
            return 1;
        t_build[k] = now_ms() - t0;
    }
    rss_index = peak_rss_kb();
    ws_route_stats(r, &nodes, &pats, &nid);
    for (uint32_t k = 0; k < runs; k++) {
        t0 = now_ms();
        if (ws_route_match(r, (const char *const *)paths, m, &ids, &nids) < 0) {
            fprintf(stderr, "route_bench: ws_route_match failed\n");
            return 1;
        }
        t_match[k] = now_ms() - t0;
        if (k == 0) {
            first = ids;
            nfirst = nids;
            ids = NULL;
        } else {
            if (nids != nfirst || (nids && memcmp(ids, first, nids * sizeof(*ids)) != 0))
                failed = 1;
            free(ids);
            ids = NULL;
        }
    }
    for (size_t i = 1; i < nfirst; i++)
        if (first[i - 1] >= first[i])
            failed = 1;

    /* Check: a sample of apps, each alone in an index, routed against the
     * whole push (the apps × paths way); each must agree with the shared
     * index. Also what routing every app that way would cost. */
    {
        uint32_t checked = 0, disagree = 0, with_mgp_checked = 0;
        double spent = 0;
        for (uint32_t k = 0; k < SAMPLE_APPS && k < n; k++) {
            /* spread over teams and over every kind of app (i % 20) */
            uint32_t i = (uint32_t)(((uint64_t)k * 7919u) % n);
            struct ws_route *one = NULL;
            uint32_t *one_ids = NULL;
            size_t none = 0;
            bool in_shared = false;
            if (ws_route_new(&one) < 0 || ws_route_add_source(one, apps[i].path, apps[i].mgp, i, NULL) < 0)
                return 1;
            t0 = now_ms();
            if (ws_route_match(one, (const char *const *)paths, m, &one_ids, &none) < 0)
                return 1;
            spent += now_ms() - t0;
            for (size_t lo = 0, hi = nfirst; lo < hi;) { /* binary search in the sorted result */
                size_t mid = (lo + hi) / 2;
                if (first[mid] == i) {
                    in_shared = true;
                    break;
                }
                if (first[mid] < i)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            disagree += (none == 1) != in_shared;
            checked++;
            with_mgp_checked += apps[i].mgp != NULL;
            free(one_ids);
            ws_route_free(one);
        }
        per_app_ms = spent / checked;
        printf("check:   %u sampled apps (%u with manifest-generate-paths), each routed alone against the\n"
               "         whole push, agree with the shared index: %s (%u disagree)\n",
               checked, with_mgp_checked, disagree ? "NO" : "yes", disagree);
        failed |= disagree != 0;
    }

    printf("apps:    %u (%zu with manifest-generate-paths), index: %zu trie nodes, %zu distinct patterns\n", n,
           with_mgp, nodes, pats);
    printf("push:    %u changed paths\n", m);
    summary("build index (N apps):", t_build, runs);
    summary("route push (M paths):", t_match, runs);
    printf("%-28s %zu of %u apps\n", "matched:", nfirst, n);
    printf("%-28s %.1f ns per changed path (median)\n", "cost:", t_match[(runs - 1) / 2] * 1e6 / m);
    printf("%-28s %.3f ms per app x %u apps = %.0f ms (estimated from the sample)\n", "one app at a time:",
           per_app_ms, n, per_app_ms * n);
    printf("%-28s %.1f MB peak (%.1f MB after generating the inputs, %.1f MB with the index)\n", "RSS:",
           (double)peak_rss_kb() / 1024, (double)rss_inputs / 1024, (double)rss_index / 1024);
    printf("RESULT: %s; median route time %.3f ms, target < 10 ms: %s\n",
           failed ? "FAILED (results differ between runs or from the per-app check)" : "ok",
           t_match[(runs - 1) / 2], t_match[(runs - 1) / 2] < 10.0 ? "met" : "NOT met");

    free(first);
    ws_route_free(r);
    for (uint32_t i = 0; i < m; i++)
        free(paths[i]);
    free(paths);
    free(apps);
    free(t_build);
    free(t_match);
    return failed;
}
