/* webhook.h — recognise, authenticate and parse push notifications from Git
 * hosts (GitHub, GitLab, Gitea, Gogs, Bitbucket Server) and from wavesync's
 * own git hooks. Pure: headers and body in, an event or an error out; no I/O. */
#ifndef WS_WEBHOOK_H
#define WS_WEBHOOK_H

#include <stddef.h>

#include "base/error.h"

#define WS_HOOK_PROVIDERS(X)                              \
    X(WS_HOOK_UNKNOWN, "unknown")                         \
    X(WS_HOOK_GITHUB, "github")                           \
    X(WS_HOOK_GITLAB, "gitlab")                           \
    X(WS_HOOK_GITEA, "gitea")                             \
    X(WS_HOOK_GOGS, "gogs")                               \
    X(WS_HOOK_BITBUCKET_SERVER, "bitbucket-server")       \
    X(WS_HOOK_GENERIC, "generic")

enum ws_hook_provider {
#define WS_X(name, text) name,
    WS_HOOK_PROVIDERS(WS_X)
#undef WS_X
};

/* "github", "gitlab", ...; "unknown" for WS_HOOK_UNKNOWN or an out-of-range value. */
const char *ws_hook_provider_name(enum ws_hook_provider p);

/* Provider from its name (case-insensitive), e.g. the {name} of
 * /api/webhook/{name}. "unknown" is refused. Returns 0 or WS_EINVAL. */
int ws_hook_provider_parse(enum ws_hook_provider *out, const char *name);

#define WS_HOOK_KINDS(X)          \
    X(WS_HOOK_PUSH, "push")       \
    X(WS_HOOK_PING, "ping")       \
    X(WS_HOOK_OTHER, "other")

/* PUSH: refs moved, act on it. PING: the host checks the hook is reachable
 * (GitHub "ping", Bitbucket Server "diagnostics:ping"). OTHER: an event type we
 * ignore (issues, merge requests, ...): answer 2xx and drop it. */
enum ws_hook_kind {
#define WS_X(name, text) name,
    WS_HOOK_KINDS(WS_X)
#undef WS_X
};

const char *ws_hook_kind_name(enum ws_hook_kind k);

/* One request header; both strings borrowed from the caller. */
struct ws_hook_header {
    const char *name;
    const char *value;
};

/* One ref update. Bitbucket Server sends several per delivery; the others one. */
struct ws_hook_change {
    char *ref;       /* full name: "refs/heads/main", "refs/tags/v1" */
    char before[41]; /* lowercase 40-hex; all zeros when the push created the ref */
    char after[41];  /* all zeros when the push deleted the ref */
    int created, deleted;
};

/* A parsed delivery. Every string is owned by the event (NULL when the
 * delivery does not carry it); free with ws_hook_event_free. */
struct ws_hook_event {
    enum ws_hook_provider provider;
    enum ws_hook_kind kind;
    char *event_name;  /* the event header's value as sent: "push", "Tag Push Hook", "repo:refs_changed" */
    char *delivery_id; /* X-GitHub-Delivery, X-Gitlab-Event-UUID, ...; NULL when absent */
    char **repo_urls;  /* candidate clone/web URLs of the repository, as sent, without duplicates */
    size_t nrepo_urls;
    char *repo_full_name; /* "owner/repo", GitLab "group/sub/project", Bitbucket "PROJ/slug" */
    char *project_id;     /* GitLab project id as a decimal string, else NULL */
    char *default_branch; /* branch name without refs/heads/ */
    char *pusher;         /* login/user name of who pushed */
    /* PUSH only: the first (for most providers the only) change, flattened. */
    char *ref;
    char before[41], after[41];
    int created, deleted;
    /* PUSH only: every change, changes[0] being the one above; nchanges >= 1. */
    struct ws_hook_change *changes;
    size_t nchanges;
};

/* Value of the first header named `name` (case-insensitive), or NULL.
 * Borrowed from h. */
const char *ws_hook_header_get(const struct ws_hook_header *h, size_t nh, const char *name);

/* Which host sent the delivery, from its headers alone. Gitea sends Gogs' and
 * GitHub's event headers too, so the more specific header wins: generic
 * (X-Wavesync-Event), Gitea, Gogs, GitHub, GitLab, then Bitbucket Server
 * (X-Event-Key with X-Request-Id; Bitbucket Cloud's X-Hook-UUID excludes it). */
enum ws_hook_provider ws_hook_detect(const struct ws_hook_header *h, size_t nh);

/* Name of the header that carries p's signature ("X-Hub-Signature-256",
 * "X-Gitlab-Token", ...), or NULL for WS_HOOK_UNKNOWN. */
const char *ws_hook_signature_header(enum ws_hook_provider p);

/* Parse a delivery (no verification: call ws_hook_verify first). p may be
 * WS_HOOK_UNKNOWN to detect it from the headers. body need not be
 * NUL-terminated; a form-encoded body (Content-Type
 * application/x-www-form-urlencoded, field "payload") is accepted too.
 * out is zeroed first and owns everything it points to; the caller frees it
 * with ws_hook_event_free, also after an error. Returns 0, WS_EINVAL (unknown
 * provider, missing or invalid field), WS_EPARSE (body not JSON) or WS_ENOMEM;
 * err says which field and why. */
int ws_hook_parse(struct ws_hook_event *out, enum ws_hook_provider p, const struct ws_hook_header *h,
                  size_t nh, const char *body, size_t len, struct ws_err *err);

/* 0 when the delivery is signed with `secret`, WS_EAUTH otherwise (missing,
 * malformed or wrong signature; NULL or empty secret, which never verifies).
 * HMAC-SHA256 over the raw body for every provider but GitLab, whose
 * X-Gitlab-Token is the secret itself. Comparisons are constant-time; messages
 * never contain the secret or a digest. p may be WS_HOOK_UNKNOWN to detect
 * it; WS_EINVAL when it cannot be. */
int ws_hook_verify(enum ws_hook_provider p, const struct ws_hook_header *h, size_t nh,
                   const char *body, size_t len, const char *secret, struct ws_err *err);

/* Free what e owns and zero it. Safe with NULL and with a zeroed event. */
void ws_hook_event_free(struct ws_hook_event *e);

/* Lowercase hex HMAC-SHA256 of body with key, into out[65] (used by
 * `wavesync notify` and tests). out is "" if OpenSSL fails. */
void ws_hook_hmac_hex(char out[65], const char *key, size_t keylen, const char *body, size_t len);

#endif
