#!/usr/bin/env bash
# manpages.sh — the man pages, the example configuration and the bash completion
# agree with the binary, and `make install` puts them where they belong:
#  - every command, option and environment variable that `wavesync --help` and
#    `wavesync help COMMAND` print is in wavesync.1 (a command's options in its
#    own subsection, the global ones under GLOBAL OPTIONS), and the exit codes;
#  - every key of every table the configuration parser checks keys against
#    (reconciler/config/config.c, `*_keys[]`) is in wavesync.yaml.5, in that
#    table's subsection; the keys of README's configuration examples are too;
#  - groff and man report no warnings for either page;
#  - `make install DESTDIR=… prefix=/usr` stages the binary (which runs), both
#    pages (man finds and renders them), the example (which wavesync loads) and
#    the completion (which completes commands and options); uninstall removes all.
set -uo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
cd "$WS_SRCDIR" || exit 1

man1=docs/man/wavesync.1
man5=docs/man/wavesync.yaml.5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wavesync-manpages.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The roff source as plain text: \- is -, font changes and \& are dropped.
plain() { sed -E 's/\\-/-/g; s/\\f[BIRP]//g; s/\\&//g; s/\\\(dq/"/g' "$1"; }
# section FILE MACRO TITLE: the plain lines under `.SH TITLE` or `.SS "TITLE..."`
# (the heading's first word, or the whole title), up to the next heading.
section() {
	plain "$1" | awk -v m="$2" -v t="$3" '
		/^\.S[HS] / { h = $0; sub(/^\.S[HS] +"?/, "", h); sub(/"$/, "", h); w = h; sub(/ .*/, "", w)
			on = ($1 == "." m && (h == t || w == t)); next }
		on { print }'
}
# The options a help text names: -x, --long-name (at a word start).
options() { grep -oE '(^|[][ ,(|/])--?[a-zA-Z][a-zA-Z-]*' | sed -E 's/^[^-]//' | sort -u; }
has_opt() { grep -qE -- "(^|[^a-zA-Z0-9-])$1([^a-zA-Z0-9-]|\$)"; }

# ---- wavesync.1 against --help ------------------------------------------------
top=$("$WAVESYNC" --help 2>&1)
[ -n "$top" ] && grep -q '^commands:' <<<"$top"
ok $? "wavesync --help lists the commands"
commands=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' <<<"$top")
[ "$(wc -w <<<"$commands")" -ge 10 ]
ok $? "found $(wc -w <<<"$commands") commands in --help"

declare -A help # each command's help, asked once
for c in $commands; do help[$c]=$("$WAVESYNC" help "$c" 2>&1); done
every_help=$(printf '%s\n' "$top" "${help[@]}")

globals=$(sed -n '/^global options/,/^$/p' <<<"$top" | options)
gsec=$(section "$man1" SH "GLOBAL OPTIONS")
missing=""
for o in $globals; do has_opt "$o" <<<"$gsec" || missing+=" $o"; done
[ -n "$globals" ] && [ -z "$missing" ]
ok $? "every global option of --help ($(wc -w <<<"$globals")) is under GLOBAL OPTIONS in wavesync.1${missing:+ (missing:$missing)}"

missing="" nopts=0
for c in $commands; do
	sec=$(section "$man1" SS "$c")
	if [ -z "$sec" ]; then
		missing+=" $c(no subsection)"
		continue
	fi
	# the command's part of its help: usage, summary and options (global options after)
	own=$(sed '/^global options/,$d' <<<"${help[$c]}")
	for o in $(options <<<"$own"); do
		nopts=$((nopts + 1))
		has_opt "$o" <<<"$sec" || missing+=" $c:$o"
	done
	# its help's global part is the same as --help's
	[ "$(sed -n '/^global options/,$p' <<<"${help[$c]}" | options)" = "$globals" ] ||
		missing+=" $c(other global options)"
done
[ -z "$missing" ]
ok $? "every command has a subsection in wavesync.1 naming each option of its help ($nopts)${missing:+ (missing:$missing)}"

codes=$(sed -n '/^exit codes:/,/^$/p' <<<"$top" | grep -oE '(^|[ :,])[0-9]( |$)' | tr -dc '0-9\n' | sort -u)
esec=$(section "$man1" SH "EXIT STATUS")
missing=""
for n in $codes; do grep -qx ".B $n" <<<"$esec" || missing+=" $n"; done
[ "$(wc -w <<<"$codes")" -ge 4 ] && [ -z "$missing" ]
ok $? "every exit code of --help ($(echo $codes)) is under EXIT STATUS${missing:+ (missing:$missing)}"

envs=$(grep -oE '\$[A-Z][A-Z0-9_]+' <<<"$every_help" | tr -d '$' | sort -u)
nsec=$(section "$man1" SH ENVIRONMENT)
missing=""
for v in $envs; do grep -qE "^\.BR? .*\b$v\b" <<<"$nsec" || missing+=" $v"; done
[ -n "$envs" ] && [ -z "$missing" ]
ok $? "every environment variable the help names ($(echo $envs)) is under ENVIRONMENT${missing:+ (missing:$missing)}"

# README's command line reference names no option the binary does not have
readme_opts=$(sed -n '/^## Command line/,/^## /p' README.md | sed -n '/^```$/,/^```$/p' | options)
all_opts=$(options <<<"$every_help")
extra=""
for o in $readme_opts; do grep -qxF -- "$o" <<<"$all_opts" || extra+=" $o"; done
[ -n "$readme_opts" ] && [ -z "$extra" ]
ok $? "every option in README's command line reference is in the help${extra:+ (not there:$extra)}"

# ---- wavesync.yaml.5 against the parser ----------------------------------------
# Each key table's subsection in wavesync.yaml.5; a new table fails here until
# it has one.
declare -A where=(
	[top_keys]="Top level" [repo_keys]="repositories[]" [cred_keys]="repositories[].credentials"
	[webhook_keys]="repositories[].webhook" [status_keys]="repositories[].status"
	[cluster_keys]="clusters[]" [appdir_keys]="applications[]" [settings_keys]="settings"
	[tools_keys]="settings.tools"
	[tool_keys]="settings.tools.helm, settings.tools.kustomize, settings.tools.jsonnet"
	[server_keys]="server" [rate_keys]="server.rateLimit" [plugin_keys]="plugins[]"
	[discover_keys]="plugins[].discover" [health_keys]="health" [store_keys]="store"
)
cfg=reconciler/config/config.c
# table name, then its keys, one table a line: "repo_keys name url type ..."
tables=$(awk '
	/static const char \*const [a-z_]+_keys\[\] *= *\{/ { t = $0; sub(/.*const /, "", t); sub(/\[.*/, "", t); line = t; on = 1 }
	on { s = $0; sub(/^.*\{/, "", s); while (match(s, /"[^"]*"/)) { line = line " " substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) } }
	on && /\};/ { print line; on = 0 }' "$cfg")
used=$(grep -o 'check_keys(.*' "$cfg" | grep -oE '\b[a-z_]+_keys\b' | grep -vx check_keys | sort -u)
bad="" nkeys=0
for t in $used; do grep -q "^$t " <<<"$tables" || bad+=" $t(not found in $cfg)"; done
while read -r t keys; do
	grep -qx "$t" <<<"$used" || continue # a table no check_keys call uses
	if [ -z "${where[$t]+x}" ]; then
		bad+=" $t(add its subsection to tests/lint/manpages.sh)"
		continue
	fi
	sec=$(section "$man5" SS "${where[$t]}")
	[ -n "$sec" ] || { bad+=" ${where[$t]}(no subsection)"; continue; }
	for k in $keys; do
		nkeys=$((nkeys + 1))
		grep -qxF ".B $k" <<<"$sec" || bad+=" ${where[$t]}.$k"
	done
done <<<"$tables"
[ "$(wc -w <<<"$used")" -ge 10 ] && [ "$nkeys" -ge 50 ] && [ -z "$bad" ]
ok $? "every key of the parser's $(wc -w <<<"$used") key tables ($nkeys) is in its subsection of wavesync.yaml.5${bad:+ (missing:$bad)}"

# README's configuration examples use only keys the parser and the page know
readme_keys=$(sed -n '/^## Configuration/,/^## /p' README.md | sed -n '/^```yaml$/,/^```$/p' |
	grep -oE '^ *(- )?[a-zA-Z][a-zA-Z]*:' | sed -E 's/^ *(- )?//; s/:$//' | sort -u)
all_keys=$(cut -d' ' -f2- <<<"$tables" | tr ' ' '\n' | sort -u)
bad="" page5=$(plain "$man5")
for k in $readme_keys; do
	grep -qxF "$k" <<<"$all_keys" || bad+=" $k(not parsed)"
	grep -qxF ".B $k" <<<"$page5" || bad+=" $k(not in wavesync.yaml.5)"
done
[ -n "$readme_keys" ] && [ -z "$bad" ]
ok $? "README's wavesync.yaml examples ($(wc -w <<<"$readme_keys") keys) use only parsed, documented keys${bad:+:$bad}"

# ---- the pages format cleanly ---------------------------------------------------
version=$("$WAVESYNC" --version 2>&1)
bad=""
for p in "$man1" "$man5"; do grep -q "^\.TH .* \"$version\" " "$p" || bad+=" $p"; done
[ -z "$bad" ]
ok $? "the pages' title lines name this version (\"$version\")${bad:+ (not:$bad)}"
for p in "$man1" "$man5"; do
	out=$(groff -ww -z -man "$p" 2>&1)
	[ -z "$out" ]
	ok $? "groff -ww -man: no warnings for $p${out:+: $out}"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
	[ -z "$out" ]
	ok $? "man --warnings -l: no warnings for $p${out:+: $out}"
done

# ---- make install into a staging folder -------------------------------------------
stage=$tmp/stage
(cd "$WS_BUILDDIR" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make install DESTDIR="$stage" prefix=/usr) \
	>"$tmp/install.log" 2>&1
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/install.log" | tail -n 20
ok $rc "make install DESTDIR=… prefix=/usr"

bin=$stage/usr/bin/wavesync
ex=$stage/usr/share/doc/wavesync/examples/wavesync.yaml
comp=$(find "$stage" -path '*/bash-completion/completions/wavesync' -type f | head -n 1)
missing=""
for f in "$bin" "$stage/usr/share/man/man1/wavesync.1" "$stage/usr/share/man/man5/wavesync.yaml.5" "$ex"; do
	[ -f "$f" ] || missing+=" ${f#"$stage"}"
done
[ -n "$comp" ] || missing+=" …/bash-completion/completions/wavesync"
[ -z "$missing" ]
ok $? "staged: the binary, wavesync.1, wavesync.yaml.5, the example, the completion (${comp#"$stage"})${missing:+ (missing:$missing)}"

v=$("$bin" --version 2>&1) && [[ $v == "wavesync "[0-9]* ]] && "$bin" help sync >/dev/null 2>&1
ok $? "the installed binary runs: $v"

out=$(MANWIDTH=80 man -M "$stage/usr/share/man" 1 wavesync 2>&1) && grep -q 'GLOBAL OPTIONS' <<<"$out" &&
	out=$(MANWIDTH=80 man -M "$stage/usr/share/man" 5 wavesync.yaml 2>&1) && grep -q 'pollInterval' <<<"$out" &&
	out=$(MANWIDTH=80 man -l "$stage/usr/share/man/man1/wavesync.1" 2>&1) && grep -q 'EXIT STATUS' <<<"$out"
ok $? "man finds and renders the staged pages (man -M, man -l)"

# the example loads: every env: secret it names set, a file of one object
envs=$(grep -oE 'env:[A-Z_][A-Z0-9_]*' "$ex" | cut -d: -f2 | sort -u)
printf '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}}\n' >"$tmp/cm.json"
out=$(cd "$tmp" && env $(printf '%s=secret ' $envs) "$bin" --config "$ex" health cm.json 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q Healthy <<<"$out"
ok $? "wavesync loads the installed example configuration (wavesync --config … health, exit $rc)"
[ $rc -eq 0 ] || diag "$out"
sed 's/^  waveTimeout:/  waveTimout:/' "$ex" >"$tmp/typo.yaml"
out=$(cd "$tmp" && env $(printf '%s=secret ' $envs) "$bin" --config typo.yaml health cm.json 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q 'unknown key "waveTimout"' <<<"$out"
ok $? "the same with a misspelt key is refused (exit $rc), so the check above means something"

# the completion, as bash runs it: COMP_WORDS/COMP_CWORD and _wavesync
complete_words() { # WORD...: what the staged completion offers for the last word
	PATH=$stage/usr/bin:$PATH bash --norc --noprofile -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_wavesync && printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" | sort
}
got=$(complete_words wavesync "")
[ "$got" = "$(sort <<<"$commands")" ]
ok $? "completion: wavesync <TAB> offers every command of --help"
got=$(complete_words wavesync --config x.yaml tr)
[ "$got" = trigger ]
ok $? "completion: a global option's value is skipped (wavesync --config x.yaml tr<TAB> → ${got//$'\n'/ })"
bad=""
for c in $commands; do
	want=$("$bin" help "$c" 2>&1 | options) # the installed binary's
	[ "$(complete_words wavesync "$c" -)" = "$want" ] || bad+=" $c"
done
[ -z "$bad" ]
ok $? "completion: wavesync COMMAND -<TAB> offers that command's options, for every command${bad:+ (wrong:$bad)}"
got=$(complete_words wavesync sync --re)
[ "$got" = $'--ref\n--repo-dir\n--repository\n--revision' ]
ok $? "completion: wavesync sync --re<TAB> → ${got//$'\n'/ }"
got=$(complete_words wavesync help sta)$(complete_words wavesync -o "")
[ "$got" = $'statusjson\ntext' ]
ok $? "completion: command names after help, text|json after -o"

(cd "$WS_BUILDDIR" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make uninstall DESTDIR="$stage" prefix=/usr) \
	>"$tmp/uninstall.log" 2>&1
rc=$?
left=$(find "$stage" -type f)
[ $rc -eq 0 ] && [ -z "$left" ]
ok $? "make uninstall removes every installed file${left:+ (left: $left)}"

tap_end
