#!/bin/sh
# summary.sh — print the run's closing line from automake's test-suite.log:
# "N passed, N failed[, N skipped]" (XFAIL counts as passed, XPASS and ERROR
# as failed). Exit status is left to the caller.
log=${1:-test-suite.log}
if [ ! -f "$log" ]; then
    echo "0 passed, 1 failed"
    exit 0
fi
num() { sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$log" | head -n 1; }
pass=$(num PASS); fail=$(num FAIL); skip=$(num SKIP)
xfail=$(num XFAIL); xpass=$(num XPASS); error=$(num ERROR)
passed=$(( ${pass:-0} + ${xfail:-0} ))
failed=$(( ${fail:-0} + ${xpass:-0} + ${error:-0} ))
if [ "${skip:-0}" -gt 0 ]; then
    echo "$passed passed, $failed failed, ${skip} skipped"
else
    echo "$passed passed, $failed failed"
fi
