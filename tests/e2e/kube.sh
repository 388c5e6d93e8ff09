#!/usr/bin/env bash
# kube.sh — the Kubernetes client against a real minimal control plane
# (etcd + kube-apiserver): auth forms, apply/get/delete, conflicts, discovery,
# watch, 500 concurrent applies, error reporting.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up
"$WS_BUILDDIR/tests/e2e/e2e_kube"
