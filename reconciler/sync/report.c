/* report.c — text and JUnit renderings of sync reports. */
#include "sync/report.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

char *ws_xml_escape(const char *s)
{
    struct ws_buf b;
    ws_buf_init(&b, 0);
    for (; s && *s; s++) {
        switch (*s) {
        case '<': ws_buf_append(&b, "&lt;", 4); break;
        case '>': ws_buf_append(&b, "&gt;", 4); break;
        case '&': ws_buf_append(&b, "&amp;", 5); break;
        case '"': ws_buf_append(&b, "&quot;", 6); break;
        case '\'': ws_buf_append(&b, "&apos;", 6); break;
        default:
            /* XML 1.0 forbids most control characters */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r')
                ws_buf_append(&b, "?", 1);
            else
                ws_buf_append(&b, s, 1);
        }
    }
    return ws_buf_steal(&b);
}

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

char *ws_report_text(const json_t *report)
{
    struct ws_buf b;
    json_t *w, *o;
    size_t i;
    ws_buf_init(&b, 0);
    if (json_is_true(json_object_get(report, "dryRun"))) {
        size_t create = 0, configure = 0, same = 0;
        json_array_foreach(json_object_get(report, "objects"), i, o) {
            const char *r = str(o, "result");
            create += strcmp(r, "WouldCreate") == 0;
            configure += strcmp(r, "WouldConfigure") == 0;
            same += strcmp(r, "Unchanged") == 0;
        }
        ws_buf_appendf(&b, "%s: dry run at %.12s: %zu to create, %zu to change, %zu unchanged%s",
                       str(report, "application"), str(report, "revision"), create, configure, same,
                       *str(report, "message") ? " — " : "");
    } else {
        ws_buf_appendf(&b, "%s: %s at %.12s in %.1fs%s", str(report, "application"), str(report, "result"),
                       str(report, "revision"),
                       (double)json_integer_value(json_object_get(report, "durationMs")) / 1000.0,
                       *str(report, "message") ? " — " : "");
    }
    /* messages are kept whole in the report (a health script's over several
       lines); on a terminal each stays on its line */
    ws_buf_append_escaped(&b, str(report, "message"));
    ws_buf_append(&b, "\n", 1);
    if (json_array_size(json_object_get(report, "waves"))) {
        ws_buf_appendf(&b, "  %-9s %5s %8s %-8s %9s %10s  %s\n", "PHASE", "WAVE", "OBJECTS", "RESULT",
                       "DURATION", "ADVANCE", "WAITED ON");
        json_array_foreach(json_object_get(report, "waves"), i, w) {
            json_t *adv = json_object_get(w, "advanceMs");
            char advs[32] = "-";
            if (adv)
                snprintf(advs, sizeof(advs), "%.2fms", json_number_value(adv));
            ws_buf_appendf(&b, "  %-9s %5lld %8lld %-8s %8.2fs %10s  %s\n", str(w, "phase"),
                           (long long)json_integer_value(json_object_get(w, "wave")),
                           (long long)json_integer_value(json_object_get(w, "objects")), str(w, "result"),
                           (double)json_integer_value(json_object_get(w, "durationMs")) / 1000.0, advs,
                           str(w, "waitedOn"));
        }
    }
    json_array_foreach(json_object_get(report, "objects"), i, o) {
        const char *r = str(o, "result");
        json_t *changes = json_object_get(o, "changes"), *c;
        size_t j;
        if (strcmp(r, "Synced") == 0 || strcmp(r, "Unchanged") == 0 || strcmp(r, "HookNotRun") == 0 ||
            (strcmp(r, "NotRun") == 0 && strcmp(str(o, "phase"), "SyncFail") == 0))
            continue;
        ws_buf_appendf(&b, "  %-14s %s%s", r, str(o, "object"), *str(o, "message") ? ": " : "");
        ws_buf_append_escaped(&b, str(o, "message"));
        ws_buf_append(&b, "\n", 1);
        json_array_foreach(changes, j, c) {
            char *d = json_dumps(json_object_get(c, "desired"), JSON_ENCODE_ANY | JSON_COMPACT);
            char *l = json_dumps(json_object_get(c, "live"), JSON_ENCODE_ANY | JSON_COMPACT);
            ws_buf_appendf(&b, "      %s: %s -> %s\n", str(c, "path"), l ? l : "(none)", d ? d : "(none)");
            free(d);
            free(l);
        }
    }
    json_array_foreach(json_object_get(report, "pruned"), i, o) {
        ws_buf_appendf(&b, "  %-14s %s%s", strcmp(str(o, "result"), "Pruned") == 0 ? "Pruned" : str(o, "result"),
                       str(o, "object"), *str(o, "message") ? ": " : "");
        ws_buf_append_escaped(&b, str(o, "message"));
        ws_buf_append(&b, "\n", 1);
    }
    return ws_buf_steal(&b);
}

char *ws_report_junit(const json_t *reports)
{
    struct ws_buf b;
    json_t *r, *o;
    size_t i, j;
    ws_buf_init(&b, 0);
    ws_buf_appendf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"wavesync sync\">\n");
    json_array_foreach(reports, i, r) {
        size_t tests = json_array_size(json_object_get(r, "objects")), failures = 0;
        char *app = ws_xml_escape(str(r, "application"));
        int run_failed;
        json_array_foreach(json_object_get(r, "objects"), j, o)
            if (strcmp(str(o, "result"), "Failed") == 0)
                failures++;
        /* a run that failed without any object failing (inventory, namespace,
         * prune…) still shows as a failure */
        run_failed = failures == 0 && strcmp(str(r, "result"), "Succeeded") != 0;
        if (run_failed) {
            tests++;
            failures = 1;
        }
        ws_buf_appendf(&b, "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", app,
                       tests, failures, (double)json_integer_value(json_object_get(r, "durationMs")) / 1000.0);
        if (run_failed) {
            char *msg = ws_xml_escape(str(r, "message"));
            ws_buf_appendf(&b, "    <testcase classname=\"%s\" name=\"sync\"><failure message=\"%s\"/></testcase>\n",
                           app, msg);
            free(msg);
        }
        json_array_foreach(json_object_get(r, "objects"), j, o) {
            char *name = ws_xml_escape(str(o, "object"));
            char *msg = ws_xml_escape(str(o, "message"));
            double t = (double)(json_integer_value(json_object_get(o, "healthyMs")) -
                                json_integer_value(json_object_get(o, "appliedMs"))) / 1000.0;
            ws_buf_appendf(&b, "    <testcase classname=\"%s.%s.wave%lld\" name=\"%s\" time=\"%.3f\"", app,
                           str(o, "phase"), (long long)json_integer_value(json_object_get(o, "wave")), name,
                           t > 0 ? t : 0.0);
            if (strcmp(str(o, "result"), "Failed") == 0)
                ws_buf_appendf(&b, "><failure message=\"%s\"/></testcase>\n", msg);
            else if (strcmp(str(o, "result"), "NotRun") == 0)
                ws_buf_appendf(&b, "><skipped message=\"%s\"/></testcase>\n",
                               strcmp(str(o, "phase"), "SyncFail") == 0
                                   ? "SyncFail hook: runs only when the sync fails"
                                   : "not run: the sync stopped before its wave");
            else
                ws_buf_appendf(&b, "/>\n");
            free(name);
            free(msg);
        }
        ws_buf_appendf(&b, "  </testsuite>\n");
        free(app);
    }
    ws_buf_appendf(&b, "</testsuites>\n");
    return ws_buf_steal(&b);
}
