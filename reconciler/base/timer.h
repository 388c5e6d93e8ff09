/* timer.h — one-shot timers on the heap, for objects freed without waiting
 * for the loop (a libuv handle must stay allocated until its close callback
 * runs, so it cannot be embedded in them). */
#ifndef WS_TIMER_H
#define WS_TIMER_H

#include <stdint.h>
#include <uv.h>

/* A timer with t->data = data, not started. NULL when memory runs out. */
uv_timer_t *ws_timer_new(uv_loop_t *loop, void *data);

/* A timer started for `ms` (one shot), t->data = data. NULL on ENOMEM. */
uv_timer_t *ws_timer_start(uv_loop_t *loop, uint64_t ms, uv_timer_cb cb, void *data);

/* Stop and close *t (freed after its close callback) and set *t = NULL.
 * Safe with *t == NULL, and from the timer's own callback. */
void ws_timer_close(uv_timer_t **t);

#endif
