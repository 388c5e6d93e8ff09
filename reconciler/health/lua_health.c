/* lua_health.c — Argo CD health.lua scripts: found by group/kind, compiled
 * once each into their own lua_State, run per evaluation in a fresh sandbox
 * under instruction, memory and wall-time limits. Design notes in lua_health.h. */
#include "health/lua_health.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "base/log.h"
#include "base/util.h"
#include "health/lua_pattern.h"

#define SCRIPT_MAX_BYTES (1u << 20)
#define HOOK_STEP 1000 /* instructions between limit checks: a clock read per 1000 is noise */

/* Registry keys: their addresses are unique light userdata keys. */
static const char CHUNK_KEY = 'c'; /* the compiled script */
static const char PROTO_KEY = 'p'; /* the whitelist each evaluation's globals are copied from */
static const char ENV_KEY = 'e';   /* the running evaluation's globals (for load) */
static const char LOADED_KEY = 'l'; /* the running evaluation's libraries (for require) */

struct script {
    char *key;      /* "kubeflow.org/PyTorchJob", "Service" (core), or a glob ("*.upbound.io/[A-Z]*") */
    char *source;   /* the file, or "inline:<key>" */
    char *broken;   /* it does not compile: every object it applies to is Unknown with this */
    int from_dir;   /* health.directory (ranks after health.scripts) */
    int glob;
    lua_State *L;
    /* the allocator's books: bytes held, and the most it may hold now */
    size_t mem_used, mem_limit;
    /* the evaluation under way */
    const struct ws_lua_limits *limits;
    uint64_t started_ms, instructions;
    uint64_t unclocked; /* pattern steps since the clock was last read */
    int hook_step;
    int limit_hit;
    char limit_msg[256];
};

struct ws_lua_health {
    struct ws_lua_limits limits;
    struct script **v;
    size_t n, cap;
};

/* --- the state's allocator and the count hook ------------------------------ */

/* Counts every byte so an evaluation can be held to its budget; growth past
 * mem_limit fails, which Lua turns into a "not enough memory" error (after
 * an emergency collection, so garbage does not count against a script). */
static void *script_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct script *s = ud;
    size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
    void *p;
    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (nsize > old && (s->mem_used >= s->mem_limit || nsize - old > s->mem_limit - s->mem_used))
        return NULL;
    if (!(p = realloc(ptr, nsize)))
        return NULL;
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

static struct script *script_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* Has the evaluation used up its instructions (clock 0) or its time
 * (clock 1: read the clock too)? Says which in limit_msg. */
static int over_limit(struct script *s, int clock)
{
    if (s->instructions >= s->limits->instructions)
        snprintf(s->limit_msg, sizeof(s->limit_msg), "instruction limit exceeded (%llu instructions)",
                 (unsigned long long)s->limits->instructions);
    else if (clock && ws_now_ms() - s->started_ms >= s->limits->wall_ms)
        snprintf(s->limit_msg, sizeof(s->limit_msg), "time limit exceeded (%llu ms)",
                 (unsigned long long)s->limits->wall_ms);
    else
        return 0;
    return 1;
}

static void count_hook(lua_State *L, lua_Debug *ar);

/* A limit is hit: from now on the hook fires at every instruction and
 * raises again, so no handler (pcall, xpcall, __close) can run on. */
static int stop(lua_State *L, struct script *s)
{
    s->limit_hit = 1;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, s->limit_msg);
    return lua_error(L);
}

/* Every hook_step instructions: enforce the instruction and wall-time
 * limits. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct script *s = script_of(L);
    (void)ar;
    if (!s->limit_hit) {
        s->instructions += (uint64_t)s->hook_step;
        if (!over_limit(s, 1))
            return;
    }
    stop(L, s);
}

/* The meter of string.find/match/gmatch/gsub (lua_pattern.c): a matching
 * step counts as an instruction, and the clock is read about as often as
 * the count hook reads it, so a pathological pattern ends within the same
 * limits as an endless loop, and an ordinary call costs no clock read. */
static void charge_steps(lua_State *L, uint64_t steps, const char *fn, const char *pattern, size_t plen,
                         size_t slen)
{
    struct script *s = script_of(L);
    char shown[48];
    size_t n = 0, len;
    int clock;
    s->instructions += steps;
    s->unclocked += steps;
    if ((clock = s->unclocked >= HOOK_STEP))
        s->unclocked = 0;
    if (!over_limit(s, clock))
        return;
    for (size_t i = 0; i < plen && n < 40; i++) /* the pattern, printable */
        shown[n++] = pattern[i] >= 0x20 && pattern[i] < 0x7f ? pattern[i] : '?';
    shown[n] = '\0';
    len = strlen(s->limit_msg);
    snprintf(s->limit_msg + len, sizeof(s->limit_msg) - len, " in %s: pattern \"%s%s\" on a %zu-byte string%s", fn,
             shown, plen > n ? "..." : "", slen,
             strncmp(s->limit_msg, "instruction", 11) == 0 ? " (each matching step counts as an instruction)" : "");
    stop(L, s);
}

static const struct ws_lua_meter pattern_meter = {charge_steps};

/* Everything runs under lua_pcall; reaching this is a bug in this file. */
static int on_panic(lua_State *L)
{
    ws_error("lua: unprotected error: %s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    abort();
}

/* --- the sandbox's own functions ------------------------------------------- */

/* print: to the debug log, so script authors can trace with
 * `wavesync --log-level debug health ...`. */
static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    ws_debug("health script %s: print: %.400s", script_of(L)->source, lua_tostring(L, -1));
    return 0;
}

/* load/loadstring: text only (binary chunks can break the VM), and by
 * default in the calling evaluation's globals, never the state's own. */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *chunk = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, chunk);
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ENV_KEY);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

/* require: Argo CD scripts write `local os = require("os")`; only the
 * sandbox's libraries can be required. */
static int sb_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &LOADED_KEY);
    if (lua_type(L, -1) == LUA_TTABLE && lua_getfield(L, -1, name) == LUA_TTABLE)
        return 1;
    return luaL_error(L, "module '%s' is not available to health scripts (string, table, math, os are)", name);
}

static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage(\"%s\") is not allowed in health scripts", opt);
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) + (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024);
    return 1;
}

/* setmetatable without __gc: a finalizer would run during the collection
 * after the evaluation, when no limit holds any more. */
static int sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in health scripts");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* xpcall whose handler runs after the failed call has unwound, as plain
 * code. Lua calls a real message handler from inside the count hook when
 * the hook raises a limit, and hooks are off in there: an endless handler
 * would never be stopped. Without debug a handler cannot inspect the failed
 * stack anyway, so only that difference shows. */
static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checkstack(L, n + 2, "too many arguments");
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++)
        lua_pushvalue(L, i);
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_insert(L, n + 1);
        return lua_gettop(L) - n;
    }
    lua_pushvalue(L, 2);
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0); /* the handler's error, if it fails, is the answer */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* Lua 5.1 names (Argo CD runs gopher-lua, a 5.1). */
static int sb_getn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushinteger(L, luaL_len(L, 1));
    return 1;
}

/* --- C functions that could run long between two instruction checks ------------ */

/* The instruction and time limits are checked between Lua instructions; a
 * library call runs to its end. The pattern functions are our own, metered
 * (lua_pattern.c); these wrappers make the other calls whose cost does not
 * depend on memory (bounded by the allocator) cheap or refuse them. */

/* Call the original (upvalue 1) with the same arguments. */
static int call_original(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L);
}

static int sb_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    luaL_optlstring(L, 3, "", &lsep);
    if (l + lsep == 0) { /* nothing to allocate, but n copies of nothing to loop over */
        lua_pushliteral(L, "");
        return 1;
    }
    return call_original(L);
}

/* table.insert/remove with the raw length: a __len metamethod cannot make
 * them shift 2^62 elements. */
static int sb_insert(lua_State *L)
{
    lua_Integer e, pos;
    luaL_checktype(L, 1, LUA_TTABLE);
    e = (lua_Integer)lua_rawlen(L, 1) + 1;
    if (lua_gettop(L) == 2) {
        lua_rawseti(L, 1, e);
        return 0;
    }
    if (lua_gettop(L) != 3)
        return luaL_error(L, "wrong number of arguments to 'insert'");
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, pos >= 1 && pos <= e, 2, "position out of bounds");
    for (lua_Integer i = e; i > pos; i--) {
        lua_rawgeti(L, 1, i - 1);
        lua_rawseti(L, 1, i);
    }
    lua_pushvalue(L, 3);
    lua_rawseti(L, 1, pos);
    return 0;
}

static int sb_remove(lua_State *L)
{
    lua_Integer size, pos;
    luaL_checktype(L, 1, LUA_TTABLE);
    size = (lua_Integer)lua_rawlen(L, 1);
    pos = luaL_optinteger(L, 2, size);
    if (lua_gettop(L) >= 2 && size + 1 != pos)
        luaL_argcheck(L, size == 0 ? pos == 0 || pos == size : pos >= 1 && pos <= size + 1, 2,
                      "position out of bounds");
    lua_rawgeti(L, 1, pos);
    for (; pos < size; pos++) {
        lua_rawgeti(L, 1, pos + 1);
        lua_rawseti(L, 1, pos);
    }
    if (pos <= size || (size == 0 && pos == 0)) {
        lua_pushnil(L);
        lua_rawseti(L, 1, pos);
    }
    return 1;
}

/* Replace lib[name] (the table at the top of the stack) by `wrapper` closing
 * over the original. */
static void wrap(lua_State *L, const char *name, lua_CFunction wrapper)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, name);
}

static int sb_pow(lua_State *L)
{
    lua_pushnumber(L, pow(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
    return 1;
}

/* --- building the state ---------------------------------------------------- */

static const char *const base_names[] = {
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
    "rawlen", "rawset", "select", "tonumber", "tostring", "type", "_VERSION", NULL,
};
static const char *const os_names[] = {"time", "date", "clock", "difftime", NULL};

/* Copy lib[names] (or all of lib but `drop`) into a new table at the top. */
static void copy_lib(lua_State *L, int lib, const char *const *names, const char *drop)
{
    lua_newtable(L);
    if (names) {
        for (; *names; names++) {
            lua_getfield(L, lib, *names);
            lua_setfield(L, -2, *names);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, lib)) {
        if (drop && lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), drop) == 0) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

struct setup {
    const char *text, *chunkname;
    size_t len;
    int compile_failed;
};

/* Protected: open the libraries (reachable only from C afterwards), build
 * the whitelist prototype, hide strings' metatable, compile the script. */
static int setup_state(lua_State *L)
{
    struct setup *su = lua_touserdata(L, 1);
    int g, proto, lib;
    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
    g = lua_gettop(L);
    lua_newtable(L);
    proto = lua_gettop(L);
    for (const char *const *n = base_names; *n; n++) {
        lua_getfield(L, g, *n);
        lua_setfield(L, proto, *n);
    }
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, proto, "print");
    lua_pushcfunction(L, sb_load);
    lua_setfield(L, proto, "load");
    lua_pushcfunction(L, sb_load);
    lua_setfield(L, proto, "loadstring");
    lua_pushcfunction(L, sb_require);
    lua_setfield(L, proto, "require");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setfield(L, proto, "collectgarbage");
    lua_pushcfunction(L, sb_setmetatable);
    lua_setfield(L, proto, "setmetatable");
    lua_pushcfunction(L, sb_xpcall);
    lua_setfield(L, proto, "xpcall");

    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    copy_lib(L, lua_gettop(L), NULL, "dump");
    ws_lua_pattern_install(L, -1, &pattern_meter);
    wrap(L, "rep", sb_rep);
    lua_setfield(L, proto, "string");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    lib = lua_gettop(L);
    copy_lib(L, lib, NULL, "move"); /* not in Argo CD's Lua 5.1; an unbounded loop in C */
    lua_pushcfunction(L, sb_insert);
    lua_setfield(L, -2, "insert");
    lua_pushcfunction(L, sb_remove);
    lua_setfield(L, -2, "remove");
    lua_pushcfunction(L, sb_getn);
    lua_setfield(L, -2, "getn");
    lua_getfield(L, lib, "unpack");
    lua_setfield(L, proto, "unpack");
    lua_setfield(L, proto, "table");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    copy_lib(L, lua_gettop(L), NULL, "randomseed"); /* a seed would outlive the call */
    lua_pushcfunction(L, sb_pow);
    lua_setfield(L, -2, "pow");
    lua_setfield(L, proto, "math");
    lua_pop(L, 1);

    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    copy_lib(L, lua_gettop(L), os_names, NULL);
    lua_setfield(L, proto, "os");
    lua_pop(L, 1);

    lua_pushvalue(L, proto);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &PROTO_KEY);

    /* strings' metatable is shared by every evaluation: scripts must not
       reach it (getmetatable answers false); its __index is pointed at each
       evaluation's own copy of `string` while it runs */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_getfield(L, proto, "string");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);

    if (luaL_loadbufferx(L, su->text, su->len, su->chunkname, "t") != LUA_OK) {
        su->compile_failed = 1;
        return lua_error(L);
    }
    /* until an evaluation gives it one, the chunk has no globals at all */
    lua_pushnil(L);
    lua_setupvalue(L, -2, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CHUNK_KEY);
    return 0;
}

static void script_free(struct script *s)
{
    if (!s)
        return;
    if (s->L)
        lua_close(s->L);
    free(s->key);
    free(s->source);
    free(s->broken);
    free(s);
}

/* Lua names a chunk "@rel" as rel in messages; put the full path there. */
static void compile_error(struct ws_err *err, const char *msg, const char *chunkname, const char *source)
{
    size_t n = strlen(chunkname + 1);
    if (chunkname[0] == '@' && n < LUA_IDSIZE && strncmp(msg, chunkname + 1, n) == 0 && msg[n] == ':')
        ws_err_set(err, WS_ECONFIG, "health script does not compile: %s%s", source, msg + n);
    else if (chunkname[0] == '=')
        ws_err_set(err, WS_ECONFIG, "health script does not compile: %s", msg);
    else
        ws_err_set(err, WS_ECONFIG, "health script %s does not compile: %s", source, msg);
}

static int has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int add_script(struct ws_lua_health *lh, const char *key, int from_dir, const char *source,
                      const char *chunkname, const char *text, size_t len, struct ws_err *err)
{
    struct script *s = NULL;
    struct setup su = {text, chunkname, len, 0};
    int rc = 0;
    if (lh->n == lh->cap) {
        size_t cap = lh->cap ? lh->cap * 2 : 16;
        struct script **v = realloc(lh->v, cap * sizeof(*v));
        if (!v)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        lh->v = v;
        lh->cap = cap;
    }
    if (!(s = calloc(1, sizeof(*s))) || !(s->key = strdup(key)) || !(s->source = strdup(source))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    s->from_dir = from_dir;
    s->glob = has_glob(key);
    s->mem_limit = SIZE_MAX;
    s->limits = &lh->limits;
    if (!(s->L = lua_newstate(script_alloc, s))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    lua_atpanic(s->L, on_panic);
    lua_pushcfunction(s->L, setup_state);
    lua_pushlightuserdata(s->L, &su);
    if (lua_pcall(s->L, 1, 0, 0) != LUA_OK) {
        const char *msg = lua_type(s->L, -1) == LUA_TSTRING ? lua_tostring(s->L, -1) : "?";
        if (su.compile_failed) {
            /* A script that does not compile makes the objects it is for
               Unknown (saying why), like any other script error: the
               process and the other scripts carry on. */
            struct ws_err e;
            ws_err_clear(&e);
            compile_error(&e, msg, chunkname, source);
            ws_warn("%s", e.msg);
            lua_close(s->L);
            s->L = NULL;
            if (!(s->broken = strdup(e.msg))) {
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                goto out;
            }
            lh->v[lh->n++] = s;
            s = NULL;
        } else {
            rc = ws_err_set(err, WS_ENOMEM, "health script %s: %s", source, msg);
        }
        goto out;
    }
    lua_gc(s->L, LUA_GCCOLLECT);
    lh->v[lh->n++] = s;
    s = NULL;
out:
    script_free(s);
    return rc;
}

/* The script for an exact key, or NULL. */
static struct script *find_exact(const struct ws_lua_health *lh, const char *key, int from_dir)
{
    for (size_t i = 0; i < lh->n; i++)
        if (lh->v[i]->from_dir == from_dir && !lh->v[i]->glob && strcmp(lh->v[i]->key, key) == 0)
            return lh->v[i];
    return NULL;
}

static int load_inline(struct ws_lua_health *lh, const json_t *scripts, struct ws_err *err)
{
    const char *key;
    json_t *v;
    int rc;
    json_object_foreach((json_t *)scripts, key, v) {
        const char *k = key[0] == '/' ? key + 1 : key; /* "/Service": core, Argo CD says "Service" */
        char *source = NULL, *chunkname = NULL;
        if (!json_is_string(v) || !*k)
            return ws_err_set(err, WS_ECONFIG, "health.scripts[\"%s\"] must be a Lua script for \"group/Kind\"", key);
        if (!has_glob(k) && find_exact(lh, k, 0))
            return ws_err_set(err, WS_ECONFIG, "health.scripts names %s twice (\"%s\" and \"/%s\")", k, k, k);
        if (asprintf(&source, "inline:%s", k) < 0 || asprintf(&chunkname, "=health.scripts[\"%s\"]", k) < 0) {
            free(source);
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
        rc = add_script(lh, k, 0, source, chunkname, json_string_value(v), json_string_length(v), err);
        free(source);
        free(chunkname);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The sub-folders of path (no dot entries), sorted. */
static int list_dirs(char ***out, size_t *nout, const char *path, struct ws_err *err)
{
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *nout = 0;
    if (!(d = opendir(path)))
        return ws_err_set(err, WS_ECONFIG, "health.directory: %s: %s", path, strerror(errno));
    while ((de = readdir(d))) {
        char *full = NULL;
        struct stat st;
        int isdir;
        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&full, "%s/%s", path, de->d_name) < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        isdir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        free(full);
        if (!isdir)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nn));
            if (!nn) {
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0) {
        free_names(names, n);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *nout = n;
    return 0;
}

/* dir/rel/health.lua, when it is a file, as the script for key. Argo CD's
 * folder names use "_" for "*" (_.crossplane.io/_). */
static int load_file(struct ws_lua_health *lh, const char *dir, const char *rel, struct ws_err *err)
{
    char *path = NULL, *chunkname = NULL, *key = NULL, *buf = NULL;
    size_t len = 0;
    struct stat st;
    int rc = 0;
    if (asprintf(&path, "%s/%s/health.lua", dir, rel) < 0 || asprintf(&chunkname, "@%s/health.lua", rel) < 0 ||
        !(key = strdup(rel))) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        goto out;
    for (char *p = key; *p; p++)
        if (*p == '_')
            *p = '*';
    if (!has_glob(key) && find_exact(lh, key, 0))
        goto out; /* health.scripts has its own: this one is never used */
    if ((rc = ws_file_read(&buf, &len, path, SCRIPT_MAX_BYTES, err)) < 0) {
        ws_err_prefix(err, "health.directory");
        rc = WS_ECONFIG;
        goto out;
    }
    rc = add_script(lh, key, 1, path, chunkname, buf, len, err);
out:
    free(path);
    free(chunkname);
    free(key);
    free(buf);
    return rc;
}

/* Argo CD's resource_customizations layout: <group>/<Kind>/health.lua, and
 * <Kind>/health.lua for the core group. Deeper files (actions/) are not ours. */
static int load_dir(struct ws_lua_health *lh, const char *dir, struct ws_err *err)
{
    char **top = NULL, **sub = NULL;
    size_t ntop = 0, nsub = 0;
    int rc;
    if ((rc = list_dirs(&top, &ntop, dir, err)) < 0)
        return rc;
    for (size_t i = 0; i < ntop && rc == 0; i++) {
        char *gpath = NULL, *rel = NULL;
        if ((rc = load_file(lh, dir, top[i], err)) < 0)
            break;
        if (asprintf(&gpath, "%s/%s", dir, top[i]) < 0) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        rc = list_dirs(&sub, &nsub, gpath, err);
        free(gpath);
        for (size_t j = 0; j < nsub && rc == 0; j++) {
            if (asprintf(&rel, "%s/%s", top[i], sub[j]) < 0) {
                rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                break;
            }
            rc = load_file(lh, dir, rel, err);
            free(rel);
        }
        free_names(sub, nsub);
        sub = NULL;
        nsub = 0;
    }
    free_names(top, ntop);
    return rc;
}

int ws_lua_health_new(struct ws_lua_health **out, const struct ws_health_cfg *cfg,
                      const struct ws_lua_limits *limits, struct ws_err *err)
{
    struct ws_lua_health *lh;
    int rc = 0;
    *out = NULL;
    if (!(lh = calloc(1, sizeof(*lh))))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (limits)
        lh->limits = *limits;
    if (!lh->limits.instructions)
        lh->limits.instructions = WS_LUA_DEFAULT_INSTRUCTIONS;
    if (!lh->limits.memory_bytes)
        lh->limits.memory_bytes = WS_LUA_DEFAULT_MEMORY;
    if (!lh->limits.wall_ms)
        lh->limits.wall_ms = WS_LUA_DEFAULT_WALL_MS;
    if (cfg && cfg->scripts && (rc = load_inline(lh, cfg->scripts, err)) < 0)
        goto out;
    if (cfg && cfg->directory) {
        /* sources read /etc/wavesync/health/..., not /etc/wavesync/./../health/... */
        char *real = realpath(cfg->directory, NULL);
        if (!real) {
            rc = ws_err_set(err, WS_ECONFIG, "health.directory: %s: %s", cfg->directory, strerror(errno));
            goto out;
        }
        rc = load_dir(lh, real, err);
        free(real);
        if (rc < 0)
            goto out;
    }
    *out = lh;
    lh = NULL;
out:
    ws_lua_health_free(lh);
    return rc;
}

void ws_lua_health_free(struct ws_lua_health *lh)
{
    if (!lh)
        return;
    for (size_t i = 0; i < lh->n; i++)
        script_free(lh->v[i]);
    free(lh->v);
    free(lh);
}

size_t ws_lua_health_count(const struct ws_lua_health *lh)
{
    return lh ? lh->n : 0;
}

/* --- which script ---------------------------------------------------------- */

/* "group/Kind", or "Kind" for the core group (Argo CD's keys). */
static int object_key(const json_t *obj, char *buf, size_t len)
{
    const char *api, *kind, *slash;
    int n;
    if (!json_is_object(obj))
        return -1;
    api = json_string_value(json_object_get(obj, "apiVersion"));
    kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || !*kind)
        return -1;
    slash = api ? strchr(api, '/') : NULL;
    n = slash ? snprintf(buf, len, "%.*s/%s", (int)(slash - api), api, kind) : snprintf(buf, len, "%s", kind);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Tiers: inline exact, inline glob, folder exact, folder glob (Argo CD's
 * order). Among globs the longest pattern, then byte order, so the choice
 * never depends on the order files were read in. */
static struct script *find(const struct ws_lua_health *lh, const char *key)
{
    struct script *best = NULL;
    int best_tier = 4;
    for (size_t i = 0; i < lh->n; i++) {
        struct script *s = lh->v[i];
        int tier = (s->from_dir ? 2 : 0) + (s->glob ? 1 : 0);
        size_t ls, lb;
        if (tier > best_tier)
            continue;
        if (s->glob ? fnmatch(s->key, key, 0) != 0 : strcmp(s->key, key) != 0)
            continue;
        if (best && tier == best_tier) {
            ls = strlen(s->key);
            lb = strlen(best->key);
            if (ls < lb || (ls == lb && strcmp(s->key, best->key) > 0))
                continue;
        }
        best = s;
        best_tier = tier;
    }
    return best;
}

const char *ws_lua_health_source(const struct ws_lua_health *lh, const json_t *obj)
{
    char key[512];
    const struct script *s;
    if (!lh || object_key(obj, key, sizeof(key)) < 0 || !(s = find(lh, key)))
        return NULL;
    return s->source;
}

/* --- one evaluation -------------------------------------------------------- */

/* JSON to Lua as Argo CD hands `obj` over; integral numbers are integers so
 * that tostring(3) is "3", as gopher-lua prints it. */
static void push_json(lua_State *L, const json_t *v)
{
    const char *k;
    json_t *item;
    size_t i;
    double d;
    luaL_checkstack(L, 4, "object nested too deeply");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_foreach((json_t *)v, k, item) {
            push_json(L, item);
            lua_setfield(L, -2, k);
        }
        break;
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, item) {
            push_json(L, item);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        d = json_real_value(v);
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(v));
        break;
    default:
        lua_pushnil(L);
    }
}

/* The evaluation's globals: a fresh copy of the prototype, libraries
 * copied too (a script may change `string` for itself, not for the next). */
static void push_env(lua_State *L)
{
    int proto, env, loaded;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &PROTO_KEY);
    proto = lua_gettop(L);
    lua_createtable(L, 0, 32);
    env = lua_gettop(L);
    lua_createtable(L, 0, 4);
    loaded = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, proto)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            copy_lib(L, lua_gettop(L), NULL, NULL);
            lua_replace(L, -2);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            lua_rawset(L, loaded);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, env);
    }
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushvalue(L, env);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENV_KEY);
    lua_pushvalue(L, loaded);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &LOADED_KEY);
    /* ("x"):upper() and s:myhelper() after `function string.myhelper` */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, env, "string");
    lua_setfield(L, -2, "__index");
    lua_settop(L, env);
    lua_remove(L, proto);
}

struct call {
    const json_t *obj;
    enum ws_health_status status;
    char *message;      /* a copy of the returned message: at most WS_HEALTH_MESSAGE_MAX + 1 bytes */
    size_t message_len; /* its length; more than WS_HEALTH_MESSAGE_MAX: there was more */
    char problem[160];  /* set when the return value is not a health status */
};

static void set_problem(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_problem(struct call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
    va_end(ap);
}

/* The returned value, at the top: {status = <name>, message = <string>}. */
static void read_result(lua_State *L, struct call *c)
{
    int t = lua_type(L, -1), st, i;
    size_t len;
    const char *s;
    if (t != LUA_TTABLE) {
        set_problem(c, "returned %s%s, not a table {status = ..., message = ...}", t == LUA_TNIL ? "" : "a ",
                    t == LUA_TNIL ? "nothing" : lua_typename(L, t));
        return;
    }
    if ((st = lua_getfield(L, -1, "status")) != LUA_TSTRING) {
        if (st == LUA_TNIL)
            set_problem(c, "returned no status");
        else
            set_problem(c, "returned a status that is a %s, not a string", lua_typename(L, st));
        return;
    }
    s = lua_tolstring(L, -1, &len);
    for (i = 0; i <= (int)WS_HEALTH_UNKNOWN; i++) {
        const char *name = ws_health_str((enum ws_health_status)i);
        if (strlen(name) == len && memcmp(name, s, len) == 0)
            break;
    }
    c->status = (enum ws_health_status)i;
    if (i > (int)WS_HEALTH_UNKNOWN) {
        set_problem(c,
                    "returned an invalid health status \"%.40s\" (Healthy, Progressing, Degraded, Suspended, "
                    "Missing or Unknown)",
                    s);
        return;
    }
    st = lua_getfield(L, -2, "message");
    if (st == LUA_TSTRING) {
        /* copied, since the string is gone once the call has unwound; one
           byte more than is kept tells verdict() to cut */
        size_t keep;
        s = lua_tolstring(L, -1, &len);
        keep = len > WS_HEALTH_MESSAGE_MAX ? WS_HEALTH_MESSAGE_MAX + 1 : len;
        if (!(c->message = malloc(keep + 1))) {
            set_problem(c, "out of memory copying its message");
            return;
        }
        memcpy(c->message, s, keep);
        c->message[keep] = '\0';
        c->message_len = len;
    } else if (st != LUA_TNIL) {
        set_problem(c, "returned a message that is a %s, not a string", lua_typename(L, st));
    }
}

/* Protected, under the limits: globals, obj, the script, its answer. */
static int run_call(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    int env;
    lua_settop(L, 0);
    push_env(L);
    env = lua_gettop(L);
    push_json(L, c->obj);
    lua_setfield(L, env, "obj");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &CHUNK_KEY);
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 1);
    read_result(L, c);
    return 0;
}

/* Protected, after the call: nothing of the evaluation stays reachable. */
static int end_call(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &CHUNK_KEY);
    lua_pushnil(L);
    lua_setupvalue(L, -2, 1);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENV_KEY);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &LOADED_KEY);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &PROTO_KEY);
    lua_getfield(L, -1, "string");
    lua_setfield(L, -3, "__index");
    return 0;
}

/* --- the verdict's message --------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if there is
 * none: what jansson accepts (no overlong forms, surrogates or code points
 * past U+10FFFF), and no NUL, which would end the C string early. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (p[0] >= 0x01 && p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4;
    else
        return 0;
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* prefix + body (len bytes, maybe with NULs) as a C string of at most
 * WS_HEALTH_MESSAGE_MAX bytes: cut with "..." past that (also when `more`
 * says body was cut already), every byte that is not valid UTF-8 a '?'. */
static char *full_text(const char *prefix, const char *body, size_t len, int more)
{
    size_t lp = strlen(prefix), cap = WS_HEALTH_MESSAGE_MAX, n, i = 0;
    unsigned char *t;
    if (lp + len > cap)
        more = 1;
    n = more ? (lp < cap - 3 ? cap - 3 : lp) : lp + len;
    if (!(t = malloc(n + 4)))
        return NULL;
    memcpy(t, prefix, lp);
    memcpy(t + lp, body, n - lp);
    while (i < n) {
        size_t k = utf8_seq(t + i, n - i);
        if (k == 0)
            t[i++] = '?';
        else
            i += k;
    }
    /* a sequence the cut split shows as '?'s: drop them with the cut */
    if (more) {
        for (int k = 0; k < 3 && n > lp && t[n - 1] == '?' && (unsigned char)body[n - 1 - lp] >= 0x80; k++)
            n--;
        memcpy(t + n, "...", 3);
        n += 3;
    }
    t[n] = '\0';
    return (char *)t;
}

static int is_blank(unsigned char c)
{
    return c <= 0x20 || c == 0x7f; /* controls too: a summary line carries no newline or escape */
}

/* text on one line into buf (cap bytes): blank runs as one space, none at
 * either end, cut with "..." on a character boundary. */
static void one_line(char *buf, size_t cap, const char *text)
{
    const unsigned char *src = (const unsigned char *)text;
    size_t len = 0;
    while (*src && is_blank(*src))
        src++;
    for (; *src && len < cap - 1; src++) {
        if (is_blank(*src) && (!src[1] || is_blank(src[1])))
            continue;
        buf[len++] = is_blank(*src) ? ' ' : (char)*src;
    }
    while (*src && is_blank(*src))
        src++;
    buf[len] = '\0';
    if (*src) {
        if (len + 4 > cap)
            len = cap - 4;
        while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
            len--;
        memcpy(buf + len, "...", 4);
    }
}

/* Set out's status and message from prefix + body: out->message on one
 * line, out->full_message the whole text when that differs (several lines,
 * longer than message holds). Any earlier full_message is freed. */
static void verdict(struct ws_health *out, enum ws_health_status st, const char *prefix, const char *body,
                    size_t len, int more)
{
    char *text = full_text(prefix, body, len, more);
    out->status = st;
    ws_health_clear(out);
    if (!text) {
        snprintf(out->message, sizeof(out->message), "%sout of memory keeping the message", prefix);
        return;
    }
    one_line(out->message, sizeof(out->message), text);
    if (strcmp(out->message, text) != 0)
        out->full_message = text;
    else
        free(text);
}

static void evaluate(struct script *s, const char *key, const json_t *obj, struct ws_health *out)
{
    lua_State *L = s->L;
    struct call c;
    char prefix[600], num[64];
    int rc;
    memset(&c, 0, sizeof(c));
    c.obj = obj;
    snprintf(prefix, sizeof(prefix), "health script for %s: ", key);
    s->limit_hit = 0;
    s->instructions = 0;
    s->unclocked = 0;
    s->hook_step = s->limits->instructions < HOOK_STEP ? (int)s->limits->instructions : HOOK_STEP;
    s->mem_limit = s->limits->memory_bytes < SIZE_MAX - s->mem_used ? s->mem_used + s->limits->memory_bytes
                                                                     : SIZE_MAX;
    s->started_ms = ws_now_ms();
    lua_settop(L, 0);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, s->hook_step);
    lua_pushcfunction(L, run_call);
    lua_pushlightuserdata(L, &c);
    rc = lua_pcall(L, 1, 0, 0);
    lua_sethook(L, NULL, 0, 0);
    s->mem_limit = SIZE_MAX;
    if (s->limit_hit) {
        verdict(out, WS_HEALTH_UNKNOWN, prefix, s->limit_msg, strlen(s->limit_msg), 0);
    } else if (rc != LUA_OK) {
        int t = lua_type(L, -1);
        size_t len = 0;
        const char *msg = num;
        if (t == LUA_TSTRING) /* lua_tostring of a number would allocate, unprotected */
            msg = lua_tolstring(L, -1, &len);
        else if (lua_isinteger(L, -1))
            len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -1));
        else if (t == LUA_TNUMBER)
            len = (size_t)snprintf(num, sizeof(num), "%.14g", (double)lua_tonumber(L, -1));
        else
            len = (size_t)snprintf(num, sizeof(num), "(error object is a %s value)", lua_typename(L, t));
        verdict(out, WS_HEALTH_UNKNOWN, prefix, msg, len, 0);
    } else if (c.problem[0]) {
        verdict(out, WS_HEALTH_UNKNOWN, prefix, c.problem, strlen(c.problem), 0);
    } else {
        size_t len = c.message_len > WS_HEALTH_MESSAGE_MAX ? WS_HEALTH_MESSAGE_MAX : c.message_len;
        verdict(out, c.status, "", c.message ? c.message : "", len, c.message_len > len);
    }
    free(c.message);
    lua_settop(L, 0);
    lua_pushcfunction(L, end_call);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        ws_warn("health script %s: cleaning up: %s", s->source, lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
}

int ws_lua_health_assess(struct ws_lua_health *lh, const json_t *obj, struct ws_health *out)
{
    char key[512];
    struct script *s;
    if (!lh || !lh->n || object_key(obj, key, sizeof(key)) < 0 || !(s = find(lh, key)))
        return 0;
    out->recheck_at = 0;
    if (s->broken)
        verdict(out, WS_HEALTH_UNKNOWN, "", s->broken, strlen(s->broken), 0);
    else
        evaluate(s, key, obj, out);
    return 1;
}
