#!/usr/bin/env bash
# full.sh — with controllers, scheduler and kwok GPU nodes: a Deployment
# applied through the client becomes Available and a Job completes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cluster_up --full
"$WS_BUILDDIR/tests/e2e/e2e_kube" full
