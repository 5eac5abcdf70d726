/*
 * settings.c: command line and defaults. Flags are memcached's where the
 * meaning is the same (-p -l -s -a -c -m -I -t -b -v -C -o -h -V); the
 * rest are long options.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "sc.h"

struct settings settings;

enum {
	OPT_STATE = 256,
	OPT_SERVICE,
	OPT_STATE_DIR,
	OPT_SHARDS,
	OPT_OUTPUT_MAX,
	OPT_IDLE,
	OPT_DROP,
	OPT_STOP,
	OPT_VERIFY,
};

static const struct option longopts[] = {
	{ "port",		required_argument, NULL, 'p' },
	{ "listen",		required_argument, NULL, 'l' },
	{ "unix-socket",	required_argument, NULL, 's' },
	{ "unix-mask",		required_argument, NULL, 'a' },
	{ "conn-limit",		required_argument, NULL, 'c' },
	{ "memory-limit",	required_argument, NULL, 'm' },
	{ "max-item-size",	required_argument, NULL, 'I' },
	{ "threads",		required_argument, NULL, 't' },
	{ "listen-backlog",	required_argument, NULL, 'b' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "disable-cas",	no_argument,	   NULL, 'C' },
	{ "extended",		required_argument, NULL, 'o' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ "state",		required_argument, NULL, OPT_STATE },
	{ "service",		required_argument, NULL, OPT_SERVICE },
	{ "state-dir",		required_argument, NULL, OPT_STATE_DIR },
	{ "shards",		required_argument, NULL, OPT_SHARDS },
	{ "output-max",		required_argument, NULL, OPT_OUTPUT_MAX },
	{ "idle-timeout",	required_argument, NULL, OPT_IDLE },
	{ "drop-timeout",	required_argument, NULL, OPT_DROP },
	{ "stop-timeout",	required_argument, NULL, OPT_STOP },
	{ "verify-state",	no_argument,	   NULL, OPT_VERIFY },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shardcache [options]\n"
"A sharded, memcached-compatible cache whose data survives restarts.\n"
"\n"
"  -p, --port=NUM          TCP port to listen on (default 11211; 0: none)\n"
"  -l, --listen=ADDR       interface to listen on (default 127.0.0.1)\n"
"  -s, --unix-socket=PATH  listen on a unix socket (disables TCP unless -p)\n"
"  -a, --unix-mask=MASK    permissions of the unix socket, octal (0700)\n"
"  -c, --conn-limit=NUM    max simultaneous connections (default 1024);\n"
"                          over it: SERVER_ERROR too many connections\n"
"  -m, --memory-limit=MB   memory for items and tables, MiB (default 64)\n"
"  -I, --max-item-size=SZ  max item size, k/m suffix (default 1m)\n"
"  -t, --threads=NUM       worker threads (default: number of cores)\n"
"  -b, --listen-backlog=N  listen backlog (default 1024)\n"
"  -C, --disable-cas       do not keep CAS values (gets returns 0)\n"
"  -o, --extended=OPT      memcached-style option: idle_timeout=SECONDS\n"
"  -v, --verbose           more logging (repeat for more)\n"
"  -h, --help              this text\n"
"  -V, --version           print the version and exit\n"
"      --shards=NUM        number of shards, a power of two (default: the\n"
"                          power of two >= 4 x threads, reduced so each\n"
"                          shard holds at least 2 max-size items)\n"
"      --state=MODE        how items survive restarts (default adopt):\n"
"                          adopt: items live in shared-memory arenas,\n"
"                          adopted in place; copy: heap, checkpointed\n"
"                          at stop; none: a plain cache\n"
"      --verify-state      adopt: checksum arenas when sealing and check\n"
"                          them and all allocator metadata when adopting\n"
"                          (costs a pass over the state at stop and start)\n"
"      --service=NAME      state directory name (default shardcache)\n"
"      --state-dir=DIR     root of state directories (default\n"
"                          $SHMSTATE_DIR or /dev/shm/shmstate)\n"
"      --output-max=SZ     per-connection output cap: a client over it is\n"
"                          not read from until it drains (default 1m)\n"
"      --drop-timeout=S    close a client blocked at the output cap for\n"
"                          this long (default 30)\n"
"      --idle-timeout=S    close connections idle this long (0: never)\n"
"      --stop-timeout=S    on SIGTERM, wait this long for in-flight\n"
"                          requests before closing (default 5)\n"
"\n"
"Under shmsupervise or systemd, listening sockets come from LISTEN_FDS\n"
"(then -p, -l and -s are ignored) and READY=1 goes to NOTIFY_SOCKET.\n"
"SIGTERM or SIGINT: stop accepting, finish requests, checkpoint, exit 0.\n");
}

void
settings_defaults(struct settings *s)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(s, 0, sizeof(*s));
	s->port = 11211;
	strlcpy(s->addr, "127.0.0.1", sizeof(s->addr));
	s->unix_mode = 0700;
	s->threads = n > 0 ? (unsigned)n : 1;
	s->maxbytes = UINT64_C(64) << 20;
	s->item_max = UINT64_C(1) << 20;
	s->maxconns = 1024;
	s->backlog = 1024;
	s->wbuf_max = 1 << 20;
	s->drop_timeout = 30;
	s->stop_timeout = 5;
	s->state = SC_STATE_ADOPT;
	strlcpy(s->service, "shardcache", sizeof(s->service));
}

const char *
state_mode_name(int mode)
{
	switch (mode) {
	case SC_STATE_NONE:	return "none";
	case SC_STATE_COPY:	return "copy";
	case SC_STATE_ADOPT:	return "adopt";
	}
	return "?";
}

/* A size with an optional k/m/g suffix; unit multiplies a bare number. */
int
parse_size(const char *arg, uint64_t unit, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = unit;

	if (arg[0] < '0' || arg[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1024;
		end++;
		break;
	case 'm': case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g': case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static unsigned
num(const char *arg, long long min, long long max, const char *what)
{
	const char *errstr;
	long long v = strtonum(arg, min, max, &errstr);

	if (errstr != NULL) {
		fprintf(stderr, "shardcache: %s %s: %s\n", what, errstr, arg);
		exit(2);
	}
	return (unsigned)v;
}

static void
sizearg(const char *arg, uint64_t unit, uint64_t *out, const char *what)
{
	if (parse_size(arg, unit, out) < 0) {
		fprintf(stderr, "shardcache: bad %s: %s\n", what, arg);
		exit(2);
	}
}

int
settings_parse(struct settings *s, int argc, char **argv)
{
	int ch, port_set = 0, unix_set = 0;
	uint64_t v;
	char *end;

	while ((ch = getopt_long(argc, argv, "p:l:s:a:c:m:I:t:b:vCo:hV",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			s->port = (int)num(optarg, 0, 65535, "port");
			port_set = 1;
			break;
		case 'l':
			if (strlcpy(s->addr, optarg, sizeof(s->addr)) >=
			    sizeof(s->addr))
				errx(2, "listen address too long");
			break;
		case 's':
			if (strlcpy(s->unix_path, optarg,
			    sizeof(s->unix_path)) >= sizeof(s->unix_path))
				errx(2, "unix socket path too long");
			unix_set = 1;
			break;
		case 'a':
			errno = 0;
			s->unix_mode = (int)strtol(optarg, &end, 8);
			if (*end != '\0' || errno != 0 ||
			    s->unix_mode > 0777)
				errx(2, "bad unix socket mask: %s", optarg);
			break;
		case 'c':
			s->maxconns = num(optarg, 1, 1000000, "conn-limit");
			break;
		case 'm':
			sizearg(optarg, 1024 * 1024, &s->maxbytes,
			    "memory limit");
			break;
		case 'I':
			sizearg(optarg, 1, &s->item_max, "max item size");
			if (s->item_max < SC_ITEM_MIN_SIZE_MAX ||
			    s->item_max > SC_ITEM_MAX_SIZE_MAX)
				errx(2, "max item size must be 1k..1g");
			break;
		case 't':
			s->threads = num(optarg, 1, 256, "threads");
			break;
		case 'b':
			s->backlog = (int)num(optarg, 1, INT_MAX, "backlog");
			break;
		case 'v':
			s->verbose++;
			break;
		case 'C':
			s->cas_disabled = 1;
			break;
		case 'o':
			if (strncmp(optarg, "idle_timeout=", 13) != 0)
				errx(2, "unsupported -o option: %s", optarg);
			s->idle_timeout = num(optarg + 13, 0, 86400 * 365,
			    "idle_timeout");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("shardcache %s\n", SC_VERSION);
			exit(0);
		case OPT_STATE:
			if (strcmp(optarg, "none") == 0)
				s->state = SC_STATE_NONE;
			else if (strcmp(optarg, "copy") == 0)
				s->state = SC_STATE_COPY;
			else if (strcmp(optarg, "adopt") == 0)
				s->state = SC_STATE_ADOPT;
			else
				errx(2, "--state: none, copy or adopt");
			break;
		case OPT_SERVICE:
			if (strlcpy(s->service, optarg, sizeof(s->service)) >=
			    sizeof(s->service))
				errx(2, "service name too long");
			break;
		case OPT_STATE_DIR:
			if (strlcpy(s->state_dir, optarg,
			    sizeof(s->state_dir)) >= sizeof(s->state_dir))
				errx(2, "state directory path too long");
			break;
		case OPT_SHARDS:
			s->shards = num(optarg, 1, SC_SHARDS_MAX, "shards");
			if ((s->shards & (s->shards - 1)) != 0)
				errx(2, "--shards must be a power of two");
			break;
		case OPT_OUTPUT_MAX:
			sizearg(optarg, 1, &v, "output cap");
			if (v < 4096 || v > (UINT64_C(1) << 30))
				errx(2, "--output-max must be 4k..1g");
			s->wbuf_max = (size_t)v;
			break;
		case OPT_IDLE:
			s->idle_timeout = num(optarg, 0, 86400 * 365,
			    "idle-timeout");
			break;
		case OPT_DROP:
			s->drop_timeout = num(optarg, 1, 86400, "drop-timeout");
			break;
		case OPT_VERIFY:
			s->verify_state = 1;
			break;
		case OPT_STOP:
			s->stop_timeout = num(optarg, 0, 3600, "stop-timeout");
			break;
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (unix_set && !port_set)
		s->port = 0;
	if (s->maxbytes < (UINT64_C(1) << 20))
		errx(2, "memory limit below 1 MiB");
	if (s->item_max > s->maxbytes / 2)
		errx(2, "cannot set item size limit higher than 1/2 of memory "
		    "max");
	if (s->shards == 0) {
		s->shards = 1;
		while (s->shards < 4 * s->threads && s->shards < SC_SHARDS_MAX)
			s->shards <<= 1;
		while (s->shards > 1 &&
		    s->maxbytes / s->shards < 2 * s->item_max)
			s->shards >>= 1;
	} else if (s->maxbytes / s->shards < s->item_max)
		errx(2, "%u shards of %" PRIu64 " bytes cannot hold a %" PRIu64
		    "-byte item: fewer shards, more -m or less -I", s->shards,
		    s->maxbytes / s->shards, s->item_max);
	return 0;
}
