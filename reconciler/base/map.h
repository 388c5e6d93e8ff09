/* map.h — a string-keyed hash map (open addressing, linear probing,
 * backward-shift deletion): tracking ids to objects, application names to
 * their state, where a linear search would make thousands quadratic. Keys
 * are copied; values are the caller's. Not thread-safe. */
#ifndef WS_MAP_H
#define WS_MAP_H

#include <stddef.h>

struct ws_map_slot {
    char *key; /* NULL: empty */
    void *value;
    size_t hash;
};

struct ws_map {
    struct ws_map_slot *slots;
    size_t cap, len; /* cap: 0 or a power of two */
};

#define WS_MAP_INIT {NULL, 0, 0}

/* The value for key, or NULL. */
void *ws_map_get(const struct ws_map *m, const char *key);

/* Set key to value (value may not be NULL). *old (when old is not NULL)
 * gets the value it replaces, or NULL. 0, or WS_ENOMEM (nothing changed). */
int ws_map_put(struct ws_map *m, const char *key, void *value, void **old);

/* Remove key; its value, or NULL when it was not there. */
void *ws_map_del(struct ws_map *m, const char *key);

/* Iterate, in no particular order: size_t it = 0; while (ws_map_next(m,
 * &it, &key, &value)) … The map must not change during the iteration. */
int ws_map_next(const struct ws_map *m, size_t *it, const char **key, void **value);

/* Remove everything, calling free_value (when not NULL) on each value,
 * and release the table. */
void ws_map_clear(struct ws_map *m, void (*free_value)(void *));

#endif
