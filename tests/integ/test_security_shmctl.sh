#!/bin/sh
# shmctl(1) against hostile state and hostile arguments:
#  - no pointers in any output (list, --json, info, verify, errors of a
#    corrupted file): nothing that looks like a user-space address;
#  - names with "..", "/", a leading '.', control bytes and 10 KB of
#    length refused as usage errors by every command (NUL cannot be in an
#    argument; NUL in on-disk names is the fuzz targets' business);
#  - a service directory planted as a symlink, and rm through it, never
#    reach the target's files; a planted hard link is reported, not used;
#  - when root: a service of another uid is reported as foreign and left
#    alone by rm and gc.
# The control socket's refusal of other uids is in test_supervise_control.
set -u
: "${B:?}" "${SHMSTATE_DIR:?}"
C=$B/shmctl
H=$B/tests/integ/helper_ckpt
T=$(mktemp -d /tmp/test_secctl.XXXXXX)
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
run() { # run CMD...: stdout+stderr into $T/out, exit code into $rc
	"$@" >"$T/out" 2>&1
	rc=$?
}
# Addresses as a process prints them: 0x7f.../0x55.../0x56... with 12
# hex digits, with or without 0x. Checksums (16 digits) do not match.
no_pointers() {
	if grep -E -i -q '(^|[^0-9a-f])(0x)?(7f|55|56)[0-9a-f]{10}([^0-9a-f]|$)' \
	    "$T/out"; then
		cat "$T/out"
		fail "$1: output looks like it holds a pointer"
	fi
}

"$H" a=100000:7 b=5000:3 >/dev/null || fail "helper"
"$H" -s other q=10 >/dev/null || fail "helper other"

echo "== no pointers in output"
for args in "list" "list --json" "list svc" "info svc" "info svc/a" \
    "info svc/b" "verify" "verify svc" "gc svc" "status svc"; do
	run "$C" $args
	no_pointers "shmctl $args"
done
# A corrupted segment: errors and details must not leak either.
printf '\377\377\377\377' | dd of="$SHMSTATE_DIR/svc/ckpt.0000000000000001.b" \
    bs=1 seek=40 conv=notrunc 2>/dev/null
for args in "list svc" "list --json" "info svc/b" "verify svc"; do
	run "$C" $args
	no_pointers "shmctl $args (corrupt)"
done

echo "== hostile names"
long=$(head -c 10240 /dev/zero | tr '\0' a)
esc=$(printf 'a\033[2Jb')
nl=$(printf 'a\nb')
for name in .. ../etc a/../b /etc/passwd svc/../other .hidden "$long" \
    "$esc" "$nl" "svc/$long" "svc/../../etc/passwd"; do
	for cmd in info verify rm gc dump list status upgrade restart stop; do
		run "$C" $cmd "$name"
		case $rc in
		2) ;;
		1) grep -q -i 'invalid\|not found\|no such\|no segment' \
		    "$T/out" || { cat "$T/out"; fail "$cmd: unclear error"; } ;;
		*) cat "$T/out"; fail "shmctl $cmd <hostile name> exited $rc" ;;
		esac
		# The name is echoed escaped, if at all.
		if grep -q "$(printf '\033')" "$T/out"; then
			fail "$cmd: raw escape in output"
		fi
		[ "$(wc -c <"$T/out")" -lt 12000 ] ||
			fail "$cmd: echoed 10 KB back"
	done
done
[ -f /etc/passwd ] || fail "/etc/passwd gone"
[ -f "$SHMSTATE_DIR/other/manifest" ] || fail "other's state touched"

echo "== planted symlink service"
ln -s "$SHMSTATE_DIR/other" "$SHMSTATE_DIR/evil"
run "$C" list evil
[ $rc -ne 0 ] && grep -q symlink "$T/out" ||
	{ cat "$T/out"; fail "list through a symlinked service"; }
run "$C" rm --force evil
[ -f "$SHMSTATE_DIR/other/manifest" ] || fail "rm through a symlink"
[ -f "$SHMSTATE_DIR/other/ckpt.0000000000000001.q" ] ||
	fail "rm through a symlink removed a segment"
rm -f "$SHMSTATE_DIR/evil"

echo "== planted hard link"
ln "$SHMSTATE_DIR/svc/ckpt.0000000000000001.a" "$T/outside" 2>/dev/null &&
{
	run "$C" verify svc
	[ $rc -ne 0 ] || { cat "$T/out"; fail "verify passed a hard link"; }
	grep -q 'hard link' "$T/out" || { cat "$T/out"; fail "why not said"; }
	rm -f "$T/outside"
}

if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	echo "== another uid's service"
	chown -R nobody "$SHMSTATE_DIR/other"
	run "$C" list other
	grep -q -i 'owned by uid\|foreign' "$T/out" ||
		{ cat "$T/out"; fail "foreign service not reported"; }
	run "$C" rm --force other
	[ $rc -ne 0 ] || fail "rm of another uid's service succeeded"
	run "$C" gc other
	[ $rc -ne 0 ] || fail "gc of another uid's service succeeded"
	[ -f "$SHMSTATE_DIR/other/manifest" ] || fail "foreign state touched"
	chown -R root "$SHMSTATE_DIR/other"
else
	echo "skip: another uid's service (not root or no nobody)"
fi
echo "test_security_shmctl: ok"
