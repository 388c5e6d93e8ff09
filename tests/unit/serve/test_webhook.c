/* test_webhook.c — tests for reconciler/serve/webhook.c: provider detection,
 * signatures for every provider (with GitHub's documented HMAC vector), and
 * the provider payloads in fixtures/webhooks/ parsed field by field, with
 * the error reasons for malformed deliveries. */
#include "serve/webhook.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/util.h"

#define SECRET "whsec-9f2c1e7b-do-not-log"
#define ZERO "0000000000000000000000000000000000000000"
#define MAXH 6

static char data_dir[PATH_MAX];

static void find_data_dir(void)
{
    const char *src = getenv("WS_SRCDIR");
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/fixtures/webhooks", src && *src ? src : ".");
    if (!realpath(rel, data_dir))
        snprintf(data_dir, sizeof(data_dir), "%s", rel);
}

static char *read_fixture(const char *file, size_t *len)
{
    char path[PATH_MAX + 64], *buf = NULL;
    struct ws_err err;
    snprintf(path, sizeof(path), "%s/%s", data_dir, file);
    if (ws_file_read(&buf, len, path, 1 << 20, &err) < 0) {
        tap_diag("cannot read fixture %s: %s", file, err.msg);
        return NULL;
    }
    return buf;
}

static size_t count_headers(const struct ws_hook_header *h)
{
    size_t n = 0;
    while (n < MAXH && h[n].name)
        n++;
    return n;
}

static int has_url(const struct ws_hook_event *e, const char *url)
{
    for (size_t i = 0; i < e->nrepo_urls; i++)
        if (strcmp(e->repo_urls[i], url) == 0)
            return 1;
    return 0;
}

/* --- names ------------------------------------------------------------------ */

static void test_names(void)
{
    static const struct {
        enum ws_hook_provider p;
        const char *name;
    } cases[] = {
        {WS_HOOK_GITHUB, "github"}, {WS_HOOK_GITLAB, "gitlab"}, {WS_HOOK_GITEA, "gitea"},
        {WS_HOOK_GOGS, "gogs"},     {WS_HOOK_BITBUCKET_SERVER, "bitbucket-server"},
        {WS_HOOK_GENERIC, "generic"},
    };
    enum ws_hook_provider p;
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        char name[64];
        snprintf(name, sizeof(name), "name: %s", cases[i].name);
        tap_is_str(ws_hook_provider_name(cases[i].p), cases[i].name, name);
        p = WS_HOOK_UNKNOWN;
        tap_ok(ws_hook_provider_parse(&p, cases[i].name) == 0 && p == cases[i].p, "parse: %s",
               cases[i].name);
    }
    tap_is_str(ws_hook_provider_name(WS_HOOK_UNKNOWN), "unknown", "name: unknown");
    tap_is_str(ws_hook_provider_name((enum ws_hook_provider)99), "unknown", "name: out of range is unknown");
    tap_ok(ws_hook_provider_parse(&p, "GitHub") == 0 && p == WS_HOOK_GITHUB, "parse: case-insensitive");
    tap_is_int(ws_hook_provider_parse(&p, "unknown"), WS_EINVAL, "parse: \"unknown\" refused");
    tap_is_int(ws_hook_provider_parse(&p, "bitbucket"), WS_EINVAL, "parse: \"bitbucket\" (cloud) refused");
    tap_is_int(ws_hook_provider_parse(&p, ""), WS_EINVAL, "parse: empty refused");
    tap_is_int(ws_hook_provider_parse(&p, NULL), WS_EINVAL, "parse: NULL refused");
    tap_is_str(ws_hook_kind_name(WS_HOOK_PING), "ping", "kind name: ping");
    tap_is_str(ws_hook_signature_header(WS_HOOK_BITBUCKET_SERVER), "X-Hub-Signature",
               "signature header: bitbucket-server");
    tap_ok(ws_hook_signature_header(WS_HOOK_UNKNOWN) == NULL, "signature header: unknown is NULL");
}

/* --- detection -------------------------------------------------------------- */

static void test_detect(void)
{
    static const struct {
        const char *name;
        struct ws_hook_header h[MAXH];
        enum ws_hook_provider want;
    } cases[] = {
        {"github", {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "d1"}}, WS_HOOK_GITHUB},
        {"github lowercase header", {{"x-github-event", "ping"}}, WS_HOOK_GITHUB},
        {"gitlab", {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "t"}}, WS_HOOK_GITLAB},
        {"gitlab mixed case", {{"X-GitLab-Event", "System Hook"}}, WS_HOOK_GITLAB},
        /* Gitea sends GitHub's and Gogs' headers too: the Gitea one wins. */
        {"gitea (with github+gogs headers)",
         {{"X-GitHub-Event", "push"}, {"X-Gogs-Event", "push"}, {"X-Gitea-Event", "push"},
          {"X-Gitea-Delivery", "d"}},
         WS_HOOK_GITEA},
        {"gogs (with github header)", {{"X-GitHub-Event", "push"}, {"X-Gogs-Event", "push"}}, WS_HOOK_GOGS},
        {"bitbucket server", {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "r1"}},
         WS_HOOK_BITBUCKET_SERVER},
        {"bitbucket server lowercase", {{"x-request-id", "r1"}, {"x-event-key", "repo:refs_changed"}},
         WS_HOOK_BITBUCKET_SERVER},
        {"bitbucket server ping", {{"X-Event-Key", "diagnostics:ping"}, {"X-Request-Id", "r1"}},
         WS_HOOK_BITBUCKET_SERVER},
        {"bitbucket server without X-Request-Id", {{"X-Event-Key", "repo:refs_changed"}}, WS_HOOK_UNKNOWN},
        {"bitbucket cloud (X-Hook-UUID)",
         {{"X-Event-Key", "repo:push"}, {"X-Request-Id", "r1"}, {"X-Hook-UUID", "h"}},
         WS_HOOK_UNKNOWN},
        {"generic", {{"X-Wavesync-Event", "push"}, {"X-Wavesync-Signature-256", "sha256=00"}},
         WS_HOOK_GENERIC},
        {"generic wins over github", {{"X-GitHub-Event", "push"}, {"X-Wavesync-Event", "push"}},
         WS_HOOK_GENERIC},
        {"empty event header ignored", {{"X-Gitea-Event", "  "}, {"X-GitHub-Event", "push"}},
         WS_HOOK_GITHUB},
        {"NULL value ignored", {{"X-GitHub-Event", NULL}}, WS_HOOK_UNKNOWN},
        {"no headers", {{NULL, NULL}}, WS_HOOK_UNKNOWN},
        {"unrelated headers", {{"Content-Type", "application/json"}, {"User-Agent", "curl/8"}}, WS_HOOK_UNKNOWN},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        enum ws_hook_provider got = ws_hook_detect(cases[i].h, count_headers(cases[i].h));
        char name[128];
        snprintf(name, sizeof(name), "detect: %s", cases[i].name);
        if (!tap_ok(got == cases[i].want, "%s", name))
            tap_diag("  got %s, want %s", ws_hook_provider_name(got), ws_hook_provider_name(cases[i].want));
    }
    tap_is_str(ws_hook_header_get(cases[1].h, 1, "X-GITHUB-EVENT"), "ping", "header_get: case-insensitive");
    tap_ok(ws_hook_header_get(cases[1].h, 1, "X-GitHub-Delivery") == NULL, "header_get: absent is NULL");
}

/* --- signatures ------------------------------------------------------------- */

static void test_hmac_vector(void)
{
    /* GitHub's documented example (docs "Validating webhook deliveries"). */
    static const char key[] = "It's a Secret to Everybody", body[] = "Hello, World!";
    static const char want[] = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    struct ws_hook_header h[] = {{"X-GitHub-Event", "push"},
                                 {"X-Hub-Signature-256", "sha256=" "757107ea0eb2509fc211221cce984b8a"
                                                         "37570b6d7586c22c46f4379c8b043e17"}};
    struct ws_err err;
    char hex[65];

    ws_hook_hmac_hex(hex, key, strlen(key), body, strlen(body));
    tap_is_str(hex, want, "hmac: GitHub's documented vector");
    ws_hook_hmac_hex(hex, "", 0, "", 0);
    tap_is_str(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
               "hmac: empty key, empty body (well-known value)");
    ws_err_clear(&err);
    tap_is_int(ws_hook_verify(WS_HOOK_GITHUB, h, 2, body, strlen(body), key, &err), 0,
               "verify: GitHub's documented vector accepted");
    tap_is_int(ws_hook_verify(WS_HOOK_GITHUB, h, 2, body, strlen(body) - 1, key, &err), WS_EAUTH,
               "verify: documented vector with one byte less rejected");
}

static void test_signatures(void)
{
    enum style { PREFIXED, HEX, TOKEN };
    static const struct {
        enum ws_hook_provider p;
        const char *event_header, *event, *sig_header;
        enum style style;
    } providers[] = {
        {WS_HOOK_GITHUB, "X-GitHub-Event", "push", "X-Hub-Signature-256", PREFIXED},
        {WS_HOOK_GITEA, "X-Gitea-Event", "push", "X-Gitea-Signature", HEX},
        {WS_HOOK_GOGS, "X-Gogs-Event", "push", "X-Gogs-Signature", HEX},
        {WS_HOOK_BITBUCKET_SERVER, "X-Event-Key", "repo:refs_changed", "X-Hub-Signature", PREFIXED},
        {WS_HOOK_GITLAB, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", TOKEN},
        {WS_HOOK_GENERIC, "X-Wavesync-Event", "push", "X-Wavesync-Signature-256", PREFIXED},
    };
    static const char body[] = "{\"ref\":\"refs/heads/main\",\"after\":\"1b6453892473a467d07372d45eb05abc2031647a\"}";
    static const char tampered[] = "{\"ref\":\"refs/heads/prod\",\"after\":\"1b6453892473a467d07372d45eb05abc2031647a\"}";

    for (size_t i = 0; i < WS_ARRAY_SIZE(providers); i++) {
        const char *pn = ws_hook_provider_name(providers[i].p), *sh = providers[i].sig_header;
        char hex[65], good[80], upper[80], other[80], missing[96];
        struct ws_hook_header h[4] = {{providers[i].event_header, providers[i].event},
                                      {"X-Request-Id", "5e1c1a3e-0000-4000-8000-000000000001"},
                                      {sh, good},
                                      {NULL, NULL}};
        struct ws_err err;
        int rc;

        if (providers[i].style == TOKEN) {
            snprintf(good, sizeof(good), "%s", SECRET);
            snprintf(other, sizeof(other), "%s", SECRET "x");
            snprintf(upper, sizeof(upper), "%s", "WHSEC-9F2C1E7B-DO-NOT-LOG");
        } else {
            const char *pre = providers[i].style == PREFIXED ? "sha256=" : "";
            ws_hook_hmac_hex(hex, SECRET, strlen(SECRET), body, strlen(body));
            snprintf(good, sizeof(good), "%s%s", pre, hex);
            for (char *c = hex; *c; c++)
                *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
            snprintf(upper, sizeof(upper), "%s%s", pre, hex);
            ws_hook_hmac_hex(hex, "wrong-secret", 12, body, strlen(body));
            snprintf(other, sizeof(other), "%s%s", pre, hex);
        }

        ws_err_clear(&err);
        rc = ws_hook_verify(providers[i].p, h, 3, body, strlen(body), SECRET, &err);
        if (!tap_ok(rc == 0, "verify %s: correct signature accepted", pn))
            tap_diag("  rc %d: %s", rc, err.msg);
        tap_is_int(ws_hook_verify(WS_HOOK_UNKNOWN, h, 3, body, strlen(body), SECRET, &err), 0,
                   "verify: provider detected from headers");

        ws_err_clear(&err);
        rc = ws_hook_verify(providers[i].p, h, 3, body, strlen(body), "wrong-secret", &err);
        tap_ok(rc == WS_EAUTH, "verify %s: wrong secret rejected", pn);
        tap_contains(err.msg, providers[i].style == TOKEN ? "X-Gitlab-Token does not match"
                                                          : "signature does not match",
                     "verify: wrong secret reason");
        tap_ok(!strstr(err.msg, "wrong-secret") && !strstr(err.msg, SECRET), "verify: no secret in message");

        ws_err_clear(&err);
        rc = ws_hook_verify(providers[i].p, h, 3, tampered, strlen(tampered), SECRET, &err);
        if (providers[i].style == TOKEN)
            tap_is_int(rc, 0, "verify gitlab: token does not cover the body (documented)");
        else
            tap_is_int(rc, WS_EAUTH, "verify: tampered body rejected");

        h[2].value = upper;
        rc = ws_hook_verify(providers[i].p, h, 3, body, strlen(body), SECRET, &err);
        if (providers[i].style == TOKEN)
            tap_is_int(rc, WS_EAUTH, "verify gitlab: token compare is case-sensitive");
        else
            tap_is_int(rc, 0, "verify: uppercase hex accepted");

        h[2].value = other;
        ws_err_clear(&err);
        rc = ws_hook_verify(providers[i].p, h, 3, body, strlen(body), SECRET, &err);
        tap_is_int(rc, WS_EAUTH, "verify: signature made with another secret rejected");
        if (providers[i].style != TOKEN) {
            char hexwant[65];
            ws_hook_hmac_hex(hexwant, SECRET, strlen(SECRET), body, strlen(body));
            tap_ok(!strstr(err.msg, hexwant) && !strstr(err.msg, SECRET),
                   "verify: expected digest never in message");
        }

        ws_err_clear(&err);
        rc = ws_hook_verify(providers[i].p, h, 2, body, strlen(body), SECRET, &err);
        snprintf(missing, sizeof(missing), "missing %s", sh);
        tap_is_int(rc, WS_EAUTH, "verify: missing signature header rejected");
        tap_is_str(err.msg, missing, "verify: missing header reason names it");

        ws_err_clear(&err);
        h[2].value = good;
        tap_is_int(ws_hook_verify(providers[i].p, h, 3, body, strlen(body), "", &err), WS_EAUTH,
                   "verify: empty secret never verifies");
        tap_is_int(ws_hook_verify(providers[i].p, h, 3, body, strlen(body), NULL, &err), WS_EAUTH,
                   "verify: NULL secret never verifies");
    }
}

static void test_signature_formats(void)
{
    static const char body[] = "{}";
    static const struct {
        const char *name;
        enum ws_hook_provider p;
        const char *header, *value; /* "GOOD" is replaced by the right lowercase hex */
        int want;
        const char *reason;
    } cases[] = {
        {"github: sha1= refused", WS_HOOK_GITHUB, "X-Hub-Signature-256", "sha1=GOOD", WS_EAUTH,
         "X-Hub-Signature-256 is not \"sha256=\" followed by 64 hex digits"},
        {"github: bare hex refused", WS_HOOK_GITHUB, "X-Hub-Signature-256", "GOOD", WS_EAUTH, "is not \"sha256=\""},
        {"github: SHA256= prefix accepted", WS_HOOK_GITHUB, "X-Hub-Signature-256", "SHA256=GOOD", 0, ""},
        {"github: surrounding blanks accepted", WS_HOOK_GITHUB, "X-Hub-Signature-256", " sha256=GOOD ", 0, ""},
        {"github: truncated digest", WS_HOOK_GITHUB, "X-Hub-Signature-256", "sha256=757107ea", WS_EAUTH,
         "followed by 64 hex digits"},
        {"github: non-hex digest", WS_HOOK_GITHUB, "X-Hub-Signature-256",
         "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", WS_EAUTH, "64 hex digits"},
        {"github: empty header", WS_HOOK_GITHUB, "X-Hub-Signature-256", "", WS_EAUTH, "missing X-Hub-Signature-256"},
        {"github: only X-Hub-Signature (sha1) present", WS_HOOK_GITHUB, "X-Hub-Signature", "sha1=GOOD", WS_EAUTH,
         "missing X-Hub-Signature-256"},
        {"gitea: prefixed refused", WS_HOOK_GITEA, "X-Gitea-Signature", "sha256=GOOD", WS_EAUTH,
         "X-Gitea-Signature is not 64 hex digits"},
        {"gitea: header in lowercase", WS_HOOK_GITEA, "x-gitea-signature", "GOOD", 0, ""},
        {"bitbucket: X-Hub-Signature-256 is not its header", WS_HOOK_BITBUCKET_SERVER, "X-Hub-Signature-256",
         "sha256=GOOD", WS_EAUTH, "missing X-Hub-Signature"},
        {"gitlab: token with trailing newline trimmed", WS_HOOK_GITLAB, "X-Gitlab-Token", SECRET "\r\n", 0, ""},
        {"gitlab: prefix of the token", WS_HOOK_GITLAB, "X-Gitlab-Token", "whsec", WS_EAUTH,
         "X-Gitlab-Token does not match"},
    };
    char hex[65];
    ws_hook_hmac_hex(hex, SECRET, strlen(SECRET), body, 2);
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        char value[160], *g;
        struct ws_hook_header h[2] = {{"X-Event-Key", "repo:refs_changed"}, {cases[i].header, value}};
        struct ws_err err;
        int rc;
        snprintf(value, sizeof(value), "%s", cases[i].value);
        if ((g = strstr(value, "GOOD")))
            snprintf(g, sizeof(value) - (size_t)(g - value), "%s%s", hex, strstr(cases[i].value, "GOOD") + 4);
        ws_err_clear(&err);
        rc = ws_hook_verify(cases[i].p, h, 2, body, 2, SECRET, &err);
        if (!tap_ok(rc == cases[i].want, "format %s", cases[i].name))
            tap_diag("  rc %d: %s", rc, err.msg);
        if (cases[i].want)
            tap_contains(err.msg, cases[i].reason, "format: reason");
    }
    {
        struct ws_hook_header h[1] = {{"Content-Type", "application/json"}};
        struct ws_err err;
        ws_err_clear(&err);
        tap_is_int(ws_hook_verify(WS_HOOK_UNKNOWN, h, 1, body, 2, SECRET, &err), WS_EINVAL,
                   "verify: undetectable provider is WS_EINVAL");
        tap_contains(err.msg, "unrecognised webhook: no X-GitHub-Event, X-Gitlab-Event", "verify: unknown reason");
    }
}

/* --- fixtures --------------------------------------------------------------- */

struct want_change {
    const char *ref, *before, *after;
    int created, deleted;
};

static const struct fixture_case {
    const char *file;
    struct ws_hook_header h[MAXH];
    enum ws_hook_provider provider; /* passed to parse; UNKNOWN = detect */
    enum ws_hook_provider want_provider;
    enum ws_hook_kind kind;
    const char *delivery, *full_name, *project_id, *default_branch, *pusher;
    size_t nurls;
    const char *url0, *url_also;
    size_t nchanges;
    struct want_change ch[3];
} fixtures[] = {
    {"github-push.json",
     {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"}},
     WS_HOOK_UNKNOWN, WS_HOOK_GITHUB, WS_HOOK_PUSH, "72d3162e-cc78-11e3-81ab-4c9367dc0958",
     "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 4,
     "https://github.com/wavesync-demo/ml-platform.git", "git@github.com:wavesync-demo/ml-platform.git", 1,
     {{"refs/heads/main", "b6589fc6ab0dc82cf12099d1c2d40ab994e8410c", "356a192b7913b04c54574d18c28d46e6395428ab", 0, 0}}},
    {"github-push-new-branch.json", {{"X-GitHub-Event", "push"}}, WS_HOOK_GITHUB, WS_HOOK_GITHUB,
     WS_HOOK_PUSH, NULL, "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 4,
     "https://github.com/wavesync-demo/ml-platform.git", "git://github.com/wavesync-demo/ml-platform.git", 1,
     {{"refs/heads/feature/gpu-quota", ZERO, "da4b9237bacccdf19c0760cab7aec4a8359010b0", 1, 0}}},
    {"github-push-delete-branch.json", {{"X-GitHub-Event", "push"}}, WS_HOOK_UNKNOWN, WS_HOOK_GITHUB,
     WS_HOOK_PUSH, NULL, "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 4,
     "https://github.com/wavesync-demo/ml-platform.git", "https://github.com/wavesync-demo/ml-platform", 1,
     {{"refs/heads/feature/gpu-quota", "da4b9237bacccdf19c0760cab7aec4a8359010b0", ZERO, 0, 1}}},
    {"github-tag-push.json", {{"X-GitHub-Event", "push"}}, WS_HOOK_UNKNOWN, WS_HOOK_GITHUB, WS_HOOK_PUSH,
     NULL, "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 4, NULL, NULL, 1,
     {{"refs/tags/v1.4.0", ZERO, "356a192b7913b04c54574d18c28d46e6395428ab", 1, 0}}},
    {"github-ping.json", {{"X-GitHub-Event", "ping"}, {"X-GitHub-Delivery", "p-1"}}, WS_HOOK_UNKNOWN,
     WS_HOOK_GITHUB, WS_HOOK_PING, "p-1", "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 5,
     "https://github.com/wavesync-demo/ml-platform.git",
     "https://api.github.com/repos/wavesync-demo/ml-platform", 0, {{0}}},
    {"github-issues.json", {{"X-GitHub-Event", "issues"}}, WS_HOOK_UNKNOWN, WS_HOOK_GITHUB, WS_HOOK_OTHER,
     NULL, "wavesync-demo/ml-platform", NULL, "main", "mlops-bot", 5, NULL, NULL, 0, {{0}}},
    {"gitlab-push.json",
     {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e"},
      {"X-Gitlab-Instance", "https://gitlab.example.com"}},
     WS_HOOK_UNKNOWN, WS_HOOK_GITLAB, WS_HOOK_PUSH, "13792a34-cac6-4fda-95a8-c58e00a3954e",
     "ml/platform/ml-platform", "4821", "main", "ada", 3,
     "https://gitlab.example.com/ml/platform/ml-platform.git",
     "git@gitlab.example.com:ml/platform/ml-platform.git", 1,
     {{"refs/heads/main", "77de68daecd823babbb58edb1c8e14d7106e83bb", "1b6453892473a467d07372d45eb05abc2031647a", 0, 0}}},
    {"gitlab-tag-push.json", {{"X-Gitlab-Event", "Tag Push Hook"}}, WS_HOOK_GITLAB, WS_HOOK_GITLAB,
     WS_HOOK_PUSH, NULL, "ml/platform/ml-platform", "4821", "main", "ada", 3,
     "https://gitlab.example.com/ml/platform/ml-platform.git", "https://gitlab.example.com/ml/platform/ml-platform", 1,
     {{"refs/tags/v2.0.0", ZERO, "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4", 1, 0}}},
    /* System hooks have no user_username: the display name stands in. */
    {"gitlab-system-push.json", {{"X-Gitlab-Event", "System Hook"}}, WS_HOOK_UNKNOWN, WS_HOOK_GITLAB,
     WS_HOOK_PUSH, NULL, "ml/platform/ml-platform", "4821", "main", "Ada Lovelace", 3, NULL, NULL, 1,
     {{"refs/heads/main", "77de68daecd823babbb58edb1c8e14d7106e83bb", "1b6453892473a467d07372d45eb05abc2031647a", 0, 0}}},
    {"gitlab-system-project-create.json", {{"X-Gitlab-Event", "System Hook"}}, WS_HOOK_UNKNOWN,
     WS_HOOK_GITLAB, WS_HOOK_OTHER, NULL, NULL, "4822", NULL, NULL, 0, NULL, NULL, 0, {{0}}},
    {"gitlab-merge-request.json", {{"X-Gitlab-Event", "Merge Request Hook"}}, WS_HOOK_UNKNOWN,
     WS_HOOK_GITLAB, WS_HOOK_OTHER, NULL, "ml/platform/ml-platform", "4821", "main", NULL, 3, NULL, NULL, 0,
     {{0}}},
    {"gitea-push.json",
     {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
      {"X-Gogs-Event", "push"}, {"X-Gitea-Event", "push"},
      {"X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"}},
     WS_HOOK_UNKNOWN, WS_HOOK_GITEA, WS_HOOK_PUSH, "f6266f16-1bf3-46a5-9ea4-602e06ead473", "ml/ml-platform",
     NULL, "main", "ada", 3, "https://gitea.example.com/ml/ml-platform.git",
     "https://gitea.example.com/ml/ml-platform", 1,
     {{"refs/heads/main", "c1dfd96eea8cc2b62785275bca38ac261256e278", "902ba3cda1883801594b6e1b452790cc53948fda", 0, 0}}},
    {"gogs-push.json", {{"X-Gogs-Event", "push"}, {"X-Gogs-Delivery", "g-7"}}, WS_HOOK_UNKNOWN, WS_HOOK_GOGS,
     WS_HOOK_PUSH, "g-7", "ml/ml-platform", NULL, "main", "grace", 3,
     "https://gogs.example.com/ml/ml-platform.git", "git@gogs.example.com:ml/ml-platform.git", 1,
     {{"refs/heads/main", "fe5dbbcea5ce7e2988b8c69bcfdfde8904aabc1f", "0ade7c2cf97f75d009975f4d720d1fa6c19f4897", 0, 0}}},
    {"bitbucket-server-push.json",
     {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "ed94894a-2330-4b8e-b5a4-e8330d72d14a"}},
     WS_HOOK_UNKNOWN, WS_HOOK_BITBUCKET_SERVER, WS_HOOK_PUSH, "ed94894a-2330-4b8e-b5a4-e8330d72d14a",
     "MLP/ml-platform", NULL, NULL, "ada", 2, "ssh://git@bitbucket.example.com:7999/mlp/ml-platform.git",
     "https://bitbucket.example.com/scm/mlp/ml-platform.git", 3,
     {{"refs/heads/main", "b6589fc6ab0dc82cf12099d1c2d40ab994e8410c", "da4b9237bacccdf19c0760cab7aec4a8359010b0", 0, 0},
      {"refs/tags/v3.1.0", ZERO, "da4b9237bacccdf19c0760cab7aec4a8359010b0", 1, 0},
      {"refs/heads/old-experiment", "77de68daecd823babbb58edb1c8e14d7106e83bb", ZERO, 0, 1}}},
    {"bitbucket-server-ping.json", {{"X-Event-Key", "diagnostics:ping"}, {"X-Request-Id", "r-2"}},
     WS_HOOK_UNKNOWN, WS_HOOK_BITBUCKET_SERVER, WS_HOOK_PING, "r-2", NULL, NULL, NULL, NULL, 0, NULL, NULL, 0,
     {{0}}},
    {"bitbucket-server-push.json", {{"X-Event-Key", "pr:opened"}, {"X-Request-Id", "r-3"}}, WS_HOOK_UNKNOWN,
     WS_HOOK_BITBUCKET_SERVER, WS_HOOK_OTHER, "r-3", "MLP/ml-platform", NULL, NULL, "ada", 2, NULL, NULL, 0,
     {{0}}},
    /* The generic hook's "before" is upper case in the fixture: stored lowercase. */
    {"generic-push.json", {{"X-Wavesync-Event", "push"}, {"X-Wavesync-Delivery", "w-9"}}, WS_HOOK_UNKNOWN,
     WS_HOOK_GENERIC, WS_HOOK_PUSH, "w-9", NULL, NULL, NULL, "deploy", 1,
     "https://git.example.com/ml/ml-platform.git", NULL, 1,
     {{"refs/heads/main", "1b6453892473a467d07372d45eb05abc2031647a", "ac3478d69a3c81fa62e60f5c3696165a4e5e6ac4", 0, 0}}},
};

static void check_fixture(const struct fixture_case *c)
{
    struct ws_hook_event e;
    struct ws_err err;
    size_t len = 0;
    char *body = read_fixture(c->file, &len);
    int rc;
    const char *f = c->file;

    ws_err_clear(&err);
    rc = ws_hook_parse(&e, c->provider, c->h, count_headers(c->h), body, len, &err);
    if (!tap_ok(rc == 0, "%s (%s): parses", f, c->h[0].value))
        tap_diag("  rc %d: %s", rc, err.msg);
    tap_ok(e.provider == c->want_provider, "%s: provider %s", f, ws_hook_provider_name(c->want_provider));
    if (!tap_ok(e.kind == c->kind, "%s: kind %s", f, ws_hook_kind_name(c->kind)))
        tap_diag("  got %s", ws_hook_kind_name(e.kind));
    tap_is_str(e.event_name, c->h[0].value, "event name as sent");
    tap_is_str(e.delivery_id, c->delivery, "delivery id");
    tap_is_str(e.repo_full_name, c->full_name, "repository full name");
    tap_is_str(e.project_id, c->project_id, "project id");
    tap_is_str(e.default_branch, c->default_branch, "default branch");
    tap_is_str(e.pusher, c->pusher, "pusher");
    tap_is_int(e.nrepo_urls, c->nurls, "number of candidate repository URLs");
    if (c->url0)
        tap_is_str(e.nrepo_urls ? e.repo_urls[0] : NULL, c->url0, "first candidate URL");
    if (c->url_also)
        tap_ok(has_url(&e, c->url_also), "%s: candidate URL %s", f, c->url_also);
    tap_is_int(e.nchanges, c->nchanges, "number of ref changes");
    for (size_t i = 0; i < c->nchanges && i < e.nchanges; i++) {
        tap_is_str(e.changes[i].ref, c->ch[i].ref, "change ref");
        tap_is_str(e.changes[i].before, c->ch[i].before, "change before");
        tap_is_str(e.changes[i].after, c->ch[i].after, "change after");
        tap_ok(e.changes[i].created == c->ch[i].created && e.changes[i].deleted == c->ch[i].deleted,
               "%s: change %zu created=%d deleted=%d", f, i, c->ch[i].created, c->ch[i].deleted);
    }
    if (c->kind == WS_HOOK_PUSH) {
        tap_is_str(e.ref, c->ch[0].ref, "flattened ref is changes[0]");
        tap_ok(strcmp(e.before, c->ch[0].before) == 0 && strcmp(e.after, c->ch[0].after) == 0 &&
                   e.created == c->ch[0].created && e.deleted == c->ch[0].deleted,
               "%s: flattened before/after/flags are changes[0]", f);
    } else {
        tap_ok(e.ref == NULL && e.before[0] == '\0' && e.nchanges == 0, "%s: no ref for a %s", f,
               ws_hook_kind_name(c->kind));
    }
    ws_hook_event_free(&e);
    free(body);
}

static const struct err_case {
    const char *file;
    struct ws_hook_header h[MAXH];
    int want;
    const char *reason;
} err_fixtures[] = {
    {"err_truncated.json", {{"X-GitHub-Event", "push"}}, WS_EPARSE, "body is not JSON: "},
    {"err_array.json", {{"X-GitHub-Event", "push"}}, WS_EPARSE, "body is not a JSON object"},
    {"err_github-push-no-after.json", {{"X-GitHub-Event", "push"}}, WS_EINVAL, "push event has no \"after\""},
    {"err_github-push-bad-before.json", {{"X-GitHub-Event", "push"}}, WS_EINVAL,
     "\"before\" is not a 40-hex commit id"},
    {"err_github-push-after-not-string.json", {{"X-GitHub-Event", "push"}}, WS_EINVAL,
     "\"after\" is not a 40-hex commit id"},
    {"err_github-push-short-ref.json", {{"X-GitHub-Event", "push"}}, WS_EINVAL,
     "\"ref\" is not a full ref name (refs/...): \"main\""},
    {"err_github-push-no-repository.json", {{"X-GitHub-Event", "push"}}, WS_EINVAL,
     "push event has no repository URL (repository.clone_url"},
    {"err_gitlab-push-long-before.json", {{"X-Gitlab-Event", "Push Hook"}}, WS_EINVAL,
     "\"before\" is not a 40-hex commit id"},
    {"err_gitlab-push-no-ref.json", {{"X-Gitlab-Event", "Push Hook"}}, WS_EINVAL, "push event has no \"ref\""},
    {"err_bitbucket-server-no-changes.json", {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "r"}},
     WS_EINVAL, "push event has no \"changes\""},
    {"err_bitbucket-server-change-no-tohash.json",
     {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "r"}}, WS_EINVAL,
     "push event has no \"changes[1].toHash\""},
    {"err_generic-push-no-repository.json", {{"X-Wavesync-Event", "push"}}, WS_EINVAL,
     "push event has no \"repository\""},
    /* Found by tests/fuzz/fuzz_webhook.c: "" was a repository URL. */
    {"err_generic-push-empty-repository.json", {{"X-Wavesync-Event", "push"}}, WS_EINVAL,
     "push event has no \"repository\""},
    /* A delivery with the same body but an ignored event type is fine. */
    {"err_github-push-no-after.json", {{"X-GitHub-Event", "watch"}}, 0, ""},
};

static void check_err_fixture(const struct err_case *c)
{
    struct ws_hook_event e;
    struct ws_err err;
    size_t len = 0;
    char *body = read_fixture(c->file, &len);
    int rc;
    ws_err_clear(&err);
    rc = ws_hook_parse(&e, WS_HOOK_UNKNOWN, c->h, count_headers(c->h), body, len, &err);
    if (!tap_ok(rc == c->want, "%s as %s: %s", c->file, c->h[0].value, c->want ? ws_code_str(c->want) : "ok"))
        tap_diag("  rc %d: %s", rc, err.msg);
    if (c->want)
        tap_contains(err.msg, c->reason, "error reason");
    ws_hook_event_free(&e);
    tap_ok(e.event_name == NULL && e.repo_urls == NULL && e.changes == NULL, "%s: free zeroes the event",
           c->file);
    free(body);
}

/* --- inline bodies ---------------------------------------------------------- */

static void test_inline(void)
{
    static const char push[] = "{\"ref\":\"refs/heads/main\",\"before\":\"77de68daecd823babbb58edb1c8e14d7106e83bb\","
                               "\"after\":\"1b6453892473a467d07372d45eb05abc2031647a\","
                               "\"repository\":{\"clone_url\":\"https://h/x.git\",\"ssh_url\":\"https://h/x.git\"}}";
    static const struct {
        const char *name;
        enum ws_hook_provider p;
        struct ws_hook_header h[MAXH];
        const char *body;
        int want;
        const char *reason;
    } cases[] = {
        {"empty body", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "push"}}, "", WS_EPARSE, "body is empty"},
        {"not JSON names line and column", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "push"}}, "{\n  \"ref\": nope\n}",
         WS_EPARSE, "(line 2, column"},
        {"JSON string body", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "ping"}}, "\"zen\"", WS_EPARSE,
         "body is not JSON"},
        {"unknown provider", WS_HOOK_UNKNOWN, {{"User-Agent", "curl/8.5"}}, push, WS_EINVAL,
         "unrecognised webhook: no X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event, X-Gogs-Event"},
        {"provider from the URL but its header missing", WS_HOOK_GITLAB, {{"X-GitHub-Event", "push"}}, push,
         WS_EINVAL, "gitlab webhook has no X-Gitlab-Event header"},
        {"both hashes zero", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "push"}},
         "{\"ref\":\"refs/heads/x\",\"before\":\"" ZERO "\",\"after\":\"" ZERO "\","
         "\"repository\":{\"clone_url\":\"https://h/x.git\"}}",
         WS_EINVAL, "\"before\" and \"after\" are both all zeros"},
        {"after null", WS_HOOK_UNKNOWN, {{"X-Gitea-Event", "push"}},
         "{\"ref\":\"refs/heads/x\",\"before\":\"" ZERO "\",\"after\":null,"
         "\"repository\":{\"clone_url\":\"https://h/x.git\"}}",
         WS_EINVAL, "push event has no \"after\""},
        {"ref refs/ only", WS_HOOK_UNKNOWN, {{"X-Gogs-Event", "push"}},
         "{\"ref\":\"refs/\",\"repository\":{\"clone_url\":\"https://h/x.git\"}}", WS_EINVAL,
         "\"ref\" is not a full ref name"},
        {"generic repository not a string", WS_HOOK_UNKNOWN, {{"X-Wavesync-Event", "push"}},
         "{\"repository\":{\"url\":\"https://h/x.git\"},\"ref\":\"refs/heads/main\"}", WS_EINVAL,
         "\"repository\" is not a URL string"},
        {"bitbucket change not an object", WS_HOOK_UNKNOWN, {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "r"}},
         "{\"repository\":{\"links\":{\"clone\":[{\"href\":\"https://h/x.git\"}]}},\"changes\":[7]}", WS_EINVAL,
         "\"changes[0]\" is not an object"},
        {"bitbucket bad fromHash", WS_HOOK_UNKNOWN, {{"X-Event-Key", "repo:refs_changed"}, {"X-Request-Id", "r"}},
         "{\"repository\":{\"links\":{\"clone\":[{\"href\":\"https://h/x.git\"}]}},\"changes\":[{\"refId\":"
         "\"refs/heads/a\",\"fromHash\":\"abc\",\"toHash\":\"" ZERO "\"}]}",
         WS_EINVAL, "\"changes[0].fromHash\" is not a 40-hex commit id: \"abc\""},
        {"form-encoded without payload", WS_HOOK_UNKNOWN,
         {{"X-GitHub-Event", "push"}, {"Content-Type", "application/x-www-form-urlencoded"}}, "a=1&b=2", WS_EPARSE,
         "form-encoded body has no \"payload\" field"},
        {"form-encoded bad escape", WS_HOOK_UNKNOWN,
         {{"X-GitHub-Event", "push"}, {"Content-Type", "application/x-www-form-urlencoded"}}, "payload=%7B%2", WS_EPARSE,
         "malformed %-escape"},
        {"ignored event with non-JSON body still refused", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "issues"}}, "<html>",
         WS_EPARSE, "body is not JSON"},
        {"github push duplicate URLs kept once", WS_HOOK_UNKNOWN, {{"X-GitHub-Event", "push"}}, push, 0, ""},
    };
    for (size_t i = 0; i < WS_ARRAY_SIZE(cases); i++) {
        struct ws_hook_event e;
        struct ws_err err;
        int rc;
        ws_err_clear(&err);
        rc = ws_hook_parse(&e, cases[i].p, cases[i].h, count_headers(cases[i].h), cases[i].body,
                           strlen(cases[i].body), &err);
        if (!tap_ok(rc == cases[i].want, "inline %s", cases[i].name))
            tap_diag("  rc %d: %s", rc, err.msg);
        if (cases[i].want)
            tap_contains(err.msg, cases[i].reason, "inline: reason");
        else
            tap_is_int(e.nrepo_urls, 1, "inline: duplicate candidate URL dropped");
        ws_hook_event_free(&e);
    }
}

/* GitHub (and Gitea, Gogs) may post the JSON as a "payload" form field; the
 * signature covers the form body as sent. */
static void test_form_encoded(void)
{
    static const char form[] =
        "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%2C%22before%22%3A%2277de68daecd823babbb58edb1c8e14d7106e83bb"
        "%22%2C%22after%22%3A%221b6453892473a467d07372d45eb05abc2031647a%22%2C%22pusher%22%3A%7B%22name%22%3A%22Ada+L"
        "%22%7D%2C%22repository%22%3A%7B%22clone_url%22%3A%22https%3A%2F%2Fgithub.com%2Fo%2Fr.git%22%7D%7D";
    char sig[80], hex[65];
    struct ws_hook_header h[3] = {{"X-GitHub-Event", "push"},
                                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                                  {"X-Hub-Signature-256", sig}};
    struct ws_hook_event e;
    struct ws_err err;
    int rc;
    ws_hook_hmac_hex(hex, SECRET, strlen(SECRET), form, strlen(form));
    snprintf(sig, sizeof(sig), "sha256=%s", hex);
    ws_err_clear(&err);
    tap_is_int(ws_hook_verify(WS_HOOK_UNKNOWN, h, 3, form, strlen(form), SECRET, &err), 0,
               "form: signature over the raw form body");
    rc = ws_hook_parse(&e, WS_HOOK_UNKNOWN, h, 3, form, strlen(form), &err);
    if (!tap_ok(rc == 0, "form: parses"))
        tap_diag("  %s", err.msg);
    tap_is_str(e.ref, "refs/heads/main", "form: ref decoded");
    tap_is_str(e.pusher, "Ada L", "form: '+' decodes to a space");
    tap_is_str(e.nrepo_urls ? e.repo_urls[0] : NULL, "https://github.com/o/r.git", "form: URL decoded");
    ws_hook_event_free(&e);
}

static void test_free(void)
{
    struct ws_hook_event e;
    memset(&e, 0, sizeof(e));
    ws_hook_event_free(&e);
    ws_hook_event_free(NULL);
    tap_ok(e.event_name == NULL, "free: zeroed event and NULL are fine");
}

int main(void)
{
    find_data_dir();
    test_names();
    test_detect();
    test_hmac_vector();
    test_signatures();
    test_signature_formats();
    for (size_t i = 0; i < WS_ARRAY_SIZE(fixtures); i++)
        check_fixture(&fixtures[i]);
    for (size_t i = 0; i < WS_ARRAY_SIZE(err_fixtures); i++)
        check_err_fixture(&err_fixtures[i]);
    test_inline();
    test_form_encoded();
    test_free();
    return tap_done();
}
