/*
 * ctl_maint.c: shmctl verify, rm, gc and dump.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "shmctl.h"

/* Segments larger than this get a progress bar when stderr is a TTY. */
#define CTL_PROGRESS_MIN	(UINT64_C(64) << 20)
#define CTL_BAR_WIDTH		30

struct progress {
	const char	*label;
	int		 last;	/* percent last drawn, -1 none */
};

static void
progress_draw(uint64_t done, uint64_t total, void *arg)
{
	static const char bar[CTL_BAR_WIDTH + 1] =
	    "##############################";
	struct progress *p = arg;
	int pct = total ? (int)(done / (total / 100 + 1)) : 100;

	if (pct > 100)
		pct = 100;
	if (pct == p->last)
		return;
	p->last = pct;
	fprintf(stderr, "\r%s [%-*.*s] %3d%%", p->label, CTL_BAR_WIDTH,
	    pct * CTL_BAR_WIDTH / 100, bar, pct);
}

static void
progress_clear(struct progress *p)
{
	if (p->last >= 0)
		fprintf(stderr, "\r%*s\r", (int)strlen(p->label) +
		    CTL_BAR_WIDTH + 8, "");
}

/* Operand parsing shared by verify, rm, gc, dump. */
static int
one_target(int argc, char **argv, const char *cmd, int optional,
    int need_seg, int allow_seg, struct ctl_target *t)
{
	if (argc > 1 || (argc == 0 && !optional)) {
		ctl_usage(ctl_find(cmd), stderr);
		return CTL_EXIT_USAGE;
	}
	if (argc == 0)
		return CTL_EXIT_OK;
	if (ctl_target_parse(argv[0], t) != 0 || (need_seg && !t->has_seg) ||
	    (!allow_seg && t->has_seg)) {
		warnx("invalid %s: %s", need_seg ? "SERVICE/SEGMENT" :
		    allow_seg ? "SERVICE[/SEGMENT]" : "SERVICE",
		    ctl_vis(argv[0]));
		ctl_usage(ctl_find(cmd), stderr);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

static int
verify_service(const struct shmctl_opts *g, const char *service, int named)
{
	struct shms_manifest_info mi;
	struct ctl_entries es;
	struct shms_svc *svc;
	struct progress p;
	char why[CTL_WHY_MAX], label[256];
	size_t i, checked = 0, skipped = 0, bad = 0;
	int rc;

	if (ctl_open(g, service, SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE, &svc,
	    why) != 0) {
		printf("%s: FAILED: %s\n", service, why);
		return 1;
	}
	if ((rc = ctl_entries_load(svc, &es)) != 0) {
		printf("%s: FAILED: %s: %s\n", service, shms_strerror(rc),
		    ctl_vis(shms_errdetail(svc)));
		shms_svc_close(svc);
		return 1;
	}
	for (i = 0; i < es.n; i++) {
		const struct shms_entry *e = &es.v[i];

		if (e->status != SHMS_ENT_COMMITTED &&
		    e->status != SHMS_ENT_ARENA) {
			skipped++;
			continue;
		}
		checked++;
		snprintf(label, sizeof(label), "%s/%s", service,
		    ctl_vis(ctl_entry_name(e)));
		if (e->error != 0) {
			printf("%s: FAILED: %s\n", label, ctl_vis(e->detail));
			bad++;
			continue;
		}
		p.label = label;
		p.last = -1;
		rc = shms_svc_verify(svc, e->file,
		    isatty(STDERR_FILENO) && e->info.payload_len >
		    CTL_PROGRESS_MIN ? progress_draw : NULL, &p);
		progress_clear(&p);
		if (rc == 0)
			rc = ctl_arena_verify(svc, service, e);
		if (rc == 0)
			printf("%s: OK\n", label);
		else {
			printf("%s: FAILED: %s\n", label,
			    rc == CTL_GUARD_FIRED ? CTL_GUARD_WHY :
			    ctl_vis(shms_errdetail(svc)));
			bad++;
		}
		fflush(stdout);
	}
	if (checked == 0 && shms_svc_manifest(svc, &mi) == SHMS_ENOSTATE)
		printf("%s: no committed checkpoint\n", service);
	if (skipped > 0)
		printf("%s: %zu file%s outside the committed state not "
		    "checked (see shmctl gc)\n", service, skipped,
		    skipped == 1 ? "" : "s");
	ctl_entries_free(&es);
	shms_svc_close(svc);
	return bad != 0;
}

int
cmd_verify(int argc, char **argv, const struct shmctl_opts *g)
{
	struct ctl_target t;
	size_t bad;
	int rc;

	if ((rc = ctl_opts(argc, argv, 0, NULL)) >= 0)
		return rc;
	if ((rc = one_target(argc - optind, argv + optind, "verify", 1, 0, 0,
	    &t)) != CTL_EXIT_OK)
		return rc;
	bad = ctl_each_service(g, argc > optind ? t.service : NULL,
	    verify_service);
	if (bad > 0)
		errx(CTL_EXIT_FAIL, "%zu service%s failed verification", bad,
		    bad == 1 ? "" : "s");
	return CTL_EXIT_OK;
}

/*
 * Opens a service to change it: for writing (we take the owner lock), or
 * with force and a live owner, read-only with a warning. *locked says
 * which.
 */
static struct shms_svc *
open_for_change(const struct shmctl_opts *g, const char *service, int force,
    const char *what, int *locked)
{
	struct shms_svc *svc;
	char why[CTL_WHY_MAX];
	int rc;

	rc = ctl_open(g, service, SHMS_SVC_NOCREATE, &svc, why);
	*locked = rc == 0;
	if (rc == 0)
		return svc;
	if (rc != SHMS_ELOCKED)
		errx(CTL_EXIT_FAIL, "%s", why);
	if (!force)
		errx(CTL_EXIT_FAIL, "%s; refusing to %s state a running "
		    "process owns (use --force)", why, what);
	warnx("%s; --force given, going ahead (the running owner keeps what "
	    "it has mapped, but that state will not survive its restart)",
	    why);
	if (ctl_open(g, service, SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE, &svc,
	    why) != 0)
		errx(CTL_EXIT_FAIL, "%s", why);
	return svc;
}

/* The service directory, opened by us (for --force without the lock). */
static int
open_dir(struct shms_svc *svc)
{
	int fd;

	fd = open(shms_svc_path(svc), O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		err(CTL_EXIT_FAIL, "%s", ctl_vis(shms_svc_path(svc)));
	return fd;
}

static int
rm_file(struct shms_svc *svc, const char *service, int locked,
    const struct shms_entry *e)
{
	int dirfd, rc;

	if (locked)
		rc = shms_svc_remove(svc, e->file);
	else {
		dirfd = open_dir(svc);
		rc = unlinkat(dirfd, e->file, 0) == -1 ? -errno : 0;
		close(dirfd);
	}
	if (rc != 0) {
		warnx("%s/%s: %s", service, ctl_vis(e->file), locked ?
		    ctl_vis(shms_errdetail(svc)) : shms_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	if (e->status == SHMS_ENT_COMMITTED)
		warnx("%s/%s: removed a committed segment: generation %" PRIu64
		    " can no longer be adopted", service, ctl_vis(e->file),
		    e->info.generation);
	return CTL_EXIT_OK;
}

/* Names the library keeps out of listings but that are ours to remove. */
static const char *const own_files[] = { "manifest" };
/*
 * What a shmsupervise(8) keeps in the directory: its lock (flock(2) held
 * while it runs) and sockets. Removed only when no supervisor runs.
 */
#define SUP_LOCK	"supervisor.lock"
static const char *const sup_files[] = { "control.sock", "notify.sock",
    SUP_LOCK };

/*
 * Is a supervisor running for the directory? Returns -1 if not, with the
 * supervisor lock held in *lockfd (or -1 when there is none) so that none
 * can start while we remove its files; or its pid (0 if unreadable), with
 * *lockfd -1. A lock file that is not a regular file cannot be held.
 */
static long
sup_running(int dirfd, int *lockfd)
{
	struct stat st;
	char buf[24];
	ssize_t n;
	long pid;
	int fd;

	*lockfd = -1;
	fd = openat(dirfd, SUP_LOCK, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		*lockfd = fd;
		return -1;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 ? pid : 0;
}

static int
unlink_own(int dirfd, const char *service, const char *file)
{
	if (unlinkat(dirfd, file, 0) == -1 && errno != ENOENT) {
		warn("%s/%s", service, file);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static int
rm_service(struct shms_svc *svc, const char *service, int force)
{
	struct ctl_entries es;
	char path[4096];
	size_t i, unknown = 0;
	int dirfd, suplock, rc, status = CTL_EXIT_OK;
	long sup;

	if ((rc = ctl_entries_load(svc, &es)) != 0)
		errx(CTL_EXIT_FAIL, "%s: %s: %s", service, shms_strerror(rc),
		    ctl_vis(shms_errdetail(svc)));
	for (i = 0; i < es.n; i++)
		if (es.v[i].status == SHMS_ENT_FOREIGN) {
			warnx("%s/%s: not a shmstate file (%s)", service,
			    ctl_vis(es.v[i].file),
			    ctl_vis(ctl_entry_reason(&es.v[i])));
			unknown++;
		}
	if (unknown > 0 && !force) {
		ctl_entries_free(&es);
		errx(CTL_EXIT_FAIL, "%s: refusing to remove a directory "
		    "holding %zu unknown file%s (use --force)", service,
		    unknown, unknown == 1 ? "" : "s");
	}
	dirfd = open_dir(svc);
	/*
	 * A running supervisor (its child stopped, or --force) keeps its
	 * sockets, its lock and the directory: without them nobody could
	 * reach it, and it would restart its child on a directory that is
	 * gone. The state goes; the child starts cold.
	 */
	sup = sup_running(dirfd, &suplock);
	/* unlinkat() removes a symlink, never its target; directories
	 * (EISDIR) are never descended into. */
	for (i = 0; i < es.n; i++) {
		if (es.v[i].error == SHMS_EMISSING ||
		    unlinkat(dirfd, es.v[i].file, 0) == 0 || errno == ENOENT)
			continue;
		warn("%s/%s", service, ctl_vis(es.v[i].file));
		status = CTL_EXIT_FAIL;
	}
	ctl_entries_free(&es);
	for (i = 0; i < sizeof(own_files) / sizeof(own_files[0]); i++)
		if (unlink_own(dirfd, service, own_files[i]) != CTL_EXIT_OK)
			status = CTL_EXIT_FAIL;
	if (sup >= 0) {
		warnx("%s: a supervisor is running (pid %ld): kept its "
		    "sockets, its lock and the directory (shmctl stop %s "
		    "ends it)", service, sup, service);
		close(dirfd);
		return status;
	}
	for (i = 0; i < sizeof(sup_files) / sizeof(sup_files[0]); i++)
		if (unlink_own(dirfd, service, sup_files[i]) != CTL_EXIT_OK)
			status = CTL_EXIT_FAIL;
	if (suplock != -1)
		close(suplock);
	/* The lock goes last, while we still hold it. */
	if (status == CTL_EXIT_OK)
		status = unlink_own(dirfd, service, "lock");
	close(dirfd);
	strlcpy(path, shms_svc_path(svc), sizeof(path));
	if (status == CTL_EXIT_OK && rmdir(path) == -1) {
		warn("%s", ctl_vis(path));
		status = CTL_EXIT_FAIL;
	}
	return status;
}

int
cmd_rm(int argc, char **argv, const struct shmctl_opts *g)
{
	const struct shms_entry *e;
	struct ctl_entries es;
	struct ctl_target t;
	struct shms_svc *svc;
	unsigned opts;
	int locked, rc;

	if ((rc = ctl_opts(argc, argv, CTL_OPT_FORCE, &opts)) >= 0)
		return rc;
	if ((rc = one_target(argc - optind, argv + optind, "rm", 0, 0, 1,
	    &t)) != CTL_EXIT_OK)
		return rc;
	svc = open_for_change(g, t.service, opts & CTL_OPT_FORCE, "remove",
	    &locked);
	if (!t.has_seg)
		rc = rm_service(svc, t.service, opts & CTL_OPT_FORCE);
	else {
		if ((rc = ctl_entries_load(svc, &es)) != 0)
			errx(CTL_EXIT_FAIL, "%s: %s: %s", t.service,
			    shms_strerror(rc), ctl_vis(shms_errdetail(svc)));
		if ((e = ctl_resolve(svc, &es, t.seg)) == NULL ||
		    e->error == SHMS_EMISSING) {
			warnx("%s: no segment or file %s", t.service,
			    ctl_vis(t.seg));
			rc = CTL_EXIT_FAIL;
		} else
			rc = rm_file(svc, t.service, locked, e);
		ctl_entries_free(&es);
	}
	shms_svc_close(svc);
	return rc;
}

struct gc_out {
	const char	*service;
};

static int
gc_print(const struct shms_entry *e, void *arg)
{
	const struct gc_out *o = arg;

	printf("removed %s/%s (%s)\n", o->service, ctl_vis(e->file),
	    e->status == SHMS_ENT_SUPERSEDED ? "superseded" : "uncommitted");
	return 0;
}

/* Is there a stale manifest.tmp? shms_svc_open() for writing removes it. */
static int
has_tmp_manifest(const struct shmctl_opts *g, const char *service)
{
	struct ctl_entries es;
	struct shms_svc *svc;
	char why[CTL_WHY_MAX];
	size_t i;
	int found = 0;

	if (ctl_open(g, service, SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE, &svc,
	    why) != 0)
		return 0;
	if (ctl_entries_load(svc, &es) == 0) {
		for (i = 0; i < es.n; i++)
			found |= strcmp(es.v[i].file, "manifest.tmp") == 0;
		ctl_entries_free(&es);
	}
	shms_svc_close(svc);
	return found;
}

static int
gc_service(const struct shmctl_opts *g, const char *service, int named)
{
	struct gc_out o = { service };
	struct shms_svc *svc;
	char why[CTL_WHY_MAX];
	int rc, tmp;

	tmp = has_tmp_manifest(g, service);
	rc = ctl_open(g, service, SHMS_SVC_NOCREATE, &svc, why);
	if (rc == SHMS_ELOCKED && !named) {
		warnx("%s; skipped (gc needs the lock)", why);
		return CTL_EXIT_OK;
	}
	if (rc != 0) {
		warnx("%s%s", why, rc == SHMS_ELOCKED ?
		    "; gc needs the lock, stop the owner first" : "");
		return CTL_EXIT_FAIL;
	}
	if (tmp && !has_tmp_manifest(g, service))
		printf("removed %s/manifest.tmp (interrupted commit)\n",
		    service);
	rc = shms_svc_gc(svc, gc_print, &o);
	if (rc < 0)
		warnx("%s: %s: %s", service, shms_strerror(rc),
		    ctl_vis(shms_errdetail(svc)));
	shms_svc_close(svc);
	return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int
cmd_gc(int argc, char **argv, const struct shmctl_opts *g)
{
	struct ctl_target t;
	int rc;

	if ((rc = ctl_opts(argc, argv, 0, NULL)) >= 0)
		return rc;
	if ((rc = one_target(argc - optind, argv + optind, "gc", 1, 0, 0,
	    &t)) != CTL_EXIT_OK)
		return rc;
	return ctl_each_service(g, argc > optind ? t.service : NULL,
	    gc_service) ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int
cmd_dump(int argc, char **argv, const struct shmctl_opts *g)
{
	const struct shms_entry *e;
	struct ctl_entries es;
	struct ctl_target t;
	struct shms_svc *svc;
	unsigned opts;
	int rc;

	if ((rc = ctl_opts(argc, argv, CTL_OPT_FORCE, &opts)) >= 0)
		return rc;
	if ((rc = one_target(argc - optind, argv + optind, "dump", 0, 1, 1,
	    &t)) != CTL_EXIT_OK)
		return rc;
	if (isatty(STDOUT_FILENO) && !(opts & CTL_OPT_FORCE))
		errx(CTL_EXIT_FAIL, "refusing to write a binary payload to a "
		    "terminal (redirect stdout, or use --force)");
	svc = ctl_open_entries(g, t.service, SHMS_SVC_RDONLY |
	    SHMS_SVC_NOCREATE, &es);
	if ((e = ctl_resolve(svc, &es, t.seg)) == NULL)
		errx(CTL_EXIT_FAIL, "%s: no segment or file %s", t.service,
		    ctl_vis(t.seg));
	if ((rc = shms_svc_dump(svc, e->file, STDOUT_FILENO)) != 0)
		errx(CTL_EXIT_FAIL, "%s/%s: %s: %s", t.service,
		    ctl_vis(e->file), shms_strerror(rc),
		    ctl_vis(shms_errdetail(svc)));
	ctl_entries_free(&es);
	shms_svc_close(svc);
	return CTL_EXIT_OK;
}
