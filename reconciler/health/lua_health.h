/* lua_health.h — custom health checks written as Argo CD health.lua scripts,
 * run by Lua 5.4 in a sandbox with instruction, memory and wall-time limits.
 *
 * The contract is Argo CD's: the global `obj` is the live object (JSON
 * objects become tables with string keys, arrays 1-based sequences, null nil,
 * integral numbers integers and others floats, booleans booleans); the script
 * returns {status = "Healthy"|"Progressing"|"Degraded"|"Suspended"|"Missing"|
 * "Unknown", message = "..."}.
 *
 * Where scripts come from (struct ws_health_cfg), first match wins:
 *   1. health.scripts, exact key: "group/Kind", or "Kind" / "/Kind" for the
 *      core group (Argo CD's argocd-cm keys);
 *   2. health.scripts, a glob key ("*.crossplane.io/Bucket",
 *      "*.upbound.io/[A-Z]*"): the longest pattern that matches, then the
 *      first in byte order;
 *   3. health.directory, Argo CD's resource_customizations layout:
 *      <group>/<Kind>/health.lua, <Kind>/health.lua for the core group;
 *   4. health.directory, glob folders where "_" stands for "*"
 *      (_.crossplane.io/_/health.lua), ranked as in 2.
 * A script applies to objects whose key ("group/Kind", or "Kind" for the core
 * group) is its key or matches its pattern.
 *
 * Sandbox: base (assert error getmetatable ipairs next pairs pcall rawequal
 * rawget rawlen rawset select setmetatable tonumber tostring type xpcall
 * _VERSION _G), string (without dump), table, math (without randomseed), and
 * as in Argo CD a safe os (time, date, clock, difftime only). Changed:
 * load/loadstring compile text only, in the script's own environment;
 * require returns only those libraries (Argo CD scripts say
 * `local os = require("os")`); xpcall calls its handler after the failed
 * call has unwound (a real message handler would run inside the limit hook,
 * where no limit applies); print goes to the debug log; collectgarbage
 * only answers "count"; setmetatable refuses __gc (a finalizer would run
 * after the limits are lifted). Lua 5.1 names Argo CD's scripts may use:
 * unpack, loadstring, table.getn, math.pow. Absent: io, os.execute and the
 * rest of os, package, debug, coroutine, utf8, dofile, loadfile, string.dump,
 * binary chunks, warn.
 *
 * Caching and isolation: every script is compiled once, at
 * ws_lua_health_new, in its own lua_State (so a call's memory can be counted
 * and collected without walking other scripts' heaps). Each evaluation gets a
 * fresh global table built from the whitelist (fresh copies of the library
 * tables too, and strings' methods point at that copy for the call), set as
 * the compiled chunk's _ENV upvalue; strings' metatable is hidden from
 * scripts. After the call the state is garbage-collected, so nothing a script
 * did — globals, changed library functions — is visible to the next call.
 *
 * Limits apply to each evaluation (converting obj included): instructions
 * (a count hook; once hit, every further instruction fails, so a script
 * cannot pcall its way past it), wall time (checked in the same hook), and
 * memory allocated beyond what the state held before the call. The hook
 * never fires inside a C function, so the library calls whose cost is not
 * bounded by memory are ours: string.find, match, gmatch and gsub run
 * lua_pattern.c's matcher (Lua 5.4's results), which counts each matching
 * step as an instruction and reads the clock as often as the hook does, so
 * a pathological pattern ends like an endless loop ("instruction limit
 * exceeded (10000000 instructions) in string.find: pattern
 * \".-.-.-.-.-.-.-x\" on a 100000-byte string ..."); table.insert/remove
 * ignore __len, string.rep of nothing is free, table.move is absent.
 *
 * Thread-safety: a struct ws_lua_health is used by one thread at a time
 * (evaluation changes its lua_States). The sync engine calls it on the loop
 * thread only; an evaluation is CPU-bound and ends within the wall-time
 * limit. */
#ifndef WS_LUA_HEALTH_H
#define WS_LUA_HEALTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "base/error.h"
#include "health/health.h"

struct ws_lua_health;

/* Per evaluation; 0 in a field means its default. */
struct ws_lua_limits {
    uint64_t instructions; /* Lua VM instructions; default 10,000,000 */
    size_t memory_bytes;   /* allocated beyond the state's resting size; default 16 MiB */
    uint64_t wall_ms;      /* default 1000 */
};

#define WS_LUA_DEFAULT_INSTRUCTIONS 10000000u
#define WS_LUA_DEFAULT_MEMORY (16u << 20)
#define WS_LUA_DEFAULT_WALL_MS 1000u

/* Load and compile every script cfg names (cfg NULL or empty: none, and
 * assess always returns 0). BLOCKING: reads health.directory; call at
 * startup. A folder that cannot be read is an error naming it. A script
 * that does not compile is logged, and every object it applies to is
 * Unknown with "health script does not compile:
 * /etc/wavesync/health/kubeflow.org/PyTorchJob/health.lua:12: 'end' expected
 * near <eof>" (like any other script error, it never stops the others). limits may be NULL for defaults; it is copied. A directory
 * script whose exact key is also an inline script is not read.
 * On success *out is set; caller frees with ws_lua_health_free. */
int ws_lua_health_new(struct ws_lua_health **out, const struct ws_health_cfg *cfg,
                      const struct ws_lua_limits *limits, struct ws_err *err);

/* When a script applies to obj's group and kind: run it, fill *out and
 * return 1. Any failure — a Lua error, a limit, a return value that is not
 * {status = <one of the six>, message = <string or nil>} — gives Unknown with
 * a message naming the script's key: "health script for
 * kubeflow.org/PyTorchJob: instruction limit exceeded (10000000
 * instructions)". Returns 0 (out untouched) when no script applies, when obj
 * is NULL or not an object with a kind, or when lh is NULL. obj is borrowed for
 * the call. The message is kept as the script returned it (Argo CD keeps
 * it too): in out->full_message when it is not one short line (newlines,
 * more than out->message holds), as valid UTF-8 ('?' for other bytes, a NUL
 * included) and cut with "..." past WS_HEALTH_MESSAGE_MAX bytes; out->message
 * has it on one line, cut to fit. out must be zeroed or hold an earlier
 * verdict: its full_message is freed or replaced (caller frees the last one
 * with ws_health_clear). */
int ws_lua_health_assess(struct ws_lua_health *lh, const json_t *obj, struct ws_health *out);

/* Where the script that applies to obj comes from: its file path, or
 * "inline:<key>" for health.scripts. Borrowed from lh (valid until
 * ws_lua_health_free); NULL when none applies. */
const char *ws_lua_health_source(const struct ws_lua_health *lh, const json_t *obj);

/* Number of scripts loaded. */
size_t ws_lua_health_count(const struct ws_lua_health *lh);

/* Safe with NULL. */
void ws_lua_health_free(struct ws_lua_health *lh);

#endif
