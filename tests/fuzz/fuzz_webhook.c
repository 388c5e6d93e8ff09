/* fuzz_webhook.c — reconciler/serve/webhook.c on any delivery: the service
 * parses a webhook before it knows the repository and so before the
 * signature is checked (serve/api.c: handle_webhook), so ws_hook_parse and
 * ws_hook_verify see whatever anyone posts.
 *
 * Input: one flags byte, the event header's value up to '\n', the signature
 * header's value up to '\n', then the body. Flags: bits 0-2 the provider
 * whose headers are sent (GitHub, GitLab, Gitea, Gogs, Bitbucket Server,
 * generic), bit 3 detect it from the headers instead of naming it, bit 4 a
 * form-encoded body, bit 5 no delivery-id header. tests/fuzz/corpus/webhook/
 * holds fixtures/webhooks/ in this form, signed with SECRET. */
#include "fuzz.h"

#include "base/log.h"
#include "serve/webhook.h"

#define SECRET "fuzz-webhook-secret"

static const struct {
    enum ws_hook_provider p;
    const char *event, *delivery;
} providers[] = {
    {WS_HOOK_GITHUB, "X-GitHub-Event", "X-GitHub-Delivery"},
    {WS_HOOK_GITLAB, "X-Gitlab-Event", "X-Gitlab-Event-UUID"},
    {WS_HOOK_GITEA, "X-Gitea-Event", "X-Gitea-Delivery"},
    {WS_HOOK_GOGS, "X-Gogs-Event", "X-Gogs-Delivery"},
    {WS_HOOK_BITBUCKET_SERVER, "X-Event-Key", "X-Request-Id"},
    {WS_HOOK_GENERIC, "X-Wavesync-Event", "X-Wavesync-Delivery"},
};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

/* The next line of [*p, end) as a new string (NULL when there is none). */
static char *take_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    char *s;
    if (!nl)
        return NULL;
    s = fuzz_strndup(*p, (size_t)(nl - *p));
    *p = nl + 1;
    return s;
}

static int is_oid(const char *s)
{
    size_t i;
    for (i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[40] == '\0';
}

/* What api.c and serve.c rely on in a parsed event. */
static void check_event(const struct ws_hook_event *e)
{
    size_t i;
    FUZZ_CHECK(e->event_name != NULL, "no event name");
    for (i = 0; i < e->nrepo_urls; i++)
        FUZZ_CHECK(e->repo_urls[i] && e->repo_urls[i][0], "repository URL %zu is empty", i);
    if (e->kind != WS_HOOK_PUSH)
        return;
    FUZZ_CHECK(e->nrepo_urls > 0, "a push without a repository URL");
    FUZZ_CHECK(e->nchanges >= 1 && e->changes && e->ref, "a push without changes");
    FUZZ_CHECK(strcmp(e->ref, e->changes[0].ref) == 0, "ref is not changes[0]'s");
    for (i = 0; i < e->nchanges; i++) {
        const struct ws_hook_change *c = &e->changes[i];
        FUZZ_CHECK(c->ref && c->ref[0], "change %zu has no ref", i);
        FUZZ_CHECK(is_oid(c->before) && is_oid(c->after), "change %zu: %s..%s", i, c->before,
                   c->after);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 1, *end = data + size;
    struct ws_hook_header h[4];
    struct ws_hook_event e;
    struct ws_err err;
    enum ws_hook_provider named;
    char *event, *sig;
    size_t nh = 0, ip;

    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    ip = (data[0] & 7) % NPROVIDERS;
    named = data[0] & 8 ? WS_HOOK_UNKNOWN : providers[ip].p;
    event = take_line(&p, end);
    sig = event ? take_line(&p, end) : NULL;

    if (event)
        h[nh++] = (struct ws_hook_header){providers[ip].event, event};
    if (!(data[0] & 32))
        h[nh++] = (struct ws_hook_header){providers[ip].delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958"};
    if (sig)
        h[nh++] = (struct ws_hook_header){ws_hook_signature_header(providers[ip].p), sig};
    h[nh++] = (struct ws_hook_header){"Content-Type", data[0] & 16 ? "application/x-www-form-urlencoded"
                                                                   : "application/json"};

    if (ws_hook_parse(&e, named, h, nh, (const char *)p, (size_t)(end - p), &err) == 0) {
        check_event(&e);
        (void)ws_hook_kind_name(e.kind);
        (void)ws_hook_provider_name(e.provider);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "a refused delivery says nothing");
    }
    ws_hook_event_free(&e);
    (void)ws_hook_verify(named, h, nh, (const char *)p, (size_t)(end - p), SECRET, &err);
    (void)ws_hook_detect(h, nh);
    free(event);
    free(sig);
    return 0;
}
