/* lua_pattern.c — Lua 5.4 pattern matching for the health sandbox, with
 * every step of the backtracking counted and handed to a meter, so a limit
 * can stop a pathological match (lua_pattern.h says why and what a step is).
 * Written from Lua's reference manual (§6.4.1) and checked against the real
 * library's answers in tests/unit/health/test_lua_pattern.c. */
#include "health/lua_pattern.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#define MAX_CAPTURES 32   /* Lua's LUA_MAXCAPTURES: more is "too many captures" */
#define MAX_DEPTH 200     /* Lua's MAXCCALLS: nesting deeper is "pattern too complex" */
#define CAP_OPEN (-1)     /* '(' seen, its ')' not yet */
#define CAP_POSITION (-2) /* "()" */
#define SPECIALS "^$*+?.([%-"

struct matcher {
    lua_State *L;
    const char *src, *src_end;
    const char *pat_end;
    int depth; /* recursion left before "pattern too complex" */
    int level; /* captures started */
    struct {
        const char *start;
        ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
    } cap[MAX_CAPTURES];
    /* the meter and what it is told */
    const struct ws_lua_meter *meter;
    const char *fn, *pattern;
    size_t plen;
    uint64_t pending; /* steps not charged yet */
};

static void charge(struct matcher *m)
{
    uint64_t n = m->pending;
    m->pending = 0;
    if (m->meter && n)
        m->meter->charge(m->L, n, m->fn, m->pattern, m->plen, (size_t)(m->src_end - m->src));
}

static inline void step(struct matcher *m, uint64_t n)
{
    if ((m->pending += n) >= WS_LUA_PATTERN_CHECK_STEPS)
        charge(m);
}

/* pat/plen: the pattern as the script wrote it (for the meter); p_end: the
 * end of what is matched (the same, minus a leading '^'). */
static void matcher_init(struct matcher *m, lua_State *L, const char *s, size_t ls, const char *p_end,
                         const struct ws_lua_meter *meter, const char *fn, const char *pat, size_t plen)
{
    m->L = L;
    m->src = s;
    m->src_end = s + ls;
    m->pat_end = p_end;
    m->meter = meter;
    m->fn = fn;
    m->pattern = pat;
    m->plen = plen;
    m->pending = 0;
}

/* Before each attempt at a new subject position. */
static void restart(struct matcher *m)
{
    m->level = 0;
    m->depth = MAX_DEPTH;
}

/* Position in the sense of string.find's init: 1-based, negative from the
 * end, 0 and anything before the start meaning 1. May exceed len + 1. */
static size_t start_of(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len - (size_t)(-pos) + 1;
}

/* --- single characters ------------------------------------------------------ */

/* %a, %d... (cl is the letter; upper case negates); any other cl is itself. */
static int class_match(int c, int cl)
{
    int r;
    switch (tolower(cl)) {
    case 'a': r = isalpha(c); break;
    case 'c': r = iscntrl(c); break;
    case 'd': r = isdigit(c); break;
    case 'g': r = isgraph(c); break;
    case 'l': r = islower(c); break;
    case 'p': r = ispunct(c); break;
    case 's': r = isspace(c); break;
    case 'u': r = isupper(c); break;
    case 'w': r = isalnum(c); break;
    case 'x': r = isxdigit(c); break;
    case 'z': r = c == 0; break; /* deprecated since 5.2, still accepted by 5.4 */
    default: return cl == c;
    }
    return isupper(cl) ? !r : r != 0;
}

/* A set "[...]": p at its '[', close at its ']'. */
static int set_match(int c, const char *p, const char *close)
{
    int in = 1;
    p++;
    if (*p == '^') {
        in = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (class_match(c, (unsigned char)*p))
                return in;
        } else if (p[1] == '-' && p + 2 < close) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return in;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return in;
        }
    }
    return !in;
}

/* The end of the single-character class at p ("x", "%x", "[...]"). A set's
 * first character belongs to it even when it is ']' ("[]]", "[^]]"). */
static const char *class_end(struct matcher *m, const char *p)
{
    if (*p == '%') {
        if (p + 1 >= m->pat_end)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 2;
    }
    if (*p != '[')
        return p + 1;
    p++;
    if (*p == '^')
        p++;
    do {
        if (p >= m->pat_end)
            luaL_error(m->L, "malformed pattern (missing ']')");
        if (*p++ == '%' && p < m->pat_end)
            p++;
    } while (p >= m->pat_end || *p != ']');
    return p + 1;
}

/* Does the class p..ep match the subject character at s? Never past the end. */
static int single_match(const struct matcher *m, const char *s, const char *p, const char *ep)
{
    int c;
    if (s >= m->src_end)
        return 0;
    c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case '%': return class_match(c, (unsigned char)p[1]);
    case '[': return set_match(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

/* --- the matcher ---------------------------------------------------------------- */

static const char *match(struct matcher *m, const char *s, const char *p);

/* Longest run first, then shorter ones: "x*", "x+" (s already past the first). */
static const char *greedy(struct matcher *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;
    while (single_match(m, s + n, p, ep)) {
        n++;
        step(m, 1);
    }
    for (; n >= 0; n--) {
        const char *r = match(m, s + n, ep + 1);
        if (r)
            return r;
    }
    return NULL;
}

/* Shortest run first: "x-". */
static const char *lazy(struct matcher *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = match(m, s, ep + 1);
        if (r)
            return r;
        if (!single_match(m, s, p, ep))
            return NULL;
        s++;
        step(m, 1);
    }
}

static const char *open_capture(struct matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
    const char *r;
    if (m->level >= MAX_CAPTURES)
        luaL_error(m->L, "too many captures");
    m->cap[m->level].start = s;
    m->cap[m->level].len = kind;
    m->level++;
    if (!(r = match(m, s, p)))
        m->level--;
    return r;
}

/* ')' closes the innermost capture still open. */
static const char *close_capture(struct matcher *m, const char *s, const char *p)
{
    const char *r;
    int l = m->level - 1;
    while (l >= 0 && m->cap[l].len != CAP_OPEN)
        l--;
    if (l < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].start;
    if (!(r = match(m, s, p)))
        m->cap[l].len = CAP_OPEN;
    return r;
}

/* %b() : from an opening character to its balancing close. */
static const char *balanced(struct matcher *m, const char *s, const char *p)
{
    int depth = 1;
    char open, close;
    if (p + 1 >= m->pat_end)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    open = p[0];
    close = p[1];
    if (s >= m->src_end || *s != open)
        return NULL;
    while (++s < m->src_end) {
        step(m, 1);
        if (*s == close) {
            if (--depth == 0)
                return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

/* %1..%9: the text of a closed capture again. A position capture has no
 * text and never matches. */
static const char *backref(struct matcher *m, const char *s, int digit)
{
    int l = digit - '1';
    size_t len;
    if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d", l + 1);
    if (m->cap[l].len == CAP_POSITION)
        return NULL;
    len = (size_t)m->cap[l].len;
    step(m, len / 64);
    if ((size_t)(m->src_end - s) >= len && memcmp(m->cap[l].start, s, len) == 0)
        return s + len;
    return NULL;
}

/* %f[set]: the set does not match the character before s (the start counts
 * as '\0') and matches the one at s (the end counts as '\0'). */
static const char *frontier(struct matcher *m, const char *s, const char *p, const char **next)
{
    const char *ep;
    int before, at;
    if (*p != '[')
        luaL_error(m->L, "missing '[' after '%%f' in pattern");
    ep = class_end(m, p);
    before = s == m->src ? 0 : (unsigned char)s[-1];
    at = s < m->src_end ? (unsigned char)*s : 0;
    *next = ep;
    return !set_match(before, p, ep - 1) && set_match(at, p, ep - 1) ? s : NULL;
}

/* Match the pattern from p against the subject from s: the end of the match,
 * or NULL. Recurses where it must try alternatives (quantifiers, captures),
 * loops where it need not; the recursion depth is bounded as Lua's is, so
 * the same patterns are "too complex". */
static const char *match(struct matcher *m, const char *s, const char *p)
{
    const char *ep;
    if (m->depth-- == 0)
        luaL_error(m->L, "pattern too complex");
    for (;;) {
        step(m, 1);
        if (p == m->pat_end)
            break;
        if (*p == '(') {
            s = p[1] == ')' ? open_capture(m, s, p + 2, CAP_POSITION) : open_capture(m, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            s = close_capture(m, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == m->pat_end) {
            if (s != m->src_end)
                s = NULL;
            break;
        }
        if (*p == '%' && p[1] == 'b') {
            if ((s = balanced(m, s, p + 2)) == NULL)
                break;
            p += 4;
            continue;
        }
        if (*p == '%' && p[1] == 'f') {
            if ((s = frontier(m, s, p + 2, &p)) == NULL)
                break;
            continue;
        }
        if (*p == '%' && p[1] >= '0' && p[1] <= '9') {
            if ((s = backref(m, s, (unsigned char)p[1])) == NULL)
                break;
            p += 2;
            continue;
        }
        /* a single-character class, maybe quantified */
        ep = class_end(m, p);
        if (!single_match(m, s, p, ep)) {
            if (*ep == '*' || *ep == '?' || *ep == '-') { /* zero repetitions are fine */
                p = ep + 1;
                continue;
            }
            s = NULL;
            break;
        }
        if (*ep == '?') {
            const char *r = match(m, s + 1, ep + 1);
            if (r) {
                s = r;
                break;
            }
            p = ep + 1;
            continue;
        }
        if (*ep == '+') {
            s = greedy(m, s + 1, p, ep);
            break;
        }
        if (*ep == '*') {
            s = greedy(m, s, p, ep);
            break;
        }
        if (*ep == '-') {
            s = lazy(m, s, p, ep);
            break;
        }
        s++;
        p = ep;
    }
    m->depth++;
    return s;
}

/* --- captures to values --------------------------------------------------------- */

/* Capture i of the match s..e: its text (*start, the returned length), or
 * CAP_POSITION. With no captures, capture 0 is the whole match. */
static ptrdiff_t capture(struct matcher *m, int i, const char *s, const char *e, const char **start)
{
    if (i >= m->level) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        *start = s;
        return e - s;
    }
    if (m->cap[i].len == CAP_OPEN)
        luaL_error(m->L, "unfinished capture");
    *start = m->cap[i].start;
    return m->cap[i].len;
}

static void push_capture(struct matcher *m, int i, const char *s, const char *e)
{
    const char *start;
    ptrdiff_t len = capture(m, i, s, e, &start);
    if (len == CAP_POSITION)
        lua_pushinteger(m->L, (lua_Integer)(start - m->src) + 1);
    else
        lua_pushlstring(m->L, start, (size_t)len);
}

/* Every capture, or the whole match when there are none (and s is set). */
static int push_captures(struct matcher *m, const char *s, const char *e)
{
    int n = m->level == 0 && s ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* --- the library functions ------------------------------------------------------- */

static const struct ws_lua_meter *meter_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr(SPECIALS, p[i]))
            return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const struct ws_lua_meter *meter = meter_of(L);
    init = start_of(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        /* memmem is linear in the subject: charged by the byte, coarsely */
        const char *hit = lp == 0 ? s + init - 1 : memmem(s + init - 1, ls - init + 1, p, lp);
        if (meter)
            meter->charge(L, 1 + (ls - init + 1) / 64, "string.find", p, lp, ls);
        if (hit) {
            lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
            lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
            return 2;
        }
    } else {
        struct matcher m;
        int anchored = *p == '^';
        const char *at = s + init - 1;
        matcher_init(&m, L, s, ls, p + lp, meter, find ? "string.find" : "string.match", p, lp);
        do {
            const char *e;
            restart(&m);
            if ((e = match(&m, at, p + anchored)) != NULL) {
                charge(&m);
                if (!find)
                    return push_captures(&m, at, e);
                lua_pushinteger(L, (lua_Integer)(at - s) + 1);
                lua_pushinteger(L, (lua_Integer)(e - s));
                return push_captures(&m, NULL, NULL) + 2;
            }
        } while (at++ < m.src_end && !anchored);
        charge(&m);
    }
    luaL_pushfail(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int str_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* gmatch's iterator: upvalues subject, pattern, state, meter. A '^' is an
 * ordinary character here, as in Lua (an anchor would end the iteration). */
struct gmatch_state {
    size_t pos;  /* where the next search starts */
    size_t last; /* end of the previous match (an empty match there is skipped), or SIZE_MAX */
};

static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
    struct matcher m;
    matcher_init(&m, L, s, ls, p + lp, lua_touserdata(L, lua_upvalueindex(4)), "string.gmatch", p, lp);
    for (const char *at = s + g->pos; at <= m.src_end; at++) {
        const char *e;
        restart(&m);
        if ((e = match(&m, at, p)) != NULL && (size_t)(e - s) != g->last) {
            g->pos = g->last = (size_t)(e - s);
            charge(&m);
            return push_captures(&m, at, e);
        }
    }
    g->pos = ls + 1;
    charge(&m);
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t ls, lp, init;
    struct gmatch_state *g;
    luaL_checklstring(L, 1, &ls);
    luaL_checklstring(L, 2, &lp);
    init = start_of(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2);
    g = lua_newuserdatauv(L, sizeof(*g), 0);
    g->pos = init > ls ? ls + 1 : init;
    g->last = SIZE_MAX;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, gmatch_next, 4);
    return 1;
}

/* A replacement string: %0 the match, %1..%9 captures, %% a '%'. */
static void add_template(struct matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = m->L;
    size_t l;
    const char *r = lua_tolstring(L, 3, &l), *end = r + l, *pc;
    while ((pc = memchr(r, '%', (size_t)(end - r))) != NULL) {
        luaL_addlstring(b, r, (size_t)(pc - r));
        pc++; /* at worst the '\0' after the string */
        if (*pc == '%') {
            luaL_addchar(b, '%');
        } else if (*pc == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*pc)) {
            const char *start;
            ptrdiff_t len = capture(m, *pc - '1', s, e, &start);
            if (len == CAP_POSITION) {
                lua_pushinteger(L, (lua_Integer)(start - m->src) + 1);
                luaL_addvalue(b);
            } else {
                luaL_addlstring(b, start, (size_t)len);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        r = pc + 1;
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Add the replacement of the match s..e; 0 when it keeps the match as it
 * was (a function or table answered false or nil). */
static int add_replacement(struct matcher *m, luaL_Buffer *b, const char *s, const char *e, int type)
{
    lua_State *L = m->L;
    if (type == LUA_TFUNCTION) {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int str_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *s = src, *last = NULL;
    int type = lua_type(L, 3), anchored = *p == '^', changed = 0;
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    struct matcher m;
    luaL_Buffer b;
    luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION || type == LUA_TTABLE,
                     3, "string/function/table");
    luaL_buffinit(L, &b);
    matcher_init(&m, L, src, ls, p + lp, meter_of(L), "string.gsub", p, lp);
    while (n < max) {
        const char *e;
        restart(&m);
        if ((e = match(&m, s, p + anchored)) != NULL && e != last) {
            n++;
            changed |= add_replacement(&m, &b, s, e, type);
            s = last = e;
        } else if (s < m.src_end) {
            luaL_addchar(&b, *s++);
        } else {
            break;
        }
        if (anchored)
            break;
    }
    charge(&m);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, s, (size_t)(m.src_end - s));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void ws_lua_pattern_install(lua_State *L, int lib, const struct ws_lua_meter *m)
{
    static const struct {
        const char *name;
        lua_CFunction fn;
    } fns[] = {{"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch}, {"gsub", str_gsub}};
    lib = lua_absindex(L, lib);
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, fns[i].fn, 1);
        lua_setfield(L, lib, fns[i].name);
    }
}
