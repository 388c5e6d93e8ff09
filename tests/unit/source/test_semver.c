/* test_semver.c — table-driven tests for reconciler/source/semver.c:
 * versions, precedence, Masterminds constraints, the highest match. */
#include "source/semver.h"

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

static void test_parse(void)
{
    static const struct {
        const char *in;
        int ok, exact;
    } rows[] = {
        {"1.2.3", 1, 1},       {"v1.2.3", 1, 1},     {"1.2", 1, 0},          {"1", 1, 0},
        {"1.2.3-rc.1", 1, 1},  {"1.2.3+build.5", 1, 1}, {"1.2.3-rc.1+b", 1, 1}, {"", 0, 0},
        {"1.2.3.4", 0, 0},     {"a.b.c", 0, 0},      {"1.2.x", 0, 0},        {"1..2", 0, 0},
        {"1.2.3-", 0, 0},      {"1.2.3-a..b", 0, 0}, {">1.2.3", 0, 0},       {"1.2.3 ", 0, 0},
        {"99999999999999999.0.0", 0, 0},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_semver v;
        tap_ok((ws_semver_parse(&v, rows[i].in) == 0) == rows[i].ok, "parse \"%s\" %s", rows[i].in,
               rows[i].ok ? "ok" : "refused");
        tap_ok(ws_semver_is_exact(rows[i].in) == rows[i].exact, "\"%s\" is %sexact", rows[i].in,
               rows[i].exact ? "" : "not ");
    }
}

static void test_cmp(void)
{
    /* each is below the next (semver.org's precedence example, and more) */
    static const char *const order[] = {
        "0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0",
    };
    size_t i;
    for (i = 0; i + 1 < WS_ARRAY_SIZE(order); i++) {
        struct ws_semver a, b;
        ws_semver_parse(&a, order[i]);
        ws_semver_parse(&b, order[i + 1]);
        tap_ok(ws_semver_cmp(&a, &b) < 0 && ws_semver_cmp(&b, &a) > 0, "%s < %s", order[i], order[i + 1]);
    }
    {
        struct ws_semver a, b;
        ws_semver_parse(&a, "1.2.3+x");
        ws_semver_parse(&b, "v1.2.3");
        tap_ok(ws_semver_cmp(&a, &b) == 0, "build metadata and the v prefix do not count");
    }
}

static void test_match(void)
{
    static const struct {
        const char *c, *v;
        int want;
    } rows[] = {
        {"1.2.3", "1.2.3", 1},      {"1.2.3", "1.2.4", 0},     {"=1.2.3", "1.2.3", 1},
        {"1.2", "1.2.9", 1},        {"1.2", "1.3.0", 0},       {"1.2.x", "1.2.0", 1},
        {"1.2.x", "1.3.0", 0},      {"1.x", "1.9.9", 1},       {"1.x", "2.0.0", 0},
        {"*", "0.0.1", 1},          {"*", "9.9.9", 1},         {"*", "1.0.0-rc.1", 0},
        {"^1.2", "1.9.0", 1},       {"^1.2", "1.1.9", 0},      {"^1.2", "2.0.0", 0},
        {"^1.2.3", "1.2.3", 1},     {"^1.2.3", "1.2.2", 0},    {"^0.2.3", "0.2.9", 1},
        {"^0.2.3", "0.3.0", 0},     {"^0.0.3", "0.0.3", 1},    {"^0.0.3", "0.0.4", 0},
        {"^0", "0.9.0", 1},         {"^0", "1.0.0", 0},        {"^0.0", "0.0.9", 1},
        {"^0.0", "0.1.0", 0},       {"~1.2.0", "1.2.9", 1},    {"~1.2.0", "1.3.0", 0},
        {"~1.2", "1.2.0", 1},       {"~1", "1.9.0", 1},        {"~1", "2.0.0", 0},
        {"~>1.2.3", "1.2.4", 1},    {"~1.2.3", "1.2.2", 0},    {">=1.0 <2.0", "1.5.0", 1},
        {">=1.0 <2.0", "2.0.0", 0}, {">=1.0, <2.0", "0.9.0", 0}, {">= 1.0, < 2.0", "1.0.0", 1},
        {">1.2", "1.2.9", 0},       {">1.2", "1.3.0", 1},      {">1.2.3", "1.2.4", 1},
        {"<=1.2", "1.2.9", 1},      {"<=1.2", "1.3.0", 0},     {"<1.2", "1.1.9", 1},
        {"<1.2", "1.2.0", 0},       {"!=1.2.3", "1.2.3", 0},   {"!=1.2.3", "1.2.4", 1},
        {"1.2 - 1.4.5", "1.4.5", 1}, {"1.2 - 1.4.5", "1.4.6", 0}, {"1.2 - 1.4.5", "1.1.9", 0},
        {"1.2 - 1.4", "1.4.9", 1},  {"^1 || ^3", "3.1.0", 1},   {"^1 || ^3", "2.1.0", 0},
        {">=1.0.0-0", "1.0.0-rc.1", 1}, {">=1.0.0-rc.1", "1.0.0-rc.2", 1}, {"^1.0.0", "1.1.0-rc.1", 0},
        {"1.2.3-rc.1", "1.2.3-rc.1", 1}, {"v1.2", "1.2.5", 1},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_semver v;
        int r = ws_semver_parse(&v, rows[i].v) == 0 ? ws_semver_match(rows[i].c, &v) : -99;
        tap_ok(r == rows[i].want, "\"%s\" %s %s (got %d)", rows[i].c, rows[i].want ? "matches" : "refuses",
               rows[i].v, r);
    }
}

static void test_bad_constraints(void)
{
    static const char *const bad[] = {"", "  ", ">>1.0", "1.0 <", "abc", "1.x.3", "^", "||", "1.0 ||",
                                      "<>1", "1.2.3.4"};
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(bad); i++)
        tap_ok(ws_semver_check(bad[i]) < 0, "constraint \"%s\" is refused", bad[i]);
    tap_ok(ws_semver_check(">=1.0 <2.0 || 3.x") == 0, "a complex constraint is accepted");
}

static void test_best(void)
{
    static const char *const versions[] = {"1.0.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "bogus", "1.9.0", "2.0.0_build.1"};
    static const struct {
        const char *c;
        int found;
        const char *want;
    } rows[] = {
        {"^1.0", 1, "1.10.1"}, {"~1.2", 1, "1.2.0"}, {"*", 1, "2.0.0_build.1"}, {">=3", 0, NULL},
        {"1.9.0", 1, "1.9.0"}, {">=2.0.0-0", 1, "2.0.0_build.1"}, {"2.0.0-rc.1", 1, "2.0.0-rc.1"},
    };
    size_t i, at = 0;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        int r = ws_semver_best(&at, rows[i].c, versions, WS_ARRAY_SIZE(versions), 1);
        tap_ok(r == rows[i].found && (!r || strcmp(versions[at], rows[i].want) == 0), "best for \"%s\": %s (got %s)",
               rows[i].c, rows[i].want ? rows[i].want : "none", r == 1 ? versions[at] : "none");
    }
    tap_ok(ws_semver_best(&at, ">>", versions, 2, 0) < 0, "best: a bad constraint is an error");
    tap_ok(ws_semver_best(&at, "*", versions + 6, 1, 0) == 0, "best: '_' is not '+' without underscore");
}

int main(void)
{
    test_parse();
    test_cmp();
    test_match();
    test_bad_constraints();
    test_best();
    return tap_done();
}
