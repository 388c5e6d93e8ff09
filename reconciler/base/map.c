/* map.c — string-keyed hash map (map.h). */
#include "base/map.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static size_t hash_of(const char *key)
{
    size_t h = (size_t)1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= (size_t)1099511628211ULL;
    }
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const struct ws_map *m, const char *key, size_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

void *ws_map_get(const struct ws_map *m, const char *key)
{
    size_t i;
    if (!m->len)
        return NULL;
    i = find(m, key, hash_of(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(struct ws_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct ws_map_slot *old = m->slots, *slots = calloc(cap, sizeof(*slots));
    size_t oldcap = m->cap;
    if (!slots)
        return WS_ENOMEM;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            m->slots[find(m, old[i].key, old[i].hash)] = old[i];
    free(old);
    return 0;
}

int ws_map_put(struct ws_map *m, const char *key, void *value, void **old)
{
    size_t h = hash_of(key), i;
    char *copy;
    if (old)
        *old = NULL;
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) < 0) /* load factor <= 3/4 */
        return WS_ENOMEM;
    i = find(m, key, h);
    if (m->slots[i].key) {
        if (old)
            *old = m->slots[i].value;
        m->slots[i].value = value;
        return 0;
    }
    if (!(copy = strdup(key)))
        return WS_ENOMEM;
    m->slots[i].key = copy;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->len++;
    return 0;
}

void *ws_map_del(struct ws_map *m, const char *key)
{
    size_t mask = m->cap - 1, i, j;
    void *value;
    if (!m->len)
        return NULL;
    i = find(m, key, hash_of(key));
    if (!m->slots[i].key)
        return NULL;
    value = m->slots[i].value;
    free(m->slots[i].key);
    m->len--;
    /* backward shift: pull later entries of the probe run into the hole,
       unless their home slot lies cyclically in (hole, j] */
    for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->slots[i].value = NULL;
    return value;
}

int ws_map_next(const struct ws_map *m, size_t *it, const char **key, void **value)
{
    for (; *it < m->cap; (*it)++)
        if (m->slots[*it].key) {
            *key = m->slots[*it].key;
            *value = m->slots[*it].value;
            (*it)++;
            return 1;
        }
    return 0;
}

void ws_map_clear(struct ws_map *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) {
            free(m->slots[i].key);
            if (free_value)
                free_value(m->slots[i].value);
        }
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
