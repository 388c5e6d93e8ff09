#!/usr/bin/env bash
# bench/route.sh — routing a push: N applications (default 10000) × M changed
# paths (default 10000) through reconciler/source/route.c (target < 10 ms).
#
# Usage: bench/route.sh [N [M [R]]]
#
# Compiles bench/route_bench.c with reconciler/source/route.c, base/error.c and base/util.c
# (plain gcc -O2, no sanitizers) into a temporary directory and runs it. The
# program lays out N applications like a team monorepo (teams/tNN/appNNNN, some
# with overlays/prod, overlays/staging or chart below; 30% with
# argocd.argoproj.io/manifest-generate-paths: shared folders, relative
# "../common", chart-family globs, a per-team and a per-app glob), generates a
# push of M changed paths of depth 3-6 (about half inside applications, the
# rest in apps that do not exist, shared/, charts/, docs, CI files), then R
# times (default 50) builds the index and R times routes the push, timing each
# with CLOCK_MONOTONIC. It prints median, p90 (nearest rank) and max of both,
# the number of matched applications, ns per changed path and the peak RSS.
#
# Checked before a figure counts: every run returns the same sorted, unique
# ids, and 200 sampled applications (60 of them with manifest-generate-paths),
# each routed alone against the whole push, agree with the shared index. That
# per-app loop is the apps × paths way of routing; its time, extrapolated to N
# applications, is printed for comparison.
#
# Environment: CC (default gcc). Exits 0 when every check passed, 1 otherwise
# (also when the build fails); the target is reported, not enforced. Takes
# about a second for the defaults. No network, no files outside its temp dir.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=${SELF%/*/*}
N=${1:-10000}
M=${2:-10000}
R=${3:-50}
CC=${CC:-gcc}

die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}
for v in N M R; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number (got '${!v}')"
done
command -v "$CC" >/dev/null || die "$CC not found"

T=$(mktemp -d "${TMPDIR:-/tmp}/wavesync-bench-route.XXXXXX")
trap 'rm -rf -- "$T"' EXIT

BUILD=("$CC" -std=gnu11 -O2 -D_GNU_SOURCE -iquote "$REPO/reconciler" -o "$T/route_bench"
	"$REPO/reconciler/source/route.c" "$REPO/reconciler/base/error.c" "$REPO/reconciler/base/util.c"
	"$REPO/bench/route_bench.c")
"${BUILD[@]}" || die "compiling route_bench failed"

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cat <<EOF
== bench/route.sh: routing a push, $N applications x $M changed paths ==
machine:   $(nproc) CPUs, $CPU, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the run)
compiler:  $("$CC" --version | head -n 1)
source:    $REPO at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')
build:     ${BUILD[*]/#$T\//\$TMP/}
run:       \$TMP/route_bench $N $M $R
EOF
"$T/route_bench" "$N" "$M" "$R"
