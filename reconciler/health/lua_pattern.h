/* lua_pattern.h — string.find, string.match, string.gmatch and string.gsub
 * for the health sandbox: Lua 5.4's pattern semantics (captures, position
 * captures, %b, %f, anchors, the four quantifiers, classes and sets,
 * back-references, gsub with string, table or function replacements, init
 * positions, plain find) in a matcher of our own that counts its steps.
 *
 * Why not Lua's own: lstrlib's matcher backtracks in C, where the count hook
 * never fires, so one call with a pathological pattern
 * (string.find(s, ".-.-.-.-.-.-.-x") on a long s) runs for minutes between
 * two limit checks, and guessing the cost from the pattern text refuses real
 * scripts. Here every unit of matching work (entering a pattern item, each
 * character a quantifier or %b walks over, a back-reference compare) is a
 * step; every WS_LUA_PATTERN_CHECK_STEPS steps, and once at the end of each
 * call, the steps are handed to a meter that may stop the call with a Lua
 * error. Results and error messages are those of Lua 5.4's functions; the
 * only visible difference is a name: an argument error of a function called
 * without a name (pcall(string.find, nil)) says '?' where Lua says
 * 'string.find'. Subjects and patterns are Lua strings, so a byte past
 * their end is always readable ('\0'), which the matcher relies on as
 * lstrlib does.
 *
 * Not thread-safe beyond Lua's own rules: one lua_State, one thread. */
#ifndef WS_LUA_PATTERN_H
#define WS_LUA_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#define WS_LUA_PATTERN_CHECK_STEPS 4096u

struct ws_lua_meter {
    /* `steps` more steps of `fn` ("string.find"...) matching `pattern`
     * (plen bytes, not NUL-terminated for this purpose) against a
     * subject of slen bytes. May raise a Lua error (lua_error, luaL_error)
     * to end the call; the matcher holds nothing that needs freeing. */
    void (*charge)(lua_State *L, uint64_t steps, const char *fn, const char *pattern, size_t plen, size_t slen);
};

/* Set find, match, gmatch and gsub in the table at index `lib` to our
 * functions metered by `m` (borrowed: it must outlive L; a static const is
 * the intended use; NULL: unmetered). */
void ws_lua_pattern_install(lua_State *L, int lib, const struct ws_lua_meter *m);

#endif
