/* poll_plan.c — when to poll and what a poll found moved (see poll_plan.h).
 * Pure: the service (serve/poll.c) brings the refs, the clock and the dice. */
#include "serve/poll_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

uint64_t ws_poll_delay_ms(uint64_t interval_ms, int first, uint32_t r)
{
    if (interval_ms == 0)
        return 0;
    /* r / 2^32 is a fraction in [0, 1): scaled without modulo bias */
    if (first)
        return interval_ms * r >> 32;
    return interval_ms + ((interval_ms / 2) * r >> 32);
}

static int is_zero_id(const char *id)
{
    return id && *id && strspn(id, "0") == strlen(id);
}

void ws_poll_moves_free(struct ws_poll_move *moves, size_t n)
{
    for (size_t i = 0; moves && i < n; i++)
        free(moves[i].ref);
    free(moves);
}

/* Is the remote's `ref` at what the service saw? */
static int same(const char *seen_id, const struct ws_git_heads *remote, const char *ref, const char *id)
{
    const char *tag = json_string_value(json_object_get(remote->tag_ids, ref));
    return strcmp(seen_id, id) == 0 || (tag && strcmp(seen_id, tag) == 0);
}

int ws_poll_diff(struct ws_poll_move **out, size_t *nout, json_t *seen, const struct ws_git_heads *remote,
                 int adopt, ws_poll_interesting_cb interesting, void *data)
{
    struct ws_poll_move *moves = NULL;
    size_t n = 0, cap = 0;
    const char *ref;
    json_t *v;
    void *tmp;

    *out = NULL;
    *nout = 0;
    /* refs the remote no longer has: forget them (a deletion is not routed) */
    json_object_foreach_safe(seen, tmp, ref, v)
        if (!json_object_get(remote->refs, ref))
            json_object_del(seen, ref);
    json_object_foreach(remote->refs, ref, v) {
        const char *id = json_string_value(v), *seen_id = json_string_value(json_object_get(seen, ref));
        if (!id)
            continue;
        if (seen_id && same(seen_id, remote, ref, id))
            continue;
        if ((!seen_id && adopt) || !interesting(ref, data)) {
            if (json_object_set_new(seen, ref, json_string(id)) < 0) /* steals */
                goto nomem;
            continue;
        }
        if (n == cap) {
            struct ws_poll_move *grown = realloc(moves, (cap = cap ? 2 * cap : 4) * sizeof(*grown));
            if (!grown)
                goto nomem;
            moves = grown;
        }
        if (!(moves[n].ref = strdup(ref)))
            goto nomem;
        snprintf(moves[n].before, sizeof(moves[n].before), "%s", seen_id ? seen_id : WS_POLL_ZERO_ID);
        snprintf(moves[n].after, sizeof(moves[n].after), "%s", id);
        n++;
    }
    *out = moves;
    *nout = n;
    return 0;
nomem:
    ws_poll_moves_free(moves, n);
    return WS_ENOMEM;
}

int ws_poll_seen_advance(json_t *seen, const char *ref, const char *before, const char *after)
{
    const char *seen_id = json_string_value(json_object_get(seen, ref));
    size_t blen = before ? strlen(before) : 0;
    if (!ref || !after || !*after)
        return 0;
    if (seen_id && strcmp(seen_id, after) == 0)
        return 0;
    if (seen_id && !is_zero_id(before) && !(blen >= 7 && blen <= 40 && strncmp(seen_id, before, blen) == 0))
        return 0; /* a gap: the next poll routes seen..remote */
    return json_object_set_new(seen, ref, json_string(after)) == 0; /* steals */
}
