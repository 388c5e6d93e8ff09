/* ignore.h — Argo CD's spec.ignoreDifferences: which fields of which objects
 * a comparison with the live state leaves alone, and which field managers'
 * fields it trusts. Rules are compiled from JSON pointers and the common jq
 * path forms, then matched against an object and a JSON pointer. Pure: no
 * I/O; the live-state engine and the sync engine (RespectIgnoreDifferences)
 * call it. */
#ifndef WS_IGNORE_H
#define WS_IGNORE_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* One step of a compiled path. */
enum ws_ignore_step {
    WS_IGNORE_KEY,   /* a member of a mapping: .name, ."x/y", ["x"], or a JSON pointer token */
    WS_IGNORE_INDEX, /* item n of a list: [n] */
    WS_IGNORE_EACH,  /* every item of a list (or member of a mapping): [] and []? */
};

/* select(.a.b == value) or select(.a.b != value): the node a segment reached
 * must (not) hold `value` at `field`. A missing field is null, as in jq;
 * numbers compare by value (1 == 1.0). */
struct ws_ignore_select {
    char **field;   /* keys from the node down to the compared value (at least one) */
    size_t nfield;
    json_t *value;  /* string, number, true, false or null (owned) */
    int negate;     /* != */
};

struct ws_ignore_seg {
    enum ws_ignore_step type;
    char *key;      /* WS_IGNORE_KEY: the member name, unescaped */
    int index_too;  /* WS_IGNORE_KEY from a JSON pointer written as an index ("0"):
                       item `index` of a list matches too, as RFC 6901 says */
    size_t index;   /* WS_IGNORE_INDEX, and WS_IGNORE_KEY with index_too */
    struct ws_ignore_select *selects; /* all must hold for the node this segment reached */
    size_t nselects;
};

/* A compiled path: what a JSON pointer or one jq path names. */
struct ws_ignore_path {
    char *text;     /* the pointer or jq expression as written, for messages */
    struct ws_ignore_seg *segs;
    size_t nsegs;   /* at least 1: nothing ignores a whole object */
};

/* One spec.ignoreDifferences entry. Group and kind are globs (*, ?, [...]) as
 * Argo CD matches them; "" is the core group. Name and namespace are exact. */
struct ws_ignore_rule {
    char *group;      /* NULL = any group ("" = core only) */
    char *kind;       /* NULL = any kind */
    char *name;       /* NULL = any name */
    char *namespace_; /* NULL = any namespace */
    struct ws_ignore_path *paths;
    size_t npaths;
    char **managers;  /* managedFieldsManagers */
    size_t nmanagers;
};

/* Compile a JSON pointer (RFC 6901: "/spec/replicas", "~1" is '/', "~0" is
 * '~') and add it to r's paths. It must start with '/' and name at least one
 * member; a bad escape is an error. On error r is unchanged and err says why
 * (naming the pointer; the caller adds where it was written). */
int ws_ignore_add_pointer(struct ws_ignore_rule *r, const char *pointer, struct ws_err *err);

/* Compile a jq path expression and add its paths to r. Accepted, as seen in
 * Argo CD repositories:
 *   .a.b.c   .a["k/x"]   .a."k/x"   .a[0]   .a[]   .a[]?   .["a"]
 *   .a[] | select(.name == "x") | .b     .a[] | select(.name == "x").b
 *   select(.f.g != null), select(.port == 80), several select()s in a row
 *   e1, e2   (several paths in one expression)
 * Anything else (recursive descent, functions, parentheses, slices, negative
 * indices, string interpolation, and/or, a select() before any path) is an
 * error naming the expression, the column and what is supported. On error r
 * is unchanged. `?` is accepted anywhere a jq path allows it: a step that
 * does not fit the object simply matches nothing. */
int ws_ignore_add_jq(struct ws_ignore_rule *r, const char *expr, struct ws_err *err);

/* Add a managedFieldsManagers entry (copied). */
int ws_ignore_add_manager(struct ws_ignore_rule *r, const char *manager, struct ws_err *err);

/* Free what r holds and zero it; safe on a zeroed rule and NULL. */
void ws_ignore_rule_clear(struct ws_ignore_rule *r);
/* Clear n rules and free the array; safe with NULL. */
void ws_ignore_rules_free(struct ws_ignore_rule *rules, size_t n);

/* 1 when r's group, kind, name and namespace match obj (group from
 * apiVersion: "apps/v1" is "apps", "v1" is ""), else 0. */
int ws_ignore_applies(const struct ws_ignore_rule *r, const json_t *obj);

/* 1 when the field at JSON pointer `pointer` of obj (e.g. "/spec/replicas",
 * "/spec/template/spec/containers/0/image",
 * "/metadata/annotations/kubectl.kubernetes.io~1restartedAt") is ignored by
 * one of the n rules that applies to obj: a path names it or one of its
 * parents (ignoring /spec/template ignores everything below it). List
 * indices and select() are judged against obj, so a pointer into a list
 * obj lacks is not ignored by `[0]` or select(). A malformed pointer (not
 * starting with '/', a bad escape) is never ignored: 0. */
int ws_ignore_path(const struct ws_ignore_rule *rules, size_t n, const json_t *obj,
                   const char *pointer);

/* 1 when a rule that applies to obj lists `manager` in managedFieldsManagers
 * (the live-state engine then ignores the fields that manager owns in obj's
 * metadata.managedFields), else 0. */
int ws_ignore_manager(const struct ws_ignore_rule *rules, size_t n, const json_t *obj,
                      const char *manager);

/* The question a comparison asks (sync/compare.h's ignore callback): with
 * manager NULL, ws_ignore_path; else ws_ignore_manager. */
int ws_ignore_diff(const struct ws_ignore_rule *rules, size_t n, const json_t *obj, const char *pointer,
                   const char *manager);

/* 1 when a rule that applies to obj has at least one path (so
 * ws_ignore_respect could change it), else 0. */
int ws_ignore_has_paths(const struct ws_ignore_rule *rules, size_t n, const json_t *obj);

/* RespectIgnoreDifferences=true: make `desired` (edited in place) leave the
 * ignored fields as they are in `live` (the same object as the cluster has
 * it), as Argo CD does:
 *  - a field of desired that a rule applying to desired ignores is set to
 *    live's value, or removed from desired when live lacks it;
 *  - an ignored field only live has is added to desired when it hangs from
 *    mappings (missing mappings are made on the way); ignored list items
 *    only live has (an injected sidecar) are not added;
 *  - a list item reached through select() is paired with the live item that
 *    meets the same select() (the same index when that one does, else the
 *    first), any other item by index; an item live does not have yet is new
 *    and stays as desired has it.
 * Returns the number of fields changed, removed or added (0: desired is
 * unchanged), or WS_ENOMEM. */
int ws_ignore_respect(json_t *desired, const json_t *live, const struct ws_ignore_rule *rules,
                      size_t n);

#endif
