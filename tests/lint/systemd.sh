#!/usr/bin/env bash
# systemd.sh — deploy/systemd/wavesync.service.in, as `make install` fills it
# in, is a unit systemd accepts (`systemd-analyze verify`) with the hardening a
# network daemon should have (`systemd-analyze security --offline=yes`, an
# exposure of at most 1.5 on systemd's 0–10 scale), and keeps the settings
# the service relies on (Type=notify, the watchdog, the reload).
set -uo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
unit_in=$WS_SRCDIR/deploy/systemd/wavesync.service.in
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is not installed (Debian package systemd)"
	exit 0
fi
unit=$dir/wavesync.service
# ExecStart must name an executable that exists: the one just built
sed "s|@bindir@|$WS_BUILDDIR|g" "$unit_in" >"$unit"

# Documentation=man:wavesync(1) man:wavesync.yaml(5): the pages as installed
mkdir -p "$dir/man/man1" "$dir/man/man5"
cp "$WS_SRCDIR/docs/man/wavesync.1" "$dir/man/man1/" && cp "$WS_SRCDIR/docs/man/wavesync.yaml.5" "$dir/man/man5/"
out=$(cd "$dir" && MANPATH=$dir/man systemd-analyze verify "$unit" 2>&1)
ok $? "systemd-analyze verify accepts the unit (its Documentation= man pages included)"
[ -z "$out" ]
ok $? "systemd-analyze verify has nothing to say about it"
[ -n "$out" ] && diag "$out"

sec=$(cd "$dir" && systemd-analyze security --offline=yes "$unit" 2>&1)
score=$(sed -nE 's/.*Overall exposure level for wavesync.service: ([0-9.]+).*/\1/p' <<<"$sec")
diag "exposure: ${score:-?} (systemd-analyze security --offline=yes)"
(cd "$dir" && systemd-analyze security --offline=yes --threshold=15 "$unit" >/dev/null 2>&1)
ok $? "systemd-analyze security: exposure at most 1.5 (got ${score:-none})"

for want in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'DynamicUser=yes' 'StateDirectory=wavesync' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
	'CapabilityBoundingSet=' 'SystemCallFilter=@system-service' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
	grep -qxF -- "$want" "$unit" || grep -q "^${want//\$/\\\$}" "$unit"
	ok $? "the unit sets $want"
done
# what the hardening would break is what the service needs: it runs its own
# image again to reload (/proc/self/exe), and bounds its tools with setrlimit
grep -q '^ProcSubset=pid' "$unit" && ! grep -q '^SystemCallFilter=~.*@resources' "$unit"
ok $? "the hardening leaves /proc/self and setrlimit to the service"
tap_end
