#!/bin/sh
# Golden-file test of the hmmsim tool.
#
#   run-golden.sh HMMSIM trace DIR/NAME.trace
#	runs `hmmsim [ARGS] run --check NAME.trace` in DIR, where ARGS is what the
#	trace's "# args:" line says, and compares stdout with NAME.out and
#	stderr with NAME.err (or nothing when there is no NAME.err);
#   run-golden.sh HMMSIM scenario NAME DIR
#	runs `hmmsim --check scenario NAME` and compares with DIR/NAME.out.
#
# The exit status must be 0, or what a "# status:" line says. With
# HMMSIM_REGEN=1 the expected files are rewritten instead: review the diff
# by hand against DESIGN.md and the kernel before keeping it.
set -u
hmmsim=$1
mode=$2
case $hmmsim in
/*) ;;
*) hmmsim=$PWD/$hmmsim ;;
esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ "$mode" = trace ]; then
	dir=$(dirname "$3")
	name=$(basename "$3" .trace)
	cd "$dir" || exit 1
	args=$(sed -n 's/^# args: *//p' "$name.trace" | head -n 1)
	want=$(sed -n 's/^# status: *//p' "$name.trace" | head -n 1)
	# shellcheck disable=SC2086 # ARGS are words on purpose
	"$hmmsim" $args run --check "$name.trace" >"$tmp/out" 2>"$tmp/err"
	status=$?
else
	name=$3
	cd "$4" || exit 1
	want=
	"$hmmsim" --check scenario "$name" >"$tmp/out" 2>"$tmp/err"
	status=$?
fi
want=${want:-0}

if [ "${HMMSIM_REGEN:-0}" = 1 ]; then
	cp "$tmp/out" "$name.out"
	if [ -s "$tmp/err" ]; then
		cp "$tmp/err" "$name.err"
	else
		rm -f "$name.err"
	fi
	echo "regenerated $name.out (status $status)"
	[ "$status" = "$want" ]
	exit
fi

fail=0
if [ "$status" != "$want" ]; then
	echo "$name: exit status $status, expected $want"
	fail=1
fi
if ! diff -u "$name.out" "$tmp/out"; then
	echo "$name: stdout differs from $name.out"
	fail=1
fi
if [ -f "$name.err" ]; then
	diff -u "$name.err" "$tmp/err" || { echo "$name: stderr differs from $name.err"; fail=1; }
elif [ -s "$tmp/err" ]; then
	echo "$name: unexpected stderr:"
	cat "$tmp/err"
	fail=1
fi
exit $fail
