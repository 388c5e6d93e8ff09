/* test_appset.c — reconciler/source/appset.c and appset_template.c: ApplicationSet
 * generators (list with the seed's ml-models fixture, clusters with label
 * selectors, git directories and files over a table of repository files,
 * matrix, merge, selectors, generator templates), fasttemplate and the
 * goTemplate subset (and what it refuses), errors naming file:line; then
 * catalog.c generating Applications from ApplicationSets in a real Git
 * repository built with the git CLI. */
#include "source/appset.h"
#include "source/catalog.h"
#include "config/config.h"
#include "git/git.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

#define REPO "https://git.example.com/ml-platform.git"

/* --- the world the generators see --------------------------------------------------------- */

/* The repository's files: folders are derived from them. */
static const char *const repo_files[][2] = {
    {"README.md", "# ml-platform\n"},
    {"models/.cache/production/model.yaml", "kind: ConfigMap\n"},
    {"models/experimental/gan/model.yaml", "kind: ConfigMap\n"},
    {"models/nlp-classifier/Canary_EU/model.yaml", "kind: ConfigMap\n"},
    {"models/nlp-classifier/production/model.yaml", "kind: ConfigMap\n"},
    {"models/recommendation-v2/production/model.yaml", "kind: ConfigMap\n"},
    {"models/recommendation-v2/staging/model.yaml", "kind: ConfigMap\n"},
    {"config/clusters/east/config.json",
     "{\"cluster\": {\"name\": \"east\", \"address\": \"https://10.0.0.1:6443\"},\n"
     " \"resources\": {\"gpu\": 8}, \"training\": {\"maxSteps\": 1000000}, \"tags\": [\"a100\", \"spot\"]}\n"},
    {"config/clusters/eu/central/config.yaml",
     "cluster: {name: eu-central, address: \"https://10.0.0.4:6443\"}\nresources: {gpu: 1}\n"
     "training: {maxSteps: 5}\ntags: [t4]\n"},
    {"config/clusters/west/config.yaml",
     "cluster:\n  name: west\n  address: https://10.0.0.2:6443\nresources:\n  gpu: 2\n"
     "training:\n  maxSteps: 250000\n  learningRate: 0.0003\ntags: [h100]\nempty: {}\n"},
    {"config/defaults.yaml", "replicas: 2\n"},
    {"lists/empty.yaml", ""},
    {"lists/models.yaml", "- {name: bert, gpu: 1}\n- {name: gpt, gpu: 8}\n"},
    {"bad/scalar.yaml", "just text\n"},
    {"bad/broken.yaml", "a: [1,\n"},
};

static int hidden(const char *path)
{
    return path[0] == '.' || strstr(path, "/.") != NULL;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static int nlists;

static int fake_list(void *ctx, json_t **out, const char *url, const char *revision, int dirs, struct ws_err *err)
{
    json_t *seen, *v, *items[128];
    const char *k;
    size_t n = 0, i;
    (void)ctx;
    nlists++;
    if (strstr(url, "unreachable"))
        return ws_err_set(err, WS_ENET, "%s: cannot reach the server", url);
    if (strcmp(url, REPO) != 0)
        return ws_err_set(err, WS_ECONFIG, "repository \"%s\" is not in wavesync.yaml's repositories", url);
    if (strcmp(revision, "HEAD") != 0 && strcmp(revision, "main") != 0)
        return ws_err_set(err, WS_ENOTFOUND, "revision \"%s\" not found", revision);
    seen = json_object();
    for (i = 0; i < WS_ARRAY_SIZE(repo_files); i++) {
        const char *p = repo_files[i][0], *s;
        if (!dirs) {
            json_object_set_new(seen, p, json_true());
            continue;
        }
        for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            char *d = strndup(p, (size_t)(s - p));
            if (!hidden(d))
                json_object_set_new(seen, d, json_true());
            free(d);
        }
    }
    json_object_foreach(seen, k, v)
        if (n < WS_ARRAY_SIZE(items))
            items[n++] = json_string(k);
    qsort(items, n, sizeof(*items), cmp_json_str);
    *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(*out, items[i]);
    json_decref(seen);
    return 0;
}

static int fake_read(void *ctx, char **out, size_t *len, const char *url, const char *revision, const char *path,
                     struct ws_err *err)
{
    (void)ctx;
    (void)url;
    (void)revision;
    for (size_t i = 0; i < WS_ARRAY_SIZE(repo_files); i++)
        if (strcmp(repo_files[i][0], path) == 0) {
            *out = strdup(repo_files[i][1]);
            *len = strlen(repo_files[i][1]);
            return 0;
        }
    return ws_err_set(err, WS_ENOTFOUND, "%s: no such file", path);
}

static struct ws_appset_cluster clusters[4];
static json_t *labels[4];
static const struct ws_appset_git fake_git = {fake_list, fake_read, NULL};

static void world_init(void)
{
    static const char *const spec[][3] = {
        {"in-cluster", "https://kubernetes.default.svc", "{}"},
        {"gpu-east", "https://10.0.0.1:6443", "{env: production, gpu: \"true\", region: us-east}"},
        {"GPU_West", "https://10.0.0.2:6443", "{env: production, gpu: \"true\", region: us-west}"},
        {"staging", "https://10.0.0.3:6443", "{env: staging, region: eu-west}"},
    };
    for (size_t i = 0; i < 4; i++) {
        struct ws_err err;
        if (ws_yaml_parse_one(&labels[i], spec[i][2], strlen(spec[i][2]), "labels", NULL, &err) < 0)
            tap_diag("labels: %s", err.msg);
        clusters[i].name = spec[i][0];
        clusters[i].server = spec[i][1];
        clusters[i].labels = labels[i];
    }
}

/* --- rendering ApplicationSets ------------------------------------------------------------ */

/* A file under the source tree (tests/unit/data/appset/NAME, or a path
 * from the top such as fixtures/…), or NULL. Caller frees. */
static char *source_file(const char *name, size_t *len)
{
    const char *src = getenv("WS_SRCDIR");
    char path[4096], *buf = NULL;
    struct ws_err err;
    snprintf(path, sizeof(path), "%s/%s%s", src && *src ? src : ".", strchr(name, '/') ? "" : "tests/unit/data/appset/",
             name);
    if (ws_file_read(&buf, len, path, 1 << 20, &err) < 0)
        tap_diag("cannot read %s: %s", path, err.msg);
    return buf;
}

/* Render `src` (a data file name, or inline YAML when it holds a newline). */
static int render(struct ws_appset *out, const char *src, int new_glob, struct ws_err *err)
{
    struct ws_appset_env env = {clusters, 4, &fake_git, new_glob};
    struct ws_yaml_stream st = {NULL, 0};
    const char *file = strchr(src, '\n') ? "inline.yaml" : src;
    size_t len = strlen(src);
    char *buf = strchr(src, '\n') ? strdup(src) : source_file(src, &len);
    int rc;
    memset(out, 0, sizeof(*out));
    ws_err_clear(err);
    if (!buf)
        return ws_err_set(err, WS_EIO, "no input");
    if ((rc = ws_yaml_parse(&st, buf, len, file, NULL, err)) == 0)
        rc = ws_appset_render(out, st.docs[0].value, st.docs[0].pos, file, &env, err);
    ws_yaml_stream_free(&st);
    free(buf);
    return rc;
}

/* A value by a ':'-separated path ("metadata:labels:wavesync.dev/gpus",
 * "spec:source:helm:parameters:0:value"); "" when absent. */
static const char *at(const json_t *doc, const char *path, char *buf, size_t cap)
{
    char seg[128];
    const json_t *v = doc;
    while (v && *path) {
        size_t n = strcspn(path, ":");
        snprintf(seg, sizeof(seg), "%.*s", (int)n, path);
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(seg)) : json_object_get(v, seg);
        path += n + (path[n] == ':');
    }
    if (json_is_string(v))
        return json_string_value(v);
    if (v && !json_is_null(v)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, cap, "%s", s ? s : "");
        free(s);
        return buf;
    }
    return "";
}

/* "f1 f2; f1 f2" over the Applications ("!name" for one with an error). */
static const char *summary(const struct ws_appset *s, const char *fields)
{
    static char out[4096];
    char f[512], buf[256], *save = NULL, *tok;
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->napps && n < sizeof(out); i++) {
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", i ? "; " : "");
        if (s->apps[i].error) {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "!%s", s->apps[i].name ? s->apps[i].name : "");
            continue;
        }
        snprintf(f, sizeof(f), "%s", fields);
        for (tok = strtok_r(f, " ", &save); tok && n < sizeof(out); tok = strtok_r(NULL, " ", &save))
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", tok == f ? "" : " ",
                                  at(s->apps[i].doc, tok, buf, sizeof(buf)));
    }
    return out;
}

#define HEAD(name) "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: " name "}\nspec:\n"
#define GEN(g) "  generators:\n  - " g "\n"
#define TEMPLATE(name, path)                                                                  \
    "  template:\n    metadata: {name: '" name "'}\n    spec:\n      project: default\n"      \
    "      source: {repoURL: " REPO ", path: '" path "'}\n"                                   \
    "      destination: {name: in-cluster, namespace: ml}\n"
#define SET(gen, name, path) HEAD("x") GEN(gen) TEMPLATE(name, path)
#define GOSET(gen, name, path) HEAD("x") "  goTemplate: true\n" GEN(gen) TEMPLATE(name, path)
#define CLUSTERS(sel) SET("clusters: " sel, "fs-{{nameNormalized}}", "features")
#define GITF(pats) "git: {repoURL: " REPO ", revision: main, files: " pats "}"
#define GITD(pats) "git: {repoURL: " REPO ", revision: HEAD, directories: " pats "}"
#define N "metadata:name"

struct gen_case {
    const char *name;
    const char *src;    /* a data file, or inline YAML */
    const char *fields; /* ':'-paths printed per Application, space-separated */
    const char *want;   /* the summary, or NULL when an error is expected */
    const char *err;    /* a substring of the error */
    int code;           /* the error's code (0: WS_EINVAL) */
    int new_glob;
};

#define OK(name, src, fields, want) {name, src, fields, want, NULL, 0, 0}
#define OK_NEWGLOB(name, src, fields, want) {name, src, fields, want, NULL, 0, 1}
#define ERR(name, src, err) {name, src, NULL, NULL, err, 0, 0}
#define ERR_CODE(name, src, err, code) {name, src, NULL, NULL, err, code, 0}
#define LIST1 "list: {elements: [{model: a}]}"
#define SEL(expr) "{selector: {matchExpressions: [" expr "]}}"

static const struct gen_case gen_cases[] = {
    /* list: the seed's ml-models, as the fixture has it */
    OK("list: the ml-models fixture", "fixtures/ml-platform/apps/ml-models.yaml",
       N " spec:source:path spec:destination:name spec:destination:namespace "
         "metadata:labels:wavesync.dev/gpus spec:syncPolicy:syncOptions:0",
       "recommendation-v2-production models/recommendation-v2/production in-cluster ml-models-production 4 "
       "CreateNamespace=true; nlp-classifier-production models/nlp-classifier/production in-cluster "
       "ml-models-production 2 CreateNamespace=true"),
    OK("list: numbers and booleans as text, values map, unknown parameter left as written",
       SET("list: {elements: [{model: bert, gpu: 4, ratio: 0.5, spot: true, values: {tier: gold}}]}",
           "{{model}}-{{gpu}}", "m/{{ratio}}/{{spot}}/{{values.tier}}/{{ unknown }}"),
       N " spec:source:path", "bert-4 m/0.5/true/gold/{{ unknown }}"),
    OK("list: elementsYaml", SET("list: {elementsYaml: \"- {model: a}\\n- {model: b}\"}", "{{model}}", "m"), N,
       "a; b"),
    ERR("list: a nested value needs goTemplate",
        SET("list: {elements: [{model: a, res: {gpu: 1}}]}", "{{model}}", "m"),
        "elements[0].res is a mapping: without goTemplate: true"),
    ERR("list: an element is not a mapping", SET("list: {elements: [a]}", "{{model}}", "m"),
        "generators[0].list.elements[0] must be a mapping"),
    /* clusters */
    OK("clusters: selector, values templated with the cluster's labels", "clusters.yaml",
       N " spec:destination:server metadata:labels:region spec:source:helm:parameters:1:value "
         "spec:source:helm:parameters:0:value metadata:labels:cluster",
       "feature-store-gpu-east https://10.0.0.1:6443 us-east cache-us-east 3 gpu-east; "
       "feature-store-gpu-west https://10.0.0.2:6443 us-west cache-us-west 3 GPU_West"),
    OK("clusters: no selector takes every cluster", CLUSTERS("{}"), N,
       "fs-in-cluster; fs-gpu-east; fs-gpu-west; fs-staging"),
    OK("clusters: matchLabels", CLUSTERS("{selector: {matchLabels: {env: production}}}"), N,
       "fs-gpu-east; fs-gpu-west"),
    OK("clusters: In", CLUSTERS(SEL("{key: region, operator: In, values: [eu-west, us-west]}")), N,
       "fs-gpu-west; fs-staging"),
    OK("clusters: NotIn takes clusters without the label",
       CLUSTERS(SEL("{key: region, operator: NotIn, values: [us-east]}")), N, "fs-in-cluster; fs-gpu-west; fs-staging"),
    OK("clusters: Exists", CLUSTERS(SEL("{key: gpu, operator: Exists}")), N, "fs-gpu-east; fs-gpu-west"),
    OK("clusters: DoesNotExist", CLUSTERS(SEL("{key: gpu, operator: DoesNotExist}")), N, "fs-in-cluster; fs-staging"),
    OK("clusters: matchLabels and matchExpressions together",
       CLUSTERS("{selector: {matchLabels: {gpu: 'true'}, "
                "matchExpressions: [{key: region, operator: NotIn, values: [us-west]}]}}"),
       N, "fs-gpu-east"),
    OK("clusters: goTemplate parameters (metadata.labels only when there are labels)",
       GOSET("clusters: {}", "fs-{{.nameNormalized}}-{{ .metadata.labels.region | default \"none\" }}", "{{.server}}"),
       N " spec:source:path",
       "fs-in-cluster-none https://kubernetes.default.svc; fs-gpu-east-us-east https://10.0.0.1:6443; "
       "fs-gpu-west-us-west https://10.0.0.2:6443; fs-staging-eu-west https://10.0.0.3:6443"),
    ERR("clusters: unknown operator", CLUSTERS(SEL("{key: gpu, operator: Equals, values: [x]}")),
        "unknown operator \"Equals\" (In, NotIn, Exists, DoesNotExist)"),
    ERR("clusters: In without values", CLUSTERS(SEL("{key: gpu, operator: In}")),
        "matchExpressions[0]: In needs values"),
    ERR("clusters: a label value that is not a string", CLUSTERS("{selector: {matchLabels: {gpu: true}}}"),
        "selector.matchLabels.gpu must be a string (quote it)"),
    /* git directories */
    OK("git directories: exclude, path[n], basename, basenameNormalized, hidden folders left out",
       "git-directories.yaml", N " spec:source:path spec:destination:namespace metadata:labels:model",
       "nlp-classifier-canary-eu models/nlp-classifier/Canary_EU ml-Canary_EU nlp-classifier; "
       "nlp-classifier-production models/nlp-classifier/production ml-production nlp-classifier; "
       "recommendation-v2-production models/recommendation-v2/production ml-production recommendation-v2; "
       "recommendation-v2-staging models/recommendation-v2/staging ml-staging recommendation-v2"),
    OK("git directories: '*' stays inside one folder",
       SET(GITD("[{path: 'models/*'}]"), "d-{{path.basenameNormalized}}", "{{path}}"), N,
       "d-experimental; d-nlp-classifier; d-recommendation-v2"),
    OK("git directories: pathParamPrefix",
       SET("git: {repoURL: " REPO ", directories: [{path: models/recommendation-v2/*}], pathParamPrefix: app}",
           "{{app.path[1]}}-{{app.path.basename}}", "{{app.path}}"),
       N " spec:source:path",
       "recommendation-v2-production models/recommendation-v2/production; "
       "recommendation-v2-staging models/recommendation-v2/staging"),
    /* git files */
    OK("git files: '**', JSON and YAML flattened, numbers as Go prints them, path parameters", "git-files.yaml",
       N " spec:destination:server metadata:annotations:gpus metadata:annotations:maxSteps "
         "metadata:annotations:firstTag metadata:annotations:where",
       "trainer-east https://10.0.0.1:6443 8 1e+06 a100 config/clusters/east east config.json east; "
       "trainer-eu-central https://10.0.0.4:6443 1 5 t4 config/clusters/eu/central central config.yaml eu; "
       "trainer-west https://10.0.0.2:6443 2 250000 h100 config/clusters/west west config.yaml west"),
    OK("git files: '*' crosses folders as git ls-files does (Argo CD's default)",
       SET(GITF("[{path: 'config/*.yaml'}]"), "cfg-{{path.basenameNormalized}}-{{path.filenameNormalized}}", "c"),
       N, "cfg-central-config.yaml; cfg-west-config.yaml; cfg-config-defaults.yaml"),
    OK_NEWGLOB("git files: '*' stays in its folder with the new globbing",
               SET(GITF("[{path: 'config/*.yaml'}]"), "cfg-{{path.basenameNormalized}}-{{path.filenameNormalized}}",
                   "c"),
               N, "cfg-config-defaults.yaml"),
    OK_NEWGLOB("git files: '**' matches no folder too with the new globbing",
               SET(GITF("[{path: 'config/**/defaults.yaml'}]"), "r{{replicas}}", "c"), N, "r2"),
    OK("git files: a list file makes one set per item, an empty file one set",
       SET(GITF("[{path: 'lists/*.yaml'}]"), "{{path.basename}}-{{name}}", "g/{{gpu}}"), N " spec:source:path",
       "!lists-{{name}}; lists-bert g/1; lists-gpt g/8"),
    OK("git files: exclude",
       SET(GITF("[{path: 'lists/*.yaml'}, {path: lists/empty.yaml, exclude: true}]"), "{{path.basename}}-{{name}}",
           "g"),
       N, "lists-bert; lists-gpt"),
    ERR("git files: a file that holds a scalar", SET(GITF("[{path: bad/scalar.yaml}]"), "x", "x"),
        "bad/scalar.yaml holds a string, not a mapping or a list of mappings"),
    ERR("git files: a file that does not parse", SET(GITF("[{path: bad/broken.yaml}]"), "x", "x"),
        "generators[0].git: bad/broken.yaml:"),
    OK("git files: goTemplate keeps the values' types and nests path",
       GOSET(GITF("[{path: 'config/clusters/west/*'}]"), "{{.cluster.name}}-{{.path.filenameNormalized}}",
             "{{.training.learningRate}}/{{ index .tags 0 }}/{{ .path.segments }}"),
       N " spec:source:path", "west-config.yaml 0.0003/h100/[config clusters west]"),
    /* matrix */
    OK("matrix: git directories x clusters", "matrix.yaml", N " spec:destination:server spec:destination:namespace",
       "nlp-classifier-gpu-east https://10.0.0.1:6443 ml-production; "
       "nlp-classifier-gpu-west https://10.0.0.2:6443 ml-production; "
       "recommendation-v2-gpu-east https://10.0.0.1:6443 ml-production; "
       "recommendation-v2-gpu-west https://10.0.0.2:6443 ml-production"),
    OK("matrix: the second generator reads the first one's parameters", "matrix-chained.yaml",
       N " metadata:labels:owner spec:destination:namespace",
       "recommendation-v2-production recsys recsys-production; recommendation-v2-staging recsys recsys-staging; "
       "nlp-classifier-canary-eu nlp nlp-canary-eu; nlp-classifier-production nlp nlp-production"),
    ERR("matrix: one parameter with two values",
        SET("matrix: {generators: [{list: {elements: [{env: prod}]}}, {list: {elements: [{env: dev}]}}]}", "{{env}}",
            "m"),
        "parameter \"env\" is \"prod\" from the first generator and \"dev\" from the second"),
    ERR("matrix: three generators",
        SET("matrix: {generators: [{list: {elements: [{a: x}]}}, {list: {elements: [{b: x}]}}, "
            "{list: {elements: [{c: x}]}}]}", "{{a}}", "m"),
        "generators[0].matrix needs exactly two generators"),
    OK("matrix: goTemplate, the first generator's values win",
       GOSET("matrix: {generators: [{list: {elements: [{env: prod, res: {gpu: 4}}]}}, "
             "{list: {elements: [{env: dev, res: {cpu: 2}}]}}]}", "{{.env}}-{{.res.gpu}}-{{.res.cpu}}", "m"),
       N, "prod-4-2"),
    /* merge */
    OK("merge: clusters overridden by a list by name", "merge.yaml", N " spec:source:helm:parameters:0:value",
       "registry-in-cluster 1; registry-gpu-east 4; registry-gpu-west 1; registry-staging 1"),
    ERR("merge: parameter sets must be unique by mergeKeys",
        SET("merge: {mergeKeys: [env], generators: [{list: {elements: [{env: a}, {env: a}]}}, "
            "{list: {elements: [{env: a}]}}]}", "{{env}}", "m"),
        "two parameter sets have the mergeKeys values {\"env\":\"a\"}"),
    ERR("merge: mergeKeys are required",
        SET("merge: {generators: [{list: {elements: [{env: a}]}}, {list: {elements: [{env: a}]}}]}", "{{env}}", "m"),
        "merge needs mergeKeys"),
    /* selectors and generator templates */
    OK("a generator's selector filters its parameter sets",
       HEAD("x") "  generators:\n  - list: {elements: [{model: a, tier: gpu}, {model: b, tier: cpu}]}\n"
                 "    selector: {matchLabels: {tier: gpu}}\n" TEMPLATE("{{model}}", "m"),
       N, "a"),
    OK("a generator's template wins over the ApplicationSet's",
       HEAD("x") "  generators:\n  - " LIST1 "\n"
                 "    template: {spec: {destination: {namespace: 'special-{{model}}'}}}\n"
                 "  - list: {elements: [{model: b}]}\n" TEMPLATE("{{model}}", "m"),
       N " spec:destination:namespace spec:destination:name", "a special-a in-cluster; b ml in-cluster"),
    /* goTemplate */
    OK("goTemplate: the common subset", "gotemplate.yaml",
       N " spec:source:path spec:destination:namespace metadata:labels:display metadata:labels:tier "
         "metadata:labels:gpus metadata:labels:env metadata:labels:missing metadata:labels:memory",
       "recommendation-v2-production models/recommendation-v2/production ml-models-production recommendation-v2--gpu "
       "premium 4 PRODUCTION <no value> 64Gi; nlp-classifier-production models/nlp-classifier/production "
       "ml-models-production nlp-classifier standard 2 PRODUCTION <no value> 32Gi"),
    OK("goTemplate: git directories (path.path, segments, normalize)", "gotemplate-git.yaml",
       N " spec:source:path spec:destination:namespace",
       "nlp-classifier-canary-eu models/nlp-classifier/Canary_EU canary-eu; "
       "nlp-classifier-production models/nlp-classifier/production production"),
    ERR("goTemplate: missingkey=error",
        HEAD("x") "  goTemplate: true\n  goTemplateOptions: [missingkey=error]\n" GEN(LIST1)
            TEMPLATE("{{.model}}", "{{.nothing}}"),
        "template.spec.source.path (generators[0], parameter set 1): goTemplate {{.nothing}}: map has no entry "
        "for key \"nothing\""),
    ERR("goTemplate: an unsupported function is refused", GOSET(LIST1, "{{ .model | b64enc }}", "m"),
        "goTemplate {{ .model | b64enc }}: function \"b64enc\" is not supported"),
    ERR("goTemplate: if is refused", GOSET(LIST1, "{{ if .model }}x{{ end }}", "m"), "{{if}} is not supported"),
    ERR("goTemplate: variables are refused", GOSET(LIST1, "{{ $m := .model }}", "m"),
        "a variable ($) is not supported"),
    ERR("templatePatch is refused",
        HEAD("x") "  goTemplate: true\n  templatePatch: |\n    spec: {}\n" GEN(LIST1) TEMPLATE("{{.model}}", "m"),
        "inline.yaml:6: ApplicationSet \"x\": spec.templatePatch is not supported"),
    ERR("goTemplateOptions other than missingkey are refused",
        HEAD("x") "  goTemplate: true\n  goTemplateOptions: [strict]\n" GEN(LIST1) TEMPLATE("{{.model}}", "m"),
        "spec.goTemplateOptions: \"strict\" is not supported"),
    /* fasttemplate */
    ERR("fasttemplate: an unclosed {{", SET(LIST1, "{{model}}", "m/{{model"),
        "template.spec.source.path (generators[0], parameter set 1): \"{{\" without \"}}\" in \"m/{{model\""),
    OK("fasttemplate: mapping keys are templated too",
       HEAD("x") GEN(LIST1) "  template:\n    metadata:\n      name: '{{model}}'\n"
                            "      labels: {'model-{{model}}': 'yes'}\n"
                            "    spec: {project: default, source: {repoURL: " REPO ", path: m}, "
                            "destination: {name: in-cluster}}\n",
       N " metadata:labels:model-a", "a yes"),
    OK("an unknown parameter in a name makes that Application invalid, not the set",
       SET("list: {elements: [{model: a}, {modle: b}]}", "{{model}}-x", "m"), N, "a-x; !{{model}}-x"),
    /* errors */
    ERR("not an ApplicationSet", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\n",
        "inline.yaml:2: kind \"Application\" is not ApplicationSet"),
    ERR("no generators", HEAD("x") "  generators: []\n" TEMPLATE("x", "m"),
        "inline.yaml:5: ApplicationSet \"x\": spec.generators must be a non-empty list"),
    ERR("an unknown generator", SET("foo: {}", "x", "m"),
        "inline.yaml:6: ApplicationSet \"x\": generators[0]: unknown generator \"foo\""),
    ERR("an unsupported generator", SET("scmProvider: {github: {organization: x}}", "x", "m"),
        "generators[0]: the scmProvider generator is not supported"),
    ERR("two generator types in one item", SET("{list: {elements: [{a: b}]}, clusters: {}}", "x", "m"),
        "generators[0] has 2 generators in one item"),
    ERR_CODE("git: a repository that is not configured",
             SET("git: {repoURL: https://git.example.com/other.git, directories: [{path: '*'}]}", "x", "m"),
             "generators[0].git: repository \"https://git.example.com/other.git\" is not in wavesync.yaml's "
             "repositories", WS_ECONFIG),
    ERR_CODE("git: an unreachable repository keeps its code",
             SET("git: {repoURL: https://unreachable.example/x.git, directories: [{path: '*'}]}", "x", "m"),
             "cannot reach the server", WS_ENET),
    ERR_CODE("git: an unknown revision",
             SET("git: {repoURL: " REPO ", revision: v9, directories: [{path: '*'}]}", "x", "m"),
             "revision \"v9\" not found", WS_ENOTFOUND),
    ERR("git: directories or files", SET("git: {repoURL: " REPO "}", "x", "m"),
        "generators[0].git needs directories or files"),
    ERR("two Applications with one name fail the set",
        SET("list: {elements: [{model: a}, {model: a}]}", "{{model}}", "m"),
        "two generated Applications are named \"a\" (generators[0], parameter set 2)"),
    ERR("a template without spec", HEAD("x") GEN(LIST1) "  template: {metadata: {name: x}}\n",
        "spec.template with metadata and spec is required"),
};

static void test_generators(void)
{
    for (size_t i = 0; i < WS_ARRAY_SIZE(gen_cases); i++) {
        const struct gen_case *c = &gen_cases[i];
        struct ws_appset s;
        struct ws_err err;
        int rc = render(&s, c->src, c->new_glob, &err);
        if (c->want) {
            if (!tap_ok(rc == 0, "%s: renders", c->name))
                tap_diag("  %s", err.msg);
            else
                tap_is_str(summary(&s, c->fields), c->want, c->name);
        } else {
            if (!tap_ok(rc == (c->code ? c->code : WS_EINVAL), "%s: fails with %s", c->name,
                        ws_code_str(c->code ? c->code : WS_EINVAL)))
                tap_diag("  rc %d: %s; apps: %s", rc, rc ? err.msg : "", summary(&s, N));
            tap_contains(err.msg, c->err, c->name);
            tap_ok(s.napps == 0 || rc == 0, "%s: generates nothing", c->name);
        }
        ws_appset_free(&s);
    }
}

/* Details the summaries do not show. */
static void test_details(void)
{
    struct ws_appset s;
    struct ws_err err;
    int rc = render(&s, "fixtures/ml-platform/apps/ml-models.yaml", 0, &err);
    tap_ok(rc == 0 && s.napps == 2, "fixture: two Applications");
    tap_is_str(s.name, "ml-models", "fixture: the ApplicationSet's name");
    tap_is_int(s.line, 6, "fixture: its first line (after the comment)");
    if (rc == 0 && s.napps == 2) {
        tap_is_int(ws_yaml_pos_line(s.apps[0].pos, "spec", "source", "path", (const char *)NULL), 36,
                   "fixture: generated positions point at the template's lines");
        tap_is_str(json_string_value(json_object_get(s.apps[1].doc, "kind")), "Application", "fixture: kind");
        tap_is_str(json_string_value(json_object_get(s.apps[1].doc, "apiVersion")), "argoproj.io/v1alpha1",
                   "fixture: apiVersion");
    }
    ws_appset_free(&s);

    rc = render(&s, SET("list: {elements: [{model: a}, {modle: b}]}", "{{model}}-x", "m"), 0, &err);
    tap_ok(rc == 0 && s.napps == 2 && !s.apps[0].error && s.apps[1].error, "unknown parameter: only that app fails");
    if (rc == 0 && s.napps == 2) {
        tap_contains(s.apps[1].error, "inline.yaml:8: ApplicationSet \"x\": generated Application name \"{{model}}-x\"",
                     "unknown parameter: names file:line and the ApplicationSet");
        tap_contains(s.apps[1].error, "names no parameter; the parameters are: modle", "unknown parameter: lists them");
    }
    ws_appset_free(&s);

    nlists = 0;
    rc = render(&s, "matrix-chained.yaml", 0, &err);
    tap_is_int(nlists, 2, "matrix: the second generator runs once per set of the first");
    ws_appset_free(&s);
}

/* --- substitution ----------------------------------------------------------------------- */

struct subst_case {
    int go;
    const char *tmpl;
    const char *want; /* NULL: an error containing err */
    const char *err;
};

static const char go_params[] =
    "{\"name\": \"gpu-east\", \"path\": {\"path\": \"models/a/b\", \"basename\": \"b\", \"segments\": [\"models\", "
    "\"a\", \"b\"]}, \"n\": 1000000, \"f\": 0.0001, \"g\": 0.00001, \"h\": 123456, \"i\": 1234567, \"r\": 2.5, "
    "\"neg\": -3, \"t\": true, \"nul\": null, \"m\": {\"b\": 1, \"a\": \"x\"}, \"l\": [1, \"two\"], \"e\": \"\"}";
static const char flat_params[] = "{\"name\": \"gpu-east\", \"path.basename\": \"b\", \"num\": 5}";

static const struct subst_case subst_cases[] = {
    {0, "{{name}}/{{ name }}/{{  name}}", "gpu-east/gpu-east/gpu-east", NULL},
    {0, "{{path.basename}}-{{nope}}-{{}}-{{num}}", "b-{{nope}}-{{}}-{{num}}", NULL},
    {0, "no templates at all", "no templates at all", NULL},
    {0, "x {{ name", NULL, "\"{{\" without \"}}\""},
    {1, "{{.n}} {{.f}} {{.g}} {{.h}} {{.i}} {{.r}} {{.neg}}", "1e+06 0.0001 1e-05 123456 1.234567e+06 2.5 -3", NULL},
    {1, "{{.t}} {{.nul}} {{.m}} {{.l}} {{.nothing}} {{.nothing.deeper}}",
     "true <no value> map[a:x b:1] [1 two] <no value> <no value>", NULL},
    {1, "{{ .e | default \"d\" }} {{ default \"d\" .name }} {{ .nothing | default \"d\" }}", "d gpu-east d", NULL},
    {1, "a  {{- .name -}}  b|{{- /* gone */ -}} |c", "agpu-eastb||c", NULL},
    {1, "{{ replace \"-\" \"_\" .name }} {{ .name | trimSuffix \"-east\" }} {{ trim \"  x \" }} "
        "{{ trimPrefix \"gpu-\" .name }}",
     "gpu_east gpu x east", NULL},
    {1, "{{ upper (index .path.segments 2) }}{{ index .path \"basename\" }}{{ .path.segments }}", "Bb[models a b]",
     NULL},
    {1, "{{ \"quoted }}\" }} {{ `raw` }} {{ 42 }}", "quoted }} raw 42", NULL},
    {1, "{{ normalize \"Recommendation V2 (GPU)\" | upper }}", "RECOMMENDATION-V2--GPU", NULL},
    {1, "{{ index .l 5 }}", NULL, "error calling index: index out of range: 5"},
    {1, "{{ .name.x }}", NULL, "can't evaluate field x in type string"},
    {1, "{{ .nul.x }}", NULL, "nil pointer evaluating interface {}.x"},
    {1, "{{ lower .n }}", NULL, "error calling lower: wrong type for value; expected string; got float64"},
    {1, "{{ lower .nothing }}", NULL, "error calling lower: invalid value; expected string"},
    {1, "{{ lower }}", NULL, "wrong number of args for lower: want 1 got 0"},
    {1, "{{ .name .name }}", NULL, "can't give argument to non-function"},
    {1, "{{ .name | .name }}", NULL, "can't give argument to non-function"},
    {1, "{{ }}", NULL, "missing value for command"},
    {1, "{{ .name ", NULL, "goTemplate {{ .name : unexpected"},
    {1, "{{ printf \"%s\" .name }}", NULL, "function \"printf\" is not supported"},
    {1, "{{ range .l }}x{{ end }}", NULL, "{{range}} is not supported"},
    {1, "{{ 1.5 }}", NULL, "a number other than a decimal integer is not supported"},
    {1, "{{ lower upper }}", NULL, "\"upper\" as an argument: call functions inside parentheses"},
    {1, "{{ (index .path \"basename\").x }}", NULL, "a field of a parenthesised expression is not supported"},
};

static void test_subst(void)
{
    json_t *gp = json_loads(go_params, 0, NULL), *fp = json_loads(flat_params, 0, NULL);
    for (size_t i = 0; i < WS_ARRAY_SIZE(subst_cases); i++) {
        const struct subst_case *c = &subst_cases[i];
        struct ws_err err;
        char *out = NULL, name[160];
        int rc;
        ws_err_clear(&err);
        rc = ws_appset_subst(&out, c->tmpl, c->go ? gp : fp, c->go, 0, &err);
        snprintf(name, sizeof(name), "%s %s", c->go ? "go" : "fast", c->tmpl);
        if (c->want) {
            if (!tap_ok(rc == 0, "%s: expands", name))
                tap_diag("  %s", err.msg);
            tap_is_str(out, c->want, name);
        } else {
            tap_ok(rc == WS_EINVAL, "%s: refused", name);
            tap_contains(err.msg, c->err, name);
        }
        free(out);
    }
    json_decref(gp);
    json_decref(fp);
}

static void test_normalize(void)
{
    static const char *const cases[][2] = {
        {"Recommendation V2 (GPU)", "recommendation-v2--gpu"},
        {"GPU_West", "gpu-west"},
        {"..a..", "a"},
        {"--x.y--", "x.y"},
        {"\xc3\xa9moji-\xc3\xbc", "moji"}, /* é and ü: one '-' each */
        {"", ""},
    };
    char long_name[300], *got;
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        got = ws_appset_normalize(cases[i][0]);
        tap_is_str(got, cases[i][1], cases[i][0]);
        free(got);
    }
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    got = ws_appset_normalize(long_name);
    tap_is_int(got ? strlen(got) : 0, 253, "normalize: at most 253 bytes");
    free(got);
}

/* --- the catalog, from a real repository ------------------------------------------------------- */

static char tmp[256];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if ((rc = system(cmd)) != 0)
        tap_diag("command failed (%d): %s", rc, cmd);
    return rc;
}

static void put(const char *rel, const char *content)
{
    char path[1024], *slash;
    FILE *f;
    snprintf(path, sizeof(path), "%s/repo/%s", tmp, rel);
    for (slash = strchr(path + strlen(tmp) + 6, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        sh("mkdir -p '%s'", path);
        *slash = '/';
    }
    if (!(f = fopen(path, "w"))) {
        tap_diag("cannot write %s", path);
        return;
    }
    fputs(content, f);
    fclose(f);
}

static const json_t *invalid_for(const struct ws_catalog *cat, const char *name)
{
    const json_t *e;
    size_t i;
    json_array_foreach(cat->invalid, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return e;
    }
    return NULL;
}

static void test_catalog(void)
{
    char cfg_text[2048], *fixture;
    size_t len;
    struct ws_config cfg;
    struct ws_catalog cat;
    struct ws_err err;
    const struct ws_app *a;
    const json_t *bad;
    int rc;

    snprintf(tmp, sizeof(tmp), "%s/wavesync-test-appset-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!tap_ok(mkdtemp(tmp) != NULL, "catalog: scratch folder"))
        return;
    setenv("HOME", tmp, 1);
    setenv("XDG_CONFIG_HOME", tmp, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Wave Sync", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@wavesync.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "Wave Sync", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@wavesync.invalid", 1);
    unsetenv("GIT_DIR");
    if ((fixture = source_file("fixtures/ml-platform/apps/ml-models.yaml", &len)))
        put("apps/ml-models.yaml", fixture);
    free(fixture);
    put("apps/written.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: nlp-classifier-production}\n"
        "spec:\n  source: {repoURL: " REPO ", path: models/nlp-classifier/production}\n"
        "  destination: {name: in-cluster, namespace: nlp}\n");
    snprintf(cfg_text, sizeof(cfg_text),
             "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: by-folder}\nspec:\n"
             "  generators:\n  - git: {repoURL: 'file://%s/repo', revision: HEAD,\n"
             "           directories: [{path: models/*/production}]}\n"
             "  template:\n    metadata: {name: 'folder-{{path[1]}}'}\n    spec:\n"
             "      source: {repoURL: 'file://%s/repo', path: '{{path}}'}\n"
             "      destination: {name: in-cluster, namespace: 'ml-{{path.basename}}'}\n", tmp, tmp);
    put("apps/by-folder.yaml", cfg_text);
    put("apps/broken.yaml",
        "# reads a repository the configuration does not know\n"
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: broken}\nspec:\n"
        "  generators:\n  - git: {repoURL: https://git.example.com/other.git, directories: [{path: '*'}]}\n"
        "  template: {metadata: {name: x}, spec: {source: {repoURL: x}, destination: {name: in-cluster}}}\n");
    put("apps/no-dest.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: no-dest}\nspec:\n"
        "  generators:\n  - list: {elements: [{model: a}]}\n"
        "  template:\n    metadata: {name: 'nodest-{{model}}'}\n"
        "    spec:\n      source: {repoURL: " REPO ", path: m}\n");
    /* app of apps: root's folder defines child-a and child-b; child-b's
       defines root again (a cycle) */
    snprintf(cfg_text, sizeof(cfg_text),
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: root}\nspec:\n"
             "  source: {repoURL: 'file://%s/repo', path: children}\n  destination: {name: in-cluster}\n", tmp);
    put("apps/root.yaml", cfg_text);
    snprintf(cfg_text, sizeof(cfg_text),
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: child-a}\nspec:\n"
             "  source: {repoURL: 'file://%s/repo', path: models/nlp-classifier/production}\n"
             "  destination: {name: in-cluster}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-an-app}\n"
             "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: child-b}\nspec:\n"
             "  source: {repoURL: 'file://%s/repo', path: grandchildren}\n  destination: {name: in-cluster}\n",
             tmp, tmp);
    put("children/apps.yaml", cfg_text);
    snprintf(cfg_text, sizeof(cfg_text),
             "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: root}\nspec:\n"
             "  source: {repoURL: 'file://%s/repo', path: children}\n  destination: {name: in-cluster}\n", tmp);
    put("grandchildren/loop.yaml", cfg_text);
    put("models/recommendation-v2/production/model.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\n");
    put("models/nlp-classifier/production/model.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\n");
    put("models/.hidden/production/model.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: h}\n");
    if (sh("cd '%s/repo' && git init -q -b main && git add -A && git commit -q -m models", tmp) != 0)
        return;
    snprintf(cfg_text, sizeof(cfg_text),
             "repositories:\n  - {name: platform, url: 'file://%s/repo'}\n"
             "  - {name: ml-platform, url: '" REPO "'} # the Applications' source (never fetched here)\n"
             "clusters:\n  - {name: in-cluster, server: 'https://127.0.0.1:6443', token: t, labels: {env: dev}}\n"
             "applications:\n  - {repository: platform, path: apps}\n"
             "settings: {stateDir: '%s/state'}\n", tmp, tmp);
    ws_err_clear(&err);
    rc = ws_config_parse(&cfg, cfg_text, strlen(cfg_text), "wavesync.yaml", tmp, &err);
    if (!tap_ok(rc == 0, "catalog: config")) {
        tap_diag("  %s", err.msg);
        return;
    }
    rc = ws_catalog_load(&cat, &cfg, 0, &err);
    if (!tap_ok(rc == 0, "catalog: loads")) {
        tap_diag("  %s", err.msg);
        ws_config_free(&cfg);
        return;
    }
    tap_is_int(cat.napps, 7, "catalog: written + generated Applications, and root's two children");
    tap_is_str(ws_catalog_parent(&cat, "child-a"), "root", "catalog: a child's parent");
    tap_is_str(ws_catalog_parent(&cat, "child-b"), "root", "catalog: every child of the folder");
    tap_is_str(ws_catalog_parent(&cat, "root"), NULL, "catalog: a written root has no parent");
    tap_ok(ws_catalog_find(&cat, "not-an-app") == NULL, "catalog: other objects are not applications");
    if ((a = ws_catalog_find(&cat, "child-a"))) {
        tap_is_str(a->file, "apps/root.yaml", "catalog: a child's file is its parent's");
        tap_ok(a->def_dir == SIZE_MAX, "catalog: a child is read from no applications folder");
    }
    {
        json_t *e;
        size_t k;
        int cycle = 0;
        json_array_foreach(cat.invalid, k, e)
            cycle |= json_string_value(json_object_get(e, "kind")) &&
                     strstr(json_string_value(json_object_get(e, "error")),
                            "Application \"root\" is defined by its own child Application \"child-b\": a cycle") != NULL;
        tap_ok(cycle, "catalog: a cycle of applications is refused");
        tap_ok(ws_catalog_invalid(&cat, "root") == NULL, "catalog: and does not make the root invalid");
    }
    tap_is_int(json_array_size(cat.parent_sources), 2, "catalog: the parents' folders are recorded (root, child-b)");
    tap_ok(ws_catalog_find(&cat, "recommendation-v2-production") != NULL, "catalog: ml-models generated");
    tap_ok(ws_catalog_find(&cat, "folder-recommendation-v2") && ws_catalog_find(&cat, "folder-nlp-classifier"),
           "catalog: git directories read from the repository");
    tap_ok(!ws_catalog_find(&cat, "folder-.hidden") && !invalid_for(&cat, "folder-.hidden"),
           "catalog: hidden folders are not listed");
    tap_is_str(ws_catalog_generated_by(&cat, "recommendation-v2-production"), "ml-models", "catalog: generated_by");
    tap_is_str(ws_catalog_generated_by(&cat, "nlp-classifier-production"), NULL,
               "catalog: a written app wins its name");
    if ((a = ws_catalog_find(&cat, "folder-nlp-classifier"))) {
        tap_is_str(a->file, "apps/by-folder.yaml", "catalog: a generated app's file is the ApplicationSet's");
        tap_is_int(a->line, 1, "catalog: and its line");
        tap_is_str(a->sources[0].path, "models/nlp-classifier/production", "catalog: generated source path");
        tap_is_int((long long)a->def_dir, 0, "catalog: def_dir");
    }
    bad = invalid_for(&cat, "broken");
    tap_contains(json_string_value(json_object_get(bad, "error")),
                 "apps/broken.yaml:7: ApplicationSet \"broken\": generators[0].git: repository "
                 "\"https://git.example.com/other.git\" is not in wavesync.yaml's repositories",
                 "catalog: a failing ApplicationSet is recorded");
    tap_is_str(json_string_value(json_object_get(bad, "kind")), "ApplicationSet", "catalog: with its kind");
    tap_contains(json_string_value(json_object_get(invalid_for(&cat, "nlp-classifier-production"), "error")),
                 "Application \"nlp-classifier-production\" generated by ApplicationSet \"ml-models\" is also defined "
                 "at apps/written.yaml:1", "catalog: a generated duplicate is invalid");
    tap_contains(json_string_value(json_object_get(invalid_for(&cat, "nodest-a"), "error")),
                 "spec.destination is required (generated by ApplicationSet \"no-dest\", apps/no-dest.yaml:1)",
                 "catalog: a generated Application is validated as a written one");
    tap_ok(ws_catalog_invalid(&cat, "broken") == NULL, "catalog: an ApplicationSet is not an invalid Application");
    tap_is_int(json_array_size(cat.generator_sources), 1, "catalog: the git generator's source is recorded");
    tap_is_str(json_string_value(json_object_get(json_array_get(cat.generator_sources, 0), "applicationSet")),
               "by-folder", "catalog: by ApplicationSet");
    tap_is_int(json_array_size(cat.generated), 3, "catalog: three generated Applications listed");
    ws_catalog_free(&cat);
    ws_config_free(&cfg);
}

int main(void)
{
    char *keep;
    world_init();
    test_generators();
    test_details();
    test_subst();
    test_normalize();
    if (tap_ok(ws_git_init() == 0, "ws_git_init")) {
        test_catalog();
        ws_git_shutdown();
    }
    for (size_t i = 0; i < 4; i++)
        json_decref(labels[i]);
    if (tmp[0] && (!(keep = getenv("WS_TEST_KEEP")) || !*keep))
        ws_rmtree(tmp);
    return tap_done();
}
