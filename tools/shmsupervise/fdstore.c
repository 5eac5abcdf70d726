/*
 * fdstore.c: the fd store (FDSTORE=1, as systemd keeps it). A child hands
 * over its established connections (FDNAME=shms-conn) and their state
 * (one sealed memfd, FDNAME=shms-blob) before it exits; they are held
 * here and passed to the next child after the listening sockets. The
 * store lets go of them only when a child that got them reports READY=1:
 * until then a rollback or a restart gets them again. A child that is
 * ready without having said it took them (X_SHMS_CONNS_TAKEN= or
 * FDSTOREREMOVE=) does not serve them: they are shut down, so their
 * clients see the connection end instead of a silent hang.
 *
 * Bounds: --max-handoff-conns sockets, SUP_HANDOFF_BLOBS blobs of at most
 * --max-handoff-blob bytes; anything over, or of another kind (a name we
 * do not know that is not a socket, a blob that is not a sealed regular
 * file), is closed at once and counted.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "shmsupervise.h"

struct held {
	int	fd;
	int	is_blob;
	int	removed;	/* FDSTOREREMOVE= for its name seen */
	char	name[SHMS_FDNAME_MAX + 1];
};

static struct held	*held;
static int		 nheld, cap;
/* held[] by kind: counted, not scanned, per fd (8192 conns: 67M steps) */
static int		 nkind[2];
static pid_t		 passed_to;	/* the child that got them, or 0 */
static int		 taken_seen;
static uint32_t		 taken_n;
static struct fdstore_counts cnt;

static void
shut(int fd, int is_blob)
{
	if (!is_blob)
		(void)shutdown(fd, SHUT_RDWR);
	close(fd);
}

/* Whether fd may be held as `name'; *blob says which kind. */
static int
acceptable(int fd, const char *name, int *blob, const char **why)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		*why = "fstat failed";
		return 0;
	}
	*blob = strcmp(name, SHMS_HANDOFF_BLOB_NAME) == 0;
	if (*blob) {
		int seals = fcntl(fd, F_GET_SEALS);

		if (!S_ISREG(st.st_mode) || seals == -1 ||
		    !(seals & F_SEAL_WRITE)) {
			*why = "blob is not a sealed memfd";
			return 0;
		}
		if ((uint64_t)st.st_size > conf.max_handoff_blob) {
			*why = "blob over --max-handoff-blob";
			return 0;
		}
		if (nkind[1] >= SUP_HANDOFF_BLOBS) {
			*why = "too many blobs";
			return 0;
		}
		return 1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*why = "not a socket";
		return 0;
	}
	return 1;
}

void
fdstore_add(const char *name, const int *fds, int n, int keep)
{
	const char *why = NULL;
	int i, blob;

	if (name[0] == '\0')
		name = "stored";
	for (i = 0; i < n; i++) {
		int fd = fds[i];

		if (!keep) {
			/* Nobody will start to take it: end it now. */
			if (acceptable(fd, name, &blob, &why) && !blob)
				cnt.handed++;
			shut(fd, 0);
			cnt.closed++;
			continue;
		}
		if (!acceptable(fd, name, &blob, &why)) {
			log_warnx("fd store: %s fd refused: %s", name, why);
			close(fd);
			cnt.refused++;
			cnt.closed++;
			continue;
		}
		if (!blob) {
			cnt.handed++;
			if ((unsigned)nkind[0] >= conf.max_handoff_conns) {
				shut(fd, 0);
				cnt.over_limit++;
				cnt.closed++;
				continue;
			}
		}
		if (nheld == cap) {
			int ncap = cap ? cap * 2 : 64;
			struct held *p = realloc(held, sizeof(*held) *
			    (size_t)ncap);

			if (p == NULL) {
				log_warnx("fd store: out of memory");
				shut(fd, blob);
				cnt.closed++;
				continue;
			}
			held = p;
			cap = ncap;
		}
		held[nheld].fd = fd;
		held[nheld].is_blob = blob;
		held[nheld].removed = 0;
		strlcpy(held[nheld].name, name, sizeof(held[nheld].name));
		nheld++;
		nkind[blob]++;
	}
	if (cnt.over_limit > 0 && n > 0)
		log_debug("fd store: %u over --max-handoff-conns %u so far",
		    cnt.over_limit, conf.max_handoff_conns);
}

int
fdstore_passfds(struct passfd *pf, int max)
{
	int i, k = 0;

	for (i = 0; i < nheld && k < max; i++) {
		pf[k].fd = held[i].fd;
		pf[k++].name = held[i].name;
	}
	taken_seen = 0;
	taken_n = 0;
	for (i = 0; i < nheld; i++)
		held[i].removed = 0;
	return k;
}

void
fdstore_passed(pid_t pid)
{
	passed_to = nheld > 0 ? pid : 0;
}

void
fdstore_report(pid_t pid, const struct shms_notify_msg *m)
{
	int i;

	if (pid != passed_to || passed_to == 0)
		return;
	if (m->seen & SHMS_NOTIFY_CONNS_TAKEN) {
		taken_seen = 1;
		taken_n = m->conns_taken;
	}
	if ((m->seen & SHMS_NOTIFY_FDSTOREREMOVE) &&
	    (m->seen & SHMS_NOTIFY_FDNAME))
		for (i = 0; i < nheld; i++)
			if (strcmp(held[i].name, m->fdname) == 0)
				held[i].removed = 1;
}

int
fdstore_commit(pid_t pid)
{
	int i, conns = 0, removed = 0, degraded = 0;
	uint32_t taken;

	if (passed_to == 0 || pid != passed_to)
		return 0;
	for (i = 0; i < nheld; i++) {
		if (held[i].is_blob)
			continue;
		conns++;
		removed += held[i].removed;
	}
	taken = taken_seen ? taken_n : (uint32_t)removed;
	if (taken > (uint32_t)conns)
		taken = (uint32_t)conns;
	if (!taken_seen && removed == 0 && conns > 0) {
		log_warnx("pid %ld is ready but did not take the %d "
		    "connection(s) handed over: closing them", (long)pid,
		    conns);
		degraded = 1;
	}
	for (i = 0; i < nheld; i++) {
		/* Taken: only our copy goes. Not taken: end the stream. */
		if (degraded)
			shut(held[i].fd, held[i].is_blob);
		else
			close(held[i].fd);
	}
	cnt.taken += taken;
	cnt.closed += (uint32_t)conns - taken;
	if ((uint32_t)conns > taken)
		degraded = 1;
	if (conns > 0)
		log_info("handoff: %u connection(s) handed over, %u taken, "
		    "%u closed", cnt.handed, cnt.taken, cnt.closed);
	nheld = nkind[0] = nkind[1] = 0;
	passed_to = 0;
	return degraded;
}

void
fdstore_drop(const char *why)
{
	int i, conns = 0;

	for (i = 0; i < nheld; i++) {
		conns += !held[i].is_blob;
		shut(held[i].fd, held[i].is_blob);
	}
	if (conns > 0)
		log_warnx("handoff: %d held connection(s) closed: %s", conns,
		    why);
	cnt.closed += (uint32_t)conns;
	nheld = nkind[0] = nkind[1] = 0;
	passed_to = 0;
}

int
fdstore_held(void)
{
	return nkind[0];
}

void
fdstore_new_round(void)
{
	memset(&cnt, 0, sizeof(cnt));
}

const struct fdstore_counts *
fdstore_counts(void)
{
	return &cnt;
}
