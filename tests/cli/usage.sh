#!/bin/sh
# The hmmsim tool's command line: exit statuses (0 ran, 1 unreadable trace or
# check violation, 2 usage), stdin traces, --json, and identical output for
# identical input.
set -u
hmmsim=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect STATUS ARGS...: run hmmsim with ARGS (stdin from /dev/null) and check the status.
expect() {
	want=$1
	shift
	"$hmmsim" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: hmmsim $*: exit status $got, expected $want"
		sed 's/^/  stderr: /' "$tmp/err"
		fail=1
	fi
}

# has FILE TEXT: the last run's FILE (out or err) contains TEXT.
has() {
	if ! grep -q -- "$2" "$tmp/$1"; then
		echo "FAIL: std$1 lacks '$2':"
		sed 's/^/  /' "$tmp/$1"
		fail=1
	fi
}

expect 0 --help
has out "Usage: hmmsim"
expect 0 --version
has out "^hmmsim [0-9]"
expect 0 --commands
has out "mmap P R SIZE"
expect 0 scenario --list
has out "^default "
expect 0
has out "scenario 'default'"
expect 0 --check scenario default

expect 2 --bogus
has err "bad option"
expect 2 --profile
expect 2 --profile no-such-kernel
has err "unknown profile"
expect 2 --thp sometimes
expect 2 --ram 12Q
expect 2 --hugetlb-2m x
expect 2 frobnicate
has err "unknown command"
expect 2 run
has err "missing TRACE"
expect 2 run a b
expect 2 scenario
expect 2 scenario no-such-scenario
has err "unknown scenario"
expect 1 run "$tmp/no-such-file.trace"
has err "no-such-file.trace"

# A trace from stdin, names in diagnostics as <stdin>; bad lines are data, not failures.
printf 'proc p\nfrob\nproc p\n' >"$tmp/t.trace"
"$hmmsim" run - <"$tmp/t.trace" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 0 ] || { echo "FAIL: run - exited $status"; fail=1; }
printf 'ok\nerror EINVAL\nerror EINVAL\n' | diff -u - "$tmp/out" || fail=1
has err "^<stdin>:2: unknown command 'frob'"
has err "^<stdin>:3: process 'p' exists"

# --json: one object per command, each naming its line.
"$hmmsim" --json run "$tmp/t.trace" >"$tmp/out" 2>/dev/null
[ "$(wc -l <"$tmp/out")" = 3 ] || { echo "FAIL: --json line count"; fail=1; }
has out '^{"line":1,"cmd":"proc p","result":"ok"}$'
has out '^{"line":2,"cmd":"frob","result":"error","errno":"EINVAL"'

# The same input gives the same output, byte for byte.
for s in $("$hmmsim" scenario --list | cut -d' ' -f1); do
	"$hmmsim" scenario "$s" >"$tmp/a" 2>&1
	"$hmmsim" scenario "$s" >"$tmp/b" 2>&1
	cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL: scenario $s is not deterministic"; fail=1; }
	"$hmmsim" --check --json scenario "$s" >"$tmp/a" 2>"$tmp/err" ||
		{ echo "FAIL: scenario $s --check --json"; cat "$tmp/err"; fail=1; }
done

# random=N: the same seed, the same output; another seed, other pages.
printf 'proc p\nmmap p b 8M\nwrite p b 0 8M 1 random=300\nread p b 0 8M\ndevice g\ndev_read g p b 0 8M random=300\n' >"$tmp/r.trace"
"$hmmsim" --seed 1 run "$tmp/r.trace" >"$tmp/a" 2>&1
"$hmmsim" --seed 1 run "$tmp/r.trace" >"$tmp/b" 2>&1
cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL: --seed 1 twice differs"; fail=1; }
"$hmmsim" --seed 2 run "$tmp/r.trace" >"$tmp/b" 2>&1
cmp -s "$tmp/a" "$tmp/b" && { echo "FAIL: --seed 1 and --seed 2 give the same output"; fail=1; }
# set seed= restarts the generator: a trace that sets it ignores --seed.
{ echo 'set seed=9'; cat "$tmp/r.trace"; } >"$tmp/r9.trace"
"$hmmsim" --seed 1 run "$tmp/r9.trace" >"$tmp/a" 2>&1
"$hmmsim" --seed 2 run "$tmp/r9.trace" >"$tmp/b" 2>&1
cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL: set seed= does not restart the generator"; fail=1; }

exit $fail
