/* timer.c — heap timers freed in their close callback. */
#include "base/timer.h"

#include <stdlib.h>

uv_timer_t *ws_timer_new(uv_loop_t *loop, void *data)
{
    uv_timer_t *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    uv_timer_init(loop, t);
    t->data = data;
    return t;
}

uv_timer_t *ws_timer_start(uv_loop_t *loop, uint64_t ms, uv_timer_cb cb, void *data)
{
    uv_timer_t *t = ws_timer_new(loop, data);
    if (t) {
        /* from now, not from the loop's cached time (which lags by whatever
           this iteration has done so far): a deadline never fires early */
        uv_update_time(loop);
        uv_timer_start(t, cb, ms, 0);
    }
    return t;
}

static void free_closed(uv_handle_t *h)
{
    free(h);
}

void ws_timer_close(uv_timer_t **t)
{
    if (!*t)
        return;
    uv_timer_stop(*t);
    uv_close((uv_handle_t *)*t, free_closed);
    *t = NULL;
}
