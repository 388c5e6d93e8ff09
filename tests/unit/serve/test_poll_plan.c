/* test_poll_plan.c — reconciler/serve/poll_plan.c: the poll schedule (first
 * poll spread over the interval, later ones interval + up to half of it) and
 * the decision which refs a poll found moved, as tables. */
#include "serve/poll_plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "tap.h"
#include "testjson.h"

static void test_delay(void)
{
    static const struct {
        uint64_t interval;
        int first;
        uint32_t r;
        uint64_t want;
    } rows[] = {
        {120000, 1, 0, 0},
        {120000, 1, 0x80000000u, 60000},
        {120000, 1, 0xffffffffu, 119999},
        {120000, 0, 0, 120000},
        {120000, 0, 0x80000000u, 150000},
        {120000, 0, 0xffffffffu, 179999},  /* Argo CD: 120 s + up to 60 s */
        {2000, 0, 0x40000000u, 2250},
        {1000, 1, 0xffffffffu, 999},
        {86400000, 0, 0xffffffffu, 129599999}, /* 24 h: no overflow */
        {0, 1, 12345, 0},                   /* off */
        {0, 0, 12345, 0},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        uint64_t got = ws_poll_delay_ms(rows[i].interval, rows[i].first, rows[i].r);
        if (!tap_ok(got == rows[i].want, "delay: interval %llu, %s, r %#x → %llu ms",
                    (unsigned long long)rows[i].interval, rows[i].first ? "first" : "next", rows[i].r,
                    (unsigned long long)rows[i].want))
            tap_diag("  got %llu", (unsigned long long)got);
    }

    /* 100 repositories started together: first polls spread over the whole
       interval; later ones all within [interval, 1.5 interval) */
    {
        uint32_t x = 2463534242u; /* xorshift32: deterministic dice */
        uint64_t lo = UINT64_MAX, hi = 0, sum = 0, nlo = UINT64_MAX, nhi = 0;
        int buckets[10] = {0}, empty = 0;
        for (int i = 0; i < 100; i++) {
            uint64_t d;
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            d = ws_poll_delay_ms(120000, 1, x);
            lo = d < lo ? d : lo, hi = d > hi ? d : hi, sum += d;
            buckets[d / 12000]++;
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            d = ws_poll_delay_ms(120000, 0, x);
            nlo = d < nlo ? d : nlo, nhi = d > nhi ? d : nhi;
        }
        for (int b = 0; b < 10; b++)
            empty += buckets[b] == 0;
        tap_ok(hi < 120000 && empty == 0, "delay: 100 first polls fall in every tenth of the interval (%llu..%llu ms)",
               (unsigned long long)lo, (unsigned long long)hi);
        tap_ok(sum / 100 > 48000 && sum / 100 < 72000, "delay: first polls average about half the interval (%llu ms)",
               (unsigned long long)(sum / 100));
        tap_ok(nlo >= 120000 && nhi < 180000 && nhi - nlo > 30000,
               "delay: next polls spread within interval .. 1.5 × interval (%llu..%llu ms)", (unsigned long long)nlo,
               (unsigned long long)nhi);
    }
}

/* interesting(): a comma-separated list of refs */
static int in_list(const char *ref, void *data)
{
    const char *list = data, *p = list;
    size_t n = strlen(ref);
    while ((p = strstr(p, ref)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

static void test_diff(void)
{
    static const struct {
        const char *what;
        const char *seen, *remote, *tags; /* JSON ({ref: id}) */
        int adopt;
        const char *tracked;              /* refs an application tracks */
        const char *want_moves;           /* "ref before..after;" … */
        const char *want_seen;
    } rows[] = {
        {"nothing moved", "{'refs/heads/main': 'A'}", "{'refs/heads/main': 'A'}", "{}", 0, "refs/heads/main", "",
         "{'refs/heads/main': 'A'}"},
        {"main moved", "{'refs/heads/main': 'A'}", "{'refs/heads/main': 'B'}", "{}", 0, "refs/heads/main",
         "refs/heads/main A..B;", "{'refs/heads/main': 'A'}"},
        {"a branch nobody tracks follows the remote quietly", "{'refs/heads/main': 'A', 'refs/heads/wip': 'W'}",
         "{'refs/heads/main': 'A', 'refs/heads/wip': 'X'}", "{}", 0, "refs/heads/main", "",
         "{'refs/heads/main': 'A', 'refs/heads/wip': 'X'}"},
        {"a new tracked branch is a created ref", "{'refs/heads/main': 'A'}",
         "{'refs/heads/main': 'A', 'refs/heads/release': 'R'}", "{}", 0, "refs/heads/main,refs/heads/release",
         "refs/heads/release 0000000000000000000000000000000000000000..R;", "{'refs/heads/main': 'A'}"},
        {"adopt: refs new to seen are taken as they are", "{}", "{'refs/heads/main': 'A', 'refs/tags/v1': 'T'}",
         "{}", 1, "refs/heads/main,refs/tags/v1", "", "{'refs/heads/main': 'A', 'refs/tags/v1': 'T'}"},
        {"adopt: a ref already seen (from a webhook) still counts", "{'refs/heads/main': 'A'}",
         "{'refs/heads/main': 'B'}", "{}", 1, "refs/heads/main", "refs/heads/main A..B;", "{'refs/heads/main': 'A'}"},
        {"a deleted ref is forgotten, not routed", "{'refs/heads/main': 'A', 'refs/heads/old': 'O'}",
         "{'refs/heads/main': 'A'}", "{}", 0, "refs/heads/main,refs/heads/old", "", "{'refs/heads/main': 'A'}"},
        {"an annotated tag seen by its tag object id (a webhook) has not moved", "{'refs/tags/v2': 'TAGOBJ'}",
         "{'refs/tags/v2': 'C2'}", "{'refs/tags/v2': 'TAGOBJ'}", 0, "refs/tags/v2", "", "{'refs/tags/v2': 'TAGOBJ'}"},
        {"an annotated tag moved to another commit", "{'refs/tags/v2': 'TAGOBJ'}", "{'refs/tags/v2': 'C3'}",
         "{'refs/tags/v2': 'TAGOBJ2'}", 0, "refs/tags/v2", "refs/tags/v2 TAGOBJ..C3;", "{'refs/tags/v2': 'TAGOBJ'}"},
        {"several moves, in the remote's order",
         "{'refs/heads/main': 'A', 'refs/heads/release': 'R', 'refs/tags/v1': 'T'}",
         "{'refs/heads/release': 'R2', 'refs/heads/main': 'A2', 'refs/tags/v1': 'T'}", "{}", 0,
         "refs/heads/main,refs/heads/release,refs/tags/v1", "refs/heads/release R..R2;refs/heads/main A..A2;",
         "{'refs/heads/main': 'A', 'refs/heads/release': 'R', 'refs/tags/v1': 'T'}"},
        {"an empty remote forgets everything", "{'refs/heads/main': 'A'}", "{}", "{}", 0, "refs/heads/main", "", "{}"},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        json_t *seen = J(rows[i].seen), *want_seen = J(rows[i].want_seen);
        struct ws_git_heads remote = {J(rows[i].remote), J(rows[i].tags), NULL};
        struct ws_poll_move *moves = NULL;
        size_t n = 0;
        char got[1024] = "";
        char *tracked = strdup(rows[i].tracked);
        int rc = ws_poll_diff(&moves, &n, seen, &remote, rows[i].adopt, in_list, tracked);
        for (size_t k = 0; k < n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s %s..%s;", moves[k].ref, moves[k].before,
                     moves[k].after);
        if (!tap_ok(rc == 0 && strcmp(got, rows[i].want_moves) == 0, "diff: %s: moves", rows[i].what))
            tap_diag("  rc %d, got \"%s\", want \"%s\"", rc, got, rows[i].want_moves);
        if (!tap_ok(json_equal(seen, want_seen), "diff: %s: seen afterwards", rows[i].what)) {
            char *t = json_dumps(seen, JSON_COMPACT | JSON_SORT_KEYS);
            tap_diag("  got %s", t ? t : "?");
            free(t);
        }
        ws_poll_moves_free(moves, n);
        free(tracked);
        json_decref(seen);
        json_decref(want_seen);
        ws_git_heads_free(&remote);
    }
}

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccc"
#define ZERO WS_POLL_ZERO_ID

static void test_seen_advance(void)
{
    static const struct {
        const char *what;
        const char *seen; /* main's seen id, NULL: unknown */
        const char *before, *after;
        int want_rc;
        const char *want; /* main's seen id afterwards */
    } rows[] = {
        {"a push that continues from what was seen", ID_A, ID_A, ID_B, 1, ID_B},
        {"an abbreviated before", ID_A, "aaaaaaa", ID_B, 1, ID_B},
        {"too short to be an id", ID_A, "aaa", ID_B, 0, ID_A},
        {"a gap: a push in between was lost", ID_A, ID_B, ID_C, 0, ID_A},
        {"an unknown ref", NULL, ID_B, ID_C, 1, ID_C},
        {"a created ref replaces an old life of it", ID_A, ZERO, ID_C, 1, ID_C},
        {"already there", ID_B, ID_A, ID_B, 0, ID_B},
        {"no before (a generic hook) is a gap", ID_A, "", ID_B, 0, ID_A},
        {"a deletion (after empty) changes nothing", ID_A, ID_A, "", 0, ID_A},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        json_t *seen = json_object();
        int rc;
        if (rows[i].seen)
            json_object_set_new(seen, "refs/heads/main", json_string(rows[i].seen)); /* steals */
        rc = ws_poll_seen_advance(seen, "refs/heads/main", rows[i].before, rows[i].after);
        tap_ok(rc == rows[i].want_rc, "seen_advance: %s: returns %d", rows[i].what, rows[i].want_rc);
        tap_is_str(json_string_value(json_object_get(seen, "refs/heads/main")), rows[i].want, rows[i].what);
        json_decref(seen);
    }
}

int main(void)
{
    test_delay();
    test_diff();
    test_seen_advance();
    return tap_done();
}
