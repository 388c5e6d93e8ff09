/* jsonnet.c — Jsonnet evaluation in a bounded child (see jsonnet.h): the
 * parent side builds the child's argument vector and turns its JSON into
 * manifest objects; the child side (`wavesync __jsonnet`) drives libjsonnet
 * with an import callback confined to the exported tree. */
#include "source/jsonnet.h"

#include <errno.h>
#include <libjsonnet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "source/manifest.h"

#define JSONNET_MAX_STACK 500       /* libjsonnet's default depth of calls */
#define JSONNET_MAX_FILE (16u << 20) /* one source or imported file */
#define JSONNET_MAX_ARGS 4096

/* ---- the one-line error ----------------------------------------------------- */

void ws_jsonnet_error_line(char *buf, size_t len, const char *msg)
{
    const char *nl = strchr(msg, '\n'), *loc = NULL, *p;
    size_t head = nl ? (size_t)(nl - msg) : strlen(msg), loclen = 0;
    /* runtime errors: the first frame ("\tfile:line:col\tname") is where it failed */
    for (p = nl; p && *p; p = strchr(p + 1, '\n')) {
        const char *start = p + 1, *end;
        while (*start == '\t' || *start == ' ')
            start++;
        end = start + strcspn(start, "\t\n");
        if (end > start && memchr(start, ':', (size_t)(end - start)) && strncmp(start, "During", 6) != 0) {
            loc = start;
            loclen = (size_t)(end - start);
            break;
        }
    }
    while (head > 0 && (msg[head - 1] == ' ' || msg[head - 1] == '\r'))
        head--;
    if (loc)
        snprintf(buf, len, "%.*s: %.*s", (int)loclen, loc, (int)head, msg);
    else /* static errors carry "file:line:col" in their first line already */
        snprintf(buf, len, "%.*s", (int)head, msg);
}

/* ---- the child ------------------------------------------------------------- */

struct child_ctx {
    struct JsonnetVm *vm;
    char root[PATH_MAX];   /* the tree, symlinks resolved */
    const char *libs[64];  /* relative to root, "" = the root itself */
    size_t nlibs;
};

/* `path` (relative to the tree, the child's working folder) with symlinks
 * resolved, relative to the tree again; 0, -ENOENT, or -EXDEV when it leaves
 * the tree. Caller frees *out. */
static int confine(char **out, const struct child_ctx *c, const char *path)
{
    char real[PATH_MAX];
    size_t n = strlen(c->root);
    *out = NULL;
    if (!realpath(path, real))
        return -errno;
    if (strcmp(real, c->root) == 0)
        return (*out = strdup("")) ? 0 : -ENOMEM;
    if (strncmp(real, c->root, n) != 0 || real[n] != '/')
        return -EXDEV;
    return (*out = strdup(real + n + 1)) ? 0 : -ENOMEM;
}

/* The whole file into a buffer from `alloc` (libjsonnet's or malloc). */
static char *slurp(const char *path, struct JsonnetVm *vm, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf = NULL;
    size_t len;
    if (!f)
        return NULL;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > JSONNET_MAX_FILE) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    len = (size_t)st.st_size;
    buf = vm ? jsonnet_realloc(vm, NULL, len + 1) : malloc(len + 1);
    if (buf && fread(buf, 1, len, f) != len) {
        if (vm)
            jsonnet_realloc(vm, buf, 0);
        else
            free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        if (len_out)
            *len_out = len;
    }
    return buf;
}

static char *vm_strdup(struct JsonnetVm *vm, const char *s)
{
    size_t n = strlen(s);
    char *d = jsonnet_realloc(vm, NULL, n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static char *vm_printf(struct JsonnetVm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *vm_printf(struct JsonnetVm *vm, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vm_strdup(vm, msg);
}

/* libjsonnet's import callback: `base` is the importing file's folder as
 * libjsonnet knows it (relative to the tree, "" at its top), `rel` the import.
 * Relative to the importing file first, then each library folder, as the
 * jsonnet command's -J. What resolves outside the tree is refused, not
 * skipped: a later library cannot mask an escape. */
static char *import_cb(void *ctx, const char *base, const char *rel, char **found_here, int *success)
{
    struct child_ctx *c = ctx;
    char *cand = NULL, *inside = NULL, *data;
    size_t i;
    int rc;
    *success = 0;
    if (!*rel)
        return vm_printf(c->vm, "empty import path");
    if (rel[0] == '/')
        return vm_printf(c->vm, "absolute import paths are refused (imports stay inside the repository)");
    for (i = 0; i <= c->nlibs; i++) {
        const char *dir = i == 0 ? base : c->libs[i - 1];
        free(cand);
        if (asprintf(&cand, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", rel) < 0)
            return vm_printf(c->vm, "out of memory");
        /* lexically first: a path that leaves the tree is refused even when
           nothing is there, so an import cannot probe the host's files */
        rc = ws_repo_path_clean(&inside, cand);
        free(inside);
        inside = NULL;
        if (rc == WS_ENOMEM) {
            free(cand);
            return vm_printf(c->vm, "out of memory");
        }
        rc = rc < 0 ? -EXDEV : confine(&inside, c, cand);
        if (rc == -ENOENT || rc == -ENOTDIR)
            continue;
        if (rc == -EXDEV) {
            free(cand);
            return vm_printf(c->vm, "the import leaves the repository (refused)");
        }
        if (rc < 0) {
            free(cand);
            return vm_printf(c->vm, "cannot read it: %s", strerror(-rc));
        }
        break;
    }
    free(cand);
    if (!inside)
        return vm_printf(c->vm, "not found next to the importing file%s", c->nlibs ? " nor in the libraries" : "");
    if (!(data = slurp(inside, c->vm, NULL))) {
        char *msg = vm_printf(c->vm, "cannot read %s: %s", inside,
                              errno == EFBIG ? "not a file, or larger than 16 MiB" : strerror(errno));
        free(inside);
        return msg;
    }
    *found_here = vm_strdup(c->vm, inside);
    free(inside);
    if (!*found_here) {
        jsonnet_realloc(c->vm, data, 0);
        return vm_printf(c->vm, "out of memory");
    }
    *success = 1;
    return data;
}

static int print_error(const char *msg)
{
    char line[2000];
    json_t *o;
    ws_jsonnet_error_line(line, sizeof(line), msg);
    o = json_pack("{s:s}", "error", line);
    if (!o || json_dumpf(o, stdout, JSON_COMPACT) < 0)
        return 1;
    json_decref(o);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int child_usage(const char *why)
{
    fprintf(stderr, "wavesync __jsonnet: %s (internal command; not for use by hand)\n", why);
    return 2;
}

/* One "--ext-str K=V"-style option to the VM. */
static int set_var(struct JsonnetVm *vm, const char *opt, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    if (strcmp(opt, "--ext-str") == 0)
        jsonnet_ext_var(vm, kv, eq + 1);
    else if (strcmp(opt, "--ext-code") == 0)
        jsonnet_ext_code(vm, kv, eq + 1);
    else if (strcmp(opt, "--tla-str") == 0)
        jsonnet_tla_var(vm, kv, eq + 1);
    else if (strcmp(opt, "--tla-code") == 0)
        jsonnet_tla_code(vm, kv, eq + 1);
    else
        return -1;
    return 0;
}

int ws_jsonnet_main(int argc, char **argv)
{
    struct child_ctx c;
    json_t *results = NULL, *doc = NULL;
    int i, rc = 1;
    memset(&c, 0, sizeof(c));
    if (argc < 2)
        return child_usage("no tree given");
    if (!realpath(argv[1], c.root) || chdir(c.root) < 0)
        return child_usage("cannot enter the tree");
    if (!(c.vm = jsonnet_make()))
        return 1;
    jsonnet_max_stack(c.vm, JSONNET_MAX_STACK);
    jsonnet_import_callback(c.vm, import_cb, &c);
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc) {
            rc = child_usage("an option without its value");
            goto out;
        }
        if (strcmp(argv[i], "--lib") == 0) {
            char *lib = NULL;
            int r = confine(&lib, &c, argv[i + 1]);
            if (r == -EXDEV) {
                rc = print_error("directory.jsonnet.libs: a library folder resolves outside the repository");
                goto out;
            }
            /* a missing library folder is no error: imports just do not find it */
            if (r == 0 && c.nlibs < WS_ARRAY_SIZE(c.libs))
                c.libs[c.nlibs++] = lib;
            else
                free(lib);
        } else if (set_var(c.vm, argv[i], argv[i + 1]) < 0) {
            rc = child_usage("unknown option");
            goto out;
        }
    }
    if (!(results = json_array()))
        goto out;
    for (i++; i < argc; i++) {
        char *inside = NULL, *src, *res;
        int error = 0, r = confine(&inside, &c, argv[i]);
        json_t *value;
        json_error_t jerr;
        if (r < 0) {
            char msg[PATH_MAX + 100];
            snprintf(msg, sizeof(msg), "%s: %s", argv[i],
                     r == -EXDEV ? "resolves outside the repository (refused)" : strerror(-r));
            rc = print_error(msg);
            free(inside);
            goto out;
        }
        if (!(src = slurp(inside, NULL, NULL))) {
            char msg[PATH_MAX + 100];
            snprintf(msg, sizeof(msg), "%s: cannot read it (not a file, or larger than 16 MiB)", argv[i]);
            rc = print_error(msg);
            free(inside);
            goto out;
        }
        /* named as the repository names it: errors say "apps/x/main.jsonnet:3:5" */
        res = jsonnet_evaluate_snippet(c.vm, argv[i], src, &error);
        free(src);
        free(inside);
        if (error) {
            rc = print_error(res ? res : "evaluation failed");
            jsonnet_realloc(c.vm, res, 0);
            goto out;
        }
        value = json_loads(res, JSON_DECODE_ANY, &jerr);
        jsonnet_realloc(c.vm, res, 0);
        if (!value || json_array_append_new(results, json_pack("{s:s, s:o}", "file", argv[i], "value", value)) < 0)
            goto out;
    }
    if (!(doc = json_pack("{s:O}", "results", results)) || json_dumpf(doc, stdout, JSON_COMPACT) < 0 ||
        fflush(stdout) != 0)
        goto out;
    rc = 0;
out:
    for (size_t k = 0; k < c.nlibs; k++)
        free((char *)c.libs[k]);
    json_decref(results);
    json_decref(doc);
    jsonnet_destroy(c.vm);
    return rc;
}

/* ---- the parent ------------------------------------------------------------ */

/* One object of a file's result, through the manifest checks (List kinds
 * flattened there). `label` names it in errors. */
static int add_object(json_t *objects, const json_t *obj, const char *label, struct ws_err *err)
{
    char *text;
    int rc;
    if (json_is_object(obj) && json_object_size(obj) == 0)
        return 0; /* {}: nothing */
    if (!json_is_object(obj))
        return ws_err_set(err, WS_EINVAL, "%s: not an object (a Jsonnet file evaluates to an object or a list of objects)",
                          label);
    if (!(text = json_dumps(obj, JSON_COMPACT)))
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_manifest_parse(objects, text, strlen(text), label, err);
    free(text);
    return rc;
}

static int add_result(json_t *objects, const char *file, const json_t *value, struct ws_err *err)
{
    char label[PATH_MAX + 32];
    const json_t *item;
    size_t i;
    int rc;
    if (json_is_object(value))
        return add_object(objects, value, file, err);
    if (!json_is_array(value))
        return ws_err_set(err, WS_EINVAL, "%s: evaluates to %s, not an object or a list of objects", file,
                          json_is_string(value) ? "a string" : json_is_null(value) ? "null"
                          : json_is_boolean(value) ? "a boolean" : "a number");
    json_array_foreach(value, i, item) {
        snprintf(label, sizeof(label), "%s[%zu]", file, i);
        if ((rc = add_object(objects, item, label, err)) < 0)
            return rc;
    }
    return 0;
}

/* "--ext-str name=value" or "--ext-code …" for each entry. */
static int add_vars(const char **argv, char **owned, size_t *n, size_t *nowned, const json_t *vars,
                    const char *str_opt, const char *code_opt, struct ws_err *err)
{
    const json_t *v;
    size_t i;
    json_array_foreach(vars, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *value = json_string_value(json_object_get(v, "value"));
        char *kv;
        if (!name)
            continue;
        if (*n + 3 >= JSONNET_MAX_ARGS)
            return ws_err_set(err, WS_ELIMIT, "too many Jsonnet variables");
        if (asprintf(&kv, "%s=%s", name, value ? value : "") < 0)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        owned[(*nowned)++] = kv;
        argv[(*n)++] = json_is_true(json_object_get(v, "code")) ? code_opt : str_opt;
        argv[(*n)++] = kv;
    }
    return 0;
}

int ws_jsonnet_eval(json_t *objects, const struct ws_jsonnet_opts *o, struct ws_err *err)
{
    static const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", NULL};
    const char **argv = calloc(JSONNET_MAX_ARGS, sizeof(char *));
    char **owned = calloc(JSONNET_MAX_ARGS, sizeof(char *));
    struct ws_proc_opts po = {0};
    json_t *doc = NULL, *found = json_array(), *r;
    json_error_t jerr;
    const json_t *lib;
    char *out = NULL;
    size_t n = 0, nowned = 0, len = 0, i;
    int rc = 0;
    if (!argv || !owned || !found) {
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        goto out;
    }
    argv[n++] = o->self ? o->self : "/proc/self/exe";
    argv[n++] = "__jsonnet";
    argv[n++] = o->root;
    if ((rc = add_vars(argv, owned, &n, &nowned, o->ext_vars, "--ext-str", "--ext-code", err)) < 0 ||
        (rc = add_vars(argv, owned, &n, &nowned, o->tlas, "--tla-str", "--tla-code", err)) < 0)
        goto out;
    json_array_foreach(o->libs, i, lib) {
        if (json_is_string(lib) && n + 3 < JSONNET_MAX_ARGS) {
            argv[n++] = "--lib";
            argv[n++] = json_string_value(lib);
        }
    }
    argv[n++] = "--";
    for (i = 0; o->files[i]; i++) {
        if (n + 2 >= JSONNET_MAX_ARGS) {
            rc = ws_err_set(err, WS_ELIMIT, "more than %d Jsonnet files in one source", JSONNET_MAX_ARGS / 2);
            goto out;
        }
        argv[n++] = o->files[i];
    }
    argv[n] = NULL;
    po.argv = argv;
    po.env = env;
    po.cwd = o->root;
    po.name = "jsonnet";
    po.limits = o->limits;
    if (!po.limits.timeout_ms)
        po.limits.timeout_ms = WS_JSONNET_DEFAULT_TIMEOUT_MS;
    if (!po.limits.memory_bytes)
        po.limits.memory_bytes = WS_JSONNET_DEFAULT_MEMORY;
#if defined(__SANITIZE_ADDRESS__)
    /* the child is this (AddressSanitizer) binary: its shadow memory alone
       reserves terabytes of address space, so only time and CPU bound it */
    po.limits.memory_bytes = UINT64_MAX / 2;
#endif
    if (!po.limits.setting)
        po.limits.setting = "settings.tools.jsonnet";
    if ((rc = ws_proc_run_blocking(&out, &len, &po, err)) < 0)
        goto out;
    if (!(doc = json_loadb(out, len, 0, &jerr))) {
        rc = ws_err_set(err, WS_EIO, "jsonnet: unreadable result (%s)", jerr.text);
        goto out;
    }
    if ((r = json_object_get(doc, "error"))) {
        rc = ws_err_set(err, WS_EINVAL, "jsonnet: %s", json_string_value(r) ? json_string_value(r) : "failed");
        goto out;
    }
    json_array_foreach(json_object_get(doc, "results"), i, r) {
        const char *file = json_string_value(json_object_get(r, "file"));
        if ((rc = add_result(found, file ? file : "?", json_object_get(r, "value"), err)) < 0)
            goto out;
    }
    json_array_extend(objects, found);
out:
    for (i = 0; owned && i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    free(out);
    json_decref(doc);
    json_decref(found);
    return rc;
}
