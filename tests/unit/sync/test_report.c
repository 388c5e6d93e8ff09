/* test_report.c — table-driven tests for reconciler/sync/report.c: the text
 * summary (header, per-wave table, failed objects, dry-run counts and
 * changes, prunes) and JUnit XML (well-formed, one test case per object,
 * failures, skips, escaping). Full reports from a sync are in
 * tests/unit/data/report/, small ones inline. */
#include "sync/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* ---- loading input ----------------------------------------------------------- */

/* A fixture file under tests/unit/data/report/, or inline JSON written with
 * ' for " (a literal apostrophe is \u0027). Caller decrefs. */
static json_t *load(const char *spec)
{
    json_error_t jerr;
    json_t *v;
    if (spec[0] == '{' || spec[0] == '[') {
        char *copy = strdup(spec);
        for (char *p = copy; *p; p++)
            if (*p == '\'')
                *p = '"';
        if (!(v = json_loads(copy, 0, &jerr)))
            tap_diag("bad test JSON %s: %s", spec, jerr.text);
        free(copy);
    } else {
        const char *src = getenv("WS_SRCDIR");
        char path[4096];
        snprintf(path, sizeof(path), "%s/tests/unit/data/report/%s", src && *src ? src : ".", spec);
        if (!(v = json_load_file(path, 0, &jerr)))
            tap_diag("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
    }
    return v;
}

/* ---- looking at text ----------------------------------------------------------- */

/* `line` with runs of blanks collapsed to one and no blanks at either end,
 * so table rows can be compared without counting columns. Caller frees. */
static char *squeeze(const char *line, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    int blank = 1;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == ' ') {
            blank = 1;
            continue;
        }
        if (blank && o != out)
            *o++ = ' ';
        blank = 0;
        *o++ = line[i];
    }
    *o = '\0';
    return out;
}

/* 1 when some line of `text`, squeezed, equals `want`. */
static int has_line(const char *text, const char *want)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *s = squeeze(p, len);
        int same = strcmp(s, want) == 0;
        free(s);
        if (same)
            return 1;
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* A multi-line diagnostic, every line commented for the TAP harness. */
static void diag_block(const char *label, const char *text)
{
    const char *p = text;
    tap_diag("  %s:", label);
    if (!text) {
        tap_diag("    (NULL)");
        return;
    }
    while (*p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        tap_diag("    %.*s", len, p);
        p += len + (nl != NULL);
    }
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- a small XML well-formedness check --------------------------------------- */

static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        s++;
        while (n--)
            if ((*s++ & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

/* Character data or an attribute value up to `stop`: legal characters and
 * only the predefined or numeric entities. Returns the stop position, or
 * NULL with *why set. */
static const char *xml_chars(const char *p, const char *stop, const char **why)
{
    static const char *const entities[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    for (; *p && !strchr(stop, *p); p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return *why = "control character", NULL;
        if (c == '<')
            return *why = "raw '<' in a value", NULL;
        if (c == '&') {
            size_t i, n = 0;
            for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
                if (strncmp(p, entities[i], strlen(entities[i])) == 0)
                    n = strlen(entities[i]);
            if (!n && p[1] == '#') {
                const char *q = p + 2;
                while ((*q >= '0' && *q <= '9') || *q == 'x' || (*q >= 'a' && *q <= 'f'))
                    q++;
                if (*q == ';' && q > p + 2)
                    n = (size_t)(q - p + 1);
            }
            if (!n)
                return *why = "bare '&'", NULL;
            p += n - 1;
        }
    }
    return p;
}

/* NULL when `x` is a well-formed XML document, else why not. */
static const char *xml_check(const char *x)
{
    char stack[32][64];
    int depth = 0, roots = 0;
    const char *p = x, *why = NULL;
    if (!x || !valid_utf8((const unsigned char *)x))
        return "not UTF-8";
    if (strncmp(p, "<?xml ", 6) != 0 || !(p = strstr(p, "?>")))
        return "no XML declaration";
    p += 2;
    while (*p) {
        if (*p != '<') {
            const char *start = p;
            if (!(p = xml_chars(p, "<", &why)))
                return why;
            if (depth == 0)
                for (const char *q = start; q < p; q++)
                    if (!strchr(" \t\r\n", *q))
                        return "text outside the root element";
            continue;
        }
        p++;
        if (*p == '/') { /* end tag */
            size_t n = 0;
            p++;
            while (name_char(p[n], n == 0))
                n++;
            if (depth == 0 || n != strlen(stack[depth - 1]) || strncmp(p, stack[depth - 1], n) != 0)
                return "unbalanced end tag";
            depth--;
            p += n;
            while (*p == ' ')
                p++;
            if (*p++ != '>')
                return "bad end tag";
            continue;
        }
        { /* start tag */
            size_t n = 0;
            char attrs[16][64];
            int nattrs = 0;
            while (name_char(p[n], n == 0))
                n++;
            if (n == 0 || n >= sizeof(stack[0]))
                return "bad element name";
            if (depth == 0 && roots++)
                return "more than one root element";
            if (depth == (int)(sizeof(stack) / sizeof(stack[0])))
                return "too deep";
            memcpy(stack[depth], p, n);
            stack[depth][n] = '\0';
            p += n;
            for (;;) {
                size_t an = 0;
                int sp = 0;
                char q;
                while (strchr(" \t\r\n", *p) && *p) {
                    p++;
                    sp = 1;
                }
                if (p[0] == '/' && p[1] == '>') {
                    p += 2;
                    break;
                }
                if (*p == '>') {
                    p++;
                    depth++;
                    break;
                }
                if (!sp)
                    return "attributes not separated";
                while (name_char(p[an], an == 0))
                    an++;
                if (an == 0 || an >= sizeof(attrs[0]) || nattrs == 16)
                    return "bad attribute name";
                for (int i = 0; i < nattrs; i++)
                    if (strlen(attrs[i]) == an && strncmp(attrs[i], p, an) == 0)
                        return "duplicate attribute";
                memcpy(attrs[nattrs], p, an);
                attrs[nattrs++][an] = '\0';
                p += an;
                if (*p++ != '=' || (*p != '"' && *p != '\''))
                    return "attribute without a quoted value";
                q = *p++;
                if (!(p = xml_chars(p, q == '"' ? "\"" : "'", &why)))
                    return why;
                if (*p++ != q)
                    return "unterminated attribute value";
            }
        }
    }
    if (depth)
        return "unclosed element";
    return roots == 1 ? NULL : "no root element";
}

/* xmllint --noout, when it is installed (never installed by the tests).
 * Returns -1 when not available, else 1 when it accepts `x`. */
static int xmllint_ok(const char *x)
{
    static int have = -1;
    FILE *f;
    if (have < 0)
        have = system("command -v xmllint >/dev/null 2>&1") == 0;
    if (!have || !(f = popen("xmllint --noout - >/dev/null 2>&1", "w")))
        return -1;
    fputs(x, f);
    return pclose(f) == 0;
}

static void well_formed(const char *xml, const char *name)
{
    const char *why = xml_check(xml);
    int lint = xml ? xmllint_ok(xml) : 0;
    if (!tap_ok(why == NULL && lint != 0, "junit well-formed: %s", name)) {
        tap_diag("  %s%s", why ? why : "", lint == 0 ? " (xmllint rejects it)" : "");
        diag_block("xml", xml);
    }
}

/* ---- ws_xml_escape --------------------------------------------------------------- */

struct escape_case {
    const char *name, *in, *want;
};

static const struct escape_case escape_cases[] = {
    {"plain text unchanged", "guestbook-prod.v2", "guestbook-prod.v2"},
    {"empty string", "", ""},
    {"NULL is the empty string", NULL, ""},
    {"the five XML specials", "<a href=\"x\">Tom & Jerry's</a>",
     "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;"},
    {"an entity is escaped again, not passed through", "&amp;&#38;", "&amp;amp;&amp;#38;"},
    {"control characters forbidden by XML 1.0 are replaced", "a\x01" "b\x1b[31mc\x1f",
     "a?b?[31mc?"},
    {"tab, newline and carriage return kept", "a\tb\nc\rd", "a\tb\nc\rd"},
    {"UTF-8 kept byte for byte", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80",
     "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80"},
};

static void test_escape(void)
{
    for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
        char name[200], *got = ws_xml_escape(escape_cases[i].in);
        snprintf(name, sizeof(name), "xml escape: %s", escape_cases[i].name);
        tap_is_str(got, escape_cases[i].want, name);
        free(got);
    }
}

/* ---- ws_report_text ---------------------------------------------------------------- */

struct text_case {
    const char *name;
    const char *report;      /* fixture or inline JSON */
    const char *first;       /* the exact first line, without "\n" */
    const char *lines[12];   /* lines that must appear (blanks squeezed) */
    const char *absent[6];   /* substrings that must not appear */
};

static const struct text_case text_cases[] = {
    {"success: header, per-wave table, synced objects hidden, prunes",
     "ok_synced.json",
     "guestbook: Succeeded at 0123456789ab in 12.3s",
     {"PHASE WAVE OBJECTS RESULT DURATION ADVANCE WAITED ON",
      "PreSync 0 1 Healthy 1.50s - batch/v1 Job prod/migrate",
      "Sync -1 1 Healthy 0.25s 1.50ms v1 ConfigMap prod/cfg",
      "Sync 0 2 Healthy 10.00s 0.25ms apps/v1 Deployment prod/web",
      "Pruned v1 ConfigMap prod/old",
      "Skipped v1 Secret prod/keep: Prune=false"},
     {"Synced", "Unchanged", "NotRun", "notify-failure", " — "}},
    {"failure: message in the header, timeout wave, failed and not-run objects",
     "err_wave_timeout.json",
     "guestbook: Failed at fedcba987654 in 31.2s — wave 1 (Sync) not Healthy within its deadline: "
     "apps/v1 Deployment prod/web: Progressing: Waiting for rollout to finish: 0 of 2 updated "
     "replicas are available...",
     {"Sync 0 1 Healthy 0.12s - v1 ConfigMap prod/cfg",
      "Sync 1 2 Timeout 30.00s -",
      "SyncFail 0 1 Healthy 1.00s - batch/v1 Job prod/notify-failure",
      "Failed apps/v1 Deployment prod/web: not Healthy at the wave's deadline: Progressing: "
      "Waiting for rollout to finish: 0 of 2 updated replicas are available...",
      "NotRun networking.k8s.io/v1 Ingress prod/web"},
     {"Synced", "v1 Service prod/web"}},
    {"dry run: counts, would-be changes as 'path: live -> desired', hooks hidden",
     "ok_dry_run.json",
     "guestbook: dry run at 0123456789ab: 1 to create, 1 to change, 1 unchanged",
     {"WouldCreate v1 ConfigMap prod/new",
      "WouldConfigure apps/v1 Deployment prod/web",
      ".spec.replicas: 2 -> 3",
      ".metadata.labels.team: \"a\" -> (none)",
      ".spec.template.spec.containers[0].env: (none) -> [{\"name\":\"A\",\"value\":\"1\"}]",
      "WouldPrune v1 ConfigMap prod/old: would be pruned (dry run)"},
     {"PHASE", "HookNotRun", "Unchanged", "v1 Service prod/web", "batch/v1 Job prod/migrate"}},
    {"dry run that failed: message after the counts",
     "{'application':'shop','revision':'abc','result':'Failed','message':'admission webhook denied',"
     "'durationMs':10,'dryRun':true,'waves':[],'objects':[{'object':'v1 ConfigMap a/b','phase':'Sync',"
     "'wave':0,'result':'Failed','message':'admission webhook denied'},{'object':'v1 ConfigMap a/c',"
     "'phase':'Sync','wave':0,'result':'WouldCreate'}],'pruned':[]}",
     "shop: dry run at abc: 1 to create, 0 to change, 0 unchanged — admission webhook denied",
     {"Failed v1 ConfigMap a/b: admission webhook denied", "WouldCreate v1 ConfigMap a/c"},
     {"PHASE"}},
    {"error before any object: header only",
     "{'application':'shop','revision':'','result':'Error','message':'rendering: helm exited 1',"
     "'durationMs':800,'dryRun':false,'waves':[],'objects':[],'pruned':[]}",
     "shop: Error at  in 0.8s — rendering: helm exited 1",
     {NULL},
     {"PHASE", "Pruned"}},
    {"NotRun outside SyncFail shown, SyncFail NotRun and HookNotRun hidden",
     "{'application':'a','revision':'r','result':'Failed','message':'m','durationMs':0,'dryRun':false,"
     "'waves':[],'objects':["
     "{'object':'v1 ConfigMap n/pre','phase':'PreSync','wave':0,'result':'NotRun'},"
     "{'object':'v1 ConfigMap n/post','phase':'PostSync','wave':3,'result':'NotRun'},"
     "{'object':'batch/v1 Job n/fail','phase':'SyncFail','wave':0,'result':'NotRun'},"
     "{'object':'batch/v1 Job n/hook','phase':'PreSync','wave':0,'result':'HookNotRun'}],"
     "'pruned':[]}",
     "a: Failed at r in 0.0s — m",
     {"NotRun v1 ConfigMap n/pre", "NotRun v1 ConfigMap n/post"},
     {"n/fail", "n/hook"}},
    {"changes on a failed object are printed under it",
     "{'application':'a','revision':'r','result':'Failed','message':'','durationMs':1500,'dryRun':false,"
     "'waves':[],'objects':[{'object':'apps/v1 Deployment n/d','phase':'Sync','wave':0,'result':'Failed',"
     "'changes':[{'path':'.spec.replicas','desired':3,'live':null},"
     "{'path':'.spec.x','desired':'<y>'}]}],'pruned':[]}",
     "a: Failed at r in 1.5s",
     {"Failed apps/v1 Deployment n/d", ".spec.replicas: null -> 3", ".spec.x: (none) -> \"<y>\""},
     {" — ", "apps/v1 Deployment n/d:"}},
    {"messages over several lines (a health script's) stay on their lines, escaped",
     "{'application':'a','revision':'r','result':'Failed','message':'object example.com/v1 Widget n/q: "
     "Degraded: quota\\nexceeded','durationMs':0,'dryRun':false,'waves':[],'objects':[{'object':"
     "'example.com/v1 Widget n/q','phase':'Sync','wave':0,'result':'Failed','message':'Degraded: quota:\\n"
     "\\tcpu: 4/4\\u001b[0m'}],'pruned':[{'object':'v1 ConfigMap n/old','result':'Skipped','message':'kept:\\r\\nPrune=false'}]}",
     "a: Failed at r in 0.0s — object example.com/v1 Widget n/q: Degraded: quota\\nexceeded",
     {"Failed example.com/v1 Widget n/q: Degraded: quota:\\n\\tcpu: 4/4\\x1b[0m",
      "Skipped v1 ConfigMap n/old: kept:\\r\\nPrune=false"},
     {"\t", "\033", "\r"}},
    {"an empty report still renders", "{}", ": at in 0.0s", {NULL}, {"PHASE"}},
};

static void test_text(void)
{
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *c = &text_cases[i];
        json_t *report = load(c->report);
        char *text = ws_report_text(report), *first;
        const char *nl = text ? strchr(text, '\n') : NULL;
        int ok = text != NULL && nl != NULL && text[strlen(text) - 1] == '\n';
        first = text && nl ? strndup(text, (size_t)(nl - text)) : NULL;
        /* the first line is exact but for squeezing the "at  in" of an empty revision */
        if (first && strcmp(first, c->first) != 0) {
            char *sq = squeeze(first, strlen(first));
            if (strcmp(sq, c->first) != 0) {
                ok = 0;
                tap_diag("  first line \"%s\", want \"%s\"", first, c->first);
            }
            free(sq);
        }
        for (size_t j = 0; j < sizeof(c->lines) / sizeof(c->lines[0]) && c->lines[j]; j++)
            if (!text || !has_line(text, c->lines[j])) {
                ok = 0;
                tap_diag("  no line \"%s\"", c->lines[j]);
            }
        for (size_t j = 0; j < sizeof(c->absent) / sizeof(c->absent[0]) && c->absent[j]; j++)
            if (text && strstr(text, c->absent[j])) {
                ok = 0;
                tap_diag("  unexpected \"%s\"", c->absent[j]);
            }
        if (!tap_ok(ok, "text: %s", c->name))
            diag_block("text", text);
        free(first);
        free(text);
        json_decref(report);
    }
}

/* The wave table's columns line up under their headings. */
static void test_text_columns(void)
{
    json_t *report = load("ok_synced.json");
    char *text = ws_report_text(report);
    const char *head = text ? strstr(text, "  PHASE") : NULL, *row = text ? strstr(text, "  Sync ") : NULL;
    const char *head_eol = head ? strchr(head, '\n') : NULL;
    int ok = head && row && head_eol;
    if (ok) {
        /* RESULT, DURATION's last character and WAITED ON start at the same columns */
        size_t result_col = (size_t)(strstr(head, "RESULT") - head);
        size_t dur_end = (size_t)(strstr(head, "DURATION") - head) + strlen("DURATION");
        size_t waited_col = (size_t)(strstr(head, "WAITED ON") - head);
        ok = strncmp(row + result_col, "Healthy", 7) == 0 && row[dur_end - 1] == 's' &&
             strncmp(row + waited_col, "v1 ConfigMap prod/cfg", 21) == 0;
    }
    if (!tap_ok(ok, "text: wave table columns line up with the headings"))
        diag_block("text", text);
    free(text);
    json_decref(report);
}

/* ---- ws_report_junit ------------------------------------------------------------------ */

#define ANY ((size_t)-1)

struct junit_case {
    const char *name;
    const char *reports; /* a JSON array, or a fixture holding one report */
    size_t suites, cases, failures, skipped; /* ANY: not checked */
    const char *has[6];  /* substrings that must appear */
};

static const struct junit_case junit_cases[] = {
    {"successful sync: one test case per object, nothing failed",
     "ok_synced.json", 1, 5, 0, 1,
     {"<testsuite name=\"guestbook\" tests=\"5\" failures=\"0\" time=\"12.340\">",
      "<testcase classname=\"guestbook.PreSync.wave0\" name=\"batch/v1 Job prod/migrate\" time=\"1.500\"/>",
      "<testcase classname=\"guestbook.Sync.wave-1\" name=\"v1 ConfigMap prod/cfg\" time=\"0.000\"/>",
      "<testcase classname=\"guestbook.Sync.wave0\" name=\"apps/v1 Deployment prod/web\" time=\"9.990\"/>"}},
    {"wave timeout: failure on the Failed object, skipped on NotRun",
     "err_wave_timeout.json", 1, 5, 1, 1,
     {"<testsuite name=\"guestbook\" tests=\"5\" failures=\"1\" time=\"31.200\">",
      "name=\"apps/v1 Deployment prod/web\" time=\"0.000\"><failure message=\"not Healthy at the "
      "wave&apos;s deadline: Progressing: Waiting for rollout to finish: 0 of 2 updated replicas are "
      "available...\"/></testcase>",
      "name=\"networking.k8s.io/v1 Ingress prod/web\" time=\"0.000\"><skipped message=\"",
      "<testcase classname=\"guestbook.SyncFail.wave0\" name=\"batch/v1 Job prod/notify-failure\" "
      "time=\"0.950\"/>"}},
    {"dry run: would-be results pass",
     "ok_dry_run.json", 1, 4, 0, 0,
     {"<testsuite name=\"guestbook\" tests=\"4\" failures=\"0\" time=\"0.900\">"}},
    {"error before any object: one failing test case",
     "[{'application':'shop','revision':'','result':'Error','message':'rendering: <helm> & \\u0027kustomize\\u0027 \\\"failed\\\"',"
     "'durationMs':800,'dryRun':false,'waves':[],'objects':[],'pruned':[]}]",
     1, 1, 1, 0,
     {"<testsuite name=\"shop\" tests=\"1\" failures=\"1\" time=\"0.800\">",
      "<testcase classname=\"shop\" name=\"sync\"><failure message=\"rendering: &lt;helm&gt; &amp; "
      "&apos;kustomize&apos; &quot;failed&quot;\"/></testcase>"}},
    {"succeeded with no objects: an empty suite",
     "[{'application':'empty','revision':'r','result':'Succeeded','message':'','durationMs':5,"
     "'dryRun':false,'waves':[],'objects':[],'pruned':[]}]",
     1, 0, 0, 0,
     {"<testsuite name=\"empty\" tests=\"0\" failures=\"0\" time=\"0.005\">"}},
    {"several reports: one suite each",
     "[{'application':'a','result':'Succeeded','durationMs':1,'objects':[{'object':'v1 ConfigMap n/x',"
     "'phase':'Sync','wave':0,'result':'Synced'}]},"
     "{'application':'b','result':'Failed','message':'boom','durationMs':2,'objects':[{'object':"
     "'v1 ConfigMap n/y','phase':'Sync','wave':1,'result':'Failed','message':'boom'},{'object':"
     "'v1 ConfigMap n/z','phase':'Sync','wave':2,'result':'NotRun'}]}]",
     2, 3, 1, 1,
     {"<testsuite name=\"a\" tests=\"1\" failures=\"0\"", "<testsuite name=\"b\" tests=\"2\" failures=\"1\"",
      "<testcase classname=\"b.Sync.wave1\" name=\"v1 ConfigMap n/y\" time=\"0.000\"><failure message=\"boom\"/>"}},
    {"escaping of names and messages, control characters replaced",
     "[{'application':'a<&>\\u0027\\\"','result':'Failed','message':'m','durationMs':0,'objects':[{'object':"
     "'v1 ConfigMap n/<x>&\\u0027y\\u0027','phase':'Sync','wave':0,'result':'Failed','message':"
     "'bad \\u0001\\u001b[0m \\\"value\\\" <nil> & more\\nsecond line'}]}]",
     1, 1, 1, 0,
     {"<testsuite name=\"a&lt;&amp;&gt;&apos;&quot;\" tests=\"1\" failures=\"1\"",
      "classname=\"a&lt;&amp;&gt;&apos;&quot;.Sync.wave0\" name=\"v1 ConfigMap n/&lt;x&gt;&amp;&apos;y&apos;\"",
      "<failure message=\"bad ??[0m &quot;value&quot; &lt;nil&gt; &amp; more\nsecond line\"/>"}},
    {"no reports: an empty testsuites element", "[]", 0, 0, 0, 0,
     {"<testsuites name=\"wavesync sync\">\n</testsuites>\n"}},
    /* A sync that failed after planning but before any object failed
     * (inventory write, namespace creation, prune or inventory-after error):
     * all objects NotRun or Synced. CI must still see a failure. */
    {"failed sync in which no object failed still fails",
     "[{'application':'shop','revision':'r','result':'Failed','message':'writing the inventory: "
     "ConfigMap is invalid','durationMs':300,'dryRun':false,'waves':[],'objects':["
     "{'object':'v1 ConfigMap n/a','phase':'Sync','wave':0,'result':'NotRun'},"
     "{'object':'apps/v1 Deployment n/b','phase':'Sync','wave':1,'result':'NotRun'}],'pruned':[]}]",
     1, ANY, 1, 2,
     {"failures=\"1\"", "<failure message=\"writing the inventory: ConfigMap is invalid\"/>"}},
};

static void test_junit(void)
{
    for (size_t i = 0; i < sizeof(junit_cases) / sizeof(junit_cases[0]); i++) {
        const struct junit_case *c = &junit_cases[i];
        json_t *in = load(c->reports), *reports = in;
        char *xml;
        int ok;
        if (json_is_object(in)) { /* a fixture: one report */
            reports = json_array();
            json_array_append(reports, in);
            json_decref(in);
        }
        xml = ws_report_junit(reports);
        well_formed(xml, c->name);
        ok = xml && count(xml, "<testsuite ") == c->suites &&
             (c->cases == ANY || count(xml, "<testcase ") == c->cases) &&
             count(xml, "<failure ") == c->failures && count(xml, "<skipped ") == c->skipped;
        if (!ok && xml)
            tap_diag("  suites %zu cases %zu failures %zu skipped %zu, want %zu %s %zu %zu",
                     count(xml, "<testsuite "), count(xml, "<testcase "), count(xml, "<failure "),
                     count(xml, "<skipped "), c->suites, c->cases == ANY ? "any" : "as listed",
                     c->failures, c->skipped);
        for (size_t j = 0; j < sizeof(c->has) / sizeof(c->has[0]) && c->has[j]; j++)
            if (!xml || !strstr(xml, c->has[j])) {
                ok = 0;
                tap_diag("  missing: %s", c->has[j]);
            }
        if (!tap_ok(ok, "junit: %s", c->name))
            diag_block("xml", xml);
        free(xml);
        json_decref(reports);
    }
}

/* The checker itself must reject what it is there to catch. */
static void test_checker(void)
{
    static const struct {
        const char *xml;
        int ok;
    } cases[] = {
        {"<?xml version=\"1.0\"?>\n<a><b x=\"1\"/></a>\n", 1},
        {"<?xml version=\"1.0\"?>\n<a><b></a></b>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a x=\"<\"/>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a>&</a>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a x=\"\x01\"/>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a x=\"1\" x=\"2\"/>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a/><b/>\n", 0},
        {"<?xml version=\"1.0\"?>\n<a>\n", 0},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if ((xml_check(cases[i].xml) == NULL) != cases[i].ok) {
            ok = 0;
            tap_diag("  checker wrong on case %zu", i);
        }
    tap_ok(ok, "junit: the well-formedness checker catches broken XML");
}

int main(void)
{
    test_escape();
    test_text();
    test_text_columns();
    test_checker();
    test_junit();
    return tap_done();
}
