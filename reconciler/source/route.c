/* route.c — the routing index: a trie over path components holding app ids and
 * glob patterns; a match walks each changed path down it once. Pure, no I/O. */
#include "source/route.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Ids are stored as dense indices (0..ndense-1, in order of first use) so
 * that a match can mark them in a small per-call bitmap. */
struct idvec {
    uint32_t *v;
    uint32_t n, cap;
};

struct pat;

struct node {
    struct node **kids; /* open addressing on hash; kcap slots (a power of two) or NULL */
    uint32_t nkids, kcap;
    struct idvec sub;   /* subtree rules ending here */
    struct idvec file;  /* file rules ending here */
    struct pat **pats;  /* patterns whose literal prefix ends here */
    uint32_t npats, pcap;
    uint32_t index;     /* in r->nodes: the per-call "subtree ids already marked" bit */
    uint32_t hash;
    uint32_t len;
    char name[];        /* the component, NUL-terminated */
};

struct pat {
    struct node *at;
    uint32_t hash;  /* of (at, rest), for the dedup table */
    uint32_t index; /* in r->pats: the per-call "already matched" bit */
    struct idvec ids;
    char rest[];    /* the glob part: normalised components joined by '/' */
};

struct ws_route {
    struct node *root;
    struct node **nodes; /* every node, for freeing and node->index */
    size_t nnodes, cnodes;
    struct pat **pats;   /* every distinct (node, rest) pattern */
    size_t npats, cpats;
    struct pat **ptab;   /* dedup: apps sharing one pattern share one test */
    size_t ptcap;
    uint32_t *dense;     /* dense index → id */
    size_t ndense, cdense;
    uint32_t *idtab;     /* id → dense index + 1 (0 = empty slot) */
    size_t idcap;
    bool ascending;      /* dense order is id order: match needs no sort */
};

/* --- small helpers --------------------------------------------------------- */

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a: short keys, no setup */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static uint32_t hash_u32(uint32_t x)
{
    x ^= x >> 16; /* murmur3 finaliser: ids are often sequential */
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 4;
    void *nv;
    if (need <= *cap)
        return 0;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return WS_ENOMEM;
        c *= 2;
    }
    if (!(nv = realloc(*v, c * elem)))
        return WS_ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

static int idvec_push(struct idvec *iv, uint32_t d)
{
    if (iv->n && iv->v[iv->n - 1] == d) /* the same app adding the same rule twice */
        return 0;
    if (iv->n == iv->cap) {
        size_t cap = iv->cap;
        if (cap >= UINT32_MAX / 2 || grow((void **)&iv->v, &cap, (size_t)iv->n + 1, sizeof(*iv->v)) < 0)
            return WS_ENOMEM;
        iv->cap = (uint32_t)cap;
    }
    iv->v[iv->n++] = d;
    return 0;
}

/* The dense index of id, registering it on first use. */
static int dense_of(struct ws_route *r, uint32_t id, uint32_t *out)
{
    size_t mask, i;
    if ((r->ndense + 1) * 2 > r->idcap) {
        size_t cap = r->idcap ? r->idcap * 2 : 64;
        uint32_t *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return WS_ENOMEM;
        for (size_t d = 0; d < r->ndense; d++) {
            for (i = hash_u32(r->dense[d]) & (cap - 1); tab[i]; i = (i + 1) & (cap - 1))
                ;
            tab[i] = (uint32_t)d + 1;
        }
        free(r->idtab);
        r->idtab = tab;
        r->idcap = cap;
    }
    mask = r->idcap - 1;
    for (i = hash_u32(id) & mask; r->idtab[i]; i = (i + 1) & mask) {
        if (r->dense[r->idtab[i] - 1] == id) {
            *out = r->idtab[i] - 1;
            return 0;
        }
    }
    if (r->ndense >= UINT32_MAX - 1 || grow((void **)&r->dense, &r->cdense, r->ndense + 1, sizeof(*r->dense)) < 0)
        return WS_ENOMEM;
    if (r->ndense && id < r->dense[r->ndense - 1])
        r->ascending = false;
    r->dense[r->ndense] = id;
    r->idtab[i] = (uint32_t)r->ndense + 1;
    *out = (uint32_t)r->ndense++;
    return 0;
}

/* --- glob matching ----------------------------------------------------------- */


/* Length of the class "[...]" at p (p[0] == '['), or 0 when it is not closed
 * within the component. */
static size_t class_len(const char *p, size_t n)
{
    size_t i = 1;
    if (i < n && (p[i] == '!' || p[i] == '^'))
        i++;
    if (i < n && p[i] == ']') /* a ']' first is a member */
        i++;
    for (; i < n; i++)
        if (p[i] == ']')
            return i + 1;
    return 0;
}

/* Whether code point c is in the class at p (its length from class_len). */
static bool class_has(const char *p, size_t len, uint32_t c)
{
    size_t i = 1, end = len - 1; /* end: the closing ']' */
    bool neg = false, in = false;
    uint32_t lo, hi;
    if (p[i] == '!' || p[i] == '^') {
        neg = true;
        i++;
    }
    while (i < end) { /* a leading ']' is a member: class_len skipped it */
        i += ws_utf8_char(p + i, end - i, &lo);
        hi = lo;
        if (i + 1 < end && p[i] == '-') {
            i++;
            i += ws_utf8_char(p + i, end - i, &hi);
        }
        if (lo <= c && c <= hi)
            in = true;
    }
    return in != neg;
}

/* fnmatch for one component: '*' any run, '?' one character, [...] a class.
 * Greedy with one backtrack point, so linear-ish rather than exponential. */
static bool comp_match(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star_pi = SIZE_MAX, star_si = 0, cl;
    uint32_t c;
    while (si < sn) {
        if (pi < pn) {
            if (p[pi] == '*') {
                star_pi = ++pi;
                star_si = si;
                continue;
            }
            if (p[pi] == '?') {
                pi++;
                si += ws_utf8_char(s + si, sn - si, &c);
                continue;
            }
            if (p[pi] == '[' && (cl = class_len(p + pi, pn - pi)) > 0) {
                size_t adv = ws_utf8_char(s + si, sn - si, &c);
                if (class_has(p + pi, cl, c)) {
                    pi += cl;
                    si += adv;
                    continue;
                }
            } else if (p[pi] == s[si]) {
                pi++;
                si++;
                continue;
            }
        }
        if (star_pi == SIZE_MAX)
            return false;
        pi = star_pi;
        star_si += ws_utf8_char(s + star_si, sn - star_si, &c);
        si = star_si;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

/* The next component of a changed path at *s, skipping '/' runs and "."
 * components; *s moves past it. NULL at the end. */
static const char *next_comp(const char **s, size_t *len)
{
    const char *p = *s, *e;
    for (;;) {
        while (*p == '/')
            p++;
        if (*p == '\0') {
            *s = p;
            return NULL;
        }
        e = p + strcspn(p, "/");
        if (!(e - p == 1 && *p == '.'))
            break;
        p = e;
    }
    *s = e;
    *len = (size_t)(e - p);
    return p;
}

/* Whether the normalised pattern p matches the first k components of s for
 * some k ≥ 0, i.e. s or one of its ancestors (as if p ended in a "**"
 * component). A "**" component is handled like '*' in comp_match, one
 * component being one symbol. */
static bool glob_prefix(const char *p, const char *s)
{
    const char *star_p = NULL, *star_s = NULL, *sc;
    size_t pn, sn;
    for (;;) {
        if (*p == '\0')
            return true; /* what is left of s is under a matched folder */
        pn = strcspn(p, "/");
        if (pn == 2 && p[0] == '*' && p[1] == '*') {
            p += pn + (p[pn] == '/');
            star_p = p;
            star_s = s;
            continue;
        }
        sc = next_comp(&s, &sn);
        if (sc && comp_match(p, pn, sc, sn)) {
            p += pn + (p[pn] == '/');
            continue;
        }
        if (!sc || !star_p || !next_comp(&star_s, &sn))
            return false;
        p = star_p; /* the last '**' takes one more component */
        s = star_s;
    }
}

/* --- rules ----------------------------------------------------------------- */

struct comp {
    const char *p;
    size_t len;
    bool glob;
};

struct comps {
    struct comp *v;
    size_t n, cap;
};

static bool has_glob(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '*' || p[i] == '?' || p[i] == '[')
            return true;
    return false;
}

/* Append the components of s[0..n) to c: empty and "." ones dropped, ".."
 * removing the last one. WS_EINVAL when ".." would leave the repository or a
 * glob component has an unterminated class (only when globs is set); *why
 * (may be NULL) then says which. */
static int comps_add(struct comps *c, const char *s, size_t n, bool globs, const char **why)
{
    size_t i = 0, j, k;
    while (i < n) {
        for (j = i; j < n && s[j] != '/'; j++)
            ;
        if (j == i || (j - i == 1 && s[i] == '.')) {
            /* nothing */
        } else if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
            if (c->n == 0) {
                if (why)
                    *why = "escapes the repository root";
                return WS_EINVAL;
            }
            c->n--;
        } else {
            struct comp x = {s + i, j - i, globs && has_glob(s + i, j - i)};
            for (k = 0; x.glob && k < x.len; k++) {
                size_t cl;
                if (x.p[k] != '[')
                    continue;
                if ((cl = class_len(x.p + k, x.len - k)) == 0) {
                    if (why)
                        *why = "has an unterminated '['";
                    return WS_EINVAL;
                }
                k += cl - 1;
            }
            if (grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v)) < 0)
                return WS_ENOMEM;
            c->v[c->n++] = x;
        }
        i = j + 1;
    }
    return 0;
}

static bool is_dstar(const struct comp *x)
{
    return x->len == 2 && x->p[0] == '*' && x->p[1] == '*';
}

static int node_new(struct ws_route *r, const char *name, size_t len, uint32_t hash, struct node **out)
{
    struct node *n;
    if (r->nnodes >= UINT32_MAX || grow((void **)&r->nodes, &r->cnodes, r->nnodes + 1, sizeof(*r->nodes)) < 0)
        return WS_ENOMEM;
    if (!(n = calloc(1, sizeof(*n) + len + 1)))
        return WS_ENOMEM;
    memcpy(n->name, name, len);
    n->len = (uint32_t)len;
    n->hash = hash;
    n->index = (uint32_t)r->nnodes;
    r->nodes[r->nnodes++] = n;
    *out = n;
    return 0;
}

static struct node *child_find(const struct node *n, const char *name, size_t len, uint32_t hash)
{
    uint32_t mask, i;
    struct node *k;
    if (!n->kids)
        return NULL;
    mask = n->kcap - 1;
    for (i = hash & mask; (k = n->kids[i]) != NULL; i = (i + 1) & mask)
        if (k->hash == hash && k->len == len && memcmp(k->name, name, len) == 0)
            return k;
    return NULL;
}

static void kids_put(struct node **tab, uint32_t cap, struct node *k)
{
    uint32_t i;
    for (i = k->hash & (cap - 1); tab[i]; i = (i + 1) & (cap - 1))
        ;
    tab[i] = k;
}

static int child_get(struct ws_route *r, struct node *n, const char *name, size_t len, struct node **out)
{
    uint32_t hash = hash_bytes(name, len);
    struct node *k = child_find(n, name, len, hash);
    int rc;
    if (k) {
        *out = k;
        return 0;
    }
    if ((n->nkids + 1) * 4 > n->kcap * 3) { /* keep probes short: load ≤ 3/4 */
        uint32_t cap = n->kcap ? n->kcap * 2 : 4;
        struct node **tab;
        if (n->kcap >= UINT32_MAX / 4 || !(tab = calloc(cap, sizeof(*tab))))
            return WS_ENOMEM;
        for (uint32_t i = 0; i < n->kcap; i++)
            if (n->kids[i])
                kids_put(tab, cap, n->kids[i]);
        free(n->kids);
        n->kids = tab;
        n->kcap = cap;
    }
    if ((rc = node_new(r, name, len, hash, &k)) < 0)
        return rc;
    kids_put(n->kids, n->kcap, k);
    n->nkids++;
    *out = k;
    return 0;
}

/* The node at the first n components of c, created as needed. */
static int walk_create(struct ws_route *r, const struct comps *c, size_t n, struct node **out)
{
    struct node *at = r->root;
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = child_get(r, at, c->v[i].p, c->v[i].len, &at)) < 0)
            return rc;
    *out = at;
    return 0;
}

/* The pattern rest at node `at`, shared by every app using the same one. */
static int pat_get(struct ws_route *r, struct node *at, const char *rest, struct pat **out)
{
    size_t len = strlen(rest), mask, i;
    uint32_t hash = hash_bytes(rest, len) ^ hash_u32(at->index);
    struct pat *p;
    if ((r->npats + 1) * 2 > r->ptcap) {
        size_t cap = r->ptcap ? r->ptcap * 2 : 16;
        struct pat **tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return WS_ENOMEM;
        for (size_t k = 0; k < r->npats; k++) {
            for (i = r->pats[k]->hash & (cap - 1); tab[i]; i = (i + 1) & (cap - 1))
                ;
            tab[i] = r->pats[k];
        }
        free(r->ptab);
        r->ptab = tab;
        r->ptcap = cap;
    }
    mask = r->ptcap - 1;
    for (i = hash & mask; (p = r->ptab[i]) != NULL; i = (i + 1) & mask) {
        if (p->hash == hash && p->at == at && strcmp(p->rest, rest) == 0) {
            *out = p;
            return 0;
        }
    }
    if (r->npats >= UINT32_MAX || grow((void **)&r->pats, &r->cpats, r->npats + 1, sizeof(*r->pats)) < 0)
        return WS_ENOMEM;
    if (at->npats == at->pcap) {
        size_t cap = at->pcap;
        if (cap >= UINT32_MAX / 2 || grow((void **)&at->pats, &cap, (size_t)at->npats + 1, sizeof(*at->pats)) < 0)
            return WS_ENOMEM;
        at->pcap = (uint32_t)cap;
    }
    if (!(p = calloc(1, sizeof(*p) + len + 1)))
        return WS_ENOMEM;
    memcpy(p->rest, rest, len + 1);
    p->at = at;
    p->hash = hash;
    p->index = (uint32_t)r->npats;
    r->pats[r->npats++] = p;
    at->pats[at->npats++] = p;
    r->ptab[i] = p;
    *out = p;
    return 0;
}

enum rule { RULE_SUBTREE, RULE_FILE, RULE_PATTERN };

/* Add the rule for the normalised components c. */
static int add_comps(struct ws_route *r, struct comps *c, enum rule kind, uint32_t id)
{
    struct node *at;
    struct pat *p;
    struct ws_buf rest;
    size_t g = c->n, n = c->n, w;
    uint32_t d;
    int rc;

    if (kind == RULE_FILE && c->n == 0)
        return WS_EINVAL;
    if (kind == RULE_PATTERN) {
        for (g = 0; g < c->n && !c->v[g].glob; g++)
            ;
        /* A trailing "**" component adds nothing (a pattern covers its
         * folders' subtrees; "**" alone is the root), and "**" twice in a row
         * is one "**": fewer, shorter tests. */
        while (n > g && is_dstar(&c->v[n - 1]))
            n--;
        w = g;
        for (size_t i = g; i < n; i++)
            if (!(w > g && is_dstar(&c->v[i]) && is_dstar(&c->v[w - 1])))
                c->v[w++] = c->v[i];
        n = w;
    }
    if ((rc = dense_of(r, id, &d)) < 0)
        return rc;
    if ((rc = walk_create(r, c, g, &at)) < 0)
        return rc;
    if (kind == RULE_FILE)
        return idvec_push(&at->file, d);
    if (g >= n)
        return idvec_push(&at->sub, d);

    ws_buf_init(&rest, 0);
    for (size_t i = g; i < n && rc == 0; i++) {
        if (i > g)
            rc = ws_buf_append(&rest, "/", 1);
        if (rc == 0)
            rc = ws_buf_append(&rest, c->v[i].p, c->v[i].len);
    }
    if (rc == 0 && (rc = pat_get(r, at, rest.data, &p)) == 0)
        rc = idvec_push(&p->ids, d);
    ws_buf_free(&rest);
    return rc < 0 ? (rc == WS_ELIMIT ? WS_ENOMEM : rc) : 0;
}

static int add_path(struct ws_route *r, const char *s, enum rule kind, uint32_t id)
{
    struct comps c = {0};
    int rc;
    if (!r || !s)
        return WS_EINVAL;
    if (kind == RULE_PATTERN && *s == '\0')
        return WS_EINVAL;
    if ((rc = comps_add(&c, s, strlen(s), kind == RULE_PATTERN, NULL)) == 0)
        rc = add_comps(r, &c, kind, id);
    free(c.v);
    return rc;
}

int ws_route_add_subtree(struct ws_route *r, const char *dir, uint32_t id)
{
    return add_path(r, dir, RULE_SUBTREE, id);
}

int ws_route_add_file(struct ws_route *r, const char *path, uint32_t id)
{
    return add_path(r, path, RULE_FILE, id);
}

int ws_route_add_pattern(struct ws_route *r, const char *pattern, uint32_t id)
{
    return add_path(r, pattern, RULE_PATTERN, id);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* One manifest-generate-paths entry e[0..n) (trimmed, not empty): checked
 * only when dry, else added. */
static int add_entry(struct ws_route *r, const char *src, const char *e, size_t n, uint32_t id, bool dry,
                     struct ws_err *err)
{
    struct comps c = {0};
    const char *why = "is invalid";
    int rc = 0;
    if (e[0] != '/')
        rc = comps_add(&c, src, strlen(src), false, NULL);
    if (rc == 0)
        rc = comps_add(&c, e, n, true, &why);
    if (rc == WS_EINVAL)
        ws_err_set(err, rc, "manifest-generate-paths entry \"%.*s\" %s", (int)(n > 512 ? 512 : n), e, why);
    else if (rc == 0 && !dry)
        rc = add_comps(r, &c, has_glob(e, n) ? RULE_PATTERN : RULE_SUBTREE, id);
    if (rc == WS_ENOMEM)
        ws_err_set(err, rc, "out of memory adding manifest-generate-paths entry \"%.*s\"", (int)(n > 512 ? 512 : n), e);
    free(c.v);
    return rc;
}

int ws_route_add_source(struct ws_route *r, const char *source_path, const char *mgp, uint32_t id,
                        struct ws_err *err)
{
    const char *src = source_path ? source_path : "";
    struct comps c = {0};
    size_t entries = 0;
    int rc;

    if (!r)
        return ws_err_set(err, WS_EINVAL, "no routing index");
    /* The source path must itself stay inside the repository. */
    rc = comps_add(&c, src, strlen(src), false, NULL);
    free(c.v);
    if (rc < 0)
        return ws_err_set(err, rc, rc == WS_EINVAL ? "source path \"%s\" escapes the repository root"
                                                   : "out of memory adding source path \"%s\"", src);
    /* Two passes: every entry is checked before any is added. */
    for (int pass = 0; mgp && pass < 2; pass++) {
        const char *p = mgp;
        while (*p) {
            const char *e = p + strcspn(p, ";"), *b = p, *t = e;
            while (b < t && is_space(*b))
                b++;
            while (t > b && is_space(t[-1]))
                t--;
            if (t > b) {
                if ((rc = add_entry(r, src, b, (size_t)(t - b), id, pass == 0, err)) < 0)
                    return rc;
                entries += pass == 0;
            }
            p = *e ? e + 1 : e;
        }
        if (entries == 0)
            break;
    }
    if (mgp && entries > 0)
        return 0;
    if ((rc = ws_route_add_subtree(r, src, id)) < 0)
        return ws_err_set(err, rc, "out of memory adding source path \"%s\"", src);
    return 0;
}

/* --- lifecycle ------------------------------------------------------------- */

int ws_route_new(struct ws_route **out)
{
    struct ws_route *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (!r)
        return WS_ENOMEM;
    r->ascending = true;
    if (node_new(r, "", 0, 0, &r->root) < 0) {
        ws_route_free(r);
        return WS_ENOMEM;
    }
    *out = r;
    return 0;
}

void ws_route_free(struct ws_route *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nnodes; i++) {
        struct node *n = r->nodes[i];
        free(n->kids);
        free(n->sub.v);
        free(n->file.v);
        free(n->pats);
        free(n);
    }
    for (size_t i = 0; i < r->npats; i++) {
        free(r->pats[i]->ids.v);
        free(r->pats[i]);
    }
    free(r->nodes);
    free(r->pats);
    free(r->ptab);
    free(r->dense);
    free(r->idtab);
    free(r);
}

void ws_route_stats(const struct ws_route *r, size_t *nodes, size_t *patterns, size_t *ids)
{
    if (nodes)
        *nodes = r ? r->nnodes : 0;
    if (patterns)
        *patterns = r ? r->npats : 0;
    if (ids)
        *ids = r ? r->ndense : 0;
}

/* --- matching -------------------------------------------------------------- */

static inline bool bit_test_set(uint64_t *bits, uint32_t i)
{
    uint64_t m = (uint64_t)1 << (i & 63);
    bool was = (bits[i >> 6] & m) != 0;
    bits[i >> 6] |= m;
    return was;
}

static inline void mark(uint64_t *idbits, const struct idvec *iv)
{
    for (uint32_t i = 0; i < iv->n; i++)
        idbits[iv->v[i] >> 6] |= (uint64_t)1 << (iv->v[i] & 63);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int ws_route_match(const struct ws_route *r, const char *const *paths, size_t npaths,
                   uint32_t **out, size_t *nout)
{
    size_t wid, wnode, wpat, count = 0;
    uint64_t *bits = NULL, *idbits, *nodebits, *patbits;
    uint32_t *ids = NULL;
    int rc = 0;

    *out = NULL;
    *nout = 0;
    if (!r || (npaths && !paths))
        return WS_EINVAL;
    if (npaths == 0 || r->ndense == 0)
        return 0;
    /* Per-call state only (r stays read-only, so threads can share it): the
     * ids matched, the nodes whose subtree ids are already marked, and the
     * patterns already matched (never tested again). */
    wid = (r->ndense + 63) / 64;
    wnode = (r->nnodes + 63) / 64;
    wpat = (r->npats + 63) / 64;
    if (!(bits = calloc(wid + wnode + wpat, sizeof(*bits))))
        return WS_ENOMEM;
    idbits = bits;
    nodebits = bits + wid;
    patbits = nodebits + wnode;

    for (size_t k = 0; k < npaths; k++) {
        const struct node *n = r->root;
        const char *s = paths[k], *c;
        size_t len;
        if (!s) {
            rc = WS_EINVAL;
            goto out;
        }
        for (;;) {
            if (!bit_test_set(nodebits, n->index))
                mark(idbits, &n->sub);
            for (uint32_t i = 0; i < n->npats; i++) {
                const struct pat *p = n->pats[i];
                uint64_t m = (uint64_t)1 << (p->index & 63);
                if (!(patbits[p->index >> 6] & m) && glob_prefix(p->rest, s)) {
                    patbits[p->index >> 6] |= m;
                    mark(idbits, &p->ids);
                }
            }
            if (!(c = next_comp(&s, &len))) {
                mark(idbits, &n->file);
                break;
            }
            if (!(n = child_find(n, c, len, hash_bytes(c, len))))
                break;
        }
    }

    for (size_t w = 0; w < wid; w++)
        count += (size_t)__builtin_popcountll(idbits[w]);
    if (count == 0)
        goto out;
    if (!(ids = malloc(count * sizeof(*ids)))) {
        rc = WS_ENOMEM;
        goto out;
    }
    count = 0;
    for (size_t w = 0; w < wid; w++) {
        for (uint64_t b = idbits[w]; b; b &= b - 1)
            ids[count++] = r->dense[w * 64 + (size_t)__builtin_ctzll(b)];
    }
    if (!r->ascending)
        qsort(ids, count, sizeof(*ids), cmp_u32);
    *out = ids;
    *nout = count;
    ids = NULL;
out:
    free(ids);
    free(bits);
    return rc;
}

int ws_route_check_source(const char *source_path, const char *mgp, struct ws_err *err)
{
    struct ws_route *r = NULL;
    int rc = ws_route_new(&r);
    if (rc < 0)
        return ws_err_set(err, rc, "out of memory");
    rc = ws_route_add_source(r, source_path, mgp, 0, err);
    ws_route_free(r);
    return rc;
}
