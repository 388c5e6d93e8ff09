/* appset.h — Argo CD's argoproj.io/v1alpha1 ApplicationSet: generators (list,
 * clusters, git directories and files, matrix, merge) make parameter sets, and
 * the template is rendered once per set into an Application document
 * (appset.c; the substitution itself is appset_template.c). Pure: the
 * clusters and the Git contents come in through struct ws_appset_env (the
 * catalog reads Git with libgit2; tests hand in tables). */
#ifndef WS_APPSET_H
#define WS_APPSET_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* A cluster the clusters generator offers (wavesync.yaml's clusters[]).
 * Borrowed for the duration of a call. */
struct ws_appset_cluster {
    const char *name;
    const char *server;   /* API server URL */
    const json_t *labels; /* {key: value} strings, or NULL */
};

/* Git contents for the git generators, at `revision` ("" or "HEAD" = the
 * default branch) of the repository at `repo_url`. The implementation
 * decides which URLs are allowed (the catalog: configured repositories only)
 * and may cache: a matrix calls it once per parameter set of its first
 * generator. Errors go to err; WS_ENET means the repository was unreachable. */
struct ws_appset_git {
    /* Every folder (dirs != 0) or every regular file (dirs == 0), as
     * repository-relative paths sorted by strcmp; the root is not a folder
     * here; folders whose name starts with '.' (and what is under them) are
     * left out of the folder list, as Argo CD does. *out is a new JSON array
     * of strings (caller decrefs). */
    int (*list)(void *ctx, json_t **out, const char *repo_url, const char *revision, int dirs,
                struct ws_err *err);
    /* The contents of one file listed by list(): *out NUL-terminated, caller frees. */
    int (*read)(void *ctx, char **out, size_t *out_len, const char *repo_url, const char *revision,
                const char *path, struct ws_err *err);
    void *ctx;
};

struct ws_appset_env {
    const struct ws_appset_cluster *clusters;
    size_t nclusters;
    const struct ws_appset_git *git; /* NULL: a git generator is an error */
    /* Argo CD's applicationsetcontroller.enable.new.git.file.globbing: off
     * (Argo CD's default), git files patterns match like `git ls-files`
     * pathspecs ('*' also matches '/'); on, '*' stays inside one folder and
     * a "**" segment matches any number of folders (doublestar). */
    int new_git_file_globbing;
};

/* One generated Application. */
struct ws_appset_app {
    char *name;  /* metadata.name as rendered (NULL when it is missing) */
    json_t *doc; /* {apiVersion, kind: Application, metadata, spec} */
    json_t *pos; /* a yaml.h position mirror of doc pointing at the template's lines, or NULL */
    char *error; /* set when this Application cannot be used (its name is not a valid
                    Kubernetes name, e.g. an unknown {{param}} left in it); the others can */
};

struct ws_appset {
    char *name; /* the ApplicationSet's metadata.name */
    int line;   /* its first line */
    struct ws_appset_app *apps;
    size_t napps;
};

/* Generate every Application of the ApplicationSet in `obj` (one YAML
 * document, with its position mirror `pos` from yaml.h, may be NULL; `file`
 * names it in messages), in generator order. Argo CD's semantics: fasttemplate
 * `{{param}}` substitution in every string and map key of the template (an
 * unknown parameter is left as written), or with `goTemplate: true` a subset
 * of Go templates (fields, index, default, normalize, lower, upper, trim,
 * trimPrefix, trimSuffix, replace, comments, `-` trim markers); any other
 * Go template construct, templatePatch and unsupported generators are refused
 * with a message naming them. Any error (a bad generator, a Git error, a
 * template error, two Applications with one name) fails the whole
 * ApplicationSet, with err naming file:line and the ApplicationSet; the
 * return code is the callback's for Git failures (WS_ENET when unreachable).
 * After an error out->apps is empty (out->name is set when it was read).
 * Caller frees *out with ws_appset_free, also after an error. */
int ws_appset_render(struct ws_appset *out, const json_t *obj, const json_t *pos, const char *file,
                     const struct ws_appset_env *env, struct ws_err *err);
void ws_appset_free(struct ws_appset *s);

/* Substitute one template string with `params` (a JSON object: flat
 * {name: string} for fasttemplate, any JSON for goTemplate). `missing_error`
 * is goTemplateOptions' missingkey=error. Caller frees *out. WS_EINVAL with
 * the reason in err. */
int ws_appset_subst(char **out, const char *tmpl, const json_t *params, int go_template,
                    int missing_error, struct ws_err *err);

/* Argo CD's name normalisation (utils.SanitizeName, the `normalize` template
 * function and the *Normalized parameters): lower case, every character
 * other than [a-z0-9.-] becomes '-', at most 253 bytes, '-' and '.' trimmed
 * at both ends. Caller frees; NULL on ENOMEM. */
char *ws_appset_normalize(const char *name);

/* --- internal: shared by appset.c and appset_template.c only --------------- */

/* ws_appset_subst with the reason of a WS_EINVAL in `why` (no file context). */
int ws__appset_expand(char **out, const char *s, const json_t *params, int go, int missing_error, char *why,
                      size_t whylen);
/* A scalar as Argo CD prints a parameter (Go's %v; null is "<nil>"). New
 * reference, NULL on ENOMEM. */
json_t *ws__appset_value_string(const json_t *v);
/* Argo CD's flatten (DotStyle) of `v` into dst as {"a.b.0.c": "text"}; empty
 * mappings and lists vanish. `prefix` NULL at the top. */
int ws__appset_flatten(json_t *dst, const char *prefix, const json_t *v);

#endif
