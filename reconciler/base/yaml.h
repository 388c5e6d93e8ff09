/* yaml.h — YAML text (libyaml events) to jansson values.
 *
 * Pure logic, no I/O: callers hand in a buffer. Multi-document streams,
 * YAML 1.2 core-schema typing of plain scalars, anchors/aliases with a bounded
 * expansion, a size limit per document. Errors name file:line:column. */
#ifndef WS_YAML_H
#define WS_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* A mapping key written again in the same mapping, as a lenient parse
 * reports it. Borrowed for the callback only. */
struct ws_yaml_dup {
    const char *name;   /* the input's name, as in error messages */
    size_t doc;         /* index of the document in the stream */
    int line, column;   /* where the key is written again */
    int first_line;     /* where it was written first */
    const char *key;    /* the key's text */
    const char *path;   /* the key from the document's root: "spec.updateStrategy",
                           "spec.template.spec.containers[0].env", "metadata.labels[\"app.kubernetes.io/name\"]" */
};

/* Parse options. A zeroed struct (or NULL) gives the defaults. */
struct ws_yaml_limits {
    size_t max_doc_bytes;   /* input bytes per document; 0 = default (8 MiB) */
    size_t max_nodes;       /* nodes per document after alias expansion; 0 = default (1,000,000) */
    size_t max_depth;       /* nesting depth; 0 = default (256) */
    /* A repeated mapping key is an error by default, as Kubernetes' strict
     * decoding makes it (kubectl's strict field validation): what wavesync
     * applies stays strict. With keep_last_duplicate it is not: the last
     * value is kept, which is what Kubernetes' YAML readers (sigs.k8s.io/yaml,
     * then encoding/json) keep, and on_duplicate (may be NULL) is called
     * once per repeat. For reading saved objects (`wavesync health FILE`),
     * where refusing a dump helps nobody. */
    int keep_last_duplicate;
    void (*on_duplicate)(void *data, const struct ws_yaml_dup *dup);
    void *on_duplicate_data;
};

/* One parsed document. `value` is the document's root (json null for an
 * empty document). `pos` mirrors `value` with source positions: every node's
 * mirror is a JSON array [line, column, children] (1-based line and column of
 * the node's start), where children is an object (for a mapping: key -> mirror
 * of the value), an array (for a sequence: mirror of each item) or null (for a
 * scalar). A mapping member's mirror has a fourth element, the line of its key:
 * [line, column, children, key_line]; for a block value (`key:` then the value
 * on the next lines) key_line is before line. A member brought in by a `<<`
 * merge has the `<<` key's line. Sequence items and the document root keep
 * three elements. `line` is the document's first line.
 * Aliases are expanded into deep copies, so `value` may be edited freely; the
 * mirror under an alias shares its children with the anchor's mirror (so their
 * key lines are the anchor's), so treat `pos` as read-only. */
struct ws_yaml_doc {
    json_t *value;
    json_t *pos;
    int line;
};

struct ws_yaml_stream {
    struct ws_yaml_doc *docs;
    size_t ndocs;
};

/* Parse every document of `buf` (len bytes). `name` is used in error messages
 * ("apps/train.yaml:12:3: ...") and may be NULL ("<input>"). `lim` may be NULL
 * for defaults. On success fills *out (caller frees with ws_yaml_stream_free)
 * and returns 0; on failure returns a negative WS_E* code, sets err, and
 * leaves *out empty. Documents that are entirely empty (`---` with nothing,
 * or a trailing `---`) are kept as json null values; callers skip them.
 *
 * Typing: plain scalars follow the YAML 1.2 core schema (`on`, `yes`, `1_000`
 * stay strings; `012` is 12). A decimal beyond int64 becomes a real; what JSON
 * cannot hold (`.inf`, `.nan`, `1e999`, hex/octal beyond int64) stays a string,
 * and the same with an explicit !!int/!!float tag is an error. !!str, !!int,
 * !!float, !!bool, !!null are honoured; other tags (`!Foo`) are ignored and the
 * content decides. Mapping keys are their source text ("1", "true" as
 * written); a repeated key is an error; `<<` merges mappings (explicit keys
 * win; see keep_last_duplicate in struct ws_yaml_limits). */
int ws_yaml_parse(struct ws_yaml_stream *out, const char *buf, size_t len,
                  const char *name, const struct ws_yaml_limits *lim,
                  struct ws_err *err);

/* Free a stream's documents. Safe on a zeroed or already-freed stream. */
void ws_yaml_stream_free(struct ws_yaml_stream *s);

/* Convenience: parse a single-document buffer, returning its root value.
 * Caller frees with json_decref. Empty documents are skipped; with none left
 * the value is json null; several non-empty documents are an error. */
int ws_yaml_parse_one(json_t **out, const char *buf, size_t len,
                      const char *name, const struct ws_yaml_limits *lim,
                      struct ws_err *err);

/* Position lookup: walk `pos` (a mirror from struct ws_yaml_doc) along a path
 * of keys (for mappings) given as a NULL-terminated list of strings; a string
 * of decimal digits indexes a sequence. Returns the line of the deepest node
 * found (so an unknown path still gives its parent's line), or 0 if pos is
 * NULL. A node that is a mapping member (its mirror has a key_line, also when
 * it is `pos` itself with an empty path) gives its key's line, so messages
 * about "key" name the line where `key:` is written; any other node gives the
 * line where it starts. The value's own line stays at index 0 of its mirror. */
int ws_yaml_pos_line(const json_t *pos, ...);

/* Shorthands: the line of the node itself, and of its member `key` (the
 * key's line; the mapping's own when the key is absent). */
int ws_yaml_line(const json_t *pos);
int ws_yaml_key_line(const json_t *pos, const char *key);

/* One step down a mirror: the member `key` of a mapping's mirror, or item i
 * of a sequence's; NULL when there is none. Borrowed from pos. */
const json_t *ws_yaml_pos_child(const json_t *pos, const char *key);
const json_t *ws_yaml_pos_item(const json_t *pos, size_t i);

/* Serialise a jansson value as block-style YAML (for `wavesync render`).
 * Strings that would be typed differently when re-read (e.g. "3", "true",
 * "null", "") are quoted. Caller frees with free(). NULL on ENOMEM. */
char *ws_yaml_dump(const json_t *value);

#endif
