/* sync_options.h — Argo CD's sync-options vocabulary: the
 * argocd.argoproj.io/sync-options annotation on an object and
 * spec.syncPolicy.syncOptions on an Application. Pure parsing. */
#ifndef WS_SYNC_OPTIONS_H
#define WS_SYNC_OPTIONS_H

#include <jansson.h>

#include "base/error.h"

/* Sync options (argocd.argoproj.io/sync-options on an object, or
 * spec.syncPolicy.syncOptions on the Application). */
#define WS_OPT_PRUNE_FALSE 0x001      /* Prune=false: never prune this object */
#define WS_OPT_DELETE_FALSE 0x002     /* Delete=false: keep it when the app is deleted */
#define WS_OPT_REPLACE 0x004          /* Replace=true: replace instead of apply */
#define WS_OPT_FORCE 0x008            /* Force=true: delete and recreate on an immutable-field error */
#define WS_OPT_VALIDATE_FALSE 0x010   /* Validate=false: no schema validation (fieldValidation=Ignore) */
#define WS_OPT_PRUNE_LAST 0x020       /* PruneLast=true: prune after every other prune */
#define WS_OPT_OUT_OF_SYNC_ONLY 0x040 /* ApplyOutOfSyncOnly=true */
#define WS_OPT_CREATE_NAMESPACE 0x080 /* CreateNamespace=true (Application-level) */
#define WS_OPT_SKIP_DRY_RUN 0x100     /* SkipDryRunOnMissingResource=true */
#define WS_OPT_SERVER_SIDE_APPLY 0x200 /* ServerSideApply=true (always on here; accepted) */
#define WS_OPT_RESPECT_IGNORE 0x400   /* RespectIgnoreDifferences=true: ignored fields keep their live values */
#define WS_OPT_RESPECT_IGNORE_FALSE 0x800 /* RespectIgnoreDifferences=false on an object: not for this one */

/* Parse "Prune=false,Replace=true" (also a JSON array of such strings when
 * given through ws_sync_options_parse_list). Unknown keys are ignored as Argo
 * CD ignores them; a token without '=' or a known key with a value other than
 * true/false is an error naming the token. Tokens are trimmed, empty ones
 * skipped; keys and values are case-insensitive. Prune=confirm and
 * Delete=confirm (Argo CD ≥ 2.6) count as Prune=false / Delete=false: there is
 * no confirmation step. ORs into *flags, which is unchanged on error. */
int ws_sync_options_parse(unsigned *flags, const char *s, struct ws_err *err);
int ws_sync_options_parse_list(unsigned *flags, const json_t *list, struct ws_err *err);

#endif
