#!/bin/sh
# Checks the build's dependencies; installs them on Debian when run as root,
# otherwise stops with the exact command to run.
#   deps.sh build   libraries needed to build
#   deps.sh check   plus what the tests need
set -u
mode=${1:-build}

pkgs=""
need() { # pkg-config module or command, Debian package
	case $1 in
	cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 || pkgs="$pkgs $2" ;;
	*) pkg-config --exists "$1" 2>/dev/null || pkgs="$pkgs $2" ;;
	esac
}

command -v pkg-config >/dev/null 2>&1 || pkgs="$pkgs pkg-config"
command -v cc >/dev/null 2>&1 || pkgs="$pkgs build-essential"
need libbsd libbsd-dev
need libxxhash libxxhash-dev
if [ "$mode" = check ]; then
	need cmocka libcmocka-dev
	need cmd:mandoc mandoc
	need cmd:python3 python3
	# shardcache's client test uses Debian's pymemcache
	[ -d /usr/lib/python3/dist-packages/pymemcache ] ||
	    pkgs="$pkgs python3-pymemcache"
	need cmd:memccapable libmemcached-tools
	need cmd:nutcracker nutcracker
	# the supervisor's socket-activation test runs the real tool
	need cmd:systemd-socket-activate systemd
fi
[ -z "$pkgs" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing:$pkgs"
	export DEBIAN_FRONTEND=noninteractive
	if apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null; then
		# Packages installed after mandoc's database was built make
		# `mandoc -Tlint' report it outdated on every page that cites
		# them; rebuild it (man-db's triggers do not).
		! command -v makewhatis >/dev/null 2>&1 ||
		    makewhatis /usr/share/man 2>/dev/null || :
		exit 0
	fi
	echo "deps: apt-get failed" >&2
	exit 1
fi
echo "deps: missing packages; run as root:" >&2
echo "  apt-get install$pkgs" >&2
exit 1
