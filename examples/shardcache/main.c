/*
 * main.c: shardcache startup and shutdown.
 *
 * Order: settings; listening sockets (passed through LISTEN_FDS by
 * shmsupervise or systemd, else our own -l/-p/-s); the store; the state
 * backend adopts the previous state; workers start; READY=1. SIGTERM or
 * SIGINT: STOPPING=1, workers stop accepting and finish in-flight
 * requests, the backend checkpoints, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/string.h>

#include "shmstate.h"
#include "sc.h"

static struct server srv;
static int own_unix;

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void
add_lfd(int fd)
{
	if (srv.nlfds == SC_LISTEN_MAX)
		fatalx("more than %d listening sockets", SC_LISTEN_MAX);
	if (set_nonblock(fd) < 0)
		fatal("listening socket %d", fd);
	srv.lfds[srv.nlfds++] = fd;
}

static void
listen_tcp(void)
{
	struct addrinfo hints, *res, *ai;
	char port[16];
	int fd, one = 1, rc, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", settings.port);
	rc = getaddrinfo(settings.addr[0] ? settings.addr : NULL, port,
	    &hints, &res);
	if (rc != 0)
		fatalx("listen address %s: %s", settings.addr,
		    gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, settings.backlog) < 0) {
			log_warn("bind/listen %s port %d", settings.addr,
			    settings.port);
			close(fd);
			continue;
		}
		add_lfd(fd);
		n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		fatalx("cannot listen on %s port %d", settings.addr,
		    settings.port);
}

static void
listen_unix(void)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, settings.unix_path, sizeof(sun.sun_path));
	/* Remove a stale socket, never another kind of file. */
	if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket");
	old = umask((mode_t)(~settings.unix_mode & 0777));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("bind %s", sun.sun_path);
	umask(old);
	if (listen(fd, settings.backlog) < 0)
		fatal("listen %s", sun.sun_path);
	add_lfd(fd);
	own_unix = 1;
}

static void
open_listeners(void)
{
	struct shms_listen_fd *fds = NULL;
	int n, i, type;
	socklen_t len = sizeof(type);

	n = shms_listen_fds_alloc(&fds, SHMS_LISTEN_UNSETENV);
	if (n < 0)
		fatalx("LISTEN_FDS: %s", shms_strerror(n));
	if (n > 0) {
		/* Connections handed over come along; the rest listen. */
		handoff_take(&srv, fds, n);
		for (i = 0; i < n; i++) {
			if (fds[i].fd < 0)
				continue;
			if (getsockopt(fds[i].fd, SOL_SOCKET, SO_TYPE, &type,
			    &len) < 0 || type != SOCK_STREAM) {
				log_warnx("passed fd %d (%s) is not a stream "
				    "socket; ignored", fds[i].fd, fds[i].name);
				continue;
			}
			add_lfd(fds[i].fd);
		}
		free(fds);
		if (srv.nlfds == 0)
			fatalx("no usable socket in LISTEN_FDS");
		log_info("serving %u passed socket(s)", srv.nlfds);
		return;
	}
	if (settings.port > 0)
		listen_tcp();
	if (settings.unix_path[0] != '\0')
		listen_unix();
	if (srv.nlfds == 0)
		fatalx("nothing to listen on: give -p, -s or LISTEN_FDS");
}

/* Room for -c connections plus listeners, state files and stdio. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)settings.maxconns + 64 + SC_SHARDS_MAX / 4;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		log_warnx("open files limit %lu is below what -c %u needs "
		    "(%lu): connections may fail to be accepted",
		    (unsigned long)rl.rlim_cur, settings.maxconns,
		    (unsigned long)want);
}

int
main(int argc, char **argv)
{
	const char *ns;
	sigset_t set;
	int sig, rc;

	settings_defaults(&settings);
	settings_parse(&settings, argc, argv);
	log_init(settings.verbose);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Every thread inherits the mask; only sigwait() below sees them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	srv.started = sc_now();
	pthread_mutex_init(&srv.stats_lock, NULL);
	pthread_mutex_init(&srv.park_lock, NULL);
	/* Supervised: connections outlive us (handoff.c). */
	ns = getenv("NOTIFY_SOCKET");
	srv.handoff = ns != NULL && ns[0] != '\0';
	open_listeners();
	if (store_init(&srv.store, settings.shards, settings.maxbytes,
	    settings.item_max) < 0)
		fatalx("cannot allocate %u shards", settings.shards);
	srv.store.cas_disabled = settings.cas_disabled;
	srv.state = state_ops(settings.state);
	if (srv.state->open(&srv) < 0) {
		srv.state->close(&srv);
		fatalx("state backend %s failed to start", srv.state->name);
	}
	/*
	 * READY before the workers run: connections handed over to us are
	 * not read from until then, so that if we fail before READY the
	 * supervisor can give them back to our predecessor as they were.
	 * New connections wait in the listen backlog meanwhile.
	 */
	(void)shms_notifyf("READY=1\nSTATUS=serving, state %s, restart %s\n"
	    "X_SHMS_ADOPT_US=%" PRIu64, srv.state->name,
	    srv.state_info.restart, srv.state_info.adopt_ns / 1000);
	if ((rc = workers_start(&srv)) < 0)
		fatalx("starting workers: %s", strerror(-rc));
	log_info("ready: %u threads, %u shards, %" PRIu64 " MiB, max item %"
	    PRIu64 " bytes, state %s (%s)", srv.nworkers, srv.store.nshards,
	    settings.maxbytes >> 20, settings.item_max, srv.state->name,
	    srv.state_info.restart);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		log_info("SIGHUP ignored");
	}
	log_info("stopping on signal %d", sig);
	(void)shms_notify("STOPPING=1");
	workers_stop(&srv);
	/* Before the checkpoint: its notification may start our successor. */
	handoff_send(&srv);
	rc = srv.state->save(&srv);
	srv.state->close(&srv);
	/*
	 * Saved and released (the service lock is free): the supervisor
	 * starts our successor now, while our exit tears down the mappings.
	 */
	if (rc >= 0 && settings.state != SC_STATE_NONE)
		(void)shms_notifyf("X_SHMS_CHECKPOINT_US=%" PRIu64,
		    srv.state_info.last_ckpt_ns / 1000);
	/*
	 * What is left (freeing the heap, tearing down big mappings: ~100 ms
	 * for 3 GiB of 4 KiB pages) must not take a core from our successor.
	 */
	if (srv.handoff) {
		struct sched_param sp = { .sched_priority = 0 };

		(void)sched_setscheduler(0, SCHED_IDLE, &sp);
	}
	handoff_close(&srv);
	store_destroy(&srv.store);
	free(srv.workers);
	if (own_unix)
		(void)unlink(settings.unix_path);
	log_info("stopped%s", rc < 0 ? " (checkpoint failed)" : "");
	return rc < 0 ? 1 : 0;
}
