/*
 * ctl_util.c: what every shmctl command shares: targets, opening
 * services, collecting entries, and printing untrusted strings safely.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>
/* Either strnvis() will do; we use strvis() only. Silences libbsd. */
#define LIBBSD_OPENBSD_VIS 1
#include <bsd/vis.h>

#include "shmctl.h"

int
ctl_opts(int argc, char **argv, unsigned allow, unsigned *seen)
{
	static const struct {
		unsigned	bit;
		struct option	opt;
	} all[] = {
		{ CTL_OPT_FORCE, { "force", no_argument, NULL, 'f' } },
		{ CTL_OPT_JSON, { "json", no_argument, NULL, 'j' } },
		{ 0, { "help", no_argument, NULL, 'h' } },
	};
	struct option opts[sizeof(all) / sizeof(all[0]) + 1];
	char optstr[sizeof(all) / sizeof(all[0]) + 1];
	size_t i, n = 0;
	int ch;

	memset(opts, 0, sizeof(opts));
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i].bit == 0 || (allow & all[i].bit)) {
			opts[n] = all[i].opt;
			optstr[n++] = (char)all[i].opt.val;
		}
	optstr[n] = '\0';
	if (seen != NULL)
		*seen = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, optstr, opts, NULL)) != -1) {
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			if (all[i].bit != 0 && ch == all[i].opt.val)
				break;
		if (i == sizeof(all) / sizeof(all[0]) || seen == NULL)
			return ctl_std_opt(argv[0], ch);
		*seen |= all[i].bit;
	}
	return -1;
}

int
ctl_target_parse(const char *arg, struct ctl_target *t)
{
	const char *slash = strchr(arg, '/');
	size_t n = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

	memset(t, 0, sizeof(*t));
	if (n >= sizeof(t->service))
		return SHMS_ENAME;
	memcpy(t->service, arg, n);
	t->service[n] = '\0';
	if (shms_name_valid(t->service) != 0)
		return SHMS_ENAME;
	if (slash == NULL)
		return 0;
	/* One more path component, never "." or "..": a file in the dir. */
	if (slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
	    strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0 ||
	    strlcpy(t->seg, slash + 1, sizeof(t->seg)) >= sizeof(t->seg))
		return SHMS_ENAME;
	t->has_seg = 1;
	return 0;
}

int
ctl_open(const struct shmctl_opts *g, const char *service, unsigned flags,
    struct shms_svc **out, char *why)
{
	char detail[SHMS_DETAIL_MAX] = "";
	int rc;

	rc = shms_svc_open_detail(out, g->root, service, flags, detail,
	    sizeof(detail));
	if (rc == 0)
		return 0;
	if (rc == -ENOENT)
		snprintf(why, CTL_WHY_MAX, "%s: no such service", service);
	else
		snprintf(why, CTL_WHY_MAX, "%s: %s%s%s", service,
		    shms_strerror(rc), detail[0] ? ": " : "", ctl_vis(detail));
	return rc;
}

/* Makes room for element n of *v (capacity *cap, elements of size). */
static int
grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **vp = v, *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((nv = reallocarray(*vp, ncap, size)) == NULL)
		return -ENOMEM;
	*vp = nv;
	*cap = ncap;
	return 0;
}

struct collect {
	struct ctl_entries	*es;
	size_t			 cap;
};

static int
collect_entry(const struct shms_entry *e, void *arg)
{
	struct collect *c = arg;

	if (grow(&c->es->v, &c->cap, c->es->n, sizeof(*e)) != 0)
		return -ENOMEM;
	c->es->v[c->es->n++] = *e;
	return 0;
}

int
ctl_entries_load(struct shms_svc *svc, struct ctl_entries *es)
{
	struct collect c = { es, 0 };
	int rc;

	es->v = NULL;
	es->n = 0;
	if ((rc = shms_svc_list(svc, collect_entry, &c)) != 0)
		ctl_entries_free(es);
	return rc;
}

struct shms_svc *
ctl_open_entries(const struct shmctl_opts *g, const char *service,
    unsigned flags, struct ctl_entries *es)
{
	struct shms_svc *svc;
	char why[CTL_WHY_MAX];
	int rc;

	if (ctl_open(g, service, flags, &svc, why) != 0)
		errx(CTL_EXIT_FAIL, "%s", why);
	if ((rc = ctl_entries_load(svc, es)) != 0)
		errx(CTL_EXIT_FAIL, "%s: %s: %s", service, shms_strerror(rc),
		    ctl_vis(shms_errdetail(svc)));
	return svc;
}

void
ctl_entries_free(struct ctl_entries *es)
{
	free(es->v);
	es->v = NULL;
	es->n = 0;
}

const struct shms_entry *
ctl_resolve(struct shms_svc *svc, const struct ctl_entries *es,
    const char *seg)
{
	struct shms_manifest_info mi;
	char file[sizeof(es->v[0].file)];
	size_t i;

	for (i = 0; i < es->n; i++)
		if (strcmp(es->v[i].file, seg) == 0)
			return &es->v[i];
	/* A segment name: the committed generation's file. */
	if (shms_name_valid(seg) == 0 && shms_svc_manifest(svc, &mi) == 0) {
		snprintf(file, sizeof(file), "ckpt.%016" PRIx64 ".%s",
		    mi.generation, seg);
		for (i = 0; i < es->n; i++)
			if (strcmp(es->v[i].file, file) == 0)
				return &es->v[i];
	}
	for (i = 0; i < es->n; i++)
		if (es->v[i].status == SHMS_ENT_ARENA &&
		    es->v[i].error == 0 &&
		    strcmp(es->v[i].info.name, seg) == 0)
			return &es->v[i];
	return NULL;
}

struct svc_collect {
	struct ctl_services	*s;
	size_t			 cap;
};

static int
collect_service(const char *name, void *arg)
{
	struct svc_collect *c = arg;

	if (grow(&c->s->v, &c->cap, c->s->n, sizeof(char *)) != 0 ||
	    (c->s->v[c->s->n] = strdup(name)) == NULL)
		return -ENOMEM;
	c->s->n++;
	return 0;
}

int
ctl_services(const struct shmctl_opts *g, const char *one,
    struct ctl_services *out)
{
	struct svc_collect c = { out, 0 };
	int rc;

	out->v = NULL;
	out->n = 0;
	if (one != NULL)
		return collect_service(one, &c);
	rc = shms_list_services(g->root, collect_service, &c);
	if (rc == -ENOENT)	/* no root yet: no services */
		rc = 0;
	if (rc != 0)
		ctl_services_free(out);
	return rc;
}

void
ctl_services_free(struct ctl_services *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

const char *
ctl_entry_name(const struct shms_entry *e)
{
	if ((e->error == 0 || e->error == SHMS_EMISSING) &&
	    e->info.name[0] != '\0')
		return e->info.name;
	return e->file;
}

const char *
ctl_entry_reason(const struct shms_entry *e)
{
	size_t n = strlen(e->file);

	if (e->detail[0] == '\0')
		return shms_strerror(e->error);
	if (strncmp(e->detail, e->file, n) == 0 && e->detail[n] == ':' &&
	    e->detail[n + 1] == ' ')
		return e->detail + n + 2;
	return e->detail;
}

const char *
ctl_state_word(int state)
{
	switch (state) {
	case SHMS_STATE_CREATING:
		return "creating";
	case SHMS_STATE_LIVE:
		return "live";
	case SHMS_STATE_CLEAN:
		return "clean";
	case SHMS_STATE_CONSUMED:
		return "consumed";
	default:
		return "-";
	}
}

const char *
ctl_status_word(const struct shms_entry *e)
{
	switch (e->status) {
	case SHMS_ENT_COMMITTED:
		return e->error == SHMS_EMISSING ? "missing" : "committed";
	case SHMS_ENT_UNCOMMITTED:
		return "uncommitted";
	case SHMS_ENT_SUPERSEDED:
		return "superseded";
	case SHMS_ENT_ARENA:
		return "arena";
	default:
		return "invalid";
	}
}

const char *
ctl_kind_word(int kind)
{
	switch (kind) {
	case SHMS_KIND_CKPT:
		return "ckpt";
	case SHMS_KIND_ARENA:
		return "arena";
	default:
		return "-";
	}
}

const char *
ctl_owner_word(const struct shms_entry *e, pid_t lockpid, int lockalive)
{
	if (e->error != 0 || e->info.owner_pid <= 0)
		return "-";
	if (lockalive && (int64_t)lockpid == e->info.owner_pid)
		return "alive";
	/* Live or unsealed with its owner gone: it died mid-way. */
	if (e->info.state == SHMS_STATE_LIVE ||
	    e->info.state == SHMS_STATE_CREATING)
		return "dead";
	return "exited";
}

const char *
ctl_vis(const char *s)
{
	/*
	 * vis(3) needs up to 4 bytes per input byte, plus the NUL. A few
	 * buffers in turn, so that one printf can show several strings
	 * (CTL_VIS_BUFS at most).
	 */
	static char buf[CTL_VIS_BUFS][4 * 512 + 1];
	static unsigned next;
	char in[512], *out = buf[next++ % CTL_VIS_BUFS];

	strlcpy(in, s, sizeof(in));
	strvis(out, in, VIS_CSTYLE | VIS_TAB | VIS_NL | VIS_OCTAL);
	return out;
}

void
ctl_json_str(FILE *fp, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else if (*p == '\t')
			fputs("\\t", fp);
		/* Bytes >= 0x80 as Latin-1: the output stays valid UTF-8
		 * even when a file name is not. */
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

void
ctl_human_size(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64, n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f%c", v, units[u]);
}

uint64_t
ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
ctl_human_age(uint64_t then_ns, char *buf, size_t len)
{
	uint64_t now = ctl_now_ns(), s;

	if (then_ns == 0) {
		snprintf(buf, len, "-");
		return;
	}
	s = now > then_ns ? (now - then_ns) / 1000000000u : 0;
	if (s < 120)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 120 * 60)
		snprintf(buf, len, "%" PRIu64 "m", s / 60);
	else if (s < 48 * 3600)
		snprintf(buf, len, "%" PRIu64 "h", s / 3600);
	else
		snprintf(buf, len, "%" PRIu64 "d", s / 86400);
}

void
ctl_iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char s[32];

	if (ns == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%s.%09" PRIu64 "Z", s, ns % 1000000000u);
}

size_t
ctl_each_service(const struct shmctl_opts *g, const char *one,
    int (*fn)(const struct shmctl_opts *, const char *, int named))
{
	struct ctl_services ss;
	size_t i, bad = 0;
	int rc;

	if ((rc = ctl_services(g, one, &ss)) != 0)
		errx(CTL_EXIT_FAIL, "cannot list services: %s",
		    shms_strerror(rc));
	for (i = 0; i < ss.n; i++)
		bad += fn(g, ss.v[i], one != NULL) != 0;
	ctl_services_free(&ss);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(CTL_EXIT_FAIL, "stdout");
	return bad;
}
