/* yaml.c — YAML text to jansson values through libyaml's event API, and back.
 * One pass over the events with a recursive builder that max_depth bounds;
 * aliases become deep copies only after their expanded size is checked. */
#include "base/yaml.h"

#include <yaml.h> /* libyaml: reconciler/ is an -iquote folder, so this is never ours */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_DOC_BYTES ((size_t)8 << 20)
#define DEFAULT_MAX_NODES ((size_t)1000000)
#define DEFAULT_MAX_DEPTH ((size_t)256)

#define CORE_TAG "tag:yaml.org,2002:"

/* Where the builder is: one link per collection around the node being
 * built, for naming a repeated key's path ("spec.containers[0].env"). */
struct path_seg {
    const struct path_seg *up;
    const char *key; /* a mapping member's key, or NULL for a sequence item */
    size_t klen, index;
};

struct builder {
    yaml_parser_t parser;
    const char *name;
    const unsigned char *buf;
    size_t len;
    struct ws_yaml_limits lim;
    struct ws_err *err;
    /* libyaml marks count characters, our limits count bytes: a cursor that
     * converts one to the other walking forward through the buffer. */
    size_t first_byte, cur_char, cur_byte;
    int utf16;
    /* Per document: anchor name -> [value, mirror, nodes, height]. */
    json_t *anchors;
    size_t nodes, doc_start, doc_line, doc_index;
    int in_doc;
    const struct path_seg *path; /* of the collection being built; NULL at the root */
};

/* A built node: its value, its position mirror and how many collection
 * levels it spans (0 for a scalar). */
struct node {
    json_t *value;
    json_t *pos;
    size_t height;
};

static int build_node(struct builder *b, yaml_event_t *ev, size_t level, struct node *out);

/* Every message starts "name:line:col: ", or "name:line: " when col is 0. */
static int report(struct builder *b, int code, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int report(struct builder *b, int code, size_t line, size_t col, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (col)
        return ws_err_set(b->err, code, "%s:%zu:%zu: %s", b->name, line, col, msg);
    return ws_err_set(b->err, code, "%s:%zu: %s", b->name, line, msg);
}

/* The 1-based line and column arguments of report() for a libyaml mark. */
#define AT(mark) (mark).line + 1, (mark).column + 1

static int report_oom(struct builder *b)
{
    return ws_err_set(b->err, WS_ENOMEM, "%s: out of memory while parsing YAML", b->name);
}

static int report_parser_error(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    const char *problem = p->problem ? p->problem : "syntax error";
    size_t i, line = 1, start = 0;

    if (p->error == YAML_MEMORY_ERROR)
        return report_oom(b);
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset instead of a mark. */
        for (i = 0; i < p->problem_offset && i < b->len; i++)
            if (b->buf[i] == '\n') {
                line++;
                start = i + 1;
            }
        return report(b, WS_EPARSE, line, p->problem_offset - start + 1, "%s", problem);
    }
    if (p->context)
        return report(b, WS_EPARSE, AT(p->problem_mark), "%s (%s at line %zu)", problem,
                      p->context, p->context_mark.line + 1);
    return report(b, WS_EPARSE, AT(p->problem_mark), "%s", problem);
}

/* Byte offset of a libyaml character index. Marks almost always move forward,
 * so the cursor resumes where it stopped; it restarts if one goes back.
 * UTF-16 input is rare enough that two bytes per character will do. */
static size_t byte_offset(struct builder *b, size_t char_index)
{
    unsigned char c;

    if (b->utf16)
        return b->first_byte + 2 * char_index;
    if (char_index < b->cur_char) {
        b->cur_char = 0;
        b->cur_byte = b->first_byte;
    }
    while (b->cur_char < char_index && b->cur_byte < b->len) {
        c = b->buf[b->cur_byte];
        b->cur_byte += c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        b->cur_char++;
    }
    return b->cur_byte < b->len ? b->cur_byte : b->len;
}

/* Next event into *ev (always safe to yaml_event_delete afterwards). Inside a
 * document, also enforces max_doc_bytes, so an oversized document stops as
 * soon as the scanner has walked past the limit. */
static int next_event(struct builder *b, yaml_event_t *ev)
{
    size_t end;

    if (!yaml_parser_parse(&b->parser, ev)) {
        memset(ev, 0, sizeof(*ev));
        return report_parser_error(b);
    }
    if (!b->in_doc)
        return 0;
    end = byte_offset(b, ev->end_mark.index);
    if (end > b->doc_start && end - b->doc_start > b->lim.max_doc_bytes)
        return report(b, WS_ELIMIT, b->doc_line, 0, "document is larger than %zu bytes",
                      b->lim.max_doc_bytes);
    return 0;
}

/* --- scalar typing (YAML 1.2 core schema) ------------------------------- */

static int text_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int is_null_text(const char *s, size_t n)
{
    return n == 0 || text_is(s, n, "~") || text_is(s, n, "null") || text_is(s, n, "Null") ||
           text_is(s, n, "NULL");
}

/* 1 or 0 for a core-schema bool, -1 otherwise (`yes`, `on` are YAML 1.1). */
static int bool_value(const char *s, size_t n)
{
    if (text_is(s, n, "true") || text_is(s, n, "True") || text_is(s, n, "TRUE"))
        return 1;
    if (text_is(s, n, "false") || text_is(s, n, "False") || text_is(s, n, "FALSE"))
        return 0;
    return -1;
}

static int is_digit_in(char c, int base)
{
    if (base == 8)
        return c >= '0' && c <= '7';
    if (base == 16)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    return c >= '0' && c <= '9';
}

/* Whether s (NUL-terminated at n) is a core-schema int: decimal with an
 * optional sign, 0o octal or 0x hex. *overflow says it does not fit int64;
 * *decimal tells the caller whether a float reading is sensible then. */
static int match_int(const char *s, size_t n, json_int_t *v, int *overflow, int *decimal)
{
    unsigned long long u;
    size_t i = 0, j;
    int base = 10;

    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        i = 1;
    }
    if (i == n)
        return 0;
    for (j = i; j < n; j++)
        if (!is_digit_in(s[j], base))
            return 0;
    errno = 0;
    *decimal = base == 10;
    if (base == 10) {
        *v = strtoll(s, NULL, 10);
        *overflow = errno == ERANGE;
    } else {
        u = strtoull(s + 2, NULL, base);
        *overflow = errno == ERANGE || u > (unsigned long long)INT64_MAX;
        *v = *overflow ? 0 : (json_int_t)u;
    }
    return 1;
}

/* 1: a core-schema float JSON can hold (*v set); 2: float syntax JSON cannot
 * hold (.inf, .nan, out of double range); 0: not a float. */
static int match_float(const char *s, size_t n, double *v)
{
    size_t i = 0, digits = 0, frac = 0, exp = 0;
    int dot = 0;

    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        i = 1;
    if (text_is(s + i, n - i, ".inf") || text_is(s + i, n - i, ".Inf") ||
        text_is(s + i, n - i, ".INF") || text_is(s, n, ".nan") || text_is(s, n, ".NaN") ||
        text_is(s, n, ".NAN"))
        return 2;
    for (; i < n && is_digit_in(s[i], 10); i++)
        digits++;
    if (i < n && s[i] == '.') {
        dot = 1;
        for (i++; i < n && is_digit_in(s[i], 10); i++)
            frac++;
    }
    if (digits == 0 && (!dot || frac == 0))
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        for (; i < n && is_digit_in(s[i], 10); i++)
            exp++;
        if (exp == 0)
            return 0;
    }
    if (i != n)
        return 0;
    /* strtod follows LC_NUMERIC; wavesync never changes it from "C". */
    *v = strtod(s, NULL);
    return isfinite(*v) ? 1 : 2;
}

/* Type an untagged plain scalar. A decimal too big for int64 becomes a real
 * (as JSON decoders do); hex/octal that overflow, .inf/.nan and 1e999 stay
 * strings because JSON has no way to hold them. NULL only on ENOMEM. */
static json_t *resolve_plain(const char *s, size_t n)
{
    json_int_t iv;
    double d;
    int bv, overflow, decimal;

    if (is_null_text(s, n))
        return json_null();
    if ((bv = bool_value(s, n)) >= 0)
        return json_boolean(bv);
    if (match_int(s, n, &iv, &overflow, &decimal)) {
        if (!overflow)
            return json_integer(iv);
        if (!decimal)
            return json_stringn(s, n);
    }
    if (match_float(s, n, &d) == 1)
        return json_real(d);
    return json_stringn(s, n);
}

/* Type a scalar event. Explicit core tags win over the style; `!` and
 * quoted/block styles mean string; other tags (`!Foo`, `!!timestamp`) are
 * ignored as sigs.k8s.io/yaml does, the value typed by its content. */
static int type_scalar(struct builder *b, const yaml_event_t *ev, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    const char *bad = NULL;
    size_t n = ev->data.scalar.length;
    int overflow = 0, decimal = 0, bv, kind;
    json_int_t iv;
    double d;
    json_t *v = NULL;

    if (tag && strncmp(tag, CORE_TAG, strlen(CORE_TAG)) == 0)
        tag += strlen(CORE_TAG);
    else if (tag && strcmp(tag, "!") != 0)
        tag = NULL;
    if (!tag) {
        v = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? resolve_plain(s, n)
                                                             : json_stringn(s, n);
    } else if (strcmp(tag, "int") == 0) {
        if (match_int(s, n, &iv, &overflow, &decimal) && !overflow)
            v = json_integer(iv);
        else
            bad = overflow ? "out of range !!int" : "invalid !!int";
    } else if (strcmp(tag, "float") == 0) {
        if (match_int(s, n, &iv, &overflow, &decimal) && !overflow)
            v = json_real((double)iv);
        else if ((kind = match_float(s, n, &d)) == 1)
            v = json_real(d);
        else
            bad = kind == 2 ? "JSON cannot represent !!float" : "invalid !!float";
    } else if (strcmp(tag, "bool") == 0) {
        if ((bv = bool_value(s, n)) >= 0)
            v = json_boolean(bv);
        else
            bad = "invalid !!bool";
    } else if (strcmp(tag, "null") == 0) {
        if (is_null_text(s, n))
            v = json_null();
        else
            bad = "invalid !!null";
    } else {
        /* `!`, !!str, !!binary (kept as its base64 text), !!timestamp... */
        v = json_stringn(s, n);
    }
    if (bad)
        return report(b, WS_EPARSE, AT(ev->start_mark), "%s value \"%.*s\"", bad,
                      n > 40 ? 40 : (int)n, s);
    if (!v)
        return report_oom(b);
    *out = v;
    return 0;
}

/* --- tree building --------------------------------------------------------- */

/* [line, column, children]; children is stolen, even on failure. */
static json_t *new_mirror(yaml_mark_t m, json_t *children)
{
    return json_pack("[IIo]", (json_int_t)m.line + 1, (json_int_t)m.column + 1, children);
}

/* A merged member's mirror: the value's [line, column, children] (children
 * shared) with `keyline`, the line of the `<<` that brought it in. */
static json_t *member_mirror(const json_t *value_pos, size_t keyline)
{
    return json_pack("[OOOI]", json_array_get(value_pos, 0), json_array_get(value_pos, 1),
                     json_array_get(value_pos, 2), (json_int_t)keyline);
}

static void drop_node(struct node *n)
{
    json_decref(n->value);
    json_decref(n->pos);
    n->value = n->pos = NULL;
    n->height = 0;
}

static int count_node(struct builder *b, yaml_mark_t m)
{
    if (++b->nodes > b->lim.max_nodes)
        return report(b, WS_ELIMIT, AT(m), "document has more than %zu nodes", b->lim.max_nodes);
    return 0;
}

/* The size and depth checks use the anchor's recorded totals, so a "billion
 * laughs" document fails before any of its expansions is built. The copy
 * keeps callers free to edit one occurrence; the mirror's children are shared
 * with the anchor's mirror (mirrors are read-only). */
static int expand_alias(struct builder *b, const yaml_event_t *ev, size_t level,
                        struct node *out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    json_t *entry = json_object_get(b->anchors, name);
    size_t nodes, height;

    if (!entry)
        return report(b, WS_EPARSE, AT(ev->start_mark), "undefined alias \"*%.64s\"", name);
    nodes = (size_t)json_integer_value(json_array_get(entry, 2));
    height = (size_t)json_integer_value(json_array_get(entry, 3));
    if (level + height > b->lim.max_depth)
        return report(b, WS_ELIMIT, AT(ev->start_mark),
                      "alias \"*%.64s\" nests deeper than %zu levels", name, b->lim.max_depth);
    if (nodes > b->lim.max_nodes - b->nodes)
        return report(b, WS_ELIMIT, AT(ev->start_mark),
                      "alias \"*%.64s\" expands the document past %zu nodes", name,
                      b->lim.max_nodes);
    b->nodes += nodes;
    out->value = json_deep_copy(json_array_get(entry, 0));
    out->pos = new_mirror(ev->start_mark,
                          json_incref(json_array_get(json_array_get(entry, 1), 2)));
    out->height = height;
    if (!out->value || !out->pos)
        return report_oom(b);
    return 0;
}

/* Build a mapping key; *text gets its text (caller frees), the source text
 * for a scalar ("1", "true", "~" as written), *merge whether it is `<<`. */
static int read_key(struct builder *b, yaml_event_t *ev, size_t level, char **text,
                    size_t *len, int *merge)
{
    struct node key = {NULL, NULL, 0};
    const char *s = NULL;
    int rc = 0;

    if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
        return report(b, WS_EPARSE, AT(ev->start_mark), "mapping key must be a scalar");
    *merge = ev->type == YAML_SCALAR_EVENT && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
             (!ev->data.scalar.tag ||
              strcmp((const char *)ev->data.scalar.tag, CORE_TAG "merge") == 0) &&
             text_is((const char *)ev->data.scalar.value, ev->data.scalar.length, "<<");
    if ((rc = build_node(b, ev, level, &key)) < 0)
        return rc;
    if (ev->type == YAML_SCALAR_EVENT) {
        s = (const char *)ev->data.scalar.value;
        *len = ev->data.scalar.length;
    } else if (json_is_string(key.value)) {
        s = json_string_value(key.value);
        *len = json_string_length(key.value);
    } else if (json_is_object(key.value) || json_is_array(key.value)) {
        rc = report(b, WS_EPARSE, AT(ev->start_mark),
                    "mapping key must be a scalar, not an alias of a collection");
    } else if (!(*text = json_dumps(key.value, JSON_ENCODE_ANY))) {
        rc = report_oom(b);
    } else {
        *len = strlen(*text);
    }
    if (s && (*text = malloc(*len + 1))) {
        memcpy(*text, s, *len);
        (*text)[*len] = '\0';
    } else if (s) {
        rc = report_oom(b);
    }
    drop_node(&key);
    return rc;
}

/* Add a built child to a collection and its mirror (key NULL: append; else
 * the member's mirror also gets `keyline`); the child's references are handed
 * over even on failure. */
static int add_child(json_t *value, json_t *kids, const char *key, size_t klen, size_t keyline,
                     struct node *n)
{
    int bad;

    if (key) {
        bad = json_object_setn_new(value, key, klen, n->value);
        /* n->pos is new, or shared only with the anchor table, which reads
         * nothing but its children: appending the key line in place is safe. */
        bad |= json_array_append_new(n->pos, json_integer((json_int_t)keyline));
        bad |= json_object_setn_new(kids, key, klen, n->pos);
    } else {
        bad = json_array_append_new(value, n->value);
        bad |= json_array_append_new(kids, n->pos);
    }
    n->value = n->pos = NULL;
    return bad ? -1 : 0;
}

/* YAML 1.1 merge (`<<`): each merged mapping adds the keys the mapping does
 * not have yet, so explicit keys win whatever their order, and among several
 * merged mappings the first one listed wins. `merges` holds
 * [value, mirror, line of the `<<` key] per `<<`; a merged member's mirror
 * names that line as its key line, since its key is written elsewhere. */
static int apply_merges(struct builder *b, json_t *value, json_t *kids, const json_t *merges)
{
    const json_t *entry = NULL, *merged = NULL, *src = NULL, *srcpos = NULL, *srckids = NULL;
    const char *k = NULL;
    size_t i, j, klen;
    json_t *v = NULL;
    int list;

    json_array_foreach(merges, i, entry) {
        merged = json_array_get(entry, 0);
        list = json_is_array(merged);
        for (j = 0; j < (list ? json_array_size(merged) : 1); j++) {
            src = list ? json_array_get(merged, j) : merged;
            srcpos = json_array_get(entry, 1);
            if (list)
                srcpos = json_array_get(json_array_get(srcpos, 2), j);
            if (!json_is_object(src))
                return report(b, WS_EPARSE,
                              (size_t)json_integer_value(json_array_get(srcpos, 0)),
                              (size_t)json_integer_value(json_array_get(srcpos, 1)),
                              "merge key \"<<\" needs a mapping or a sequence of mappings");
            srckids = json_array_get(srcpos, 2);
            json_object_keylen_foreach((json_t *)src, k, klen, v) {
                if (json_object_getn(value, k, klen))
                    continue;
                if (json_object_setn(value, k, klen, v) < 0 ||
                    json_object_setn_new(
                        kids, k, klen,
                        member_mirror(json_object_getn(srckids, k, klen),
                                      (size_t)json_integer_value(json_array_get(entry, 2)))) < 0)
                    return report_oom(b);
            }
        }
    }
    return 0;
}

/* Append one key to a path: `.key`, or `["key"]` when the key has
 * characters that would make the path ambiguous (annotation keys). */
static void path_add_key(char *buf, size_t cap, size_t *len, const char *key, size_t klen)
{
    int plain = klen > 0;
    int n;
    for (size_t i = 0; i < klen && plain; i++)
        plain = key[i] != '.' && key[i] != '[' && key[i] != ']' && key[i] != '"' && (unsigned char)key[i] > ' ';
    if (plain)
        n = snprintf(buf + *len, cap - *len, "%s%.*s", *len ? "." : "", (int)klen, key);
    else
        n = snprintf(buf + *len, cap - *len, "[\"%.*s\"]", (int)klen, key);
    *len = n < 0 || (size_t)n >= cap - *len ? cap - 1 : *len + (size_t)n;
}

/* The path of `seg` from the document's root into buf (cut when too long). */
static void path_write(char *buf, size_t cap, size_t *len, const struct path_seg *seg)
{
    int n;
    if (!seg)
        return;
    path_write(buf, cap, len, seg->up);
    if (seg->key) {
        path_add_key(buf, cap, len, seg->key, seg->klen);
        return;
    }
    n = snprintf(buf + *len, cap - *len, "[%zu]", seg->index);
    *len = n < 0 || (size_t)n >= cap - *len ? cap - 1 : *len + (size_t)n;
}

/* A lenient parse met `key` again (at ev; first at first_line): tell the
 * caller, who keeps the last value. */
static void report_duplicate(struct builder *b, const yaml_event_t *ev, const char *key, size_t klen,
                             json_int_t first_line)
{
    char path[1024];
    size_t len = 0;
    struct ws_yaml_dup dup;
    if (!b->lim.on_duplicate)
        return;
    path[0] = '\0';
    path_write(path, sizeof(path), &len, b->path);
    path_add_key(path, sizeof(path), &len, key, klen);
    dup.name = b->name;
    dup.doc = b->doc_index;
    dup.line = (int)ev->start_mark.line + 1;
    dup.column = (int)ev->start_mark.column + 1;
    dup.first_line = (int)first_line;
    dup.key = key;
    dup.path = path;
    b->lim.on_duplicate(b->lim.on_duplicate_data, &dup);
}

/* Build a sequence or a mapping, from its start event to its end event.
 * `level` counts it. */
static int build_collection(struct builder *b, const yaml_event_t *start, size_t level,
                            struct node *out)
{
    int is_map = start->type == YAML_MAPPING_START_EVENT, rc = 0, merge = 0;
    json_t *value = is_map ? json_object() : json_array();
    json_t *kids = is_map ? json_object() : json_array();
    json_t *keylines = is_map ? json_object() : NULL, *merges = is_map ? json_array() : NULL;
    json_t *first = NULL;
    struct node child = {NULL, NULL, 0};
    char *key = NULL;
    size_t klen = 0, keyline = 0, height = 0, items = 0;
    struct path_seg here = {b->path, NULL, 0, 0};
    int dup;
    yaml_event_t ev;

    memset(&ev, 0, sizeof(ev));
    if (level > b->lim.max_depth) {
        rc = report(b, WS_ELIMIT, AT(start->start_mark), "nesting deeper than %zu levels",
                    b->lim.max_depth);
        goto out;
    }
    if ((rc = count_node(b, start->start_mark)) < 0)
        goto out;
    if (!value || !kids || (is_map && (!keylines || !merges)))
        goto oom;
    for (;;) {
        if ((rc = next_event(b, &ev)) < 0)
            goto out;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        dup = 0;
        if (is_map) {
            keyline = ev.start_mark.line + 1;
            if ((rc = read_key(b, &ev, level, &key, &klen, &merge)) < 0)
                goto out;
            /* Kubernetes decodes strictly: a repeated key is an error,
               unless the caller keeps the last one */
            if (!merge && (first = json_object_getn(keylines, key, klen))) {
                if (!b->lim.keep_last_duplicate) {
                    rc = report(b, WS_EPARSE, AT(ev.start_mark),
                                "duplicate key \"%.*s\" (first at line %" JSON_INTEGER_FORMAT ")",
                                klen > 64 ? 64 : (int)klen, key, json_integer_value(first));
                    goto out;
                }
                dup = 1;
                report_duplicate(b, &ev, key, klen, json_integer_value(first));
            }
            yaml_event_delete(&ev);
            if ((rc = next_event(b, &ev)) < 0)
                goto out;
        }
        here.key = is_map ? key : NULL;
        here.klen = klen;
        here.index = items++;
        b->path = &here;
        rc = build_node(b, &ev, level, &child);
        b->path = here.up;
        if (rc < 0)
            goto out;
        if (child.height > height)
            height = child.height;
        if (!is_map) {
            if (add_child(value, kids, NULL, 0, 0, &child) < 0)
                goto oom;
        } else if (merge) {
            if (json_array_append_new(merges, json_pack("[ooI]", child.value, child.pos,
                                                        (json_int_t)keyline)) < 0) {
                child.value = child.pos = NULL;
                goto oom;
            }
            child.value = child.pos = NULL;
        } else if (add_child(value, kids, key, klen, keyline, &child) < 0 ||
                   (!dup && json_object_setn_new(keylines, key, klen, json_integer((json_int_t)keyline)))) {
            goto oom; /* a repeat replaced the value and its mirror; the first line stays */
        }
        free(key);
        key = NULL;
        yaml_event_delete(&ev);
    }
    if ((rc = apply_merges(b, value, kids, merges)) < 0)
        goto out;
    out->pos = new_mirror(start->start_mark, kids);
    kids = NULL;
    if (!out->pos)
        goto oom;
    out->value = value;
    value = NULL;
    out->height = height + 1;
    goto out;
oom:
    rc = report_oom(b);
out:
    yaml_event_delete(&ev);
    drop_node(&child);
    free(key);
    json_decref(value);
    json_decref(kids);
    json_decref(keylines);
    json_decref(merges);
    return rc;
}

/* Build the node that starts with *ev (which the caller still owns). `level`
 * is the number of collections around it. */
static int build_node(struct builder *b, yaml_event_t *ev, size_t level, struct node *out)
{
    const yaml_char_t *anchor = NULL;
    size_t before = b->nodes;
    json_t *entry = NULL;
    int rc = 0;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        rc = expand_alias(b, ev, level, out);
        break;
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        if ((rc = count_node(b, ev->start_mark)) < 0 ||
            (rc = type_scalar(b, ev, &out->value)) < 0)
            break;
        out->height = 0;
        if (!(out->pos = new_mirror(ev->start_mark, json_null())))
            rc = report_oom(b);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        anchor = ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
                                                      : ev->data.sequence_start.anchor;
        rc = build_collection(b, ev, level + 1, out);
        break;
    default:
        rc = report(b, WS_EPARSE, AT(ev->start_mark), "unexpected YAML event %d", (int)ev->type);
        break;
    }
    if (rc == 0 && anchor) {
        /* A later anchor with the same name replaces the earlier one. */
        entry = json_pack("[OOII]", out->value, out->pos, (json_int_t)(b->nodes - before),
                          (json_int_t)out->height);
        if (!entry || json_object_set_new(b->anchors, (const char *)anchor, entry) < 0)
            rc = report_oom(b);
    }
    if (rc < 0)
        drop_node(out);
    return rc;
}

/* One document, from its DOCUMENT-START event to its DOCUMENT-END. */
static int build_document(struct builder *b, const yaml_event_t *start, struct ws_yaml_doc *out)
{
    struct node root = {NULL, NULL, 0};
    yaml_event_t ev;
    int rc = 0;

    memset(&ev, 0, sizeof(ev));
    /* Anchors are scoped to their document. */
    if (!(b->anchors = json_object()))
        return report_oom(b);
    b->nodes = 0;
    b->doc_line = start->start_mark.line + 1;
    b->doc_start = byte_offset(b, start->start_mark.index);
    b->in_doc = 1;
    if ((rc = next_event(b, &ev)) < 0)
        goto out;
    /* libyaml places an empty document's null at the next document's `---`. */
    if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 && !ev.data.scalar.tag &&
        !ev.data.scalar.anchor && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        ev.start_mark = start->start_mark;
    if ((rc = build_node(b, &ev, 0, &root)) < 0)
        goto out;
    yaml_event_delete(&ev);
    if ((rc = next_event(b, &ev)) < 0)
        goto out;
    if (ev.type != YAML_DOCUMENT_END_EVENT) {
        rc = report(b, WS_EPARSE, AT(ev.start_mark), "expected the end of the document");
        goto out;
    }
    out->value = root.value;
    out->pos = root.pos;
    out->line = (int)b->doc_line;
    root.value = root.pos = NULL;
out:
    b->in_doc = 0;
    json_decref(b->anchors);
    b->anchors = NULL;
    yaml_event_delete(&ev);
    drop_node(&root);
    return rc;
}

static void free_docs(struct ws_yaml_doc *docs, size_t ndocs)
{
    size_t i;

    for (i = 0; i < ndocs; i++) {
        json_decref(docs[i].value);
        json_decref(docs[i].pos);
    }
    free(docs);
}

int ws_yaml_parse(struct ws_yaml_stream *out, const char *buf, size_t len,
                  const char *name, const struct ws_yaml_limits *lim,
                  struct ws_err *err)
{
    struct builder b;
    struct ws_yaml_doc *docs = NULL, *grown = NULL;
    size_t ndocs = 0, cap = 0;
    yaml_event_t ev;
    int rc = 0;

    if (!out)
        return ws_err_set(err, WS_EINVAL, "ws_yaml_parse: no output stream");
    out->docs = NULL;
    out->ndocs = 0;
    memset(&b, 0, sizeof(b));
    memset(&ev, 0, sizeof(ev));
    b.name = name ? name : "<input>";
    b.err = err;
    if (!buf && len)
        return ws_err_set(err, WS_EINVAL, "%s: no input buffer", b.name);
    b.buf = (const unsigned char *)(buf ? buf : "");
    b.len = len;
    b.lim.max_doc_bytes = lim && lim->max_doc_bytes ? lim->max_doc_bytes : DEFAULT_MAX_DOC_BYTES;
    b.lim.max_nodes = lim && lim->max_nodes ? lim->max_nodes : DEFAULT_MAX_NODES;
    b.lim.max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_MAX_DEPTH;
    if (lim) {
        b.lim.keep_last_duplicate = lim->keep_last_duplicate;
        b.lim.on_duplicate = lim->on_duplicate;
        b.lim.on_duplicate_data = lim->on_duplicate_data;
    }
    /* libyaml's marks do not count the byte-order mark. */
    if (len >= 3 && memcmp(b.buf, "\xEF\xBB\xBF", 3) == 0)
        b.first_byte = 3;
    else if (len >= 2 && (memcmp(b.buf, "\xFE\xFF", 2) == 0 || memcmp(b.buf, "\xFF\xFE", 2) == 0))
        b.utf16 = 1;
    if (b.utf16)
        b.first_byte = 2;
    b.cur_byte = b.first_byte;
    if (!yaml_parser_initialize(&b.parser))
        return report_oom(&b);
    yaml_parser_set_input_string(&b.parser, b.buf, len);
    while ((rc = next_event(&b, &ev)) == 0 && ev.type != YAML_STREAM_END_EVENT) {
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            if (ndocs == cap) {
                cap = cap ? 2 * cap : 4;
                if (!(grown = realloc(docs, cap * sizeof(*docs)))) {
                    rc = report_oom(&b);
                    goto out;
                }
                docs = grown;
            }
            b.doc_index = ndocs;
            if ((rc = build_document(&b, &ev, &docs[ndocs])) < 0)
                goto out;
            ndocs++;
        }
        yaml_event_delete(&ev);
    }
    if (rc < 0)
        goto out;
    out->docs = docs;
    out->ndocs = ndocs;
    docs = NULL;
    ndocs = 0;
out:
    yaml_event_delete(&ev);
    free_docs(docs, ndocs);
    yaml_parser_delete(&b.parser);
    return rc;
}

void ws_yaml_stream_free(struct ws_yaml_stream *s)
{
    if (!s)
        return;
    free_docs(s->docs, s->ndocs);
    s->docs = NULL;
    s->ndocs = 0;
}

int ws_yaml_parse_one(json_t **out, const char *buf, size_t len,
                      const char *name, const struct ws_yaml_limits *lim,
                      struct ws_err *err)
{
    struct ws_yaml_stream s = {NULL, 0};
    const struct ws_yaml_doc *found = NULL;
    size_t i;
    int rc = 0;

    if (!out)
        return ws_err_set(err, WS_EINVAL, "ws_yaml_parse_one: no output");
    *out = NULL;
    if ((rc = ws_yaml_parse(&s, buf, len, name, lim, err)) < 0)
        return rc;
    /* Empty documents (a leading or trailing `---`) do not count. */
    for (i = 0; i < s.ndocs; i++) {
        if (json_is_null(s.docs[i].value))
            continue;
        if (found) {
            rc = ws_err_set(err, WS_EPARSE,
                            "%s:%d: a second document where one was expected (the first "
                            "starts at line %d)",
                            name ? name : "<input>", s.docs[i].line, found->line);
            goto out;
        }
        found = &s.docs[i];
    }
    *out = found ? json_incref(found->value) : json_null();
out:
    ws_yaml_stream_free(&s);
    return rc;
}

/* A node's line for messages: its key's line when it is a mapping member
 * (a block value starts on the line after its key), else its own. */
static int node_line(const json_t *pos)
{
    const json_t *keyline = json_array_get(pos, 3);

    return (int)json_integer_value(keyline ? keyline : json_array_get(pos, 0));
}

int ws_yaml_line(const json_t *pos)
{
    return ws_yaml_pos_line(pos, (const char *)NULL);
}

int ws_yaml_key_line(const json_t *pos, const char *key)
{
    return ws_yaml_pos_line(pos, key, (const char *)NULL);
}

const json_t *ws_yaml_pos_child(const json_t *pos, const char *key)
{
    const json_t *kids = json_array_get(pos, 2);
    return json_is_object(kids) ? json_object_get(kids, key) : NULL;
}

const json_t *ws_yaml_pos_item(const json_t *pos, size_t i)
{
    const json_t *kids = json_array_get(pos, 2);
    return json_is_array(kids) ? json_array_get(kids, i) : NULL;
}

int ws_yaml_pos_line(const json_t *pos, ...)
{
    const json_t *kids = NULL, *next = NULL;
    const char *key = NULL;
    char *end = NULL;
    unsigned long long index;
    va_list ap;
    int line;

    if (!json_is_array(pos))
        return 0;
    line = node_line(pos);
    va_start(ap, pos);
    while ((key = va_arg(ap, const char *))) {
        kids = json_array_get(pos, 2);
        next = NULL;
        if (json_is_object(kids)) {
            next = json_object_get(kids, key);
        } else if (json_is_array(kids) && key[0] >= '0' && key[0] <= '9') {
            errno = 0;
            index = strtoull(key, &end, 10);
            if (*end == '\0' && errno == 0 && index < json_array_size(kids))
                next = json_array_get(kids, (size_t)index);
        }
        if (!json_is_array(next))
            break;
        pos = next;
        line = node_line(pos);
    }
    va_end(ap);
    return line;
}

/* --- dump: libyaml's emitter, with the scalar styles chosen here ------------- */

struct sink {
    char *p;
    size_t len, cap;
};

static int write_sink(void *data, unsigned char *buf, size_t size)
{
    struct sink *o = data;
    size_t cap = o->cap ? o->cap : 256;
    char *grown = NULL;

    while (cap - o->len <= size) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    if (cap != o->cap) {
        if (!(grown = realloc(o->p, cap)))
            return 0;
        o->p = grown;
        o->cap = cap;
    }
    memcpy(o->p + o->len, buf, size);
    o->len += size;
    o->p[o->len] = '\0';
    return 1;
}

/* Whether a plain s would read back as something else: typed by the core
 * schema, or by YAML 1.1 readers (yes/on/y, 1_000, 12:30, dates), or `<<`. */
static int needs_quotes(const char *s, size_t n)
{
    static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
                                        "NO", "on", "On", "ON", "off", "Off", "OFF", "<<"};
    json_int_t iv;
    double d;
    int overflow, decimal;
    size_t i;

    if (is_null_text(s, n) || bool_value(s, n) >= 0 || match_int(s, n, &iv, &overflow, &decimal) ||
        match_float(s, n, &d))
        return 1;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (text_is(s, n, words[i]))
            return 1;
    return (s[0] >= '0' && s[0] <= '9') ||
           (n > 1 && strchr("+-.", s[0]) && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.'));
}

/* libyaml falls back to a quoted style when the asked one cannot hold s. */
static int emit_scalar(yaml_emitter_t *e, const char *s, size_t n, yaml_scalar_style_t style)
{
    yaml_event_t ev;

    if (n > INT_MAX || !yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n,
                                                     1, 1, style))
        return -1;
    return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int emit_string(yaml_emitter_t *e, const char *s, size_t n)
{
    if (needs_quotes(s, n))
        return emit_scalar(e, s, n, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return emit_scalar(e, s, n, memchr(s, '\n', n) ? YAML_LITERAL_SCALAR_STYLE
                                                   : YAML_PLAIN_SCALAR_STYLE);
}

/* Shortest text that reads back as the same double, always with a `.` so it
 * stays a float (`1.0`, `1.0e+20`). */
static void format_real(char *text, size_t size, double d)
{
    char *e = NULL;
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(text, size, "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    if (strchr(text, '.'))
        return;
    if ((e = strchr(text, 'e'))) {
        memmove(e + 2, e, strlen(e) + 1);
        memcpy(e, ".0", 2);
    } else {
        strcat(text, ".0");
    }
}

static int emit_value(yaml_emitter_t *e, const json_t *v)
{
    yaml_event_t ev;
    const char *k = NULL;
    char text[48];
    size_t i, klen;
    json_t *child = NULL;
    int block = json_is_object(v) ? json_object_size(v) > 0 : json_array_size(v) > 0;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        /* Empty collections print as {} and []. */
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, block
                                                 ? YAML_BLOCK_MAPPING_STYLE
                                                 : YAML_FLOW_MAPPING_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return -1;
        json_object_keylen_foreach((json_t *)v, k, klen, child)
            if (emit_string(e, k, klen) < 0 || emit_value(e, child) < 0)
                return -1;
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
    case JSON_ARRAY:
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, block
                                                  ? YAML_BLOCK_SEQUENCE_STYLE
                                                  : YAML_FLOW_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(e, &ev))
            return -1;
        json_array_foreach(v, i, child)
            if (emit_value(e, child) < 0)
                return -1;
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
    case JSON_STRING:
        return emit_string(e, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        format_real(text, sizeof(text), json_real_value(v));
        break;
    default:
        snprintf(text, sizeof(text), "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false"
                                                                                        : "null");
        break;
    }
    return emit_scalar(e, text, strlen(text), YAML_PLAIN_SCALAR_STYLE);
}

char *ws_yaml_dump(const json_t *value)
{
    struct sink o = {NULL, 0, 0};
    yaml_emitter_t e;
    yaml_event_t ev;
    int ok;

    if (!value || !yaml_emitter_initialize(&e))
        return NULL;
    yaml_emitter_set_output(&e, write_sink, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* never fold long strings */
    ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
         yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
         yaml_emitter_emit(&e, &ev) && emit_value(&e, value) == 0 &&
         yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
         yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) &&
         yaml_emitter_flush(&e);
    yaml_emitter_delete(&e);
    if (!ok) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
