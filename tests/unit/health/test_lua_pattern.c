/* test_lua_pattern.c — the sandbox's string.find/match/gmatch/gsub
 * (reconciler/health/lua_pattern.c) against Lua 5.4's own, answer for
 * answer: a table of patterns × subjects covering the manual's §6.4.1
 * (results, captures and error messages compared as serialised by the same
 * Lua code), then random patterns and subjects with a fixed seed; and the
 * meter: what a step costs, and a pathological pattern stopped by it. */
#include "health/lua_pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

/* The test meter: counts every step; past `budget` it raises. */
static uint64_t metered, budget = UINT64_MAX, charges;

static void test_charge(lua_State *L, uint64_t steps, const char *fn, const char *pattern, size_t plen,
                        size_t slen)
{
    metered += steps;
    charges++;
    if (metered > budget)
        luaL_error(L, "step budget exceeded in %s (%d-byte pattern, %d-byte subject)", fn, (int)plen, (int)slen);
    (void)pattern;
}

static const struct ws_lua_meter test_meter = {test_charge};

/* Lua helpers: compare(name, ...) calls orig[name] and mine[name] with the
 * same arguments through the same code, and returns both serialised (every
 * result with its type; for gmatch, every iteration; errors as "error: msg";
 * `log` is what a replacement function was called with). */
static const char *const helpers =
    "local function ser(v)\n"
    "  local t = math.type(v) or type(v)\n"
    "  if t == 'string' then return (string.format('%q', v):gsub('\\\n', 'n')) end\n"
    "  if t == 'table' or t == 'function' then return t end\n"
    "  return t .. ':' .. tostring(v)\n"
    "end\n"
    "local function pack(ok, ...)\n"
    "  if not ok then return 'error: ' .. tostring((...)) end\n"
    "  local r = table.pack(...)\n"
    "  local out = {}\n"
    "  for i = 1, r.n do out[i] = ser(r[i]) end\n"
    "  return table.concat(out, ' ')\n"
    "end\n"
    "local function run(f, ...)\n"
    "  local r = table.pack(f(...))\n"
    "  return table.unpack(r, 1, r.n)\n"
    "end\n"
    "local function iterate(f, ...)\n"
    "  local it = f(...)\n"
    "  local out = {}\n"
    "  for i = 1, 200 do\n"
    "    local r = table.pack(pcall(it))\n"
    "    if not r[1] then out[#out + 1] = 'error: ' .. tostring(r[2]) break end\n"
    "    if r[2] == nil then out[#out + 1] = 'end' break end\n"
    "    out[#out + 1] = pack(table.unpack(r, 1, r.n))\n"
    "  end\n"
    "  return table.concat(out, ' | ')\n"
    "end\n"
    "function one(lib, name, ...)\n"
    "  log = {}\n"
    "  local s\n"
    "  if name == 'gmatch' then s = iterate(lib.gmatch, ...)\n"
    "  else s = pack(pcall(run, lib[name], ...)) end\n"
    "  if #log > 0 then s = s .. ' log: ' .. table.concat(log, ';') end\n"
    "  return s\n"
    "end\n"
    "function compare(name, ...)\n"
    "  return one(orig, name, ...), one(mine, name, ...)\n"
    "end\n"
    "function rec(...)\n"
    "  local t = table.pack(...)\n"
    "  for i = 1, t.n do t[i] = tostring(t[i]) end\n"
    "  log[#log + 1] = table.concat(t, ',', 1, t.n)\n"
    "end\n";

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "string");
    lua_setglobal(L, "orig");
    lua_newtable(L);
    ws_lua_pattern_install(L, -1, &test_meter);
    lua_setglobal(L, "mine");
    if (luaL_dostring(L, helpers) != LUA_OK)
        tap_diag("helpers: %s", lua_tostring(L, -1));
    return L;
}

/* Run `return compare(<call>)` and check both answers are the same. */
static void same(lua_State *L, const char *call)
{
    char code[2048];
    snprintf(code, sizeof(code), "return compare(%s)", call);
    lua_settop(L, 0);
    if (luaL_dostring(L, code) != LUA_OK) {
        tap_ok(0, "%s: %s", call, lua_tostring(L, -1));
        return;
    }
    if (!tap_ok(strcmp(lua_tostring(L, 1), lua_tostring(L, 2)) == 0, "%s -> %s", call, lua_tostring(L, 1)))
        tap_diag("  ours: %s", lua_tostring(L, 2));
}

/* Arguments as Lua source: the function's name, then its arguments. */
static const char *const cases[] = {
    /* find: plain, specials, init positions */
    "'find', 'hello world', 'o w'",
    "'find', 'hello world', 'o', 6",
    "'find', 'hello world', 'o', -3",
    "'find', 'hello world', 'o', -100",
    "'find', 'hello world', 'o', 0",
    "'find', 'hello world', 'o', 100",
    "'find', 'hello', '', 6",
    "'find', 'hello', '', 7",
    "'find', 'hello', '', -1",
    "'find', 'a.b', '.', 1, true",
    "'find', 'a.b', '.', 2, true",
    "'find', 'a+b', '+b', 1, true",
    "'find', 'a+b', 'a+b'",
    "'find', 'abc', 'b', 1, false",
    "'find', 'abc', 'b', 1, nil",
    "'find', 'a\\0b\\0c', '\\0c'",
    "'find', 'a\\0b\\0c', '%z'",
    "'find', 'a\\0b', '[\\0]'",
    "'find', 12345, 34",
    "'find', 'abc', 'b', '2'",
    "'find', 'abc', 'b', 2.0",
    "'find', 'abc', 'b', 2.5",
    "'find', nil, 'b'",
    "'find', 'abc', nil",
    "'find', 'abc', {}",
    "'find', 'key: value', '(%w+): (%w+)'",
    "'find', 'key: value', '()ey()'",
    "'find', '  x', '^%s*'",
    "'find', 'aaa', 'a-', 2",
    /* match: captures, position captures, anchors */
    "'match', '2024-09-16T16:29:00Z', '(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z'",
    "'match', 'Reason: something went wrong: details', '^(.-):%s*(.*)$'",
    "'match', 'no colon here', '^(.-):%s*(.*)$'",
    "'match', 'hello', '()ll()'",
    "'match', 'hello', '(h)(e)(l)(l)(o)'",
    "'match', 'hello', '((l)(l))'",
    "'match', 'hello', 'l+'",
    "'match', 'hello', '^h'",
    "'match', 'hello', '^e'",
    "'match', 'hello', 'o$'",
    "'match', 'hello', 'l$'",
    "'match', 'a$b', 'a$b'",
    "'match', 'a^b', 'a^b'",
    "'match', 'hello', 'x*'",
    "'match', 'hello', '.-l'",
    "'match', 'hello', '.*l'",
    "'match', 'hello', 'h?e'",
    "'match', 'ello', 'h?e'",
    "'match', 'aaab', 'a-b'",
    "'match', 'aaab', '^a-$'",
    "'match', '', '^$'",
    "'match', '', '.*'",
    "'match', '', '()'",
    "'match', 'abc', '', 10",
    "'match', 'abc', '()', 4",
    "'match', 'abc', '()', 5",
    "'match', 'abc', '.', -1",
    /* classes and sets */
    "'match', 'Ab1 _.!\\t\\n', '%a+'",
    "'match', 'Ab1 _.!\\t\\n', '%A+'",
    "'match', 'x 12ab', '%d+'",
    "'match', 'x 12ab', '%D+'",
    "'match', 'x 12ab', '%x+'",
    "'match', 'abcDEF', '%l+'",
    "'match', 'abcDEF', '%u+'",
    "'match', 'a, b; c', '%p'",
    "'match', 'a\\1b', '%c'",
    "'match', ' \\t\\r\\n\\v\\fz', '%s+'",
    "'match', 'a_b-c', '%w+'",
    "'match', 'a b', '%g+'",
    "'match', 'a.b', '%.'",
    "'match', 'a%b', '%%'",
    "'match', 'abc-def', '[a-c]+'",
    "'match', 'abc-def', '[^a-c]+'",
    "'match', 'a-b', '[a%-]+'",
    "'match', 'a-b', '[-a]+'",
    "'match', 'a-b', '[a-]+'",
    "'match', ']]a', '[]]+'",
    "'match', ']]a', '[^]]+'",
    "'match', 'x^y', '[%^x]+'",
    "'match', 'x^y', '[x^]+'",
    "'match', 'ab12', '[%a%d]+'",
    "'match', 'ab12', '[%A]+'",
    "'match', 'é', '[\\195]'",
    "'match', '\\255\\128', '[\\128-\\255]+'",
    /* %b, %f, back-references */
    "'match', 'f(a(b)c) d', '%b()'",
    "'match', 'f(a(b c) d', '%b()'",
    "'match', '\"quoted\" rest', '%b\"\"'",
    "'match', 'x', '%b'",
    "'match', 'x', '%bx'",
    "'find', 'THE (quick) fox', '%f[%a]%a+'",
    "'find', 'THE (quick) fox', '%f[%a]%a+', 5",
    "'match', 'hello world', '%f[%w]%w+$'",
    "'match', 'end', '%f[%z]'",
    "'find', 'a b', '%f[%s]'",
    "'match', 'x', '%fx'",
    "'match', 'abcabc', '(abc)%1'",
    "'match', 'abcab', '(abc)%1'",
    "'match', 'say \"hi\" and', '([\"\\'])(.-)%1'",
    "'match', 'aa', '()a%1'",
    "'match', 'aa', '(a)%2'",
    "'match', 'aa', '(a%1)'",
    "'match', 'aa', '%0'",
    /* malformed patterns */
    "'find', 'abc', '%'",
    "'find', 'abc', '[a'",
    "'find', 'abc', '[a%'",
    "'find', 'abc', '[]'",
    "'find', 'abc', '[^]'",
    "'find', 'abc', '(a'",
    "'find', 'abc', 'a)'",
    "'find', 'abc', '(()'",
    "'match', 'abc', '((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))'",
    "'match', string.rep('a', 300), string.rep('a?', 300)",
    "'match', string.rep('a', 150), string.rep('a?', 150)",
    /* gmatch */
    "'gmatch', 'one two  three', '%a+'",
    "'gmatch', 'k1=v1, k2=v2', '(%w+)=(%w+)'",
    "'gmatch', 'abc', ''",
    "'gmatch', 'abc', 'x*'",
    "'gmatch', 'abc', '()'",
    "'gmatch', 'hello world', '%a+', 3",
    "'gmatch', 'hello world', '%a+', -5",
    "'gmatch', 'hello world', '%a+', 100",
    "'gmatch', '^a^a', '^a'",
    "'gmatch', 'abc', '('",
    "'gmatch', 'a,b,,c', '([^,]*)'",
    /* gsub: string replacements */
    "'gsub', 'hello world', 'o', '0'",
    "'gsub', 'hello world', 'o', '0', 1",
    "'gsub', 'hello world', 'o', '0', 0",
    "'gsub', 'hello world', 'o', '0', -1",
    "'gsub', 'hello world', 'o', '0', 1.5",
    "'gsub', 'hello world', '(o)', '[%1%1]'",
    "'gsub', 'hello world', 'l+', '<%0>'",
    "'gsub', 'hello', '', '-'",
    "'gsub', 'hello', 'x*', '-'",
    "'gsub', 'abc', '%w', '%1'",
    "'gsub', 'abc', '%w', '%2'",
    "'gsub', 'abc', '(%w)', '%2'",
    "'gsub', 'abc', '()%w', '%1'",
    "'gsub', 'abc', '%w', '%%'",
    "'gsub', 'abc', '%w', '%x'",
    "'gsub', 'abc', '%w', 'x%'",
    "'gsub', 'abc', '^%w', 'X'",
    "'gsub', 'abc', '%w$', 'X'",
    "'gsub', 'abc', 'b', 7",
    "'gsub', 'abc', 'b'",
    "'gsub', 'abc', 'b', true",
    "'gsub', 'abc', 'b', nil, 'x'",
    "'gsub', '  trim me  ', '^%s*(.-)%s*$', '%1'",
    "'gsub', 'a\\nb\\n', '\\n', '\\\\n'",
    /* gsub: tables and functions */
    "'gsub', '$name is $age', '%$(%w+)', {name = 'Ann', age = 7}",
    "'gsub', '$name is $x', '%$(%w+)', {name = 'Ann'}",
    "'gsub', '$name', '%$(%w+)', {name = false}",
    "'gsub', '$name', '%$(%w+)', {name = {}}",
    "'gsub', 'abc', '%w', {a = 1}",
    "'gsub', 'k1=v1 k2=v2', '(%w+)=(%w+)', function(k, v) rec(k, v) return v .. '=' .. k end",
    "'gsub', 'abc', '%w', function(c) rec(c) if c == 'b' then return nil end return c:upper() end",
    "'gsub', 'abc', '()', function(p) rec(p) return p end",
    "'gsub', 'abc', '%w', function() return {} end",
    "'gsub', 'abc', '%w', function() error('boom') end",
    "'gsub', 'abc', '(', function() return 'x' end",
    "'gsub', 'hello world', '%f[%w]%w+', function(w) return w:sub(1, 1):upper() .. w:sub(2) end",
    "'gsub', 'nested', '%w', function(c) return (c:gsub('.', '%0%0')) end",
};

static void test_table(void)
{
    lua_State *L = new_state();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        same(L, cases[i]);
    lua_close(L);
}

/* Random patterns from pieces that exercise every construct (and many
 * malformed combinations), on random subjects, through all four functions.
 * Ours runs first under a step budget; when it stops there, the case is
 * too costly to ask Lua's (which has no limit), and is skipped. */
static const char *const fuzz =
    "local pieces = {'a', 'b', 'x', '.', '%a', '%d', '%s', '%w', '%W', '%p', '%x', '%z', '%%', '%.', '%(',\n"
    "  '[ab]', '[^ab]', '[a-c]', '[%d_]', '[]]', '[^]a]', '[', ']', '(', ')', '()', '*', '+', '-', '?',\n"
    "  '^', '$', '%b()', '%bab', '%f[%w]', '%f[%W]', '%f', '%1', '%2', '%0', '%', ' '}\n"
    "local chars = {'a', 'b', 'x', '(', ')', '1', ' ', '_', '.', '%', '\\0', ']'}\n"
    "local repls = {'%1-%0', 'x', '%%', '%2', '', '<%1>'}\n"
    "local tbl = {a = 'A', b = false, ['('] = 'P'}\n"
    "local function fn(...) rec(...) local a = ... if a == 'b' then return nil end return 'F' end\n"
    "math.randomseed(20260907)\n"
    "local done, skipped, bad, first = 0, 0, 0, {}\n"
    "for i = 1, N do\n"
    "  local p = {}\n"
    "  for j = 1, math.random(1, 6) do p[j] = pieces[math.random(#pieces)] end\n"
    "  p = table.concat(p)\n"
    "  local s = {}\n"
    "  for j = 1, math.random(0, 14) do s[j] = chars[math.random(#chars)] end\n"
    "  s = table.concat(s)\n"
    "  local init = math.random(1, 4) == 1 and math.random(-16, 16) or nil\n"
    "  local which = math.random(1, 6)\n"
    "  local args\n"
    "  if which == 1 then args = {'find', s, p, init, math.random(1, 5) == 1}\n"
    "  elseif which == 2 then args = {'match', s, p, init}\n"
    "  elseif which == 3 then args = {'gmatch', s, p, init}\n"
    "  else\n"
    "    local r = which == 4 and repls[math.random(#repls)] or which == 5 and tbl or fn\n"
    "    args = {'gsub', s, p, r, math.random(1, 3) == 1 and math.random(-1, 3) or nil}\n"
    "  end\n"
    "  set_budget(2000000)\n"
    "  local ours = one(mine, table.unpack(args, 1, 5))\n"
    "  set_budget(nil)\n"
    "  if ours:find('step budget exceeded', 1, true) then skipped = skipped + 1\n"
    "  else\n"
    "    local theirs = one(orig, table.unpack(args, 1, 5))\n"
    "    done = done + 1\n"
    "    if theirs ~= ours then\n"
    "      bad = bad + 1\n"
    "      if #first < 10 then\n"
    "        first[#first + 1] = string.format('%s(%q, %q, %s, %s): Lua %s, ours %s', args[1], s, p,\n"
    "          tostring(args[4]), tostring(args[5]), theirs, ours)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return done, skipped, bad, table.concat(first, '\\n')\n";

static int set_budget(lua_State *L)
{
    metered = 0;
    budget = lua_isnoneornil(L, 1) ? UINT64_MAX : (uint64_t)lua_tointeger(L, 1);
    return 0;
}

static void test_fuzz(void)
{
    lua_State *L = new_state();
    lua_pushcfunction(L, set_budget);
    lua_setglobal(L, "set_budget");
    lua_pushinteger(L, 30000);
    lua_setglobal(L, "N");
    if (luaL_dostring(L, fuzz) != LUA_OK) {
        tap_ok(0, "fuzz: %s", lua_tostring(L, -1));
    } else {
        long long done = lua_tointeger(L, 1), skipped = lua_tointeger(L, 2), bad = lua_tointeger(L, 3);
        if (!tap_ok(bad == 0, "fuzz: %lld random calls answer as Lua's (%lld too costly to compare)", done, skipped))
            tap_diag("%lld differ; first ones:\n%s", bad, lua_tostring(L, 4));
        tap_ok(done > 25000, "fuzz: most calls compared");
    }
    budget = UINT64_MAX;
    lua_close(L);
}

/* --- the meter ------------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_meter_counts(void)
{
    lua_State *L = new_state();
    static const struct {
        const char *call;
        uint64_t max_steps; /* what a real script's call may cost */
    } realistic[] = {
        {"mine.match('2023-09-16T16:29:00Z', '(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z')", 200},
        {"mine.match(string.rep('Back-off pulling image ', 6) .. ': ImagePullBackOff', '^(.-):%s*(.*)$')", 1500},
        {"mine.find(string.rep('x', 100000), 'needle', 1, true)", 2000},
        {"mine.gsub(string.rep('key=value ', 100), '(%w+)=(%w+)', '%2=%1')", 20000},
    };
    for (size_t i = 0; i < sizeof(realistic) / sizeof(realistic[0]); i++) {
        char code[512];
        metered = charges = 0;
        budget = UINT64_MAX;
        snprintf(code, sizeof(code), "return %s", realistic[i].call);
        if (luaL_dostring(L, code) != LUA_OK)
            tap_diag("%s", lua_tostring(L, -1));
        if (!tap_ok(metered > 0 && metered <= realistic[i].max_steps && charges >= 1, "%s: %llu steps",
                    realistic[i].call, (unsigned long long)metered))
            tap_diag("  want at most %llu", (unsigned long long)realistic[i].max_steps);
    }

    /* a pathological pattern: stopped by the budget, quickly */
    {
        static const char *const patho[] = {
            "return mine.find(string.rep('a', 5000), '.-.-.-.-.-.-.-x')",
            "return mine.match(string.rep('a', 30) .. 'c', '(a*)(a*)(a*)(a*)(a*)(a*)b')",
            "return mine.gsub(string.rep('a', 2000), '.-.-.-.-b', 'x')",
            "for w in mine.gmatch(string.rep('(', 6000), '%b()%b()') do end",
            "return mine.match(string.rep('ab', 3000) .. 'c', '(.+)%1%1$')",
        };
        for (size_t i = 0; i < sizeof(patho) / sizeof(patho[0]); i++) {
            double t0 = now_ms(), ms;
            int rc;
            metered = charges = 0;
            budget = 10000000;
            rc = luaL_dostring(L, patho[i]);
            ms = now_ms() - t0;
            tap_ok(rc != LUA_OK && strstr(lua_tostring(L, -1), "step budget exceeded"), "%s: stopped (%s)", patho[i],
                   rc != LUA_OK ? lua_tostring(L, -1) : "finished");
            tap_ok(ms < 1000, "  after %llu steps in %.1f ms", (unsigned long long)metered, ms);
            lua_settop(L, 0);
        }
    }
    budget = UINT64_MAX;
    lua_close(L);
}

int main(void)
{
    test_table();
    test_fuzz();
    test_meter_counts();
    return tap_done();
}
