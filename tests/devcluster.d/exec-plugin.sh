#!/usr/bin/env bash
# Exec credential plugin for a tests/devcluster cluster (copied to DIR/exec-plugin by `up`).
#
# Prints a client.authentication.k8s.io ExecCredential whose status.token is the
# contents of DIR/exec-token (user "exec-admin", group system:masters) and whose
# expirationTimestamp is ~1h ahead. Every invocation appends one line to
# DIR/exec-plugin.calls so tests can count calls and check credential caching.
#
# Knobs (e.g. via the kubeconfig's exec.env or the caller's environment):
#   DEVCLUSTER_EXEC_TTL=SECONDS   lifetime of the credential (default 3600)
#   DEVCLUSTER_EXEC_NO_EXPIRY=1   omit expirationTimestamp
#   DEVCLUSTER_EXEC_TOKEN=TOKEN   hand out this token instead of DIR/exec-token
#   a file DIR/exec-plugin.fail   makes the plugin fail (exit 1, its content on stderr)
set -euo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# KUBERNETES_EXEC_INFO is optional; when present, answer in the apiVersion it asks for.
api=client.authentication.k8s.io/v1
interactive=unknown
if [[ -n ${KUBERNETES_EXEC_INFO:-} ]]; then
	if [[ $KUBERNETES_EXEC_INFO =~ \"apiVersion\":[[:space:]]*\"(client\.authentication\.k8s\.io/[a-z0-9]+)\" ]]; then
		api=${BASH_REMATCH[1]}
	fi
	if [[ $KUBERNETES_EXEC_INFO =~ \"interactive\":[[:space:]]*(true|false) ]]; then
		interactive=${BASH_REMATCH[1]}
	fi
fi

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '%s pid=%s api=%s interactive=%s exec_info=%s\n' "$now" "$$" "$api" "$interactive" \
	"$([[ -n ${KUBERNETES_EXEC_INFO:-} ]] && echo yes || echo no)" >>"$dir/exec-plugin.calls"

if [[ -e $dir/exec-plugin.fail ]]; then
	echo "devcluster exec-plugin: failing on purpose ($dir/exec-plugin.fail exists)" >&2
	cat "$dir/exec-plugin.fail" >&2 || true
	exit 1
fi

token=${DEVCLUSTER_EXEC_TOKEN:-$(<"$dir/exec-token")}
ttl=${DEVCLUSTER_EXEC_TTL:-3600}
expiry=""
if [[ -z ${DEVCLUSTER_EXEC_NO_EXPIRY:-} ]]; then
	expiry=$(date -u -d "@$(($(date +%s) + ttl))" +%Y-%m-%dT%H:%M:%SZ)
	expiry=",\"expirationTimestamp\":\"$expiry\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}\n' "$api" "$token" "$expiry"
