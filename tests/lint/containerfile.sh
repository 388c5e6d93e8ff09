#!/usr/bin/env bash
# containerfile.sh — the Containerfile's runtime stage installs the package of
# every shared library the built wavesync links (ldd → dpkg -S), apart from
# those debian:bookworm-slim already has, and nothing else but
# ca-certificates: no -dev package, no compiler. Needs no container builder:
# it reads the Containerfile and asks this machine's dpkg, so it runs only on
# Debian bookworm (the release the Containerfile builds on) and is skipped
# elsewhere.
#
# The packages of debian:bookworm-slim: the image is debootstrap's minbase
# variant (Priority: required, plus apt) with documentation removed, so its
# packages are those with Priority: required here, apt, and what they depend on
# (Depends and Pre-Depends, followed through the installed packages).
set -uo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
cd "$WS_SRCDIR" || exit 1
CF=$WS_SRCDIR/Containerfile

# Packages that the runtime stage may install although wavesync links no
# library of theirs: the CA bundle libcurl and libgit2 verify TLS peers with.
NOT_LIBRARIES="ca-certificates"

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if ! command -v dpkg-query >/dev/null || [ "$codename" != bookworm ]; then
	echo "1..0 # SKIP not Debian bookworm (the Containerfile's release): cannot map libraries to its packages"
	exit 0
fi

# stages FILE: the stage names in order ("-" for an unnamed stage)
stages() {
	awk 'toupper($1) == "FROM" { n = "-"; for (i = 2; i < NF; i++) if (toupper($i) == "AS") n = $(i + 1); print n }' "$1"
}

# stage_packages FILE STAGE: the packages the stage's `apt-get install` lines name
stage_packages() {
	# continuation lines joined, comment lines inside a RUN dropped (as builders do)
	sed -E '/^[[:space:]]*#/d' "$1" | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' |
		awk -v want="$2" '
			toupper($1) == "FROM" { stage = "-"; for (i = 2; i < NF; i++) if (toupper($i) == "AS") stage = $(i + 1); next }
			stage != want { next }
			{
				for (i = 1; i < NF; i++) {
					if ($i != "apt-get" || $(i + 1) != "install") continue
					for (j = i + 2; j <= NF; j++) {
						if ($j == "&&" || $j == ";" || $j == "||" || $j ~ /;$/) break
						if ($j ~ /^-/) continue
						print $j
					}
				}
			}' | sort -u
}

# base_packages: what debian:bookworm-slim has (see the header)
base_packages() {
	dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Priority}\t${Pre-Depends}, ${Depends}\n' |
		awk -F'\t' '
			$1 !~ /^ii/ { next }
			{ inst[$2] = 1; deps[$2] = $4; if ($3 == "required") want[$2] = 1 }
			END {
				want["apt"] = 1
				do {
					added = 0
					for (p in want) {
						if (done[p]) continue
						done[p] = 1
						n = split(deps[p], alts, ",")
						for (i = 1; i <= n; i++) {
							m = split(alts[i], opts, "|")
							for (j = 1; j <= m; j++) {
								d = opts[j]; sub(/\(.*\)/, "", d); gsub(/[[:space:]]/, "", d); sub(/:any$/, "", d)
								if (d != "" && inst[d]) { if (!want[d]) { want[d] = 1; added = 1 } break }
							}
						}
					}
				} while (added)
				for (p in want) print p
			}' | sort -u
}

# lib_packages BINARY: "package library" for each shared library ldd lists;
# "? library" for one that no package owns or that is not found
lib_packages() {
	local list owners
	# the sanitizer runtimes of a --enable-sanitizers build are not the image's
	list=$(ldd "$1" | grep -Ev '/lib(a|ub|l|t)san\.so' |
		awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $2 == "=>" { print "?" $1; next } $1 ~ /^\// { print $1 }')
	# one dpkg -S for all (it reads every package's file list): each path as
	# ldd prints it, resolved, and on the other side of the /usr merge
	owners=$(while read -r lib; do
		case $lib in "?"*) continue ;; esac
		printf '%s\n' "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib"
	done <<<"$list" | sort -u | xargs dpkg -S 2>/dev/null | sed -E 's/^([^:,]+)[^ ]*: /\1 /')
	while read -r lib; do
		case $lib in "?"*) echo "? ${lib#\?} (not found)"; continue ;; esac
		pkg=$(awk -v a="$lib" -v b="$(readlink -f "$lib")" -v c="${lib#/usr}" -v d="/usr$lib" \
			'$2 == a || $2 == b || $2 == c || $2 == d { print $1; exit }' <<<"$owners")
		echo "${pkg:-?} $lib"
	done <<<"$list"
}

# missing FILE: the library packages the file's runtime stage lacks (one a line)
missing() {
	comm -23 <(awk '{ print $1 }' <<<"$libs" | sort -u) \
		<(sort -u <(stage_packages "$1" runtime) <(printf '%s\n' "$base"))
}

# ---------------------------------------------------------------------------
[ -f "$CF" ]
ok $? "Containerfile exists" || { tap_end; exit 1; }

names=$(stages "$CF")
want_stages="build tools runtime runtime-tools"
absent=""
for s in $want_stages; do grep -qx "$s" <<<"$names" || absent+="$s "; done
[ -z "$absent" ]
ok $? "the stages ${want_stages// /, } are there${absent:+ (missing: $absent)}"

# the last stage is the default target: it must be the slim runtime
last=$(tail -n 1 <<<"$names")
last_from=$(awk 'toupper($1) == "FROM" { f = $2 } END { print f }' "$CF")
[ "$last" = runtime ] || [ "$last_from" = runtime ]
ok $? "a build without --target gives the slim runtime (last stage: $last, from $last_from)"

libs=$(lib_packages "$WAVESYNC")
base=$(base_packages)
runtime_pkgs=$(stage_packages "$CF" runtime)
[ -n "$libs" ] && [ -n "$runtime_pkgs" ] && grep -qx libc6 <<<"$base" && grep -qx apt <<<"$base"
ok $? "ldd, dpkg and the Containerfile were read ($(wc -l <<<"$libs") libraries, $(wc -l <<<"$runtime_pkgs") runtime packages, $(wc -l <<<"$base") packages in bookworm-slim)"

unowned=$(grep '^?' <<<"$libs" || true)
[ -z "$unowned" ]
ok $? "every library wavesync links belongs to a Debian package"
[ -z "$unowned" ] || diag "$unowned"

miss=$(missing "$CF")
[ -z "$miss" ]
ok $? "the runtime stage installs the package of every library wavesync links that bookworm-slim lacks"
if [ -n "$miss" ]; then
	diag "add to the runtime stage's apt-get install line:" $miss
	diag "(from ldd $WAVESYNC:)" "$(grep -wF -f <(printf '%s\n' $miss) <<<"$libs")"
fi

# only libraries: each runtime package is one ldd led to (or ca-certificates)
extra=$(comm -23 <(printf '%s\n' "$runtime_pkgs") \
	<(sort -u <(awk '{ print $1 }' <<<"$libs") <(printf '%s\n' $NOT_LIBRARIES)))
[ -z "$extra" ]
ok $? "the runtime stage installs no package wavesync does not link${extra:+: $(echo $extra)}"

# already in the base image: listing them would hide nothing, but says the list is stale
dup=$(comm -12 <(printf '%s\n' "$runtime_pkgs") <(printf '%s\n' "$base"))
[ -z "$dup" ]
ok $? "the runtime stage lists no package bookworm-slim already has${dup:+: $(echo $dup)}"

dev=""
for s in $names; do
	case $s in build | tools) continue ;; esac
	dev+=$(stage_packages "$CF" "$s" | grep -E -- '-dev$|^build-essential$|^gcc|^g\+\+|^make$' | sed "s/^/$s:/")
done
[ -z "$dev" ]
ok $? "no -dev package or compiler in the runtime stages${dev:+: $(echo $dev)}"

# the build stage has every package configure.ac asks for
want_dev=$(grep -oE "install the Debian package '[a-z0-9.+-]+'|\[[a-z0-9][a-z0-9.+-]*-dev\]" configure.ac |
	sed -E "s/.*'([^']+)'/\1/; s/^\[(.*)\]$/\1/" | sort -u)
lack=$(comm -23 <(printf '%s\n' "$want_dev") <(stage_packages "$CF" build))
[ -n "$want_dev" ] && [ -z "$lack" ]
ok $? "the build stage installs every -dev package configure.ac names ($(wc -l <<<"$want_dev"))${lack:+; missing: $(echo $lack)}"

# The check itself: a Containerfile without one library package, or with a
# -dev package in the runtime stage, is caught.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
drop=$(comm -12 <(printf '%s\n' "$runtime_pkgs") <(awk '{ print $1 }' <<<"$libs" | sort -u) | head -n 1)
sed -E "s/([[:space:]])$drop([[:space:]]|\\\\|$)/\1\2/" "$CF" >"$tmp/Containerfile"
[ -n "$drop" ] && [ "$(missing "$tmp/Containerfile")" = "$(printf '%s\n' $drop $miss | sort -u)" ]
ok $? "a runtime stage without ${drop:-a library package} is reported as missing that"

sed -E "s/([[:space:]])ca-certificates([[:space:]]|$)/\1ca-certificates libuv1-dev\2/" "$CF" >"$tmp/Containerfile"
grep -qx libuv1-dev <(stage_packages "$tmp/Containerfile" runtime)
ok $? "the runtime package list is read as builders read it (a -dev package added to it is seen)"

# pins and labels
grep -q 'COPY tests/devcluster.d/helm/go.mod tests/devcluster.d/helm/go.sum' "$CF"
ok $? "helm is built from tests/devcluster.d/helm's go.mod and go.sum (the dev cluster's pin)"

grep -Eq 'ARG KUSTOMIZE_VERSION=v5\.[0-9]+\.[0-9]+$' "$CF"
ok $? "kustomize is pinned to a v5 release"

version=$(sed -nE 's/^AC_INIT\(\[wavesync\], \[([^]]+)\].*/\1/p' configure.ac)
grep -q "org.opencontainers.image.version=\"$version\"" "$CF"
ok $? "the image's version label is configure.ac's ($version)"

grep -q '^USER 65532:65532$' "$CF" && grep -q '^ENTRYPOINT \["wavesync"\]$' "$CF"
ok $? "the runtime runs wavesync as uid 65532"

ign=$WS_SRCDIR/.dockerignore
[ -f "$ign" ] && grep -qx '_build\*' "$ign" && grep -qx autom4te.cache "$ign" && grep -qx .git "$ign"
ok $? ".dockerignore leaves build folders, autom4te.cache and .git out of the context"

tap_end
