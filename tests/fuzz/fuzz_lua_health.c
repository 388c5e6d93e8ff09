/* fuzz_lua_health.c — reconciler/health/lua_health.c's JSON → Lua
 * conversion on any JSON object: a live object is the cluster's (and, for
 * custom resources, whatever their controller writes), and every
 * health.lua script gets it as `obj`. A fixed script walks the whole table
 * and returns the object's own status.message, so the verdict's message
 * handling (one line, valid UTF-8, cut) sees hostile text too. The built-in
 * rules (health.c, health_ml.c) judge the same object.
 *
 * Input: JSON text. An object without a string kind becomes an
 * example.com/v1 Widget, the kind the script is registered for; one with a
 * kind may still reach the script through the glob key for any kind of group
 * something.fuzz.io. */
#include "fuzz.h"

#include <jansson.h>

#include "base/log.h"
#include "health/health.h"
#include "health/lua_health.h"

static const char walk_script[] =
    "local n, deepest = 0, 0\n"
    "local function walk(v, d)\n"
    "  n = n + 1\n"
    "  if d > deepest then deepest = d end\n"
    "  local t = type(v)\n"
    "  if t == 'table' then\n"
    "    for k, x in pairs(v) do\n"
    "      if type(k) == 'string' then n = n + #k end\n"
    "      walk(x, d + 1)\n"
    "    end\n"
    "    for i = 1, #v do n = n + (v[i] == nil and 1 or 0) end\n"
    "  elseif t == 'string' then\n"
    "    n = n + #v\n"
    "    if v:lower():find('ready', 1, true) then n = n + 1 end\n"
    "  elseif t == 'number' then\n"
    "    if math.type(v) == 'integer' then n = n + (v & 1) else n = n + (v ~= v and 1 or 0) end\n"
    "  end\n"
    "end\n"
    "walk(obj, 0)\n"
    "local hs = {status = 'Healthy', message = 'walked ' .. n .. ' values, ' .. deepest .. ' deep'}\n"
    "local st = obj.status\n"
    "if type(st) == 'table' then\n"
    "  if type(st.message) == 'string' then hs.message = st.message end\n"
    "  if type(st.phase) == 'string' then hs.status = st.phase end\n"
    "end\n"
    "return hs\n";

static struct ws_lua_health *lh;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct ws_health_cfg cfg = {NULL, json_object()};
    /* Small limits: a case must stay quick, and the limits are what is tested. */
    struct ws_lua_limits lim = {.instructions = 2000000, .memory_bytes = 64u << 20, .wall_ms = 2000};
    struct ws_err err;
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    json_object_set_new(cfg.scripts, "example.com/Widget", json_string(walk_script));
    json_object_set_new(cfg.scripts, "*.fuzz.io/*", json_string(walk_script));
    if (ws_lua_health_new(&lh, &cfg, &lim, &err) < 0) {
        fprintf(stderr, "fuzz_lua_health: %s\n", err.msg);
        abort();
    }
    json_decref(cfg.scripts);
    return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n, cp, i;
        if (c < 0x80) {
            s++;
            continue;
        }
        n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
        if (!n)
            return 0;
        cp = c & (0x3Fu >> n);
        for (i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

static void check(const struct ws_health *h, const char *who)
{
    size_t n = strnlen(h->message, sizeof(h->message));
    FUZZ_CHECK((unsigned)h->status <= WS_HEALTH_UNKNOWN, "%s: status %d", who, (int)h->status);
    FUZZ_CHECK(n < sizeof(h->message), "%s: message not terminated", who);
    FUZZ_CHECK(!memchr(h->message, '\n', n), "%s: message on several lines", who);
    if (h->full_message) {
        FUZZ_CHECK(strlen(h->full_message) <= WS_HEALTH_MESSAGE_MAX, "%s: full message too long", who);
        FUZZ_CHECK(valid_utf8((const unsigned char *)h->full_message), "%s: full message not UTF-8", who);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_health h;
    json_t *obj;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    obj = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    if (!json_is_string(json_object_get(obj, "kind"))) {
        json_object_set_new(obj, "apiVersion", json_string("example.com/v1"));
        json_object_set_new(obj, "kind", json_string("Widget"));
    }
    memset(&h, 0, sizeof(h));
    if (ws_lua_health_assess(lh, obj, &h) == 1)
        check(&h, "lua");
    ws_health_clear(&h);

    memset(&h, 0, sizeof(h));
    ws_health_assess_at(&h, obj, NULL, 1700000000);
    check(&h, "built-in");
    ws_health_clear(&h);
    json_decref(obj);
    return 0;
}
