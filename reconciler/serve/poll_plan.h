/* poll_plan.h — the pure half of the polling safety net (serve/poll.c): when
 * a repository is polled next, and which refs a poll found moved since the
 * service last saw them. No I/O, no clock and no randomness of its own (the
 * caller passes the random numbers), so tests give exact tables. */
#ifndef WS_POLL_PLAN_H
#define WS_POLL_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "git/git.h"

#define WS_POLL_ZERO_ID "0000000000000000000000000000000000000000"

/* Milliseconds until a repository's next poll. The first one falls anywhere
 * in [0, interval), so that repositories configured together do not all poll
 * at once; later ones come after the interval plus up to half of it (Argo
 * CD: 120 s plus up to 60 s), which keeps them spread. `r` is a uniformly
 * random 32-bit number. 0 when interval_ms is 0 (polling is off). */
uint64_t ws_poll_delay_ms(uint64_t interval_ms, int first, uint32_t r);

/* A ref a poll found moved. */
struct ws_poll_move {
    char *ref;         /* "refs/heads/main" */
    char before[41];   /* the id the service last saw; 40 zeros for a ref new to it */
    char after[41];    /* the remote's id now (an annotated tag peeled to its commit) */
};

/* Does anything track `ref`? (The service asks ws_push_interesting.) */
typedef int (*ws_poll_interesting_cb)(const char *ref, void *data);

/* Compare what a remote advertises with `seen` ({ref: id}, the id the service
 * last routed for each ref). *out gets every ref that `interesting` accepts
 * and whose remote id is new to `seen`: neither the seen id nor, for an
 * annotated tag, the tag object's own id (which is what a webhook reports),
 * in the remote's ref order; caller frees with ws_poll_moves_free. `seen`
 * itself is updated for everything not returned — refs nobody tracks follow
 * the remote (so they are current the day an application tracks them),
 * deleted refs are dropped, and with `adopt` (the service has no record of
 * this repository yet) new refs are taken as they are, not routed. A
 * returned move changes `seen` only once its trigger is routed
 * (ws_poll_seen_advance): until then every poll finds it again. 0 or
 * WS_ENOMEM. */
int ws_poll_diff(struct ws_poll_move **out, size_t *nout, json_t *seen, const struct ws_git_heads *remote,
                 int adopt, ws_poll_interesting_cb interesting, void *data);
void ws_poll_moves_free(struct ws_poll_move *moves, size_t n);

/* A push of `ref` from `before` to `after` was routed (from a webhook, a git
 * hook or a poll). `seen` takes `after` when the push continues from what
 * was seen (`before` is the seen id, or an abbreviation of it), when the ref
 * was unknown, or when the push created it (`before` all zeros). Otherwise a
 * push in between never reached the service: `seen` keeps the older id, so
 * the next poll routes the whole gap (the applications the later push already
 * queued are not queued again; see ws__poll_drop_routed). Returns 1 when
 * `seen` changed. */
int ws_poll_seen_advance(json_t *seen, const char *ref, const char *before, const char *after);

#endif
