/* test_diff.c — table-driven tests for reconciler/sync/diff.c: field paths of
 * differences (nested maps, arrays, missing and extra keys, null versus
 * absent, missing objects), server-owned fields ignored, and the
 * ApplyOutOfSyncOnly subset test (integers versus quantity strings). */
#include "sync/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testjson.h"

/* ---- building input ------------------------------------------------------ */


static int by_path(const void *a, const void *b)
{
    const char *pa = json_string_value(json_object_get(*(json_t *const *)a, "path"));
    const char *pb = json_string_value(json_object_get(*(json_t *const *)b, "path"));
    return strcmp(pa ? pa : "", pb ? pb : "");
}

/* The same entries ordered by path: the tables do not fix the order in
 * which keys are visited. New reference. */
static json_t *sorted(const json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof(*v), by_path);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static void diag_json(const char *label, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    tap_diag("  %s: %s", label, s ? s : "(NULL)");
    free(s);
}

/* ---- ws_diff_objects ------------------------------------------------------ */

struct diff_case {
    const char *name;
    const char *desired, *live; /* NULL: the object is missing */
    const char *want;           /* the differences, any order */
};

static const struct diff_case diff_cases[] = {
    {"identical objects have no differences",
     "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'a'},'data':{'k':'v'}}",
     "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'a'},'data':{'k':'v'}}", "[]"},
    {"key order does not matter", "{'a':1,'b':{'x':1,'y':2}}", "{'b':{'y':2,'x':1},'a':1}", "[]"},
    {"changed scalar in a nested map", "{'spec':{'replicas':3,'paused':false}}",
     "{'spec':{'replicas':2,'paused':false}}",
     "[{'path':'.spec.replicas','desired':3,'live':2}]"},
    {"deeply nested change inside an array of maps",
     "{'spec':{'template':{'spec':{'containers':[{'name':'web','image':'nginx:1.27'}]}}}}",
     "{'spec':{'template':{'spec':{'containers':[{'name':'web','image':'nginx:1.25'}]}}}}",
     "[{'path':'.spec.template.spec.containers[0].image','desired':'nginx:1.27','live':'nginx:1.25'}]"},
    {"key missing live: desired only, no live member", "{'data':{'a':'1','b':'2'}}",
     "{'data':{'a':'1'}}", "[{'path':'.data.b','desired':'2'}]"},
    {"extra key live: live only, no desired member", "{'data':{'a':'1'}}",
     "{'data':{'a':'1','c':'3'}}", "[{'path':'.data.c','live':'3'}]"},
    {"missing map live is reported whole", "{'spec':{'selector':{'app':'x'}}}", "{}",
     "[{'path':'.spec','desired':{'selector':{'app':'x'}}}]"},
    {"empty map desired, absent live", "{'spec':{}}", "{}", "[{'path':'.spec','desired':{}}]"},
    {"arrays of equal length compare element by element", "{'args':['a','b','c']}",
     "{'args':['a','x','c']}", "[{'path':'.args[1]','desired':'b','live':'x'}]"},
    {"arrays of different length differ as a whole", "{'args':['a','b','c']}",
     "{'args':['a','b']}", "[{'path':'.args','desired':['a','b','c'],'live':['a','b']}]"},
    {"array against an empty array", "{'finalizers':['x']}", "{'finalizers':[]}",
     "[{'path':'.finalizers','desired':['x'],'live':[]}]"},
    {"element of an array of maps gains a key live",
     "{'ports':[{'port':80},{'port':443}]}",
     "{'ports':[{'port':80},{'port':443,'protocol':'TCP'}]}",
     "[{'path':'.ports[1].protocol','live':'TCP'}]"},
    {"type change (map against string) is one difference", "{'spec':{'x':{'a':1}}}",
     "{'spec':{'x':'a'}}", "[{'path':'.spec.x','desired':{'a':1},'live':'a'}]"},
    {"integer against string is a difference (only the subset test normalises)",
     "{'cpu':2}", "{'cpu':'2'}", "[{'path':'.cpu','desired':2,'live':'2'}]"},
    {"null desired, absent live: desired null, no live member", "{'a':null,'b':1}",
     "{'b':1}", "[{'path':'.a','desired':null}]"},
    {"absent desired, null live: live null, no desired member", "{'b':1}",
     "{'a':null,'b':1}", "[{'path':'.a','live':null}]"},
    {"null on both sides is equal", "{'a':null}", "{'a':null}", "[]"},
    {"null against a value", "{'a':null}", "{'a':1}", "[{'path':'.a','desired':null,'live':1}]"},
    {"several differences at once",
     "{'metadata':{'labels':{'app':'x','tier':'web'}},'spec':{'replicas':1}}",
     "{'metadata':{'labels':{'app':'y','team':'a'}},'spec':{'replicas':1,'paused':true}}",
     "[{'path':'.metadata.labels.app','desired':'x','live':'y'},"
     "{'path':'.metadata.labels.team','live':'a'},"
     "{'path':'.metadata.labels.tier','desired':'web'},"
     "{'path':'.spec.paused','live':true}]"},
    {"annotation keys with dots and slashes keep them in the path",
     "{'metadata':{'annotations':{'example.com/mode':'a'}}}",
     "{'metadata':{'annotations':{'example.com/mode':'b'}}}",
     "[{'path':'.metadata.annotations.example.com/mode','desired':'a','live':'b'}]"},
    /* server-owned fields */
    {"status is ignored on both sides", "{'spec':{'a':1},'status':{'ready':false}}",
     "{'spec':{'a':1},'status':{'ready':true,'replicas':3}}", "[]"},
    {"status only live is ignored", "{'spec':{'a':1}}",
     "{'spec':{'a':1},'status':{'phase':'Active'}}", "[]"},
    {"status only desired is ignored", "{'spec':{'a':1},'status':{}}", "{'spec':{'a':1}}", "[]"},
    {"server-owned metadata only live is ignored",
     "{'metadata':{'name':'a','namespace':'ns'}}",
     "{'metadata':{'name':'a','namespace':'ns','managedFields':[{'manager':'kubectl'}],"
     "'resourceVersion':'123','uid':'0f6c','creationTimestamp':'2024-01-01T00:00:00Z',"
     "'generation':4,'selfLink':'/api/v1/x','deletionTimestamp':'2024-01-02T00:00:00Z',"
     "'deletionGracePeriodSeconds':30}}",
     "[]"},
    {"server-owned metadata differing on both sides is ignored",
     "{'metadata':{'name':'a','resourceVersion':'1','uid':'u1','generation':1,"
     "'creationTimestamp':null,'managedFields':[]}}",
     "{'metadata':{'name':'a','resourceVersion':'2','uid':'u2','generation':7,"
     "'creationTimestamp':'2024-01-01T00:00:00Z','managedFields':[{'manager':'m'}]}}",
     "[]"},
    {"a user field named status below spec is not server-owned",
     "{'spec':{'status':'on'}}", "{'spec':{'status':'off'}}",
     "[{'path':'.spec.status','desired':'on','live':'off'}]"},
    {"labels and annotations are not server-owned",
     "{'metadata':{'name':'a','labels':{'a':'1'}}}",
     "{'metadata':{'name':'a','labels':{'a':'1'},'annotations':{'x':'y'},'uid':'u'}}",
     "[{'path':'.metadata.annotations','live':{'x':'y'}}]"},
    /* missing objects */
    {"missing desired object: the whole live object", NULL, "{'kind':'ConfigMap'}",
     "[{'path':'.','live':{'kind':'ConfigMap'}}]"},
    {"missing live object: the whole desired object", "{'kind':'ConfigMap'}", NULL,
     "[{'path':'.','desired':{'kind':'ConfigMap'}}]"},
    {"both objects missing: no differences", NULL, NULL, "[]"},
    {"top-level scalars differ at path '.'", "1", "2", "[{'path':'.','desired':1,'live':2}]"},
};

static void test_diff_objects(void)
{
    for (size_t i = 0; i < sizeof(diff_cases) / sizeof(diff_cases[0]); i++) {
        const struct diff_case *c = &diff_cases[i];
        json_t *desired = J(c->desired), *live = J(c->live), *want = J(c->want);
        json_t *got = ws_diff_objects(desired, live);
        json_t *got_sorted = sorted(got), *want_sorted = sorted(want);
        int ok = json_is_array(got) && json_equal(got_sorted, want_sorted);
        if (!tap_ok(ok, "diff: %s", c->name)) {
            diag_json("got ", got);
            diag_json("want", want);
        }
        json_decref(got_sorted);
        json_decref(want_sorted);
        json_decref(got);
        json_decref(want);
        json_decref(desired);
        json_decref(live);
    }
}

/* The result holds its own references: it outlives both inputs. */
static void test_diff_outlives_inputs(void)
{
    json_t *desired = J("{'spec':{'tpl':{'a':[1,2,3]}}}"), *live = J("{'spec':{'tpl':{'a':[1]}}}");
    json_t *got = ws_diff_objects(desired, live);
    json_t *want = J("[{'path':'.spec.tpl.a','desired':[1,2,3],'live':[1]}]");
    json_decref(desired);
    json_decref(live);
    tap_ok(json_equal(got, want), "diff: result outlives its inputs");
    json_decref(got);
    json_decref(want);
}

/* ---- ws_diff_is_subset ----------------------------------------------------- */

struct subset_case {
    const char *name;
    const char *desired, *live;
    int want;
};

static const struct subset_case subset_cases[] = {
    {"equal objects", "{'a':1,'b':{'c':'d'}}", "{'b':{'c':'d'},'a':1}", 1},
    {"live has defaulted fields besides desired",
     "{'spec':{'replicas':2}}", "{'spec':{'replicas':2,'revisionHistoryLimit':10},'status':{}}", 1},
    {"desired key missing live", "{'spec':{'replicas':2,'paused':true}}",
     "{'spec':{'replicas':2}}", 0},
    {"value differs", "{'spec':{'replicas':3}}", "{'spec':{'replicas':2}}", 0},
    {"integer desired, quantity string live: 2 and \"2\"",
     "{'resources':{'limits':{'cpu':2,'memory':'1Gi'}}}",
     "{'resources':{'limits':{'cpu':'2','memory':'1Gi'}}}", 1},
    {"negative integer and its string", "{'x':-1}", "{'x':'-1'}", 1},
    {"string desired, integer live: \"2\" and 2 differ", "{'cpu':'2'}", "{'cpu':2}", 0},
    {"integer and a different quantity string", "{'cpu':3}", "{'cpu':'2'}", 0},
    {"integer and a non-canonical string \"02\"", "{'cpu':2}", "{'cpu':'02'}", 0},
    {"integer and a string with a suffix", "{'cpu':2}", "{'cpu':'2m'}", 0},
    {"integer and real differ", "{'x':2}", "{'x':2.5}", 0},
    {"quantity strings compared as strings", "{'cpu':'500m'}", "{'cpu':'500m'}", 1},
    {"boolean against its string", "{'x':true}", "{'x':'true'}", 0},
    {"arrays element-wise, live elements with more fields",
     "{'containers':[{'name':'a','image':'i'}]}",
     "{'containers':[{'name':'a','image':'i','imagePullPolicy':'IfNotPresent'}]}", 1},
    {"arrays of different length", "{'args':['a']}", "{'args':['a','b']}", 0},
    {"array element differs", "{'args':['a','b']}", "{'args':['a','c']}", 0},
    {"desired map, live scalar", "{'a':{'b':1}}", "{'a':'b'}", 0},
    {"desired map, live absent", "{'a':{'b':1}}", "{}", 0},
    {"empty desired map is within any map", "{}", "{'a':1}", 1},
    {"empty desired map against missing live", "{}", NULL, 0},
    {"null desired and null live", "{'a':null}", "{'a':null}", 1},
    {"null desired, value live", "{'a':null}", "{'a':1}", 0},
    {"labels: desired subset of live labels",
     "{'metadata':{'labels':{'app':'x'}}}",
     "{'metadata':{'labels':{'app':'x','pod-template-hash':'abc'}}}", 1},
    /* diff.h: "Fields the server owns (status, managedFields, resourceVersion,
     * uid, timestamps, generation) are ignored" — apply leaves them alone,
     * so ApplyOutOfSyncOnly must not re-apply because of them. */
    {"server-owned: creationTimestamp null in the manifest (kubectl create -o yaml)",
     "{'metadata':{'name':'a','creationTimestamp':null},'data':{'k':'v'}}",
     "{'metadata':{'name':'a','creationTimestamp':'2024-01-01T00:00:00Z','uid':'u'},"
     "'data':{'k':'v'}}",
     1},
    {"server-owned: status in the manifest (controller-gen CRDs)",
     "{'spec':{'group':'g'},'status':{'acceptedNames':{'kind':'','plural':''},"
     "'conditions':[],'storedVersions':[]}}",
     "{'spec':{'group':'g'},'status':{'acceptedNames':{'kind':'W','plural':'ws'},"
     "'conditions':[{'type':'Established'}],'storedVersions':['v1']}}",
     1},
};

static void test_subset(void)
{
    for (size_t i = 0; i < sizeof(subset_cases) / sizeof(subset_cases[0]); i++) {
        const struct subset_case *c = &subset_cases[i];
        json_t *desired = J(c->desired), *live = J(c->live);
        int got = ws_diff_is_subset(desired, live);
        if (!tap_ok(got == c->want, "subset: %s", c->name))
            tap_diag("  got %d, want %d", got, c->want);
        json_decref(desired);
        json_decref(live);
    }
}

int main(void)
{
    test_diff_objects();
    test_diff_outlives_inputs();
    test_subset();
    return tap_done();
}
