/* test_map.c — reconciler/base/map.c against a plain array as the
 * reference: puts, replacements, deletions in random order (which exercise
 * the backward shift across wrapped probe runs), iteration, clear. */
#include "base/map.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define N 5000

static unsigned long long rng = 88172645463325252ULL;
static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int frees;
static void count_free(void *v)
{
    (void)v;
    frees++;
}

int main(void)
{
    struct ws_map m = WS_MAP_INIT;
    static char keys[N][48];
    static intptr_t want[N]; /* 0: absent */
    void *old = (void *)1;
    const char *k;
    void *v;
    size_t it = 0, seen = 0, present = 0;
    int ok = 1;

    tap_ok(ws_map_get(&m, "x") == NULL, "empty map: get finds nothing");
    tap_ok(ws_map_del(&m, "x") == NULL, "empty map: del finds nothing");
    tap_ok(!ws_map_next(&m, &it, &k, &v), "empty map: no entries");

    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "app%d:apps/Deployment:ns/obj-%d", i % 97, i);
        want[i] = i + 1;
        ok &= ws_map_put(&m, keys[i], (void *)want[i], &old) == 0 && old == NULL;
    }
    tap_ok(ok, "%d puts of new keys: no old value", N);
    tap_is_int(m.len, N, "len counts them");
    ok = 1;
    for (int i = 0; i < N; i++)
        ok &= (intptr_t)ws_map_get(&m, keys[i]) == want[i];
    tap_ok(ok, "every key finds its value");
    tap_ok(ws_map_get(&m, "app1:apps/Deployment:ns/obj-999999") == NULL, "a key never put is not found");

    tap_is_int(ws_map_put(&m, keys[7], (void *)(intptr_t)-7, &old), 0, "replace: 0");
    tap_ok((intptr_t)old == want[7], "replace: the old value comes back");
    want[7] = -7;
    tap_is_int(m.len, N, "replace: len unchanged");

    /* delete two thirds in random order, checking everything as we go */
    ok = 1;
    for (int round = 0; round < 2 * N; round++) {
        int i = (int)(next_rand() % N);
        void *got = ws_map_del(&m, keys[i]);
        ok &= (intptr_t)got == want[i];
        want[i] = 0;
        if (round % 500 == 0)
            for (int j = 0; j < N; j++)
                ok &= (intptr_t)ws_map_get(&m, keys[j]) == want[j];
    }
    for (int j = 0; j < N; j++) {
        ok &= (intptr_t)ws_map_get(&m, keys[j]) == want[j];
        present += want[j] != 0;
    }
    tap_ok(ok, "random deletions: each returns the value (or NULL when gone) and all others stay findable");
    tap_is_int(m.len, present, "len after deletions");

    /* re-insert some, then iterate */
    for (int i = 0; i < N; i += 3)
        if (!want[i]) {
            want[i] = 100000 + i;
            ws_map_put(&m, keys[i], (void *)want[i], NULL);
            present++;
        }
    it = 0;
    ok = 1;
    while (ws_map_next(&m, &it, &k, &v)) {
        int i = atoi(strrchr(k, '-') + 1);
        ok &= (intptr_t)v == want[i] && strcmp(k, keys[i]) == 0;
        seen++;
    }
    tap_ok(ok, "iteration returns each key with its value");
    tap_is_int(seen, present, "iteration returns every entry once");

    ws_map_clear(&m, count_free);
    tap_is_int(frees, present, "clear frees each value once");
    tap_ok(m.len == 0 && m.cap == 0 && ws_map_get(&m, keys[0]) == NULL, "cleared map is empty and usable");
    tap_is_int(ws_map_put(&m, "again", (void *)1, NULL), 0, "put after clear");
    tap_ok(ws_map_get(&m, "again") == (void *)1, "get after clear");
    ws_map_clear(&m, NULL);
    return tap_done();
}
