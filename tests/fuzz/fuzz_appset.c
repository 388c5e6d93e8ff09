/* fuzz_appset.c — reconciler/source/appset.c and appset_template.c on any
 * input: an ApplicationSet comes from Git, and its generators' parameters
 * (Git folder names, the contents of git files) are Git's too.
 *
 * Input: one flags byte. Bit 0 clear: the rest is an ApplicationSet's YAML,
 * rendered with four clusters and a small in-memory repository. Bit 0 set:
 * the rest is a template string, a '\n', then the parameters as JSON,
 * substituted as fasttemplate (bit 1 clear) or goTemplate (bit 1 set, bit 2
 * missingkey=error); the template is also normalised as a name. */
#include "fuzz.h"

#include <jansson.h>

#include "base/log.h"
#include "base/yaml.h"
#include "source/appset.h"

/* The repository the git generators see, whatever its URL and revision:
 * folders come from the file paths. */
static const char *const repo_files[][2] = {
    {"README.md", "# ml-platform\n"},
    {"models/nlp-classifier/production/model.yaml", "kind: ConfigMap\n"},
    {"models/recommendation-v2/staging/model.yaml", "kind: ConfigMap\n"},
    {"models/.cache/production/model.yaml", "kind: ConfigMap\n"},
    {"config/clusters/east/config.json",
     "{\"cluster\": {\"name\": \"east\", \"address\": \"https://10.0.0.1:6443\"},\n"
     " \"resources\": {\"gpu\": 8}, \"tags\": [\"a100\", \"spot\"]}\n"},
    {"config/clusters/west/config.yaml",
     "cluster:\n  name: west\n  address: https://10.0.0.2:6443\nresources:\n  gpu: 2\n"
     "tags: [h100]\nempty: {}\n"},
    {"lists/models.yaml", "- {name: bert, gpu: 1}\n- {name: gpt, gpu: 8}\n"},
    {"lists/empty.yaml", ""},
    {"bad/scalar.yaml", "just text\n"},
    {"bad/broken.yaml", "a: [1,\n"},
};
#define NFILES (sizeof(repo_files) / sizeof(repo_files[0]))

static json_t *files_list, *dirs_list, *labels[3];
static struct ws_appset_cluster clusters[3];

static int fake_list(void *ctx, json_t **out, const char *url, const char *revision, int dirs,
                     struct ws_err *err)
{
    (void)ctx;
    if (strstr(url, "unreachable"))
        return ws_err_set(err, WS_ENET, "%s: cannot reach the server", url);
    if (strcmp(revision, "missing") == 0)
        return ws_err_set(err, WS_ENOTFOUND, "revision \"%s\" not found", revision);
    *out = json_deep_copy(dirs ? dirs_list : files_list);
    return *out ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
}

static int fake_read(void *ctx, char **out, size_t *len, const char *url, const char *revision,
                     const char *path, struct ws_err *err)
{
    (void)ctx;
    (void)url;
    (void)revision;
    for (size_t i = 0; i < NFILES; i++)
        if (strcmp(repo_files[i][0], path) == 0) {
            *len = strlen(repo_files[i][1]);
            *out = strdup(repo_files[i][1]);
            return *out ? 0 : ws_err_set(err, WS_ENOMEM, "out of memory");
        }
    return ws_err_set(err, WS_ENOTFOUND, "%s: no such file", path);
}

static const struct ws_appset_git fake_git = {fake_list, fake_read, NULL};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted JSON array of names (each freed here). */
static json_t *sorted(char **v, size_t n)
{
    json_t *a = json_array();
    qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(v[i - 1], v[i]) != 0)
            json_array_append_new(a, json_string(v[i]));
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    return a;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const spec[][3] = {
        {"in-cluster", "https://kubernetes.default.svc", "{}"},
        {"gpu-east", "https://10.0.0.1:6443", "{\"env\": \"production\", \"gpu\": \"true\"}"},
        {"GPU_West", "https://10.0.0.2:6443", "{\"env\": \"staging\", \"region\": \"us-west\"}"},
    };
    char *files[NFILES], *dirs[NFILES * 4];
    size_t nfiles = 0, ndirs = 0;
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    for (size_t i = 0; i < 3; i++) {
        labels[i] = json_loads(spec[i][2], 0, NULL);
        clusters[i] = (struct ws_appset_cluster){spec[i][0], spec[i][1], labels[i]};
    }
    /* As the interface promises: sorted, hidden folders left out of the folders. */
    for (size_t i = 0; i < NFILES; i++) {
        const char *p = repo_files[i][0], *s;
        files[nfiles++] = strdup(p);
        for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            char *d = strndup(p, (size_t)(s - p));
            if (d[0] != '.' && !strstr(d, "/.") && ndirs < NFILES * 4)
                dirs[ndirs++] = d;
            else
                free(d);
        }
    }
    files_list = sorted(files, nfiles);
    dirs_list = sorted(dirs, ndirs);
    return 0;
}

static void render(const uint8_t *data, size_t size, int new_glob)
{
    struct ws_appset_env env = {clusters, 3, &fake_git, new_glob};
    struct ws_yaml_stream st = {NULL, 0};
    struct ws_appset out;
    struct ws_err err;
    size_t i;

    if (ws_yaml_parse(&st, (const char *)data, size, "appset.yaml", NULL, &err) < 0 || st.ndocs == 0) {
        ws_yaml_stream_free(&st);
        return;
    }
    memset(&out, 0, sizeof(out));
    if (ws_appset_render(&out, st.docs[0].value, st.docs[0].pos, "appset.yaml", &env, &err) == 0) {
        for (i = 0; i < out.napps; i++) {
            FUZZ_CHECK(json_is_object(out.apps[i].doc), "application %zu has no document", i);
            FUZZ_CHECK(out.apps[i].name || out.apps[i].error, "application %zu: no name, no error", i);
        }
    } else {
        FUZZ_CHECK(out.napps == 0, "an error left %zu applications", out.napps);
        FUZZ_CHECK(err.msg[0] != '\0', "a refused ApplicationSet says nothing");
    }
    ws_appset_free(&out);
    ws_yaml_stream_free(&st);
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static void substitute(const uint8_t *data, size_t size, int go, int missing_error)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - data) : size;
    char *tmpl = fuzz_strndup(data, tlen), *out = NULL, *norm;
    json_t *params = nl ? json_loadb((const char *)nl + 1, size - tlen - 1, 0, NULL) : NULL;
    struct ws_err err;
    size_t i, n;

    if (!tmpl)
        goto out;
    if (!json_is_object(params)) {
        json_decref(params);
        params = json_pack("{s:s, s:{s:i, s:[s]}, s:n}", "model", "bert", "res", "gpu", 4, "tags",
                           "a100", "none");
    }
    if (ws_appset_subst(&out, tmpl, params, go, missing_error, &err) == 0)
        FUZZ_CHECK(out != NULL, "no output");
    free(out);
    if ((norm = ws_appset_normalize(tmpl))) {
        n = strlen(norm);
        FUZZ_CHECK(n <= 253, "a normalised name of %zu bytes", n);
        for (i = 0; i < n; i++)
            FUZZ_CHECK(name_char(norm[i]), "'%c' in a normalised name", norm[i]);
        FUZZ_CHECK(n == 0 || (norm[0] != '-' && norm[0] != '.' && norm[n - 1] != '-' &&
                              norm[n - 1] != '.'),
                   "normalised name \"%s\" not trimmed", norm);
        free(norm);
    }
out:
    json_decref(params);
    free(tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    if (data[0] & 1)
        substitute(data + 1, size - 1, (data[0] >> 1) & 1, (data[0] >> 2) & 1);
    else
        render(data + 1, size - 1, (data[0] >> 1) & 1);
    return 0;
}
