#!/bin/sh
# autogen.sh — generate ./configure from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force --warnings=all,no-override >/dev/null
echo "autogen.sh: now run ./configure && make"
