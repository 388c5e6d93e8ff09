/* test_ignore.c — tests for reconciler/source/ignore.c: JSON pointers and
 * jq paths compiled (every accepted form, escapes, every refused form with
 * its message), rules matched by group/kind/name/namespace, fields matched
 * by pointer ("under it" included), managers, and RespectIgnoreDifferences
 * edits (live value, removal, addition, list items by select()). */
#include "source/ignore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testjson.h"
#include "base/util.h"

/* A compiled path as text: .key (.key# when a pointer token is an index
 * too), [n], [], and ?(.f==value) / ?(.f!=value) for each select. */
static void describe(char *out, size_t size, const struct ws_ignore_rule *r)
{
    struct ws_buf b;
    size_t i, k, s, f;
    ws_buf_init(&b, 0);
    for (i = 0; i < r->npaths; i++) {
        const struct ws_ignore_path *p = &r->paths[i];
        if (i)
            ws_buf_appendf(&b, " , ");
        for (k = 0; k < p->nsegs; k++) {
            const struct ws_ignore_seg *g = &p->segs[k];
            if (g->type == WS_IGNORE_KEY)
                ws_buf_appendf(&b, ".%s%s", g->key, g->index_too ? "#" : "");
            else if (g->type == WS_IGNORE_INDEX)
                ws_buf_appendf(&b, "[%zu]", g->index);
            else
                ws_buf_appendf(&b, "[]");
            for (s = 0; s < g->nselects; s++) {
                char *v = json_dumps(g->selects[s].value, JSON_ENCODE_ANY);
                ws_buf_appendf(&b, "?(");
                for (f = 0; f < g->selects[s].nfield; f++)
                    ws_buf_appendf(&b, ".%s", g->selects[s].field[f]);
                ws_buf_appendf(&b, "%s%s)", g->selects[s].negate ? "!=" : "==", v);
                free(v);
            }
        }
    }
    snprintf(out, size, "%s", b.data ? b.data : "");
    ws_buf_free(&b);
}

/* --- compiling ------------------------------------------------------------------ */

static void test_compile_ok(void)
{
    static const struct {
        const char *in;   /* '/…' a JSON pointer, else jq */
        const char *want; /* describe() */
    } rows[] = {
        /* JSON pointers */
        {"/spec/replicas", ".spec.replicas"},
        {"/metadata/annotations/kubectl.kubernetes.io~1restartedAt",
         ".metadata.annotations.kubectl.kubernetes.io/restartedAt"},
        {"/a~0b/c~01", ".a~b.c~1"},
        {"/spec/template/spec/containers/0/image", ".spec.template.spec.containers.0#.image"},
        {"/items/10", ".items.10#"},
        {"/items/01", ".items.01"}, /* a leading zero is not an index (RFC 6901) */
        {"/", "."},                  /* the member named "" */
        {"/data", ".data"},
        /* jq: plain paths */
        {".spec.replicas", ".spec.replicas"},
        {".a.b.c", ".a.b.c"},
        {".data", ".data"},
        {"  .spec.replicas  ", ".spec.replicas"},
        {".metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]",
         ".metadata.annotations.kubectl.kubernetes.io/restartedAt"},
        {".metadata.annotations.\"x/y\"", ".metadata.annotations.x/y"},
        {".metadata.labels.\"helm.sh/chart\"", ".metadata.labels.helm.sh/chart"},
        {".[\"spec\"].replicas", ".spec.replicas"},
        {".spec.[\"replicas\"]", ".spec.replicas"},
        {".a[ \"b\" ]", ".a.b"},
        {".a[\"q\\\"uote\\\\d\"]", ".a.q\"uote\\d"},
        {".a[\"\\u00e9t\\u00e9\"]", ".a.\xc3\xa9t\xc3\xa9"},
        {".a[\"\\ud83d\\ude00\"]", ".a.\xf0\x9f\x98\x80"},
        {".spec.template.spec.containers[0].resources", ".spec.template.spec.containers[0].resources"},
        {".spec.template.spec.containers[]", ".spec.template.spec.containers[]"},
        {".spec.template.spec.containers[].image", ".spec.template.spec.containers[].image"},
        {".webhooks[]?.clientConfig.caBundle", ".webhooks[].clientConfig.caBundle"},
        {".spec.volumeClaimTemplates[]?", ".spec.volumeClaimTemplates[]"},
        {".spec.endpoints[]?.relabelings[]?.action", ".spec.endpoints[].relabelings[].action"},
        {".spec.replicas?", ".spec.replicas"},
        {".spec | .replicas", ".spec.replicas"},
        {".spec | . | .replicas", ".spec.replicas"},
        /* jq: select() */
        {".spec.template.spec.containers[] | select(.name == \"x\") | .image",
         ".spec.template.spec.containers[]?(.name==\"x\").image"},
        {".spec.template.spec.containers[] | select(.name == \"x\").image",
         ".spec.template.spec.containers[]?(.name==\"x\").image"},
        {".spec.template.spec.initContainers[] | select(.name == \"injected-init-container\")",
         ".spec.template.spec.initContainers[]?(.name==\"injected-init-container\")"},
        {".spec.template.spec.containers[]|select(.name==\"x\")|.image",
         ".spec.template.spec.containers[]?(.name==\"x\").image"},
        {".spec.ports[] | select(.port == 80) | .nodePort", ".spec.ports[]?(.port==80).nodePort"},
        {".spec.ports[] | select(.port == -1.5)", ".spec.ports[]?(.port==-1.5)"},
        {".spec.ports[] | select(.nodePort != null) | .nodePort", ".spec.ports[]?(.nodePort!=null).nodePort"},
        {".a[] | select(.on == true)", ".a[]?(.on==true)"},
        {".a[] | select(.meta.name == \"n\")", ".a[]?(.meta.name==\"n\")"},
        {".a[] | select(.[\"k/x\"] == \"v\")", ".a[]?(.k/x==\"v\")"},
        {".a[] | select(.x == \"1\") | select(.y != false)", ".a[]?(.x==\"1\")?(.y!=false)"},
        {".a[] | select(.x == \"1\")[0]", ".a[]?(.x==\"1\")[0]"},
        /* several paths */
        {".data[\"SECRET_KEY\"], .data[\"ACCESS_KEY\"], .stringData[\"SECRET_KEY\"]",
         ".data.SECRET_KEY , .data.ACCESS_KEY , .stringData.SECRET_KEY"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r = {0};
        struct ws_err err;
        char got[512];
        int rc;
        ws_err_clear(&err);
        rc = rows[i].in[0] == '/' ? ws_ignore_add_pointer(&r, rows[i].in, &err)
                                  : ws_ignore_add_jq(&r, rows[i].in, &err);
        if (!tap_ok(rc == 0, "compile %s", rows[i].in))
            tap_diag("  %s", err.msg);
        describe(got, sizeof(got), &r);
        tap_is_str(got, rows[i].want, rows[i].in);
        ws_ignore_rule_clear(&r);
    }
}

static void test_compile_text(void)
{
    struct ws_ignore_rule r = {0};
    struct ws_err err;
    tap_is_int(ws_ignore_add_jq(&r, " .a , .b[] | select(.n == \"x\") ", &err), 0, "text: compiles");
    tap_is_int(r.npaths, 2, "text: two paths");
    if (r.npaths == 2) {
        tap_is_str(r.paths[0].text, ".a", "text: first path as written, trimmed");
        tap_is_str(r.paths[1].text, ".b[] | select(.n == \"x\")", "text: second path as written");
    }
    tap_is_int(ws_ignore_add_pointer(&r, "/c", &err), 0, "text: a pointer added after");
    tap_is_int(r.npaths, 3, "text: paths accumulate");
    tap_is_str(r.npaths == 3 ? r.paths[2].text : NULL, "/c", "text: pointer as written");
    tap_is_int(ws_ignore_add_manager(&r, "kube-controller-manager", &err), 0, "manager added");
    tap_is_int(ws_ignore_add_manager(&r, "", &err), WS_EINVAL, "an empty manager is refused");
    tap_is_int(r.nmanagers, 1, "one manager");
    ws_ignore_rule_clear(&r);
    tap_ok(r.paths == NULL && r.npaths == 0 && r.managers == NULL, "clear zeroes");
    ws_ignore_rule_clear(&r); /* twice is harmless */
    ws_ignore_rule_clear(NULL);
    ws_ignore_rules_free(NULL, 3);
}

static void test_compile_errors(void)
{
    static const struct {
        const char *in;
        const char *msg;  /* a part of the message */
        int column;       /* jq: where; 0 for pointers */
    } rows[] = {
        {"spec/replicas", "JSON pointer \"spec/replicas\" must start with '/'", 0},
        {"", "must start with '/'", 0},
        {"/a~2b", "'~' must be followed by 0 or 1", 0},
        {"/a~", "'~' must be followed by 0 or 1", 0},
        {"", "a path starts with '.'", 1},
        {"spec.replicas", "a path starts with '.'", 1},
        {".", "'.' names the whole object", 1},
        {".a | .", NULL, 0}, /* fine: identity after a path (checked ok below) */
        {"..", "recursive descent", 1},
        {".a..b", "recursive descent", 3},
        {".. | .image?", "recursive descent", 1},
        {".a | length", "length (only a path or select() may follow '|')", 6},
        {".a | del(.b)", "del (only a path or select() may follow '|')", 6},
        {".a[-1]", "negative indices", 4},
        {".a[1:2]", "slices", 5},
        {".a[01]", "an index must be a whole number", 4},
        {".a[.b]", "only [], [n] and [\"key\"]", 4},
        {".a[\"b\"", "expected ']'", 7},
        {".a[\"b", "unterminated string", 6},
        {".a.\"x\\(.y)\"", "string interpolation", 6},
        {".a[\"\\q\"]", "unknown escape", 5},
        {".a[\"\\u12\"]", "\\u needs four hex digits", 5},
        {".a[\"\\ud800\"]", "a lone UTF-16 surrogate", 5},
        {".a.", "expected a member name after '.'", 4},
        {".a.1", "expected a member name after '.'", 4},
        {"(.a).b", "parentheses", 1},
        {".a | (.b)", "parentheses", 6},
        {".a,", "a path starts with '.'", 4},
        {".a .b", "unexpected '.'", 4},
        {".a + .b", "unexpected '+'", 4},
        {"select(.name == \"x\")", "select() must follow a path", 1},
        {".a[] | select(.name)", "one == or != comparison", 20},
        {".a[] | select(.name == \"x\" and .b == 1)", "one == or != comparison", 28},
        {".a[] | select(.n > 1)", "one == or != comparison", 18},
        {".a[] | select(.name | startswith(\"x\"))", "one == or != comparison", 21},
        {".a[] | select(\"x\" == .name)", "select() tests a member of the item", 15},
        {".a[] | select(.b[0] == 1)", "select() tests members by name", 15},
        {".a[] | select(.n == x)", "select() compares with a string, a number", 21},
        {".a[] | select(.n == 1.)", "bad number", 21},
        {".a[] | select(.n == -)", "bad number", 21},
        {".a[] | select(.n == \"x\"", "expected ')'", 24},
        {".a[] | select", "expected '(' after select", 14},
        {".a[] | map(.b)", "map (only a path or select() may follow '|')", 8},
        {".a | .b |", "expected a path or select() after '|'", 10},
        {".a // .b", "unexpected '/'", 4},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r = {0};
        struct ws_err err;
        char at[64];
        int rc, pointer = rows[i].column == 0 && rows[i].msg;
        ws_err_clear(&err);
        rc = pointer ? ws_ignore_add_pointer(&r, rows[i].in, &err) : ws_ignore_add_jq(&r, rows[i].in, &err);
        if (!rows[i].msg) {
            tap_ok(ws_ignore_add_jq(&r, rows[i].in, &err) == 0, "accepted: %s", rows[i].in);
            ws_ignore_rule_clear(&r);
            continue;
        }
        tap_ok(rc == WS_EINVAL, "refused: \"%s\"", rows[i].in);
        tap_contains(err.msg, rows[i].msg, rows[i].in);
        if (!pointer) {
            snprintf(at, sizeof(at), "at column %d;", rows[i].column);
            tap_contains(err.msg, at, rows[i].in);
            tap_contains(err.msg, "jq path expression \"", "names the expression");
            tap_contains(err.msg, "wavesync takes paths such as", "says what is supported");
        }
        tap_ok(r.npaths == 0 && r.paths == NULL, "refused: rule unchanged (%s)", rows[i].in);
        ws_ignore_rule_clear(&r);
    }
    {
        /* a long expression is quoted cut short */
        char longexpr[600];
        struct ws_ignore_rule r = {0};
        struct ws_err err;
        memset(longexpr, 'a', sizeof(longexpr));
        longexpr[0] = '.';
        longexpr[sizeof(longexpr) - 2] = '(';
        longexpr[sizeof(longexpr) - 1] = '\0';
        tap_is_int(ws_ignore_add_jq(&r, longexpr, &err), WS_EINVAL, "long: refused");
        tap_ok(strlen(err.msg) < 600 && strstr(err.msg, "…"), "long: quoted cut short");
        tap_contains(err.msg, "at column 599", "long: the column still counts from the start");
    }
    {
        /* a failure after good paths leaves the earlier ones in place */
        struct ws_ignore_rule r = {0};
        struct ws_err err;
        tap_is_int(ws_ignore_add_pointer(&r, "/a", &err), 0, "partial: first path");
        tap_is_int(ws_ignore_add_jq(&r, ".b, .c | length", &err), WS_EINVAL, "partial: second refused");
        tap_is_int(r.npaths, 1, "partial: nothing of the refused expression is kept");
        ws_ignore_rule_clear(&r);
    }
}

/* --- rules built from a row ------------------------------------------------------- */

struct rule_row {
    const char *group, *kind, *name, *namespace_; /* NULL = any */
    const char *paths[4];                         /* '/…' a pointer, else jq */
    const char *managers[3];
};

static void build(struct ws_ignore_rule *r, const struct rule_row *row)
{
    struct ws_err err;
    size_t i;
    memset(r, 0, sizeof(*r));
    r->group = ws_strdup0(row->group);
    r->kind = ws_strdup0(row->kind);
    r->name = ws_strdup0(row->name);
    r->namespace_ = ws_strdup0(row->namespace_);
    for (i = 0; i < 4 && row->paths[i]; i++) {
        int rc = row->paths[i][0] == '/' ? ws_ignore_add_pointer(r, row->paths[i], &err)
                                         : ws_ignore_add_jq(r, row->paths[i], &err);
        if (rc < 0)
            tap_diag("bad test path %s: %s", row->paths[i], err.msg);
    }
    for (i = 0; i < 3 && row->managers[i]; i++)
        ws_ignore_add_manager(r, row->managers[i], &err);
}

/* --- which objects a rule applies to --------------------------------------------- */

static void test_applies(void)
{
    static const struct {
        struct rule_row rule;
        const char *obj;
        int want;
    } rows[] = {
        {{.group = "apps", .kind = "Deployment"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d'}}", 1},
        {{.group = "apps", .kind = "Deployment"}, "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'d'}}", 0},
        {{.group = "apps", .kind = "Deployment"}, "{'apiVersion':'extensions/v1beta1','kind':'Deployment','metadata':{'name':'d'}}", 0},
        {{.group = "", .kind = "Service"}, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'s'}}", 1},
        {{.group = "", .kind = "Service"}, "{'apiVersion':'serving.knative.dev/v1','kind':'Service','metadata':{'name':'s'}}", 0},
        {{.group = "apps", .kind = "Service"}, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'s'}}", 0},
        {{.group = "core", .kind = "Secret"}, "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'s'}}", 0}, /* as Argo CD */
        {{.group = "*", .kind = "*"}, "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'s'}}", 1},
        {{.group = "*", .kind = "*"}, "{'apiVersion':'batch/v1','kind':'Job','metadata':{'name':'j'}}", 1},
        {{.group = "*.k8s.io", .kind = "*WebhookConfiguration"},
         "{'apiVersion':'admissionregistration.k8s.io/v1','kind':'MutatingWebhookConfiguration','metadata':{'name':'w'}}", 1},
        {{.group = "*.k8s.io", .kind = "*WebhookConfiguration"},
         "{'apiVersion':'apps/v1','kind':'MutatingWebhookConfiguration','metadata':{'name':'w'}}", 0},
        {{.group = "apps", .kind = "Deploymen?"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d'}}", 1},
        {{.group = "apps", .kind = "[DS]*"}, "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'d'}}", 1},
        {{.group = "apps", .kind = "deployment"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d'}}", 0},
        {{.group = NULL, .kind = NULL}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d'}}", 1},
        {{.group = "apps", .kind = "Deployment", .name = "web"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web'}}", 1},
        {{.group = "apps", .kind = "Deployment", .name = "web"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'api'}}", 0},
        {{.group = "apps", .kind = "Deployment", .name = "web*"}, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web1'}}", 0},
        {{.group = "apps", .kind = "Deployment", .name = "web", .namespace_ = "ml"},
         "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','namespace':'ml'}}", 1},
        {{.group = "apps", .kind = "Deployment", .name = "web", .namespace_ = "ml"},
         "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','namespace':'prod'}}", 0},
        {{.group = "apps", .kind = "Deployment", .name = NULL, .namespace_ = "ml"},
         "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web'}}", 0},
        {{.group = "apps", .kind = "Deployment", .name = NULL, .namespace_ = "ml"},
         "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'any','namespace':'ml'}}", 1},
        {{.group = "apps", .kind = "Deployment"}, "{'kind':'Deployment'}", 0},
        {{.group = "", .kind = "Deployment"}, "{'kind':'Deployment'}", 1}, /* no apiVersion: core */
        {{.group = "apps", .kind = "Deployment"}, "[]", 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r;
        json_t *obj = J(rows[i].obj);
        build(&r, &rows[i].rule);
        tap_is_int(ws_ignore_applies(&r, obj), rows[i].want, rows[i].obj);
        ws_ignore_rule_clear(&r);
        json_decref(obj);
    }
    tap_is_int(ws_ignore_applies(NULL, NULL), 0, "applies: NULL rule");
}

/* --- which fields are ignored ------------------------------------------------------ */

static const char *deploy =
    "{'apiVersion':'apps/v1','kind':'Deployment',"
    " 'metadata':{'name':'web','namespace':'ml',"
    "   'annotations':{'kubectl.kubernetes.io/restartedAt':'2026-01-01T00:00:00Z','a~b':'1','plain':'p'}},"
    " 'spec':{'replicas':3,"
    "   'template':{'metadata':{'labels':{'app':'web'}},"
    "     'spec':{'containers':[{'name':'app','image':'app:1','ports':[{'containerPort':80}]},"
    "                           {'name':'istio-proxy','image':'proxy:1','args':['a','b']}],"
    "             'initContainers':[{'name':'injected-init-container','image':'init:1'}]}}},"
    " 'webhooks':[{'name':'w1','clientConfig':{'caBundle':'AAA'}},{'name':'w2','clientConfig':{}}],"
    " 'data':{'0':'zero','k':'v'}}";

static void test_path(void)
{
    static const struct {
        struct rule_row rule;
        const char *pointer;
        int want;
    } rows[] = {
        /* the HPA classic */
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "/spec/replicas", 1},
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "/spec", 0},     /* above: not all of it */
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "/spec/replica", 0},
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "/spec/replicasX", 0},
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "/metadata/name", 0},
        {{"", "Deployment", .paths = {"/spec/replicas"}}, "/spec/replicas", 0}, /* wrong group */
        {{"apps", "StatefulSet", .paths = {"/spec/replicas"}}, "/spec/replicas", 0},
        {{"apps", "Deployment", "other", .paths = {"/spec/replicas"}}, "/spec/replicas", 0},
        {{"apps", "Deployment", "web", "ml", .paths = {"/spec/replicas"}}, "/spec/replicas", 1},
        {{"apps", "Deployment", "web", "prod", .paths = {"/spec/replicas"}}, "/spec/replicas", 0},
        {{"*", "*", .paths = {".spec.replicas"}}, "/spec/replicas", 1},
        /* under it */
        {{"apps", "Deployment", .paths = {"/spec/template"}}, "/spec/template/spec/containers/0/image", 1},
        {{"apps", "Deployment", .paths = {"/spec/template"}}, "/spec/template", 1},
        {{"apps", "Deployment", .paths = {"/spec/template"}}, "/spec/templates", 0},
        {{"apps", "Deployment", .paths = {".spec.template"}}, "/spec/template/metadata/labels/app", 1},
        /* escapes */
        {{"apps", "Deployment", .paths = {"/metadata/annotations/kubectl.kubernetes.io~1restartedAt"}},
         "/metadata/annotations/kubectl.kubernetes.io~1restartedAt", 1},
        {{"apps", "Deployment", .paths = {".metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"}},
         "/metadata/annotations/kubectl.kubernetes.io~1restartedAt", 1},
        {{"apps", "Deployment", .paths = {".metadata.annotations.\"kubectl.kubernetes.io/restartedAt\""}},
         "/metadata/annotations/kubectl.kubernetes.io~1restartedAt", 1},
        {{"apps", "Deployment", .paths = {".metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"}},
         "/metadata/annotations/plain", 0},
        {{"apps", "Deployment", .paths = {"/metadata/annotations/a~0b"}}, "/metadata/annotations/a~0b", 1},
        {{"apps", "Deployment", .paths = {".metadata.annotations[\"a~b\"]"}}, "/metadata/annotations/a~0b", 1},
        {{"apps", "Deployment", .paths = {"/metadata/annotations/a~0b"}}, "/metadata/annotations/a~1b", 0},
        /* indices */
        {{"apps", "Deployment", .paths = {"/spec/template/spec/containers/0/image"}},
         "/spec/template/spec/containers/0/image", 1},
        {{"apps", "Deployment", .paths = {"/spec/template/spec/containers/0/image"}},
         "/spec/template/spec/containers/1/image", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[1].image"}},
         "/spec/template/spec/containers/1/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[1]"}},
         "/spec/template/spec/containers/1/args/0", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[1]"}},
         "/spec/template/spec/containers/01", 0}, /* not an index */
        {{"apps", "Deployment", .paths = {"/data/0"}}, "/data/0", 1},   /* a digit key of a mapping */
        {{"apps", "Deployment", .paths = {".data[0]"}}, "/data/0", 0},  /* [0] needs a list */
        {{"apps", "Deployment", .paths = {".data[\"0\"]"}}, "/data/0", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec[0]"}}, "/spec/template/spec/0", 0},
        /* every item */
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[]"}},
         "/spec/template/spec/containers/1/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[].image"}},
         "/spec/template/spec/containers/0/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[].image"}},
         "/spec/template/spec/containers/0/name", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[].image"}},
         "/spec/template/spec/containers/7/image", 1}, /* absent from obj: compared as text */
        {{"apps", "Deployment", .paths = {".webhooks[]?.clientConfig.caBundle"}}, "/webhooks/0/clientConfig/caBundle", 1},
        {{"apps", "Deployment", .paths = {".webhooks[]?.clientConfig.caBundle"}}, "/webhooks/1/clientConfig/caBundle", 1},
        {{"apps", "Deployment", .paths = {".webhooks[]?.clientConfig.caBundle"}}, "/webhooks/1/clientConfig", 0},
        {{"apps", "Deployment", .paths = {".webhooks[]?.clientConfig.caBundle"}}, "/webhooks/x/clientConfig/caBundle", 0},
        {{"apps", "Deployment", .paths = {".metadata.annotations[]"}}, "/metadata/annotations/plain", 1},
        /* select by name */
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"istio-proxy\")"}},
         "/spec/template/spec/containers/1", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"istio-proxy\")"}},
         "/spec/template/spec/containers/1/args/1", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"istio-proxy\")"}},
         "/spec/template/spec/containers/0/image", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"istio-proxy\")"}},
         "/spec/template/spec/containers/5", 0}, /* no such item: select cannot hold */
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"app\") | .image"}},
         "/spec/template/spec/containers/0/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"app\").image"}},
         "/spec/template/spec/containers/0/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"app\") | .image"}},
         "/spec/template/spec/containers/0/name", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name != \"app\") | .image"}},
         "/spec/template/spec/containers/1/image", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name != \"app\") | .image"}},
         "/spec/template/spec/containers/0/image", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.missing == null)"}},
         "/spec/template/spec/containers/0", 1},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.missing != null)"}},
         "/spec/template/spec/containers/0", 0},
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[].ports[] | select(.containerPort == 80.0)"}},
         "/spec/template/spec/containers/0/ports/0", 1}, /* numbers by value */
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.name == \"app\") | select(.image == \"app:2\")"}},
         "/spec/template/spec/containers/0", 0}, /* both selects must hold */
        {{"apps", "Deployment", .paths = {".spec.template.spec.containers[] | select(.image.x == \"y\")"}},
         "/spec/template/spec/containers/0", 0}, /* a member of a string: a jq error, no match */
        {{"apps", "Deployment", .paths = {".spec.template.spec.initContainers[] | select(.name == \"injected-init-container\")"}},
         "/spec/template/spec/initContainers/0/image", 1},
        /* several paths and rules */
        {{"apps", "Deployment", .paths = {"/spec/replicas", ".metadata.annotations.plain"}}, "/metadata/annotations/plain", 1},
        {{"apps", "Deployment", .paths = {".data.k, .data[\"0\"]"}}, "/data/0", 1},
        /* malformed pointers are never ignored */
        {{"apps", "Deployment", .paths = {"/spec"}}, "spec/replicas", 0},
        {{"apps", "Deployment", .paths = {"/spec"}}, "/spec~2x", 0},
        {{"apps", "Deployment", .paths = {"/spec"}}, "", 0},
        {{"apps", "Deployment", .paths = {"/spec"}}, NULL, 0},
        /* managers alone ignore no path */
        {{"apps", "Deployment", .managers = {"kube-controller-manager"}}, "/spec/replicas", 0},
    };
    json_t *obj = J(deploy);
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r;
        build(&r, &rows[i].rule);
        tap_is_int(ws_ignore_path(&r, 1, obj, rows[i].pointer), rows[i].want,
                   rows[i].pointer ? rows[i].pointer : "(null pointer)");
        ws_ignore_rule_clear(&r);
    }
    {
        /* several rules: one that applies is enough */
        struct ws_ignore_rule *rules = calloc(2, sizeof(*rules));
        static const struct rule_row a = {"", "ConfigMap", .paths = {"/spec/replicas"}};
        static const struct rule_row b = {"apps", "Deployment", .paths = {"/spec/template"}};
        build(&rules[0], &a);
        build(&rules[1], &b);
        tap_is_int(ws_ignore_path(rules, 2, obj, "/spec/replicas"), 0, "rules: the ConfigMap rule does not apply");
        tap_is_int(ws_ignore_path(rules, 2, obj, "/spec/template/spec"), 1, "rules: the second one does");
        tap_is_int(ws_ignore_path(rules, 0, obj, "/spec/template/spec"), 0, "rules: none");
        tap_is_int(ws_ignore_has_paths(rules, 2, obj), 1, "has_paths: the Deployment rule");
        tap_is_int(ws_ignore_has_paths(rules, 1, obj), 0, "has_paths: not the ConfigMap rule");
        ws_ignore_rules_free(rules, 2);
    }
    json_decref(obj);
}

static void test_manager(void)
{
    static const struct {
        struct rule_row rule;
        const char *manager;
        int want;
    } rows[] = {
        {{"*", "*", .managers = {"kube-controller-manager"}}, "kube-controller-manager", 1},
        {{"*", "*", .managers = {"kube-controller-manager"}}, "kubectl", 0},
        {{"apps", "Deployment", .managers = {"hpa", "vpa"}}, "vpa", 1},
        {{"", "Service", .managers = {"kube-controller-manager"}}, "kube-controller-manager", 0},
        {{"apps", "Deployment", .paths = {"/spec/replicas"}}, "kube-controller-manager", 0},
        {{"apps", "Deployment", .managers = {"hpa"}}, NULL, 0},
    };
    json_t *obj = J(deploy);
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r;
        build(&r, &rows[i].rule);
        tap_is_int(ws_ignore_manager(&r, 1, obj, rows[i].manager), rows[i].want,
                   rows[i].manager ? rows[i].manager : "(null manager)");
        tap_is_int(ws_ignore_has_paths(&r, 1, obj), r.npaths > 0 && ws_ignore_applies(&r, obj),
                   "has_paths agrees");
        ws_ignore_rule_clear(&r);
    }
    json_decref(obj);
}

/* --- RespectIgnoreDifferences ------------------------------------------------------ */

static void test_respect(void)
{
    static const struct {
        const char *name;
        struct rule_row rule;
        const char *desired, *live, *want;
        int changed;
    } rows[] = {
        {"HPA: Git's replicas become the live ones",
         {"apps", "Deployment", .paths = {"/spec/replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3,'x':1}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':7,'x':2}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':7,'x':1}}", 1},
        {"same value: nothing changes",
         {"apps", "Deployment", .paths = {"/spec/replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3}}", 0},
        {"rule for another kind: nothing changes",
         {"apps", "StatefulSet", .paths = {"/spec/replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':7}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':3}}", 0},
        {"live lacks the field: left out of the apply",
         {"", "ConfigMap", .paths = {"/data/generated"}},
         "{'apiVersion':'v1','kind':'ConfigMap','data':{'generated':'g','k':'v'}}",
         "{'apiVersion':'v1','kind':'ConfigMap','data':{'k':'v'}}",
         "{'apiVersion':'v1','kind':'ConfigMap','data':{'k':'v'}}", 1},
        {"Git lacks the field: the live value is carried (an apply never drops it)",
         {"apps", "Deployment", .paths = {"/spec/replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'x':1}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':5,'x':1}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':5,'x':1}}", 1},
        {"Git lacks the parents: mappings made on the way",
         {"apps", "Deployment", .paths = {".spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'template':{'spec':{}}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'template':{'metadata':{'annotations':{'kubectl.kubernetes.io/restartedAt':'t','o':'x'}},'spec':{}}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'template':{'metadata':{'annotations':{'kubectl.kubernetes.io/restartedAt':'t'}},'spec':{}}}}", 1},
        {"a whole subtree",
         {"apps", "Deployment", .paths = {"/spec/template"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':1,'template':{'a':1}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':2,'template':{'a':2,'b':[1]}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':1,'template':{'a':2,'b':[1]}}}", 1},
        {"every item: same index",
         {"apps", "Deployment", .paths = {".spec.c[].image"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:9'},{'name':'b'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:9'},{'name':'b'}]}}", 2},
        {"a new list item stays as Git says",
         {"apps", "Deployment", .paths = {".spec.c[].image"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:9'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:9'},{'name':'b','image':'b:1'}]}}", 1},
        {"select: the live item with the same name, wherever it is",
         {"apps", "Deployment", .paths = {".spec.c[] | select(.name == \"b\") | .image"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'b','image':'b:7'},{'name':'a','image':'a:9'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:7'}]}}", 1},
        {"select: a whole item",
         {"apps", "Deployment", .paths = {".spec.c[] | select(.name == \"b\")"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a'},{'name':'b','x':1}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'b','x':2,'y':3}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a'},{'name':'b','x':2,'y':3}]}}", 1},
        {"select: an injected item only live has is not added",
         {"apps", "Deployment", .paths = {".spec.c[] | select(.name == \"istio-proxy\")"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a'},{'name':'istio-proxy'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a'}]}}", 0},
        {"select: Git's item that live lacks is new",
         {"apps", "Deployment", .paths = {".spec.c[] | select(.name == \"b\") | .image"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'name':'a','image':'a:1'},{'name':'b','image':'b:1'}]}}", 0},
        {"list items removed from the end first (live has no list)",
         {"apps", "Deployment", .paths = {".spec.c[] | select(.gen == true)"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'n':0,'gen':true},{'n':1},{'n':2,'gen':true}]}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':[{'n':1}]}}", 2},
        {"a pointer index",
         {"apps", "Deployment", .paths = {"/spec/c/1"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':['a','b','c']}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':['a','B']}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'c':['a','B','c']}}", 1},
        {"webhooks caBundle",
         {"admissionregistration.k8s.io", "MutatingWebhookConfiguration", .paths = {".webhooks[]?.clientConfig.caBundle"}},
         "{'apiVersion':'admissionregistration.k8s.io/v1','kind':'MutatingWebhookConfiguration','webhooks':[{'name':'w','clientConfig':{'service':{'name':'s'}}}]}",
         "{'apiVersion':'admissionregistration.k8s.io/v1','kind':'MutatingWebhookConfiguration','webhooks':[{'name':'w','clientConfig':{'service':{'name':'s'},'caBundle':'Q0E='}}]}",
         "{'apiVersion':'admissionregistration.k8s.io/v1','kind':'MutatingWebhookConfiguration','webhooks':[{'name':'w','clientConfig':{'service':{'name':'s'},'caBundle':'Q0E='}}]}", 1},
        {"nested edits: the outer one wins",
         {"apps", "Deployment", .paths = {"/spec/a/b", "/spec/a"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':{'b':1,'c':1}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':{'b':2}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':{'b':2}}}", 1},
        {"the same field twice",
         {"apps", "Deployment", .paths = {"/spec/replicas", ".spec.replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':1}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':2}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':2}}", 1},
        {"a parent that is not a mapping in Git: nothing added",
         {"apps", "Deployment", .paths = {"/spec/a/b"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':'text'}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':{'b':1}}}",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'a':'text'}}", 0},
        {"live is not an object: nothing changes",
         {"apps", "Deployment", .paths = {"/spec/replicas"}},
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':1}}",
         "[]",
         "{'apiVersion':'apps/v1','kind':'Deployment','spec':{'replicas':1}}", 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_ignore_rule r;
        json_t *desired = J(rows[i].desired), *live = J(rows[i].live), *want = J(rows[i].want);
        int got;
        build(&r, &rows[i].rule);
        got = ws_ignore_respect(desired, live, &r, 1);
        tap_is_int(got, rows[i].changed, rows[i].name);
        if (!tap_ok(json_equal(desired, want), "%s: result", rows[i].name)) {
            char *d = json_dumps(desired, JSON_SORT_KEYS | JSON_COMPACT);
            tap_diag("  got %s", d);
            free(d);
        }
        ws_ignore_rule_clear(&r);
        json_decref(desired);
        json_decref(live);
        json_decref(want);
    }
}

int main(void)
{
    test_compile_ok();
    test_compile_text();
    test_compile_errors();
    test_applies();
    test_path();
    test_manager();
    test_respect();
    return tap_done();
}
