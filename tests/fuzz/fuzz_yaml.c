/* fuzz_yaml.c — reconciler/base/yaml.c on any bytes: every file wavesync
 * reads from Git goes through ws_yaml_parse. Parses strictly and leniently
 * (keep_last_duplicate), walks the position mirrors, and checks that what
 * ws_yaml_dump prints (`wavesync render`) reads back as the same value. */
#include "fuzz.h"

#include <jansson.h>

#include "base/yaml.h"
#include "base/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

static void on_duplicate(void *data, const struct ws_yaml_dup *dup)
{
    size_t *n = data;
    /* Every field is borrowed for the call: touch them all. */
    *n += strlen(dup->key) + strlen(dup->path) + strlen(dup->name) + (size_t)dup->line;
}

/* Walk a mirror with the lookup helpers, down every member and item. */
static void walk_pos(const json_t *pos, int depth)
{
    const json_t *children = json_array_get(pos, 2);
    const char *key;
    json_t *child;
    size_t i, keylen;

    if (depth > 300)
        return;
    (void)ws_yaml_line(pos);
    if (json_is_object(children)) {
        json_object_keylen_foreach((json_t *)children, key, keylen, child) {
            /* The lookups take C strings: a key holding "\0" cannot be named. */
            if (strlen(key) == keylen) {
                (void)ws_yaml_key_line(pos, key);
                FUZZ_CHECK(ws_yaml_pos_child(pos, key) == child, "member %s", key);
            }
            walk_pos(child, depth + 1);
        }
    } else if (json_is_array(children)) {
        json_array_foreach(children, i, child) {
            FUZZ_CHECK(ws_yaml_pos_item(pos, i) == child, "item %zu", i);
            walk_pos(child, depth + 1);
        }
    }
}

/* json_equal, but for keys holding "\0" too (json_equal looks keys up as
 * C strings). */
static int same(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *v;
    size_t i, keylen;

    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_keylen_foreach((json_t *)a, key, keylen, v)
            if (!same(v, json_object_getn(b, key, keylen)))
                return 0;
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        json_array_foreach(a, i, v)
            if (!same(v, json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b) || json_is_null(a);
}

/* What `wavesync render` prints must read back as the same document. */
static void check_round_trip(const json_t *value)
{
    struct ws_err err;
    json_t *again = NULL;
    char *text = ws_yaml_dump(value);
    int rc;

    if (!text)
        return; /* out of memory, or libyaml refused to emit: no output, no crash */
    rc = ws_yaml_parse_one(&again, text, strlen(text), "dump", NULL, &err);
    /* A document expanded from aliases may print larger than a document may be. */
    if (rc == WS_ELIMIT) {
        free(text);
        return;
    }
    FUZZ_CHECK(rc == 0, "the dump does not parse: %s\n%s", err.msg, text);
    FUZZ_CHECK(same(value, again), "the dump reads back differently:\n%s", text);
    json_decref(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_yaml_stream st = {NULL, 0};
    struct ws_err err;
    size_t dups = 0, i;
    struct ws_yaml_limits lenient = {.keep_last_duplicate = 1,
                                     .on_duplicate = on_duplicate,
                                     .on_duplicate_data = &dups};
    json_t *one = NULL;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (ws_yaml_parse(&st, (const char *)data, size, "fuzz.yaml", NULL, &err) == 0) {
        for (i = 0; i < st.ndocs; i++) {
            walk_pos(st.docs[i].pos, 0);
            check_round_trip(st.docs[i].value);
        }
    } else {
        FUZZ_CHECK(st.ndocs == 0 && st.docs == NULL, "a failed parse left %zu documents", st.ndocs);
        FUZZ_CHECK(err.msg[0] != '\0', "a failed parse says nothing");
    }
    ws_yaml_stream_free(&st);

    if (ws_yaml_parse(&st, (const char *)data, size, "fuzz.yaml", &lenient, &err) == 0)
        for (i = 0; i < st.ndocs; i++)
            walk_pos(st.docs[i].pos, 0);
    ws_yaml_stream_free(&st);

    if (ws_yaml_parse_one(&one, (const char *)data, size, NULL, NULL, &err) == 0)
        json_decref(one);
    return 0;
}
