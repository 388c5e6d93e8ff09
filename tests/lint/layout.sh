#!/usr/bin/env bash
# layout.sh — the source tree keeps the shape reconciler/README.md describes:
# every #include between reconciler/ folders goes down the layers (never up),
# every source file is built, and no merge or editor leftovers are tracked.
set -uo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
cd "$WS_SRCDIR" || exit 1

# Which folders each folder may include (itself implied). Keep in step with
# the table in reconciler/README.md.
declare -A may=(
	[base]=""
	[config]="base"
	[kube]="base config"
	[git]="base config"
	[health]="base config"
	[source]="base config git"
	[sync]="base config kube git health source"
	[live]="base config kube git health source sync"
	[serve]="base config kube git health source sync live"
	[cli]="base config kube git health source sync live serve"
)

tracked() { # the files under version control (every file, in an unpacked tarball)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files
	else
		find . -type f ! -path './.git/*' | sed 's#^\./##'
	fi
}

folders=$(cd reconciler && find . -mindepth 1 -maxdepth 1 -type d | sed 's#^\./##' | sort)
bad=""
for d in $folders; do
	[ -n "${may[$d]+x}" ] || { bad+="reconciler/$d is not in the layer table"$'\n'; continue; }
done
[ -z "$bad" ]
ok $? "every folder of reconciler/ has a place in the layers${bad:+: $bad}"

ups=""
while IFS=: read -r file line inc; do
	from=${file#reconciler/}; from=${from%%/*}
	to=${inc#*\"}; to=${to%%/*}
	[ "$to" = "$from" ] && continue
	case " ${may[$from]:-} " in *" $to "*) ;; *) ups+="$file:$line includes $to/ ($inc)"$'\n' ;; esac
done < <(grep -n '^#include "[a-z_]*/' reconciler/*/*.[ch] | sed -E 's/^([^:]+):([0-9]+):(.*)$/\1:\2:\3/')
[ -z "$ups" ]
ok $? "no file includes a higher layer"
[ -z "$ups" ] || printf '# %s\n' "$ups"

flat=$(grep -ln '^#include "[a-z_]*\.h"' reconciler/*/*.[ch] tests/unit/*/*.c tests/e2e/*.c bench/*.c 2>/dev/null |
	xargs -r grep -n '^#include "[a-z_]*\.h"' | grep -v '"autoconfig.h"\|"tap.h"\|"testjson.h"\|"loopsrv.h"')
[ -z "$flat" ]
ok $? "headers are included by folder (\"kube/kube.h\"), so the layer shows in the line"
[ -z "$flat" ] || printf '# %s\n' "$flat"

unbuilt=""
for f in reconciler/*/*.c reconciler/*/*.h; do
	grep -q "$f" Makefile.am || unbuilt+="$f "
done
[ -z "$unbuilt" ]
ok $? "every file under reconciler/ is in Makefile.am${unbuilt:+: $unbuilt}"

stray=$(tracked | grep -E '\.(orig|rej|bak|swp|swo)$|~$|(^|/)\.#|(^|/)#[^/]*#$' || true)
[ -z "$stray" ]
ok $? "no merge or editor leftovers (*.orig, *.rej, *~, *.swp, #*#) are tracked"
[ -z "$stray" ] || printf '# %s\n' $stray

tap_end
