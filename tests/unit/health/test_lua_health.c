/* test_lua_health.c — Argo CD health.lua scripts in wavesync's Lua sandbox
 * (reconciler/health/lua_health.c): the fixture scripts (fixtures/health) on
 * realistic objects (tests/unit/data/lua/), where a script comes from, the
 * limits (endless loops, unbounded allocation), scripts that do not compile,
 * fail or return nonsense, sandbox escapes, isolation between evaluations,
 * and `wavesync health` end to end (reconciler/cli/cli_health.c). */
#include "health/lua_health.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

static char srcdir[PATH_MAX];

static void path_of(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", srcdir, rel);
}

/* The object named `name` (metadata.name) in a file under
 * tests/unit/data/lua/, or its first when name is NULL. Caller decrefs. */
static json_t *load_obj(const char *file, const char *name)
{
    char path[PATH_MAX + 64];
    char *buf = NULL;
    size_t len = 0;
    struct ws_yaml_stream st = {0};
    struct ws_err err;
    json_t *found = NULL;
    ws_err_clear(&err);
    snprintf(path, sizeof(path), "%s/tests/unit/data/lua/%s", srcdir, file);
    if (ws_file_read(&buf, &len, path, 1 << 20, &err) < 0 || ws_yaml_parse(&st, buf, len, file, NULL, &err) < 0)
        tap_diag("cannot load %s: %s", path, err.msg);
    for (size_t i = 0; i < st.ndocs && !found; i++) {
        const char *n = json_string_value(json_object_get(json_object_get(st.docs[i].value, "metadata"), "name"));
        if (json_is_object(st.docs[i].value) && (!name || (n && strcmp(n, name) == 0)))
            found = json_incref(st.docs[i].value);
    }
    if (!found)
        tap_diag("no object %s in %s", name ? name : "", file);
    ws_yaml_stream_free(&st);
    free(buf);
    return found;
}

/* An object written inline, YAML flow style. Caller decrefs. */
static json_t *Y(const char *flow)
{
    json_t *v = NULL;
    struct ws_err err;
    if (ws_yaml_parse_one(&v, flow, strlen(flow), "inline", NULL, &err) < 0)
        tap_diag("bad inline object %s: %s", flow, err.msg);
    return v;
}

/* A registry from a folder (relative to the source tree, or NULL) and
 * inline scripts given as key, source, ..., NULL. */
static __attribute__((sentinel)) struct ws_lua_health *make(const char *dir, const struct ws_lua_limits *lim,
                                                             struct ws_err *err, ...)
{
    struct ws_health_cfg cfg = {NULL, NULL};
    struct ws_lua_health *lh = NULL;
    char path[PATH_MAX + 64];
    const char *k;
    va_list ap;
    ws_err_clear(err);
    if (dir) {
        path_of(path, sizeof(path), dir);
        cfg.directory = path;
    }
    va_start(ap, err);
    while ((k = va_arg(ap, const char *)) != NULL) {
        if (!cfg.scripts)
            cfg.scripts = json_object();
        json_object_set_new(cfg.scripts, k, json_string(va_arg(ap, const char *))); /* steals */
    }
    va_end(ap);
    if (ws_lua_health_new(&lh, &cfg, lim, err) < 0)
        lh = NULL;
    json_decref(cfg.scripts);
    return lh;
}

/* --- the fixture scripts on realistic objects ------------------------------ */

static const struct {
    const char *file, *name;
    enum ws_health_status want;
    const char *msg; /* the whole message */
} fixture_cases[] = {
    {"pytorchjob_succeeded.yaml", NULL, WS_HEALTH_HEALTHY, "PyTorchJob resnet50-ddp is successfully completed."},
    {"pytorchjob_failed.yaml", NULL, WS_HEALTH_DEGRADED,
     "PyTorchJob nlp-classifier-finetune is failed because 1 Worker replica(s) failed."},
    {"pytorchjob_running.yaml", NULL, WS_HEALTH_PROGRESSING, "Training: Master 1/1, Worker 2/3 active"},
    {"pytorchjob_restarting.yaml", NULL, WS_HEALTH_PROGRESSING,
     "PyTorchJob resnet50-ddp is restarting because 1 Worker replica(s) failed."},
    {"pytorchjob_created.yaml", NULL, WS_HEALTH_PROGRESSING,
     "Waiting for the training operator to create the job's pods"},
    {"pytorchjob_suspended.yaml", NULL, WS_HEALTH_SUSPENDED, "PyTorchJob recommendation-v2-train is suspended."},
    {"widgets.yaml", "ready", WS_HEALTH_HEALTHY, "3/3 widgets ready"},
    {"widgets.yaml", "provisioning", WS_HEALTH_PROGRESSING, "1/3 widgets ready, phase Provisioning"},
    {"widgets.yaml", "failed", WS_HEALTH_DEGRADED, "quota exceeded: widgets.example.com/count limit is 10"},
    {"widgets.yaml", "paused", WS_HEALTH_SUSPENDED, "Widget is paused"},
    {"widgets.yaml", "stale", WS_HEALTH_PROGRESSING,
     "Waiting for spec update to be observed (generation 7, observed 6)"},
    {"widgets.yaml", "new", WS_HEALTH_PROGRESSING, "Waiting for the widget controller"},
};

static void test_fixtures(void)
{
    struct ws_err err;
    struct ws_lua_health *lh = make("fixtures/health", NULL, &err, NULL);
    tap_ok(lh != NULL, "fixtures/health loads (%s)", err.msg);
    tap_is_int(ws_lua_health_count(lh), 2, "fixtures/health: two scripts");
    for (size_t i = 0; i < WS_ARRAY_SIZE(fixture_cases); i++) {
        json_t *obj = load_obj(fixture_cases[i].file, fixture_cases[i].name);
        struct ws_health h = {WS_HEALTH_HEALTHY, "untouched", 0, NULL};
        char name[256];
        int rc = ws_lua_health_assess(lh, obj, &h);
        snprintf(name, sizeof(name), "%s%s%s", fixture_cases[i].file, fixture_cases[i].name ? " " : "",
                 fixture_cases[i].name ? fixture_cases[i].name : "");
        tap_ok(rc == 1, "%s: a script applies", name);
        if (!tap_ok(h.status == fixture_cases[i].want, "%s: %s", name, ws_health_str(fixture_cases[i].want)))
            tap_diag("  got %s: %s", ws_health_str(h.status), h.message);
        tap_is_str(h.message, fixture_cases[i].msg, "  its message");
        ws_health_clear(&h);
        json_decref(obj);
    }
    ws_lua_health_free(lh);
}

/* Argo CD's own script for OpenKruise AdvancedCronJob (its string.match on
 * a timestamp was once refused as "too costly"), on objects in each state. */
static const struct {
    const char *name;
    enum ws_health_status want;
    const char *msg;
} acj_cases[] = {
    {"feature-snapshot", WS_HEALTH_HEALTHY, "AdvancedCronJobs has run successfully"},
    {"never-ran", WS_HEALTH_DEGRADED, "AdvancedCronJobs has not run successfully"},
    {"embeddings-refresh", WS_HEALTH_PROGRESSING, "AdvancedCronJobs has active jobs"},
    {"paused-backfill", WS_HEALTH_SUSPENDED, "AdvancedCronJob is Paused"},
    {"paused-after-runs", WS_HEALTH_HEALTHY, "AdvancedCronJobs has run successfully"},
    {"retiring", WS_HEALTH_PROGRESSING, "Pending deletion; blocked by finalizers: features.example.com/drain-snapshots"},
};

static void test_argocd_script(void)
{
    struct ws_err err;
    struct ws_lua_health *lh = make("tests/unit/data/lua/argocd", NULL, &err, NULL);
    tap_ok(lh != NULL && ws_lua_health_count(lh) == 1, "Argo CD's AdvancedCronJob script loads (%s)", err.msg);
    for (size_t i = 0; i < WS_ARRAY_SIZE(acj_cases); i++) {
        json_t *obj = load_obj("advancedcronjob.yaml", acj_cases[i].name);
        struct ws_health h = {WS_HEALTH_UNKNOWN, "untouched", 0, NULL};
        int rc = ws_lua_health_assess(lh, obj, &h);
        if (!tap_ok(rc == 1 && h.status == acj_cases[i].want, "AdvancedCronJob %s: %s", acj_cases[i].name,
                    ws_health_str(acj_cases[i].want)))
            tap_diag("  got %s: %s", ws_health_str(h.status), h.message);
        tap_is_str(ws_health_message(&h), acj_cases[i].msg, "  its message");
        ws_health_clear(&h);
        json_decref(obj);
    }
    ws_lua_health_free(lh);
}

/* --- the message as the script returned it ---------------------------------- */

static const struct {
    const char *name;
    const char *script; /* keyed "example.com/Widget" */
    const char *line;   /* out->message */
    const char *full;   /* out->full_message; NULL: none (the same as line) */
} message_cases[] = {
    {"one short line: no copy", "return {status = 'Healthy', message = 'all 3 replicas ready'}",
     "all 3 replicas ready", NULL},
    {"newlines kept", "return {status = 'Degraded', message = 'quota exceeded:\\n  cpu: 4/4\\n  memory: 8Gi/8Gi'}",
     "quota exceeded: cpu: 4/4 memory: 8Gi/8Gi", "quota exceeded:\n  cpu: 4/4\n  memory: 8Gi/8Gi"},
    {"tabs, a trailing newline and other controls kept",
     "return {status = 'Degraded', message = 'a\\tb\\27[31mred\\27[0m\\n'}", "a b [31mred [0m",
     "a\tb\033[31mred\033[0m\n"},
    {"bytes that are not UTF-8 (a NUL included) become '?'",
     "return {status = 'Degraded', message = 'bad ' .. string.char(0xff, 0xfe) .. ' nul \\0 surrogate \\237\\160\\128 end'}",
     "bad ?? nul ? surrogate ??? end", NULL},
    {"an error message over several lines", "error('first line\\nsecond line')",
     "health script for example.com/Widget: health.scripts[\"example.com/Widget\"]:1: first line second line",
     "health script for example.com/Widget: health.scripts[\"example.com/Widget\"]:1: first line\nsecond line"},
};

static void test_messages(void)
{
    json_t *ready = load_obj("widgets.yaml", "ready");
    struct ws_health h = {0};
    for (size_t i = 0; i < WS_ARRAY_SIZE(message_cases); i++) {
        struct ws_err err;
        struct ws_lua_health *lh = make(NULL, NULL, &err, "example.com/Widget", message_cases[i].script, NULL);
        /* h still holds the previous verdict: assess replaces its full_message */
        tap_ok(ws_lua_health_assess(lh, ready, &h) == 1, "%s: assessed", message_cases[i].name);
        tap_is_str(h.message, message_cases[i].line, "  on one line");
        tap_is_str(h.full_message, message_cases[i].full, "  in full");
        tap_is_str(ws_health_message(&h), message_cases[i].full ? message_cases[i].full : message_cases[i].line,
                   "  ws_health_message");
        ws_lua_health_free(lh);
    }

    /* long: whole up to WS_HEALTH_MESSAGE_MAX, cut on a character boundary there */
    {
        static const struct {
            const char *script;
            size_t want_len; /* of the full message, "..." included */
            int cut;
        } longs[] = {
            {"return {status = 'Degraded', message = string.rep('x', 3000)}", 3000, 0},
            {"return {status = 'Degraded', message = string.rep('y', 65536)}", 65536, 0},
            {"return {status = 'Degraded', message = string.rep('z', 65537)}", 65536, 1},
            {"return {status = 'Degraded', message = string.rep('\\u{e9}', 40000)}", 65532 + 3, 1},
            {"return {status = 'Degraded', message = string.rep('\\u{20ac}', 30000)}", 65532 + 3, 1},
            {"error(string.rep('w', 1000000))", 65536, 1},
        };
        for (size_t i = 0; i < WS_ARRAY_SIZE(longs); i++) {
            struct ws_err err;
            struct ws_lua_health *lh = make(NULL, NULL, &err, "example.com/Widget", longs[i].script, NULL);
            const char *full;
            size_t n;
            json_t *j;
            ws_lua_health_assess(lh, ready, &h);
            full = ws_health_message(&h);
            n = strlen(full);
            if (!tap_ok(n == longs[i].want_len, "long message %zu: %zu bytes kept", i, n))
                tap_diag("  want %zu", longs[i].want_len);
            tap_ok((n >= 3 && strcmp(full + n - 3, "...") == 0) == longs[i].cut, "  %s", longs[i].cut ? "cut with ..." : "whole");
            tap_ok(!strchr(full, '?'), "  no character split by the cut");
            j = json_string(full);
            tap_ok(j != NULL, "  valid UTF-8 for JSON");
            json_decref(j);
            tap_ok(strlen(h.message) < sizeof(h.message) && strlen(h.message) >= sizeof(h.message) - 4,
                   "  one line: cut to its buffer, on a character boundary");
            ws_lua_health_free(lh);
        }
    }
    ws_health_clear(&h);
    ws_health_clear(&h);
    tap_ok(h.full_message == NULL, "ws_health_clear twice is fine");
    json_decref(ready);
}

/* --- one inline script on one object --------------------------------------- */

#define WIDGET "apiVersion: example.com/v1alpha1, kind: Widget, "

static const struct {
    const char *name;
    const char *script; /* keyed "example.com/Widget" */
    const char *obj;    /* YAML flow; NULL: the "ready" Widget of widgets.yaml */
    enum ws_health_status want;
    const char *msg;    /* substring of the message */
} script_cases[] = {
    /* what a script sees */
    {"obj as Argo CD hands it over",
     "local s = obj.spec\n"
     "return {status = 'Healthy', message = table.concat({math.type(s.size), math.type(s.ratio), math.type(s.whole),\n"
     "  type(s.on), tostring(s.none), #s.list, s.list[1], type(s.empty), tostring(s.big)}, ' ')}",
     "{" WIDGET "metadata: {name: t}, spec: {size: 3, ratio: 0.75, whole: 2.0, on: true, none: null, "
     "list: [a, b, c], empty: {}, big: 9007199254740993}}",
     WS_HEALTH_HEALTHY, "integer float integer boolean nil 3 a table 9007199254740993"},
    {"numbers print as gopher-lua prints them", "return {status = 'Healthy', message = obj.spec.size .. ' widgets'}",
     NULL, WS_HEALTH_HEALTHY, "3 widgets"},
    {"string methods and patterns",
     "local k = obj.kind:lower()\n"
     "local a, b = string.find(obj.apiVersion, '.', 1, true)\n"
     "local group = obj.apiVersion:match('^([^/]+)/')\n"
     "return {status = 'Healthy', message = string.format('%s %d %s %s', k, a, group, (obj.status.phase:gsub('R', 'r')))}",
     NULL, WS_HEALTH_HEALTHY, "widget 8 example.com ready"},
    {"Argo CD's os.time, os.date and require('os')",
     "local os = require('os')\n"
     "local now = os.time()\n"
     "local d = os.date('!%Y-%m-%dT%H:%M:%SZ', 86400)\n"
     "return {status = now > 1700000000 and 'Healthy' or 'Degraded', message = d}",
     NULL, WS_HEALTH_HEALTHY, "1970-01-02T00:00:00Z"},
    {"Lua 5.1 names: unpack, table.getn, math.pow, loadstring",
     "local a, b = unpack({1, 2})\n"
     "return {status = 'Healthy', message = tostring(a + b + table.getn({1, 2, 3}) + math.pow(2, 3) + loadstring('return 4')())}",
     NULL, WS_HEALTH_HEALTHY, "18"},
    {"print goes to the debug log", "print('phase', obj.status.phase, nil)\nreturn {status = 'Healthy'}", NULL,
     WS_HEALTH_HEALTHY, ""},
    {"every status a script may return: Missing", "return {status = 'Missing', message = 'gone'}", NULL,
     WS_HEALTH_MISSING, "gone"},
    {"a script's own Unknown", "return {status = 'Unknown', message = 'controller not reporting'}", NULL,
     WS_HEALTH_UNKNOWN, "controller not reporting"},
    {"message on one line", "return {status = 'Degraded', message = '  quota\\n\\n exceeded\\t '}", NULL,
     WS_HEALTH_DEGRADED, "quota exceeded"},
    {"a long message is cut (on its one line)", "return {status = 'Degraded', message = string.rep('x', 3000)}",
     NULL, WS_HEALTH_DEGRADED, "xxx..."},
    {"a message that is not UTF-8 is made valid",
     "return {status = 'Degraded', message = 'bad ' .. string.char(0xff, 0xfe) .. ' bytes'}", NULL,
     WS_HEALTH_DEGRADED, "bad ?? bytes"},

    /* errors while running */
    {"runtime error: Lua's message with the line",
     "hs = {}\nif obj.status.conditions[1].type == 'Ready' then hs.status = 'Healthy' end\nreturn hs", NULL,
     WS_HEALTH_UNKNOWN,
     "health script for example.com/Widget: health.scripts[\"example.com/Widget\"]:2: attempt to index a nil "
     "value (field 'conditions')"},
    {"error() with a message", "error('widget controller is on fire')", NULL, WS_HEALTH_UNKNOWN,
     "health.scripts[\"example.com/Widget\"]:1: widget controller is on fire"},
    {"error() with a table", "error({code = 7})", NULL, WS_HEALTH_UNKNOWN,
     "health script for example.com/Widget: (error object is a table value)"},
    {"error() with a number", "error(42)", NULL, WS_HEALTH_UNKNOWN, "health script for example.com/Widget: 42"},
    {"C stack overflow", "local t = setmetatable({}, {__index = function(t, k) return t[k] end})\n"
     "return {status = t.phase}", NULL, WS_HEALTH_UNKNOWN, "stack overflow"},

    /* bad return values */
    {"returns a number", "return 42", NULL, WS_HEALTH_UNKNOWN,
     "health script for example.com/Widget: returned a number, not a table"},
    {"returns a string", "return 'Healthy'", NULL, WS_HEALTH_UNKNOWN, "returned a string, not a table"},
    {"returns nothing", "hs = {status = 'Healthy'}", NULL, WS_HEALTH_UNKNOWN, "returned nothing"},
    {"returns a table without status", "return {message = 'all good'}", NULL, WS_HEALTH_UNKNOWN,
     "returned no status"},
    {"returns an empty table", "return {}", NULL, WS_HEALTH_UNKNOWN, "returned no status"},
    {"returns an unknown status", "return {status = 'Done'}", NULL, WS_HEALTH_UNKNOWN,
     "returned an invalid health status \"Done\""},
    {"statuses are case-sensitive, as in Argo CD", "return {status = 'healthy'}", NULL, WS_HEALTH_UNKNOWN,
     "invalid health status \"healthy\""},
    {"a status that is not a string", "return {status = 1}", NULL, WS_HEALTH_UNKNOWN,
     "returned a status that is a number"},
    {"a message that is not a string", "return {status = 'Healthy', message = {}}", NULL, WS_HEALTH_UNKNOWN,
     "returned a message that is a table"},

    /* the sandbox */
    {"os.execute is not there", "os.execute('touch /tmp/wavesync-pwned')\nreturn {status = 'Healthy'}", NULL,
     WS_HEALTH_UNKNOWN, ":1: attempt to call a nil value (field 'execute')"},
    {"os.getenv is not there", "return {status = 'Healthy', message = os.getenv('HOME')}", NULL, WS_HEALTH_UNKNOWN,
     "attempt to call a nil value (field 'getenv')"},
    {"io is not there", "local f = io.open('/etc/passwd')\nreturn {status = 'Healthy'}", NULL, WS_HEALTH_UNKNOWN,
     "attempt to index a nil value (global 'io')"},
    {"require of anything else fails", "local io = require('io')\nreturn {status = 'Healthy'}", NULL,
     WS_HEALTH_UNKNOWN, "module 'io' is not available to health scripts"},
    {"require of a Lua module on disk fails", "local x = require('socket')\nreturn {status = 'Healthy'}", NULL,
     WS_HEALTH_UNKNOWN, "module 'socket' is not available"},
    {"package is not there", "package.path = '/tmp/?.lua'\nreturn {status = 'Healthy'}", NULL, WS_HEALTH_UNKNOWN,
     "attempt to index a nil value (global 'package')"},
    {"dofile is not there", "dofile('/etc/passwd')", NULL, WS_HEALTH_UNKNOWN,
     "attempt to call a nil value (global 'dofile')"},
    {"loadfile is not there", "loadfile('/etc/passwd')", NULL, WS_HEALTH_UNKNOWN,
     "attempt to call a nil value (global 'loadfile')"},
    {"debug is not there", "local i = debug.getinfo(1)\nreturn {status = 'Healthy'}", NULL, WS_HEALTH_UNKNOWN,
     "attempt to index a nil value (global 'debug')"},
    {"coroutine is not there", "coroutine.wrap(function() end)()", NULL, WS_HEALTH_UNKNOWN,
     "attempt to index a nil value (global 'coroutine')"},
    {"string.dump is not there", "local b = string.dump(function() end)", NULL, WS_HEALTH_UNKNOWN,
     "attempt to call a nil value (field 'dump')"},
    {"load refuses binary chunks, whatever the mode",
     "assert(load(string.char(27) .. 'LuaT\\0\\25\\147\\r\\n\\26\\n', 'evil', 'b'))", NULL, WS_HEALTH_UNKNOWN,
     "attempt to load a binary chunk (mode is 't')"},
    {"load runs text in the script's own globals",
     "local f = assert(load('return os.execute, io, debug, string.dump, obj.kind'))\n"
     "local a, b, c, d, k = f()\n"
     "return {status = (a == nil and b == nil and c == nil and d == nil) and 'Healthy' or 'Degraded', message = k}",
     NULL, WS_HEALTH_HEALTHY, "Widget"},
    {"load with an explicit environment",
     "local f = load('return x * 2', 'calc', 't', {x = 21})\nreturn {status = 'Healthy', message = tostring(f())}",
     NULL, WS_HEALTH_HEALTHY, "42"},
    {"_G is the sandbox",
     "return {status = (_G.os.execute == nil and _G.io == nil and _G._G == _G and _G.obj == obj) and 'Healthy' or "
     "'Degraded'}",
     NULL, WS_HEALTH_HEALTHY, ""},
    {"strings' metatable is hidden", "local mt = getmetatable('')\nreturn {status = 'Healthy', message = mt.__index}",
     NULL, WS_HEALTH_UNKNOWN, "attempt to index a boolean value (local 'mt')"},
    {"collectgarbage only counts",
     "assert(collectgarbage('count') > 0)\ncollectgarbage('collect')\nreturn {status = 'Healthy'}", NULL,
     WS_HEALTH_UNKNOWN, "collectgarbage(\"collect\") is not allowed"},
    {"no finalizers", "setmetatable({}, {__gc = function() while true do end end})\nreturn {status = 'Healthy'}",
     NULL, WS_HEALTH_UNKNOWN, "__gc metamethods are not allowed"},
    {"setmetatable still works", "local t = setmetatable({}, {__index = function(_, k) return k .. '!' end})\n"
     "return {status = 'Healthy', message = t.hello}",
     NULL, WS_HEALTH_HEALTHY, "hello!"},
    {"math.randomseed is not there (its seed would outlive the call)", "math.randomseed(42)", NULL,
     WS_HEALTH_UNKNOWN, "attempt to call a nil value (field 'randomseed')"},
    {"xpcall: the handler sees the error",
     "local ok, e = xpcall(function() error('boom', 0) end, function(m) return 'handled: ' .. m end)\n"
     "return {status = ok and 'Degraded' or 'Healthy', message = e}",
     NULL, WS_HEALTH_HEALTHY, "handled: boom"},
    {"xpcall: results and arguments pass through",
     "local ok, a, b = xpcall(function(x, y) return x + 1, y end, print, 41, 'b')\n"
     "return {status = ok and 'Healthy' or 'Degraded', message = a .. b}",
     NULL, WS_HEALTH_HEALTHY, "42b"},
    {"math.random works", "local r = math.random(1, 6)\nreturn {status = (r >= 1 and r <= 6) and 'Healthy' or 'Degraded'}",
     NULL, WS_HEALTH_HEALTHY, ""},
    /* C functions that would run long between two instruction checks */
    {"table.move is absent (an unbounded loop in C; not in Argo CD's Lua 5.1)",
     "table.move({}, 1, 3000000000, 1, {})\nreturn {status = 'Healthy'}", NULL, WS_HEALTH_UNKNOWN, "field 'move'"},
    {"table.insert does not follow __len",
     "table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1, 0)\n"
     "return {status = 'Healthy', message = 'quick'}",
     NULL, WS_HEALTH_HEALTHY, "quick"},
    /* patterns run whatever their text; only their actual cost counts (test_limits) */
    {"Argo CD's timestamp pattern (apps.kruise.io/AdvancedCronJob)",
     "local y, mo, d, h, mi, s = string.match('2023-09-16T16:29:00Z', '(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z')\n"
     "return {status = 'Healthy', message = table.concat({y, mo, d, h, mi, s}, ' ') .. ' ' .. "
     "math.type(os.time({year = y, month = mo, day = d, hour = h, min = mi, sec = s}))}",
     NULL, WS_HEALTH_HEALTHY, "2023 09 16 16 29 00 integer"},
    {"'^(.-):%s*(.*)$' on a 158-byte condition message",
     "local m = 'Back-off restarting failed container trainer in pod resnet50-ddp-worker-1_ml-train'\n"
     "  .. '(5f1c2d7e-8a44-4b0e-9a51-3c2f0e6b7d21): CrashLoopBackOff: last exit code 137'\n"
     "assert(#m == 158)\n"
     "local reason, rest = string.match(m, '^(.-):%s*(.*)$')\n"
     "return {status = 'Degraded', message = rest .. ' | ' .. #reason}",
     NULL, WS_HEALTH_DEGRADED, "CrashLoopBackOff: last exit code 137 | 120"},
    {"a quadratic pattern on a modest subject runs",
     "local s = ('x'):rep(2000)\nreturn {status = s:find('x*y') == nil and 'Healthy' or 'Degraded', "
     "message = tostring(select(2, s:gsub('x', 'y')))}",
     NULL, WS_HEALTH_HEALTHY, "2000"},
    {"gsub with a table, a function and captures; gmatch; %b and %f",
     "local t = {}\nfor k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do t[#t + 1] = v .. k end\n"
     "local g = ('$x and $y'):gsub('%$(%w+)', {x = 'X'})\n"
     "local f = ('hello world'):gsub('%f[%w]%w', string.upper)\n"
     "return {status = 'Healthy', message = table.concat(t, ',') .. ' ' .. g .. ' ' .. f .. ' ' .. "
     "('f(a(b)c)'):match('%b()') .. ' ' .. select(2, ('key: v'):find('()ey()'))}",
     NULL, WS_HEALTH_HEALTHY, "1a,2b X and $y Hello World (a(b)c) 3"},
    {"string methods use the same functions",
     "local s = 'Ready=True'\nreturn {status = s:match('=(%a+)') == 'True' and 'Healthy' or 'Degraded', "
     "message = s:gsub('=', ': ')}",
     NULL, WS_HEALTH_HEALTHY, "Ready: True"},
    {"a plain find of a long string is fine",
     "local s = ('x'):rep(1000000)\nreturn {status = s:find('xy', 1, true) == nil and 'Healthy' or 'Degraded'}", NULL,
     WS_HEALTH_HEALTHY, ""},
    {"an ordinary pattern on a status message is fine",
     "local m = 'back-off 40s restarting failed container'\nreturn {status = m:find('.*failed') and 'Degraded' or 'Healthy', "
     "message = m:match('back%-off (%d+s)')}",
     NULL, WS_HEALTH_DEGRADED, "40s"},
    {"an empty string repeated 10^12 times costs nothing",
     "local x = (''):rep(1000000000000)\nreturn {status = 'Healthy', message = 'empty:' .. #x}", NULL, WS_HEALTH_HEALTHY,
     "empty:0"},
    {"table.insert and table.remove keep their meaning",
     "local t = {}\ntable.insert(t, 'a')\ntable.insert(t, 1, 'b')\nlocal r = table.remove(t, 1)\n"
     "table.insert(t, 'c')\nlocal last = table.remove(t)\nreturn {status = 'Healthy', message = r .. t[1] .. last .. #t}",
     NULL, WS_HEALTH_HEALTHY, "bac1"},
};

static void test_scripts(void)
{
    json_t *ready = load_obj("widgets.yaml", "ready");
    for (size_t i = 0; i < WS_ARRAY_SIZE(script_cases); i++) {
        struct ws_err err;
        struct ws_lua_health *lh = make(NULL, NULL, &err, "example.com/Widget", script_cases[i].script, NULL);
        json_t *obj = script_cases[i].obj ? Y(script_cases[i].obj) : json_incref(ready);
        struct ws_health h = {WS_HEALTH_HEALTHY, "untouched", 0, NULL};
        int rc;
        if (!tap_ok(lh != NULL, "%s: compiles", script_cases[i].name)) {
            tap_diag("  %s", err.msg);
            json_decref(obj);
            continue;
        }
        rc = ws_lua_health_assess(lh, obj, &h);
        if (!tap_ok(rc == 1 && h.status == script_cases[i].want, "%s: %s", script_cases[i].name,
                    ws_health_str(script_cases[i].want)))
            tap_diag("  got %d %s: %s", rc, ws_health_str(h.status), h.message);
        tap_contains(h.message, script_cases[i].msg, "  message");
        if (strcmp(script_cases[i].name, "a long message is cut (on its one line)") == 0)
            tap_is_int(strlen(h.message), sizeof(h.message) - 1, "  cut to the buffer");
        ws_health_clear(&h);
        ws_lua_health_free(lh);
        json_decref(obj);
    }
    json_decref(ready);
}

/* --- limits ---------------------------------------------------------------- */

static const struct {
    const char *name, *script;
    struct ws_lua_limits lim; /* zeros: defaults */
    const char *msg;
    uint64_t min_ms, max_ms;
} limit_cases[] = {
    {"endless loop", "while true do end", {0, 0, 0}, "instruction limit exceeded (10000000 instructions)", 0, 2000},
    {"endless loop that pcall catches",
     "while true do pcall(function() while true do end end) end", {0, 0, 0}, "instruction limit exceeded", 0, 2000},
    {"endless loop in an xpcall handler",
     "xpcall(function() error('x') end, function() while true do end end)\nreturn {status = 'Healthy'}",
     {0, 0, 0}, "instruction limit exceeded", 0, 2000},
    {"endless loop in a __close handler",
     "do local x <close> = setmetatable({}, {__close = function() while true do end end}) end\n"
     "return {status = 'Healthy'}",
     {0, 0, 0}, "instruction limit exceeded", 0, 2000},
    /* mostly C (pcall, error) with few instructions: the clock stops it */
    {"endless recursion through pcall", "local function f() pcall(f) pcall(f) end\nf()\nreturn {status = 'Healthy'}",
     {0, 0, 300}, "limit exceeded", 0, 1500},
    {"deep recursion: the memory limit stops it first",
     "local function f(n) return 1 + f(n + 1) end\nreturn {status = f(1)}", {0, 0, 0}, "not enough memory", 0,
     2000},
    {"wall time", "while true do end", {UINT64_MAX, 0, 200}, "time limit exceeded (200 ms)", 200, 1500},
    {"a small instruction budget", "for i = 1, 1000 do end\nreturn {status = 'Healthy'}", {100, 0, 0},
     "instruction limit exceeded (100 instructions)", 0, 2000},
    {"table growing without bound",
     "local t = {}\nlocal i = 0\nwhile true do i = i + 1; t[i] = {i, tostring(i)} end", {0, 0, 0},
     "not enough memory", 0, 2000},
    {"string doubling", "local s = 'x'\nwhile true do s = s .. s end", {0, 0, 0}, "not enough memory", 0, 2000},
    {"one huge string.rep", "local s = string.rep('x', 1 << 30)", {0, 0, 0}, "not enough memory", 0, 2000},
    {"memory error caught by pcall, then more",
     "local ok = pcall(string.rep, 'x', 1 << 30)\nlocal t = {}\nwhile true do t[#t + 1] = {} end", {0, 0, 0},
     "not enough memory", 0, 2000},
    {"a small memory budget", "local t = {}\nfor i = 1, 100000 do t[i] = i end\nreturn {status = 'Healthy'}",
     {0, 64 << 10, 0}, "not enough memory", 0, 2000},
    /* pattern matching runs in C, where the hook never fires: its steps count */
    {"a pathological pattern", "local s = ('a'):rep(5000)\ns:find('.-.-.-.-.-.-.-x')\nreturn {status = 'Healthy'}",
     {0, 0, 0},
     "instruction limit exceeded (10000000 instructions) in string.find: pattern \".-.-.-.-.-.-.-x\" on a "
     "5000-byte string (each matching step counts as an instruction)",
     0, 1000},
    {"a pathological pattern, again and again under pcall",
     "local s = ('a'):rep(5000)\nfor i = 1, 100 do pcall(string.find, s, '.-.-.-.-.-.-.-x') end\n"
     "return {status = 'Healthy'}",
     {0, 0, 0}, "instruction limit exceeded (10000000 instructions) in string.find", 0, 1000},
    {"a pathological gsub", "local s = ('a'):rep(100000)\ns:gsub('.*failed', '')\nreturn {status = 'Healthy'}",
     {0, 0, 0}, "in string.gsub: pattern \".*failed\" on a 100000-byte string", 0, 1000},
    {"a pathological gmatch", "for w in ('('):rep(20000):gmatch('%b()') do end\nreturn {status = 'Healthy'}",
     {0, 0, 0}, "in string.gmatch: pattern \"%b()\"", 0, 1000},
    {"a pathological match through a string method",
     "local s = ('a'):rep(30) .. 'c'\nlocal x = s:match('(a*)(a*)(a*)(a*)(a*)(a*)b')\nreturn {status = 'Healthy'}",
     {0, 0, 0}, "in string.match: pattern \"(a*)(a*)(a*)(a*)(a*)(a*)b\" on a 31-byte string", 0, 1000},
    {"a long pattern is shown cut", "local s = ('a'):rep(5000)\ns:find(('.-'):rep(30) .. 'x')", {0, 0, 0},
     "in string.find: pattern \".-.-.-.-.-.-.-.-.-.-.-.-.-.-.-.-.-.-.-.-...\" on a 5000-byte string", 0, 1000},
    {"a pathological pattern in a gsub callback",
     "local s = ('a'):rep(3000);\n('xyz'):gsub('%w', function(c) return s:find('.-.-.-.-.-' .. c) and 'y' end)\n"
     "return {status = 'Healthy'}",
     {0, 0, 0}, "in string.find: pattern \".-.-.-.-.-x\" on a 3000-byte string", 0, 1000},
    {"a pathological pattern against the clock", "local s = ('a'):rep(5000)\ns:find('.-.-.-.-.-.-.-x')",
     {UINT64_MAX, 0, 200}, "time limit exceeded (200 ms) in string.find: pattern \".-.-.-.-.-.-.-x\"", 200, 1000},
    {"a small instruction budget stops a match", "local s = ('x'):rep(100000)\ns:find('x*y')", {50000, 0, 0},
     "instruction limit exceeded (50000 instructions) in string.find: pattern \"x*y\"", 0, 1000},
};

static void test_limits(void)
{
    json_t *ready = load_obj("widgets.yaml", "ready");
    for (size_t i = 0; i < WS_ARRAY_SIZE(limit_cases); i++) {
        struct ws_err err;
        struct ws_lua_health *lh = make(NULL, &limit_cases[i].lim, &err, "example.com/Widget",
                                        limit_cases[i].script, NULL);
        struct ws_health h = {WS_HEALTH_HEALTHY, "untouched", 0, NULL};
        uint64_t t0, ms;
        int rc;
        if (!tap_ok(lh != NULL, "%s: compiles", limit_cases[i].name)) {
            tap_diag("  %s", err.msg);
            continue;
        }
        t0 = ws_now_ms();
        rc = ws_lua_health_assess(lh, ready, &h);
        ms = ws_now_ms() - t0;
        if (!tap_ok(rc == 1 && h.status == WS_HEALTH_UNKNOWN, "%s: Unknown", limit_cases[i].name))
            tap_diag("  got %s: %s", ws_health_str(h.status), h.message);
        tap_contains(h.message, limit_cases[i].msg, "  message");
        tap_contains(h.message, "health script for example.com/Widget: ", "  names the script");
        if (!tap_ok(ms >= limit_cases[i].min_ms && ms < limit_cases[i].max_ms, "  within the limits (%llu ms)",
                    (unsigned long long)ms))
            tap_diag("  want [%llu, %llu) ms", (unsigned long long)limit_cases[i].min_ms,
                     (unsigned long long)limit_cases[i].max_ms);
        /* the same lua_State again: the limit left nothing behind */
        rc = ws_lua_health_assess(lh, ready, &h);
        tap_ok(rc == 1 && h.status == WS_HEALTH_UNKNOWN && strstr(h.message, limit_cases[i].msg),
               "  again: the same verdict (%s)", h.message);
        ws_health_clear(&h);
        ws_lua_health_free(lh);
    }
    json_decref(ready);
}

/* A script that misbehaves for one object only: the state it ran in serves
 * the next object normally. */
static void test_recovery(void)
{
    struct ws_lua_limits lim = {0, 1 << 20, 0};
    struct ws_err err;
    struct ws_lua_health *lh =
        make(NULL, &lim, &err, "example.com/Widget",
             "if obj.metadata.name == 'hog' then local t = {} while true do t[#t + 1] = {} end end\n"
             "if obj.metadata.name == 'spin' then while true do end end\n"
             "return {status = 'Healthy', message = 'fine: ' .. obj.metadata.name}",
             NULL);
    const char *const names[] = {"hog", "ready", "spin", "ready", "hog", "spin", "ready"};
    const char *const want[] = {"not enough memory", "fine: ready", "instruction limit exceeded",
                                "fine: ready", "not enough memory", "instruction limit exceeded", "fine: ready"};
    json_t *big;
    char *blob;
    struct ws_health h = {0};
    for (size_t i = 0; i < WS_ARRAY_SIZE(names); i++) {
        char flow[256];
        json_t *obj;
        snprintf(flow, sizeof(flow), "{" WIDGET "metadata: {name: %s}}", names[i]);
        obj = Y(flow);
        tap_ok(ws_lua_health_assess(lh, obj, &h) == 1 && strstr(h.message, want[i]) &&
                   (h.status == WS_HEALTH_HEALTHY) == (strncmp(want[i], "fine", 4) == 0),
               "recovery %zu (%s): %s", i, names[i], h.message);
        json_decref(obj);
    }
    /* converting obj counts against the budget too */
    blob = malloc(2 << 20);
    memset(blob, 'x', 2 << 20);
    blob[(2 << 20) - 1] = '\0';
    big = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "example.com/v1alpha1", "kind", "Widget",
                    "metadata", "name", "ready", "spec", "blob", blob);
    tap_ok(ws_lua_health_assess(lh, big, &h) == 1 && h.status == WS_HEALTH_UNKNOWN &&
               strstr(h.message, "not enough memory"),
           "an object larger than the memory budget: Unknown (%s)", h.message);
    json_decref(big);
    free(blob);
    ws_health_clear(&h);
    ws_lua_health_free(lh);
}

/* --- nothing leaks from one evaluation into the next ------------------------ */

static void test_isolation(void)
{
    struct ws_err err;
    struct ws_lua_health *lh = make(
        NULL, NULL, &err, "example.com/Widget",
        "local seen = tostring(counter) .. ' ' .. tostring(string.shout) .. ' ' .. tostring(rawget(_G, 'leak'))\n"
        "counter = (counter or 0) + 1\n"
        "local up = string.upper\n"
        "function string.shout(s) return up(s) .. '!' end\n"
        "string.upper = nil\n"
        "table.insert = nil\n"
        "setmetatable(_G, {__index = function(_, k) return 'leaked' end})\n"
        "leak = true\n"
        "return {status = 'Healthy', message = seen .. ' ' .. ('hi'):shout() .. ' ' .. counter}",
        "example.com/Gadget",
        "local t = {}\ntable.insert(t, ('ok'):upper())\nreturn {status = 'Healthy', message = t[1] .. ' ' .. "
        "tostring(counter) .. ' ' .. tostring(string.shout)}",
        NULL);
    json_t *widget = Y("{" WIDGET "metadata: {name: w}}");
    json_t *gadget = Y("{apiVersion: example.com/v1alpha1, kind: Gadget, metadata: {name: g}}");
    struct ws_health h = {0};
    tap_ok(lh != NULL, "isolation scripts compile (%s)", err.msg);
    for (int i = 0; i < 3; i++) {
        tap_ok(ws_lua_health_assess(lh, widget, &h) == 1, "call %d runs", i + 1);
        tap_is_str(h.message, "nil nil nil HI! 1", "  sees fresh globals and a fresh string library");
    }
    tap_ok(ws_lua_health_assess(lh, gadget, &h) == 1, "another script after it");
    tap_is_str(h.message, "OK nil nil", "  sees neither its globals nor its library changes");
    ws_health_clear(&h);
    json_decref(widget);
    json_decref(gadget);
    ws_lua_health_free(lh);
}

/* --- where a script comes from ---------------------------------------------- */

#define DEPLOY "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {replicas: 2}, " \
               "status: {availableReplicas: 2}}"

static const struct {
    int registry; /* 0: the folder alone; 1: folder and inline scripts; 2: inline globs */
    const char *obj;
    int applies;
    enum ws_health_status want;
    const char *msg;    /* substring */
    const char *source; /* suffix of ws_lua_health_source */
} source_cases[] = {
    {0, "{apiVersion: v1, kind: ConfigMap, metadata: {name: m}, data: {model.version: '3.1'}}", 1,
     WS_HEALTH_HEALTHY, "serving model 3.1", "/dir/ConfigMap/health.lua"},
    {0, "{" WIDGET "metadata: {name: w}}", 1, WS_HEALTH_HEALTHY, "from the folder",
     "/dir/example.com/Widget/health.lua"},
    {0, "{apiVersion: tools.example.com/v1, kind: Gadget, metadata: {name: g}}", 1, WS_HEALTH_SUSPENDED,
     "from the glob folder: Gadget", "/dir/_.example.com/_/health.lua"},
    {0, "{apiVersion: shop.example.com/v1, kind: Widget, metadata: {name: w}}", 1, WS_HEALTH_SUSPENDED,
     "from the glob folder: Widget", "/dir/_.example.com/_/health.lua"},
    {0, "{apiVersion: example.com/v1, kind: Gadget, metadata: {name: g}}", 0, 0, NULL, NULL}, /* not *.example.com */
    {0, DEPLOY, 1, WS_HEALTH_HEALTHY, "2 of 2 available (from the folder)", "/dir/apps/Deployment/health.lua"},
    {0, "{apiVersion: batch/v1, kind: Job, metadata: {name: j}}", 0, 0, NULL, NULL},
    {0, "{apiVersion: v1, kind: Service, metadata: {name: s}}", 0, 0, NULL, NULL},
    {0, "{apiVersion: example.com/v1, metadata: {name: nokind}}", 0, 0, NULL, NULL},
    {0, "[1, 2]", 0, 0, NULL, NULL},
    {0, NULL, 0, 0, NULL, NULL},
    /* inline scripts win over the folder; inline globs too */
    {1, "{" WIDGET "metadata: {name: w}}", 1, WS_HEALTH_DEGRADED, "inline Widget", "inline:example.com/Widget"},
    {1, "{apiVersion: tools.example.com/v1, kind: Gadget, metadata: {name: g}}", 1, WS_HEALTH_PROGRESSING,
     "inline glob", "inline:*.example.com/*"},
    {1, "{apiVersion: v1, kind: ConfigMap, metadata: {name: m}}", 1, WS_HEALTH_HEALTHY, "inline core ConfigMap",
     "inline:ConfigMap"},
    {1, DEPLOY, 1, WS_HEALTH_SUSPENDED, "inline glob for Deployments", "inline:*/Deployment"},
    {1, "{apiVersion: v1, kind: Pod, metadata: {name: p}}", 1, WS_HEALTH_HEALTHY, "core Pod, key without a slash",
     "inline:Pod"},
    /* among globs the longest pattern wins */
    {2, "{apiVersion: tools.example.com/v1, kind: Gadget, metadata: {name: g}}", 1, WS_HEALTH_HEALTHY, "gadget glob",
     "inline:*.example.com/Gadget"},
    {2, "{apiVersion: tools.example.com/v1, kind: Widget, metadata: {name: w}}", 1, WS_HEALTH_PROGRESSING,
     "any example.com", "inline:*.example.com/*"},
    {2, "{apiVersion: other.io/v1, kind: Gadget, metadata: {name: g}}", 1, WS_HEALTH_DEGRADED, "any Gadget",
     "inline:*/Gadget"},
    {2, "{apiVersion: v1, kind: Gadget, metadata: {name: g}}", 0, 0, NULL, NULL}, /* core: key "Gadget" */
};

static void test_sources(void)
{
    struct ws_err err;
    struct ws_lua_health *lh[3];
    lh[0] = make("tests/unit/data/lua/dir", NULL, &err, NULL);
    tap_ok(lh[0] != NULL, "the test folder loads (%s)", err.msg);
    tap_is_int(ws_lua_health_count(lh[0]), 4, "  four scripts (actions/ is not read)");
    lh[1] = make("tests/unit/data/lua/dir", NULL, &err, "example.com/Widget",
                 "return {status = 'Degraded', message = 'inline Widget'}", "*.example.com/*",
                 "return {status = 'Progressing', message = 'inline glob'}", "/ConfigMap",
                 "return {status = 'Healthy', message = 'inline core ' .. obj.kind}", "*/Deployment",
                 "return {status = 'Suspended', message = 'inline glob for Deployments'}", "Pod",
                 "return {status = 'Healthy', message = 'core Pod, key without a slash'}", NULL);
    tap_ok(lh[1] != NULL, "folder and inline scripts load (%s)", err.msg);
    /* the folder's ConfigMap and example.com/Widget are shadowed: not read */
    tap_is_int(ws_lua_health_count(lh[1]), 5 + 2, "  the shadowed folder scripts are not loaded");
    lh[2] = make(NULL, NULL, &err, "*.example.com/*", "return {status = 'Progressing', message = 'any example.com'}",
                 "*.example.com/Gadget", "return {status = 'Healthy', message = 'gadget glob'}", "*/Gadget",
                 "return {status = 'Degraded', message = 'any Gadget'}", NULL);
    tap_ok(lh[2] != NULL, "inline globs load (%s)", err.msg);
    for (size_t i = 0; i < WS_ARRAY_SIZE(source_cases); i++) {
        json_t *obj = source_cases[i].obj ? Y(source_cases[i].obj) : NULL;
        struct ws_lua_health *r = lh[source_cases[i].registry];
        struct ws_health h = {WS_HEALTH_HEALTHY, "untouched", 0, NULL};
        const char *src = ws_lua_health_source(r, obj);
        int rc = ws_lua_health_assess(r, obj, &h);
        const char *label = source_cases[i].obj ? source_cases[i].obj : "(no object)";
        tap_is_int(rc, source_cases[i].applies, label);
        if (source_cases[i].applies) {
            size_t ls = src ? strlen(src) : 0, lw = strlen(source_cases[i].source);
            tap_ok(h.status == source_cases[i].want, "  %s", ws_health_str(source_cases[i].want));
            tap_contains(h.message, source_cases[i].msg, "  message");
            if (!tap_ok(src && ls >= lw && strcmp(src + ls - lw, source_cases[i].source) == 0, "  source"))
                tap_diag("  got %s, want ...%s", src ? src : "(null)", source_cases[i].source);
        } else {
            tap_ok(src == NULL && strcmp(h.message, "untouched") == 0, "  no script, out untouched");
        }
        ws_health_clear(&h);
        json_decref(obj);
    }
    tap_ok(ws_lua_health_assess(NULL, NULL, NULL) == 0, "a NULL registry applies to nothing");
    for (int i = 0; i < 3; i++)
        ws_lua_health_free(lh[i]);
}

/* --- scripts and folders that cannot be used -------------------------------- */

static void test_load_errors(void)
{
    struct ws_err err;
    struct ws_lua_health *lh;
    char want[PATH_MAX + 128];
    struct ws_health_cfg none = {NULL, NULL};

    /* A script that does not compile makes its objects Unknown, saying why;
       the registry (and the process) carry on. */
    json_t *widget = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "example.com/v1", "kind", "Widget",
                               "metadata", "name", "w");
    json_t *job = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "kubeflow.org/v1", "kind", "PyTorchJob",
                            "metadata", "name", "j");
    struct ws_health h = {WS_HEALTH_HEALTHY, "", 0, NULL};

    lh = make("tests/unit/data/lua/err_syntax", NULL, &err, NULL);
    tap_ok(lh != NULL, "a folder script with a syntax error: loads (%s)", lh ? "ok" : err.msg);
    tap_ok(lh && ws_lua_health_assess(lh, widget, &h) == 1 && h.status == WS_HEALTH_UNKNOWN,
           "  its objects are Unknown");
    snprintf(want, sizeof(want),
             "health script does not compile: %s/tests/unit/data/lua/err_syntax/example.com/Widget/health.lua:3: "
             "unexpected symbol near '='",
             srcdir);
    tap_contains(h.message, want, "  the message names the file and line, with Lua's message");
    ws_lua_health_free(lh);

    h.status = WS_HEALTH_HEALTHY;
    lh = make(NULL, NULL, &err, "kubeflow.org/PyTorchJob", "hs = {}\nhs.status = \nreturn hs", NULL);
    tap_ok(lh && ws_lua_health_assess(lh, job, &h) == 1 && h.status == WS_HEALTH_UNKNOWN,
           "an inline script with a syntax error: Unknown");
    tap_contains(h.message, "health script does not compile: health.scripts[\"kubeflow.org/PyTorchJob\"]:3:",
                 "  names the key and line");
    ws_lua_health_free(lh);

    h.status = WS_HEALTH_HEALTHY;
    lh = make(NULL, NULL, &err, "example.com/Widget", "\x1bLuaT\x00", NULL);
    tap_ok(lh && ws_lua_health_assess(lh, widget, &h) == 1 && h.status == WS_HEALTH_UNKNOWN,
           "a precompiled (binary) script: Unknown");
    tap_contains(h.message, "attempt to load a binary chunk", "  says why");
    ws_health_clear(&h);
    ws_lua_health_free(lh);
    json_decref(widget);
    json_decref(job);

    lh = make("tests/unit/data/lua/no-such-folder", NULL, &err, NULL);
    tap_ok(lh == NULL && err.code == WS_ECONFIG, "a missing folder: refused");
    tap_contains(err.msg, "health.directory: ", "  names the setting");
    tap_contains(err.msg, "no-such-folder: No such file or directory", "  and the folder");

    lh = make(NULL, NULL, &err, "/ConfigMap", "return {status = 'Healthy'}", "ConfigMap",
              "return {status = 'Degraded'}", NULL);
    tap_ok(lh == NULL && err.code == WS_ECONFIG, "the same core kind twice: refused");
    tap_contains(err.msg, "names ConfigMap twice", "  says so");

    tap_ok(ws_lua_health_new(&lh, &none, NULL, &err) == 0 && ws_lua_health_count(lh) == 0,
           "no scripts configured: an empty registry");
    ws_lua_health_free(lh);
    tap_ok(ws_lua_health_new(&lh, NULL, NULL, &err) == 0 && lh != NULL, "no health section at all: fine");
    ws_lua_health_free(lh);
}

/* --- `wavesync health` end to end ------------------------------------------ */

/* Run ws_cli_health with stdout and stderr captured. Caller frees both. */
static int run_cli(const struct ws_global_opts *g, char **out, char **errout, ...)
{
    char *argv[16];
    int argc = 0, rc, saved_out, saved_err;
    char tmpl_out[] = "/tmp/wavesync-test-lua-out-XXXXXX", tmpl_err[] = "/tmp/wavesync-test-lua-err-XXXXXX";
    int fd_out = mkstemp(tmpl_out), fd_err = mkstemp(tmpl_err);
    struct ws_err err;
    size_t len;
    va_list ap;
    argv[argc++] = "health";
    va_start(ap, errout);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    rc = ws_cli_health(g, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fd_out);
    close(fd_err);
    *out = *errout = NULL;
    ws_file_read(out, &len, tmpl_out, 1 << 20, &err);
    ws_file_read(errout, &len, tmpl_err, 1 << 20, &err);
    unlink(tmpl_out);
    unlink(tmpl_err);
    return rc;
}

/* A line of `wavesync health`'s table. */
static const char *row(const char *kind, const char *name, const char *status, const char *msg)
{
    static char buf[4][512];
    static int n;
    char *b = buf[n++ % 4];
    snprintf(b, sizeof(buf[0]), "%-22s %-44s %-12s %s", kind, name, status, msg);
    return b;
}

static void test_cli(void)
{
    char config[PATH_MAX + 64], objects[PATH_MAX + 64], bad_yaml[PATH_MAX + 64], bad_cfg[PATH_MAX + 64],
        cwd[PATH_MAX];
    char dir_tmpl[] = "/tmp/wavesync-test-lua-XXXXXX";
    char warning[PATH_MAX + 256];
    struct ws_global_opts g = {0};
    char *out = NULL, *errout = NULL;
    json_t *res;
    json_error_t jerr;
    FILE *f;
    int rc;
    path_of(config, sizeof(config), "tests/unit/data/lua/wavesync.yaml");
    path_of(objects, sizeof(objects), "tests/unit/data/lua/cli_objects.yaml");
    path_of(bad_yaml, sizeof(bad_yaml), "tests/unit/data/lua/err_yaml.yaml");

    g.config = config;
    rc = run_cli(&g, &out, &errout, objects, NULL);
    tap_is_int(rc, 0, "cli: exit 0");
    tap_diag("wavesync --config tests/unit/data/lua/wavesync.yaml health cli_objects.yaml:");
    for (char *line = out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        tap_diag("  %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
    }
    tap_contains(out, "KIND", "cli: a header");
    tap_contains(out, row("PyTorchJob", "ml-train/resnet50-ddp", "Degraded",
                          "PyTorchJob resnet50-ddp is failed because 1 Worker replica(s) failed."),
                 "cli: the PyTorchJob by the fixture script");
    tap_contains(out, row("ConfigMap", "ml-serve/feature-flags", "Healthy", "inline script for ConfigMap"),
                 "cli: the ConfigMap by the inline script");
    tap_contains(out, row("Deployment", "ml-serve/recommender", "Healthy", ""),
                 "cli: the Deployment by the built-in rules");
    tap_contains(out, row("Widget", "shop/ready", "Healthy", "1/1 widgets ready"),
                 "cli: a List's item by the fixture script");
    free(out);
    free(errout);

    /* --config (a global option, taken out by main before the command) and --output json */
    g.config = config;
    g.json_output = 1;
    rc = run_cli(&g, &out, &errout, objects, NULL);
    tap_is_int(rc, 0, "cli json: exit 0");
    res = json_loads(out ? out : "", 0, &jerr);
    tap_ok(json_is_array(res) && json_array_size(res) == 4, "cli json: four results");
    {
        const char *s0 = json_string_value(json_object_get(json_array_get(res, 0), "source"));
        const char *want = "/fixtures/health/kubeflow.org/PyTorchJob/health.lua";
        tap_ok(s0 && strncmp(s0, "lua:", 4) == 0 && strlen(s0) > strlen(want) &&
                   strcmp(s0 + strlen(s0) - strlen(want), want) == 0,
               "cli json: the PyTorchJob's source is the fixture file (%s)", s0 ? s0 : "(null)");
    }
    tap_is_str(json_string_value(json_object_get(json_array_get(res, 0), "status")), "Degraded",
               "cli json: its status");
    tap_is_str(json_string_value(json_object_get(json_array_get(res, 1), "source")), "lua:inline:ConfigMap",
               "cli json: the ConfigMap's source");
    tap_is_str(json_string_value(json_object_get(json_array_get(res, 2), "source")), "built-in",
               "cli json: the Deployment's source");
    tap_is_str(json_string_value(json_object_get(json_object_get(json_array_get(res, 3), "object"), "name")), "ready",
               "cli json: the object's name");
    tap_ok(json_object_get(json_object_get(json_array_get(res, 3), "object"), "namespace") != NULL &&
               json_integer_value(json_object_get(json_array_get(res, 1), "line")) == 14,
           "cli json: namespace and the document's line");
    json_decref(res);
    free(out);
    free(errout);
    g.json_output = 0;

    /* bad input: exit 2, naming the file, nothing on stdout */
    g.config = config;
    rc = run_cli(&g, &out, &errout, objects, bad_yaml, NULL);
    tap_is_int(rc, WS_EXIT_USAGE, "cli: a YAML error exits 2");
    tap_contains(errout, "err_yaml.yaml:5", "cli: names the file and line");
    tap_ok(out && !*out, "cli: and prints no results");
    free(out);
    free(errout);
    rc = run_cli(&g, &out, &errout, "/nonexistent/objects.yaml", NULL);
    tap_is_int(rc, WS_EXIT_USAGE, "cli: a missing file exits 2");
    tap_contains(errout, "/nonexistent/objects.yaml", "cli: naming it");
    free(out);
    free(errout);
    rc = run_cli(&g, &out, &errout, NULL);
    tap_is_int(rc, WS_EXIT_USAGE, "cli: no files exits 2");
    free(out);
    free(errout);
    g.config = "/nonexistent/wavesync.yaml";
    rc = run_cli(&g, &out, &errout, objects, NULL);
    tap_is_int(rc, WS_EXIT_USAGE, "cli: a --config that does not exist exits 2");
    tap_contains(errout, "/nonexistent/wavesync.yaml", "cli: naming it");
    free(out);
    free(errout);
    g.config = config;

    /* "-" reads standard input, as `kubectl get -o yaml | wavesync health -` */
    {
        int saved_in = dup(0), fd = open(objects, O_RDONLY);
        dup2(fd, 0);
        close(fd);
        rc = run_cli(&g, &out, &errout, "-", NULL);
        dup2(saved_in, 0);
        close(saved_in);
        tap_is_int(rc, 0, "cli: - reads standard input");
        tap_contains(out, row("Widget", "shop/ready", "Healthy", "1/1 widgets ready"), "cli: all of it");
        free(out);
        free(errout);
    }

    /* a script that does not compile: its objects are Unknown, naming it */
    if (!mkdtemp(dir_tmpl)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    snprintf(bad_cfg, sizeof(bad_cfg), "%s/wavesync.yaml", dir_tmpl);
    if ((f = fopen(bad_cfg, "w"))) {
        fprintf(f, "repositories: []\nclusters: []\napplications: []\nhealth:\n  directory: %s/tests/unit/data/lua/err_syntax\n",
                srcdir);
        fclose(f);
    }
    g.config = bad_cfg;
    rc = run_cli(&g, &out, &errout, objects, NULL);
    tap_is_int(rc, 0, "cli: a script that does not compile: exit 0");
    tap_contains(out, "err_syntax/example.com/Widget/health.lua:3:", "cli: the Widget is Unknown, naming it");
    free(out);
    free(errout);
    unlink(bad_cfg);

    /* a message over several lines: whole in JSON, escaped on its row */
    {
        char msg_cfg[PATH_MAX + 64], msg_obj[PATH_MAX + 64];
        snprintf(msg_cfg, sizeof(msg_cfg), "%s/wavesync.yaml", dir_tmpl);
        snprintf(msg_obj, sizeof(msg_obj), "%s/widget.yaml", dir_tmpl);
        if ((f = fopen(msg_cfg, "w"))) {
            fprintf(f, "repositories: []\nclusters: []\napplications: []\nhealth:\n  scripts:\n"
                       "    example.com/Widget: |\n"
                       "      return {status = 'Degraded', message = 'quota exceeded:\\n\\tcpu: 4/4\\n\\tgpu: 8/8'}\n");
            fclose(f);
        }
        if ((f = fopen(msg_obj, "w"))) {
            fprintf(f, "apiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: quota, namespace: shop}\n");
            fclose(f);
        }
        g.config = msg_cfg;
        g.json_output = 1;
        rc = run_cli(&g, &out, &errout, msg_obj, NULL);
        res = json_loads(out ? out : "", 0, &jerr);
        tap_is_int(rc, 0, "cli json, a message over several lines: exit 0");
        tap_is_str(json_string_value(json_object_get(json_array_get(res, 0), "message")),
                   "quota exceeded:\n\tcpu: 4/4\n\tgpu: 8/8", "cli json: the message as the script returned it");
        json_decref(res);
        free(out);
        free(errout);
        g.json_output = 0;
        rc = run_cli(&g, &out, &errout, msg_obj, NULL);
        tap_contains(out, row("Widget", "shop/quota", "Degraded", "quota exceeded:\\n\\tcpu: 4/4\\n\\tgpu: 8/8"),
                     "cli text: the same message on its row, newlines and tabs escaped");
        free(out);
        free(errout);
        unlink(msg_cfg);
        unlink(msg_obj);
    }

    /* a saved object with a key written twice: a warning naming it, the last value counts
       (manifests to apply stay strict: test_yaml) */
    {
        char sts[PATH_MAX + 64];
        snprintf(sts, sizeof(sts), "%s/statefulset.yaml", dir_tmpl);
        if ((f = fopen(sts, "w"))) {
            fprintf(f, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: data\n"
                       "  generation: 4\nspec:\n  replicas: 3\n  updateStrategy:\n    type: RollingUpdate\n"
                       "    rollingUpdate:\n      partition: 0\n  serviceName: db\n  updateStrategy:\n"
                       "    type: OnDelete\nstatus:\n  observedGeneration: 4\n  replicas: 3\n  readyReplicas: 3\n"
                       "  updatedReplicas: 1\n  currentRevision: db-5d8f\n  updateRevision: db-7c9a\n");
            fclose(f);
        }
        g.config = config;
        g.json_output = 1;
        rc = run_cli(&g, &out, &errout, sts, NULL);
        tap_is_int(rc, 0, "cli, a key written twice: exit 0");
        snprintf(warning, sizeof(warning),
                 "wavesync health: warning: %s:14:3: duplicate key spec.updateStrategy (first at line 9); using the "
                 "last one, as Kubernetes reads it",
                 sts);
        tap_contains(errout, warning, "cli: a warning naming the file, line and key path");
        res = json_loads(out ? out : "", 0, &jerr);
        /* OnDelete (the last): Healthy with 3 ready; RollingUpdate (the first) would wait for 2 more updates */
        tap_is_str(json_string_value(json_object_get(json_array_get(res, 0), "status")), "Healthy",
                   "cli: the last updateStrategy is the one assessed");
        json_decref(res);
        free(out);
        free(errout);
        g.json_output = 0;
        unlink(sts);
    }

    /* no --config and no ./wavesync.yaml: built-in rules only */
    g.config = NULL;
    g.json_output = 1;
    if (getcwd(cwd, sizeof(cwd)) && chdir(dir_tmpl) == 0) {
        rc = run_cli(&g, &out, &errout, objects, NULL);
        tap_is_int(rc, 0, "cli without a configuration: exit 0");
        res = json_loads(out ? out : "", 0, &jerr);
        tap_is_str(json_string_value(json_object_get(json_array_get(res, 0), "source")), "built-in",
                   "cli without a configuration: built-in rules");
        json_decref(res);
        free(out);
        free(errout);
        if (chdir(cwd) < 0)
            tap_diag("cannot return to %s", cwd);
    }
    rmdir(dir_tmpl);
}

int main(void)
{
    const char *src = getenv("WS_SRCDIR");
    if (!realpath(src && *src ? src : ".", srcdir))
        snprintf(srcdir, sizeof(srcdir), "%s", src && *src ? src : ".");
    test_fixtures();
    test_argocd_script();
    test_messages();
    test_scripts();
    test_limits();
    test_recovery();
    test_isolation();
    test_sources();
    test_load_errors();
    test_cli();
    return tap_done();
}
