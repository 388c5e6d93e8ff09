/* test_app.c — tests for reconciler/source/app.c: Argo CD Application fixtures
 * (tests/unit/data/app/ok_*.yaml, err_*.yaml) parsed with their position
 * mirror, every error checked for file:line and message, and the
 * repository path cleaner. */
#include "source/app.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/plan.h"
#include "tap.h"
#include "base/util.h"
#include "base/yaml.h"

static char data_dir[PATH_MAX];

static void find_data_dir(void)
{
    const char *src = getenv("WS_SRCDIR");
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/tests/unit/data/app", src && *src ? src : ".");
    if (!realpath(rel, data_dir))
        snprintf(data_dir, sizeof(data_dir), "%s", rel);
}

/* Parse the fixture's first non-empty document as an Application named by
 * the bare file name; with_pos = 0 parses without the position mirror. */
static int parse_fixture(struct ws_app *a, const char *file, int with_pos, struct ws_err *err)
{
    char path[PATH_MAX + 64], *buf = NULL;
    struct ws_yaml_stream st = {NULL, 0};
    size_t len = 0, i;
    int rc;
    memset(a, 0, sizeof(*a));
    snprintf(path, sizeof(path), "%s/%s", data_dir, file);
    ws_err_clear(err);
    if ((rc = ws_file_read(&buf, &len, path, 1 << 20, err)) < 0 ||
        (rc = ws_yaml_parse(&st, buf, len, file, NULL, err)) < 0) {
        tap_diag("cannot read fixture %s: %s", file, err->msg);
        free(buf);
        return WS_EIO;
    }
    free(buf);
    for (i = 0; i < st.ndocs && json_is_null(st.docs[i].value); i++)
        ;
    rc = i < st.ndocs ? ws_app_parse(a, st.docs[i].value, with_pos ? st.docs[i].pos : NULL, file, err)
                      : WS_EIO;
    ws_yaml_stream_free(&st);
    return rc;
}

static int is_zeroed(const struct ws_app *a)
{
    static const struct ws_app zero;
    return memcmp(a, &zero, sizeof(zero)) == 0;
}

static const char *param(const json_t *params, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(params, i), key));
}

/* --- ok fixtures ------------------------------------------------------------------ */

static int parse_ok(struct ws_app *a, const char *file)
{
    struct ws_err err;
    int rc = parse_fixture(a, file, 1, &err);
    if (!tap_ok(rc == 0, "%s: parses", file))
        tap_diag("  %s", err.msg);
    return rc == 0;
}

static void test_single_source(void)
{
    struct ws_app a;
    const struct ws_app_source *s;
    if (!parse_ok(&a, "ok_single_source.yaml"))
        return;
    s = &a.sources[0];
    tap_is_str(a.name, "train", "single: name");
    tap_is_str(a.file, "ok_single_source.yaml", "single: file");
    tap_is_int(a.line, 1, "single: line");
    tap_is_int(a.nsources, 1, "single: one source");
    tap_is_str(s->repo_url, "https://github.com/acme/ml-platform.git", "single: repoURL");
    tap_is_str(s->target_revision, "HEAD", "single: targetRevision defaults to HEAD");
    tap_is_str(s->path, "apps/train", "single: path cleaned");
    tap_ok(!s->has_directory && !s->has_helm && !s->has_kustomize && !s->has_plugin,
           "single: no source type block");
    tap_ok(s->chart == NULL && s->include == NULL && s->helm_values == NULL, "single: no extras");
    tap_is_str(a.dest_server, "https://kubernetes.default.svc", "single: destination server");
    tap_ok(a.dest_name == NULL, "single: no destination name");
    tap_is_str(a.dest_namespace, "training", "single: destination namespace");
    tap_is_str(a.project, "default", "single: project defaults to default");
    tap_ok(json_is_object(a.annotations) && json_object_size(a.annotations) == 0,
           "single: annotations {} when none");
    tap_ok(json_is_object(a.labels) && json_object_size(a.labels) == 0, "single: labels {} when none");
    tap_ok(!a.automated && !a.auto_prune && !a.self_heal && !a.allow_empty, "single: manual sync");
    tap_is_int(a.sync_options, 0, "single: no sync options");
    tap_is_int(a.retry_limit, 0, "single: no retries");
    tap_is_int(a.retry_backoff_ms, 5000, "single: backoff default 5s");
    tap_is_int(a.retry_factor, 2, "single: factor default 2");
    tap_is_int(a.retry_max_backoff_ms, 180000, "single: maxDuration default 3m");
    tap_is_int(a.wave_timeout_ms, 0, "single: no wave timeout");
    tap_ok(a.manifest_generate_paths == NULL, "single: no manifest-generate-paths");
    ws_app_free(&a);
    tap_ok(is_zeroed(&a), "single: free zeroes");
    ws_app_free(&a); /* twice is harmless */
}

static void test_multi_source(void)
{
    struct ws_app a;
    if (!parse_ok(&a, "ok_multi_source.yaml"))
        return;
    tap_is_int(a.nsources, 3, "multi: three sources");
    if (a.nsources == 3) {
        tap_is_str(a.sources[0].chart, "model-server", "multi: chart recorded");
        tap_is_str(a.sources[0].target_revision, "1.4.2", "multi: chart version");
        tap_is_str(a.sources[0].path, "", "multi: no path is the root");
        tap_ok(a.sources[0].has_helm, "multi: helm block");
        tap_is_str(a.sources[0].helm_value_files ? a.sources[0].helm_value_files[0] : NULL,
                   "$values/serving/values.yaml", "multi: value file with a $ref kept");
        tap_ok(a.sources[0].helm_value_files && !a.sources[0].helm_value_files[1],
               "multi: value files NULL-terminated");
        tap_is_str(a.sources[1].target_revision, "main", "multi: ref source revision");
        tap_is_str(a.sources[1].ref, "values", "multi: ref recorded");
        tap_ok(ws_app_source_ref_only(&a.sources[1]), "multi: a ref source without path renders nothing");
        tap_ok(!ws_app_source_ref_only(&a.sources[0]) && !ws_app_source_ref_only(&a.sources[2]),
               "multi: the others render");
        {
            const struct ws_app_source *to = NULL;
            const char *path = NULL;
            tap_is_int(ws_app_value_ref(&a, a.sources[0].helm_value_files[0], &to, &path), 0,
                       "multi: $values resolves");
            tap_ok(to == &a.sources[1], "multi: to the ref source");
            tap_is_str(path, "serving/values.yaml", "multi: path in its repository");
            tap_is_int(ws_app_value_ref(&a, "values.yaml", &to, &path), WS_ENOTFOUND, "multi: plain file is no ref");
        }
        tap_is_str(a.sources[2].path, "serving/extra", "multi: third path");
        tap_is_str(a.sources[2].target_revision, "7", "multi: a numeric revision becomes text");
    }
    tap_is_str(a.dest_name, "gpu-cluster", "multi: destination by name");
    tap_ok(a.dest_server == NULL, "multi: no destination server");
    tap_is_str(a.project, "ml", "multi: project");
    ws_app_free(&a);
}

static void test_directory_helm_kustomize(void)
{
    struct ws_app a;
    const struct ws_app_source *s;
    if (parse_ok(&a, "ok_directory.yaml")) {
        s = &a.sources[0];
        tap_ok(s->has_directory, "directory: block");
        tap_ok(s->recurse, "directory: recurse");
        tap_is_str(s->include, "{*.yaml,*.yml}", "directory: include");
        tap_is_str(s->exclude, "*-test.yaml", "directory: exclude");
        tap_is_str(s->target_revision, "v2.0.0", "directory: tag revision");
        tap_ok(a.dest_namespace == NULL, "directory: no destination namespace");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_helm.yaml")) {
        s = &a.sources[0];
        tap_ok(s->has_helm && !s->has_directory, "helm: block");
        tap_is_str(s->helm_release_name, "fs", "helm: releaseName");
        tap_is_str(s->helm_value_files ? s->helm_value_files[1] : NULL, "values-prod.yaml",
                   "helm: valueFiles");
        tap_is_int(json_array_size(s->helm_parameters), 3, "helm: three parameters");
        tap_is_str(param(s->helm_parameters, 0, "name"), "replicas", "helm: parameter name");
        tap_is_str(param(s->helm_parameters, 0, "value"), "3", "helm: a number value becomes text");
        tap_is_str(param(s->helm_parameters, 1, "value"), "2.1", "helm: string value");
        tap_ok(json_is_true(json_object_get(json_array_get(s->helm_parameters, 1), "forceString")),
               "helm: forceString kept");
        tap_is_str(param(s->helm_parameters, 2, "value"), "true", "helm: a boolean value becomes text");
        tap_ok(s->helm_values && strstr(s->helm_values, "resources:") && strstr(s->helm_values, "4Gi") &&
                   !strstr(s->helm_values, "ignored"),
               "helm: valuesObject serialised, and wins over values");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_helm_values_string.yaml")) {
        tap_is_str(a.sources[0].helm_values, "replicas: 2\nimage: {tag: \"2.1\"}\n",
                   "helm: values string kept as written");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_kustomize.yaml")) {
        s = &a.sources[0];
        tap_ok(s->has_kustomize, "kustomize: block");
        tap_is_str(s->kustomize_name_prefix, "prod-", "kustomize: namePrefix");
        tap_is_str(s->kustomize_name_suffix, "-v2", "kustomize: nameSuffix");
        tap_is_int(json_array_size(s->kustomize_images), 2, "kustomize: images");
        tap_is_str(json_string_value(json_array_get(s->kustomize_images, 1)), "triton:24.01",
                   "kustomize: image text");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_plugin.yaml")) {
        s = &a.sources[0];
        tap_ok(s->has_plugin, "plugin: has_plugin");
        tap_is_str(s->plugin_name, "cdk8s", "plugin: name");
        tap_is_int(json_array_size(s->plugin_env), 2, "plugin: env");
        tap_is_str(json_string_value(json_object_get(json_array_get(s->plugin_env, 1), "value")), "3",
                   "plugin: env value as text");
        tap_is_int(json_array_size(s->plugin_parameters), 2, "plugin: parameters kept");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_plugin_discover.yaml")) {
        tap_ok(a.sources[0].has_plugin && !a.sources[0].plugin_name, "plugin: {}: discovery (no name)");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_jsonnet.yaml")) {
        const json_t *v;
        s = &a.sources[0];
        tap_ok(s->has_directory && s->recurse, "jsonnet: a directory source");
        tap_is_int(json_array_size(s->jsonnet_ext_vars), 2, "jsonnet: extVars");
        v = json_array_get(s->jsonnet_ext_vars, 1);
        tap_ok(json_is_true(json_object_get(v, "code")) &&
                   strcmp(json_string_value(json_object_get(v, "value")), "2") == 0,
               "jsonnet: extVar code");
        v = json_array_get(s->jsonnet_tlas, 0);
        tap_ok(json_is_false(json_object_get(v, "code")) &&
                   strcmp(json_string_value(json_object_get(v, "value")), "3") == 0,
               "jsonnet: a TLA written as a number is text");
        tap_is_str(json_string_value(json_array_get(s->jsonnet_libs, 1)), "jsonnet-lib", "jsonnet: libs normalised");
        ws_app_free(&a);
    }
}

static void test_sync_policy(void)
{
    struct ws_app a;
    if (parse_ok(&a, "ok_automated.yaml")) {
        tap_ok(a.automated && a.auto_prune && a.self_heal && !a.allow_empty,
               "automated: prune and selfHeal");
        tap_ok((a.sync_options & WS_OPT_CREATE_NAMESPACE) != 0, "automated: CreateNamespace=true");
        tap_ok((a.sync_options & WS_OPT_PRUNE_LAST) != 0, "automated: PruneLast=true");
        tap_ok((a.sync_options & WS_OPT_SERVER_SIDE_APPLY) != 0, "automated: ServerSideApply=true");
        tap_ok((a.sync_options & WS_OPT_REPLACE) == 0, "automated: no Replace");
        tap_ok((a.sync_options & WS_OPT_RESPECT_IGNORE) != 0, "automated: RespectIgnoreDifferences=true");
        tap_ok(a.ignore == NULL && a.nignore == 0, "automated: no ignoreDifferences");
        tap_is_int(a.retry_limit, 5, "retry: limit");
        tap_is_int(a.retry_backoff_ms, 10000, "retry: duration 10s");
        tap_is_int(a.retry_factor, 3, "retry: factor");
        tap_is_int(a.retry_max_backoff_ms, 300000, "retry: maxDuration 5m");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_retry_defaults.yaml")) {
        tap_ok(a.automated && !a.auto_prune && !a.self_heal, "automated: {} turns automation on");
        tap_is_int(a.retry_limit, -1, "retry: a negative limit (unlimited) is kept");
        tap_is_int(a.retry_backoff_ms, 30000, "retry: a bare number of seconds");
        tap_is_int(a.retry_factor, 2, "retry: factor default");
        tap_is_int(a.retry_max_backoff_ms, 180000, "retry: maxDuration default");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_automated_disabled.yaml")) {
        tap_ok(!a.automated, "automated: enabled: false turns it off");
        tap_is_str(a.sources[0].path, "", "automated: no path is the root");
        ws_app_free(&a);
    }
}

static void test_annotations(void)
{
    struct ws_app a;
    if (parse_ok(&a, "ok_annotations.yaml")) {
        tap_is_int(a.wave_timeout_ms, 90000, "annotations: wave-timeout 90s");
        tap_is_str(a.manifest_generate_paths, ".;../shared", "annotations: manifest-generate-paths");
        tap_is_int(json_object_size(a.annotations), 3, "annotations: every annotation kept");
        tap_is_str(json_string_value(json_object_get(a.labels, "team")), "ml", "annotations: labels");
        tap_is_str(a.dest_name, "in-cluster", "annotations: destination name");
        ws_app_free(&a);
    }
    if (parse_ok(&a, "ok_unknown_spec_fields.yaml")) {
        tap_is_str(a.name, "tolerant", "lenient: Argo CD fields we do not use are ignored");
        tap_is_int(a.line, 2, "lenient: line of the document's first key");
        ws_app_free(&a);
    }
}

/* spec.ignoreDifferences: every entry as written, compiled (ignore.h). */
static void test_ignore_differences(void)
{
    static const char *deploy = "{\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\", \"metadata\": "
                                "{\"name\": \"triton\", \"namespace\": \"serving\"}, \"spec\": {\"template\": "
                                "{\"spec\": {\"containers\": [{\"name\": \"triton\"}, {\"name\": \"istio-proxy\"}]}}}}";
    struct ws_app a;
    json_t *obj;
    if (!parse_ok(&a, "ok_ignore_differences.yaml"))
        return;
    tap_ok((a.sync_options & WS_OPT_RESPECT_IGNORE) != 0, "ignore: RespectIgnoreDifferences=true");
    tap_is_int(a.nignore, 7, "ignore: seven entries");
    if (a.nignore == 7) {
        const struct ws_ignore_rule *r = a.ignore;
        /* the HPA classic */
        tap_is_str(r[0].group, "apps", "ignore[0]: group");
        tap_is_str(r[0].kind, "Deployment", "ignore[0]: kind");
        tap_ok(r[0].name == NULL && r[0].namespace_ == NULL, "ignore[0]: any name, any namespace");
        tap_is_int(r[0].npaths, 1, "ignore[0]: one path");
        tap_is_str(r[0].npaths ? r[0].paths[0].text : NULL, "/spec/replicas", "ignore[0]: the pointer");
        tap_is_int(r[0].nmanagers, 0, "ignore[0]: no managers");
        /* core group, name and namespace, an escaped pointer */
        tap_is_str(r[1].group, "", "ignore[1]: \"\" is the core group");
        tap_is_str(r[1].name, "model-credentials", "ignore[1]: name");
        tap_is_str(r[1].namespace_, "serving", "ignore[1]: namespace");
        tap_is_int(r[1].npaths, 2, "ignore[1]: two pointers");
        tap_is_str(r[1].npaths == 2 && r[1].paths[1].nsegs == 3 ? r[1].paths[1].segs[2].key : NULL,
                   "kubectl.kubernetes.io/last-applied-configuration", "ignore[1]: ~1 unescaped");
        /* group omitted: core, as Argo CD reads it */
        tap_is_str(r[2].group, "", "ignore[2]: no group is the core group");
        tap_is_str(r[2].npaths ? r[2].paths[0].text : NULL, ".data[\"generated.json\"]", "ignore[2]: jq text");
        /* jq with select */
        tap_is_int(r[3].npaths, 3, "ignore[3]: three jq paths");
        tap_is_int(r[4].npaths, 1, "ignore[4]: caBundle path");
        tap_is_str(r[5].group, "*", "ignore[5]: group *");
        tap_is_str(r[5].kind, "*", "ignore[5]: kind *");
        tap_is_int(r[5].nmanagers, 1, "ignore[5]: one manager");
        tap_is_str(r[5].nmanagers ? r[5].managers[0] : NULL, "kube-controller-manager", "ignore[5]: manager");
        tap_ok(r[6].name == NULL && r[6].npaths == 0, "ignore[6]: name \"\" is any name; an empty list");
    }
    obj = json_loads(deploy, 0, NULL);
    tap_is_int(ws_ignore_path(a.ignore, a.nignore, obj, "/spec/replicas"), 1, "ignore: HPA replicas ignored");
    tap_is_int(ws_ignore_path(a.ignore, a.nignore, obj, "/spec/template/spec/containers/1/image"), 1,
               "ignore: the istio-proxy container ignored");
    tap_is_int(ws_ignore_path(a.ignore, a.nignore, obj, "/spec/template/spec/containers/0/image"), 1,
               "ignore: the triton image ignored");
    tap_is_int(ws_ignore_path(a.ignore, a.nignore, obj, "/spec/template/spec/containers/0/name"), 0,
               "ignore: the triton name is not");
    tap_is_int(ws_ignore_manager(a.ignore, a.nignore, obj, "kube-controller-manager"), 1,
               "ignore: kube-controller-manager's fields for every kind");
    json_decref(obj);
    ws_app_free(&a);
    tap_ok(is_zeroed(&a), "ignore: free zeroes");
}

/* --- err fixtures ------------------------------------------------------------------ */

static void test_errors(void)
{
    static const struct {
        const char *file;
        int line;
        const char *msg;
    } rows[] = {
        {"err_not_mapping.yaml", 1, "expected an Application"},
        {"err_kind.yaml", 2, "kind \"ApplicationSet\" is not Application"},
        {"err_api_version.yaml", 1, "apiVersion \"argoproj.io/v1beta1\" is not argoproj.io/v1alpha1"},
        {"err_no_name.yaml", 3, "Application has no metadata.name"},
        {"err_no_spec.yaml", 1, "Application \"train\": spec is required"},
        {"err_no_source.yaml", 5, "Application \"train\": spec.source or spec.sources is required"},
        {"err_source_and_sources.yaml", 8, "spec.source and spec.sources are both set"},
        {"err_empty_sources.yaml", 6, "spec.sources must be a non-empty list"},
        {"err_no_repo_url.yaml", 9, "spec.sources[1].repoURL is required"},
        {"err_no_destination.yaml", 5, "Application \"train\": spec.destination is required"},
        {"err_destination_no_target.yaml", 9,
         "Application \"train\": spec.destination needs server or name"},
        {"err_destination_not_mapping.yaml", 8, "spec.destination must be a mapping"},
        {"err_server_and_name.yaml", 8, "spec.destination has both server and name"},
        {"err_path_escapes.yaml", 8, "spec.source: path \"../x\" escapes the repository"},
        {"err_path_absolute.yaml", 10, "spec.sources[1]: path \"/etc\" escapes the repository"},
        {"err_wave_timeout.yaml", 7, "wavesync.dev/wave-timeout: bad duration \"5 minutes\""},
        {"err_annotation_not_string.yaml", 6,
         "metadata.annotations[\"wavesync.dev/wave-timeout\"] must be a string"},
        {"err_retry_duration.yaml", 15,
         "spec.syncPolicy.retry.backoff.maxDuration: bad duration \"3 minutes\""},
        {"err_retry_factor.yaml", 13, "spec.syncPolicy.retry.backoff.factor must be a whole number"},
        {"err_retry_limit.yaml", 12, "spec.syncPolicy.retry.limit must be an integer"},
        {"err_sync_option.yaml", 13,
         "spec.syncPolicy.syncOptions[1]: sync option \"PruneLast\" is not Key=value"},
        {"err_automated_not_bool.yaml", 12, "spec.syncPolicy.automated.prune must be true or false"},
        {"err_jsonnet_lib_escapes.yaml", 13, "spec.source.directory.jsonnet.libs[1] \"../../etc\" escapes the repository"},
        {"err_jsonnet_var_no_name.yaml", 12, "spec.source.directory.jsonnet.extVars[0] needs a name"},
        {"err_jsonnet_code_not_bool.yaml", 14, "spec.source.directory.jsonnet.code must be true or false"},
        {"err_plugin_env_name.yaml", 13, "spec.source.plugin.env[1] needs a name of letters, digits and _"},
        {"err_plugin_parameter_no_name.yaml", 11, "spec.source.plugin.parameters[0] needs a name"},
        {"err_two_source_types.yaml", 6, "spec.source has more than one source type: helm kustomize"},
        {"err_target_revision_float.yaml", 9, "spec.source.targetRevision must be a string"},
        {"err_helm_parameter_no_name.yaml", 12, "spec.source.helm.parameters[1] needs a name"},
        {"err_helm_values_absolute.yaml", 12,
         "spec.source.helm.valueFiles[1] \"/etc/wavesync/kubeconfig\": only files of the repository may be values "
         "files (a path relative to spec.source.path, or \"$ref/path\" in another source); absolute paths and URLs "
         "are refused"},
        {"err_values_ref_unknown.yaml", 13,
         "spec.sources[0].helm.valueFiles[1] \"$settings/serving/values.yaml\" names no source: give one of "
         "spec.sources `ref: settings`"},
        {"err_values_ref_escapes.yaml", 12, "spec.sources[0].helm.valueFiles[0] \"$values/../x.yaml\" escapes the repository"},
        {"err_values_ref_bare.yaml", 12, "spec.sources[0].helm.valueFiles[0] \"$values\": a reference to another source is \"$ref/path\""},
        {"err_ref_name.yaml", 15, "spec.sources[1].ref \"val ues\": a ref is letters, digits, '-' and '_'"},
        {"err_ref_twice.yaml", 17, "spec.sources[2].ref \"values\" is also spec.sources[1]'s"},
        {"err_helm_values_url.yaml", 10, "spec.source.helm.valueFiles[0] \"http://169.254.169.254/latest/meta-data/\": "
                                         "only files of the repository"},
        {"err_helm_values_escapes.yaml", 12,
         "spec.source.helm.valueFiles[1] \"../../../../../../../root/.kube/config\" escapes the repository"},
        {"err_ignore_not_list.yaml", 10, "Application \"train\": spec.ignoreDifferences must be a list"},
        {"err_ignore_entry_not_mapping.yaml", 14, "spec.ignoreDifferences[1] must be a mapping"},
        {"err_ignore_unknown_key.yaml", 13,
         "spec.ignoreDifferences[0]: unknown key \"jsonPointer\" (group, kind, name, namespace, jsonPointers, "
         "jqPathExpressions, managedFieldsManagers)"},
        {"err_ignore_no_kind.yaml", 11, "spec.ignoreDifferences[0].kind is required"},
        {"err_ignore_pointer.yaml", 15,
         "spec.ignoreDifferences[0].jsonPointers[1]: JSON pointer \"spec/template\" must start with '/'"},
        {"err_ignore_pointer_escape.yaml", 12,
         "spec.ignoreDifferences[0].jsonPointers[0]: JSON pointer \"/data/a~2b\": '~' must be followed by 0 or 1"},
        {"err_ignore_pointers_not_list.yaml", 13, "spec.ignoreDifferences[0].jsonPointers must be a list"},
        {"err_ignore_jq.yaml", 15,
         "spec.ignoreDifferences[0].jqPathExpressions[1]: jq path expression "
         "\".spec.template.spec.containers[] | select(.name | startswith(\"istio\"))\" is not supported: "
         "select() takes one == or != comparison (no and/or, <, functions) at column 49"},
        {"err_ignore_jq_not_string.yaml", 14, "spec.ignoreDifferences[0].jqPathExpressions[0] must be a string"},
        {"err_ignore_group_braces.yaml", 11,
         "spec.ignoreDifferences[0].group \"{apps,batch}\": brace alternatives are not supported"},
        {"err_ignore_manager_empty.yaml", 13,
         "spec.ignoreDifferences[0].managedFieldsManagers[1]: a field manager name is empty"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        struct ws_app a;
        struct ws_err err;
        char prefix[256];
        int rc = parse_fixture(&a, rows[i].file, 1, &err);
        tap_ok(rc == WS_EINVAL, "%s: rejected", rows[i].file);
        snprintf(prefix, sizeof(prefix), "%s:%d: ", rows[i].file, rows[i].line);
        if (!tap_ok(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s: message starts with %s",
                    rows[i].file, prefix))
            tap_diag("  got \"%s\"", err.msg);
        tap_contains(err.msg, rows[i].msg, rows[i].file);
        tap_ok(is_zeroed(&a), "%s: failure leaves the app zeroed", rows[i].file);
    }
}

/* Without a position mirror errors still name the file, just not a line. */
static void test_without_positions(void)
{
    struct ws_app a;
    struct ws_err err;
    tap_is_int(parse_fixture(&a, "ok_helm.yaml", 0, &err), 0, "no mirror: parses");
    ws_app_free(&a);
    tap_is_int(parse_fixture(&a, "err_no_destination.yaml", 0, &err), WS_EINVAL,
               "no mirror: error");
    tap_is_str(err.msg, "err_no_destination.yaml: Application \"train\": spec.destination is required",
               "no mirror: file without a line");
    {
        json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}, s:{s:s}}}", "apiVersion",
                                "argoproj.io/v1alpha1", "kind", "Application", "metadata", "name",
                                "x", "spec", "source", "repoURL", "/srv/r", "destination", "name",
                                "c");
        tap_is_int(ws_app_parse(&a, obj, NULL, NULL, &err), 0, "no mirror, no file: parses");
        tap_is_str(a.file, "<input>", "no file: named <input>");
        ws_app_free(&a);
        json_decref(obj);
    }
}

/* --- ws_repo_path_clean ------------------------------------------------------------ */

static void test_path_clean(void)
{
    static const struct {
        const char *in, *want; /* want NULL: escapes */
    } rows[] = {
        {"", ""},
        {".", ""},
        {"./", ""},
        {"apps", "apps"},
        {"./apps/train/", "apps/train"},
        {"apps//train", "apps/train"},
        {"a/./b/.", "a/b"},
        {"a/../b", "b"},
        {"a/b/../../c", "c"},
        {"a/..", ""},
        {"a/b/..", "a"},
        {"a/b/../c/./d/", "a/c/d"},
        {"..a/b", "..a/b"},
        {"a/..b", "a/..b"},
        {"...", "..."},
        {"apps/.hidden", "apps/.hidden"},
        {"..", NULL},
        {"../x", NULL},
        {"./../x", NULL},
        {"a/../../x", NULL},
        {"a/b/../../..", NULL},
        {"/etc", NULL},
        {"/", NULL},
    };
    size_t i;
    char *out;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        int rc = ws_repo_path_clean(&out, rows[i].in);
        if (rows[i].want) {
            tap_ok(rc == 0, "path_clean \"%s\" ok", rows[i].in);
            tap_is_str(out, rows[i].want, rows[i].in);
        } else {
            tap_ok(rc == WS_EINVAL && out == NULL, "path_clean \"%s\" escapes", rows[i].in);
        }
        free(out);
    }
    tap_is_int(ws_repo_path_clean(&out, NULL), 0, "path_clean NULL ok");
    tap_is_str(out, "", "path_clean NULL is the root");
    free(out);
}

/* chart: sources — the targetRevision is a version or a constraint. */
static void test_chart_sources(void)
{
    static const struct {
        const char *rev; /* NULL: none written */
        const char *chart, *extra;
        const char *msg; /* NULL: parses */
    } rows[] = {
        {"1.2.3", "operator", "", NULL},
        {"^1.2", "operator", "", NULL},
        {">=1.0 <2.0", "operator", "", NULL},
        {"*", "operator", "", NULL},
        {NULL, "operator", "", "targetRevision is required with chart"},
        {"main", "operator", "", "targetRevision \"main\" is not a chart version or a version constraint"},
        {"1.0.0", "../operator", "", "chart must be a chart name"},
        {"1.0.0", "operator", "    kustomize: {namePrefix: x}\n", "only a helm block goes with it"},
    };
    size_t i;
    for (i = 0; i < WS_ARRAY_SIZE(rows); i++) {
        char text[1024];
        json_t *doc = NULL;
        struct ws_app a;
        struct ws_err err;
        int rc;
        snprintf(text, sizeof(text),
                 "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: op}\nspec:\n"
                 "  source:\n    repoURL: https://charts.example.com\n    chart: %s\n%s%s%s%s"
                 "  destination: {name: in-cluster}\n",
                 rows[i].chart, rows[i].rev ? "    targetRevision: \"" : "", rows[i].rev ? rows[i].rev : "",
                 rows[i].rev ? "\"\n" : "", rows[i].extra);
        ws_err_clear(&err);
        if (ws_yaml_parse_one(&doc, text, strlen(text), "chart.yaml", NULL, &err) < 0) {
            tap_ok(0, "chart source %zu: YAML (%s)", i, err.msg);
            continue;
        }
        rc = ws_app_parse(&a, doc, NULL, "chart.yaml", &err);
        if (!rows[i].msg) {
            tap_ok(rc == 0 && a.sources[0].chart && !strcmp(a.sources[0].target_revision, rows[i].rev),
                   "chart source \"%s\" parses (%s)", rows[i].rev, err.msg);
        } else {
            tap_ok(rc == WS_EINVAL, "chart source %zu refused", i);
            tap_contains(err.msg, rows[i].msg, "chart source: the message");
        }
        if (rc == 0)
            ws_app_free(&a);
        json_decref(doc);
    }
}

int main(void)
{
    find_data_dir();
    test_single_source();
    test_multi_source();
    test_chart_sources();
    test_directory_helm_kustomize();
    test_sync_policy();
    test_annotations();
    test_ignore_differences();
    test_errors();
    test_without_positions();
    test_path_clean();
    return tap_done();
}
