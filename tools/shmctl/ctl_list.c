/*
 * ctl_list.c: shmctl list and shmctl info.
 */
#include <err.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "shmctl.h"
#include "format.h"	/* header flag bits, to name them */

enum {
	C_SERVICE, C_SEGMENT, C_STATE, C_LAYOUT, C_SIZE, C_GEN, C_STATUS,
	C_PID, C_OWNER, C_AGE, C_NOTE, NCOL
};

static const char *const heads[NCOL] = {
	"SERVICE", "SEGMENT", "STATE", "LAYOUT", "SIZE", "GEN", "STATUS",
	"PID", "OWNER", "AGE", "NOTE",
};

/* The human table: every row is collected first to align the columns. */
struct table {
	char	**cells;	/* nrows * NCOL, strdup'd */
	size_t	  nrows, cap;
};

static void
table_row(struct table *t, const char *const row[NCOL])
{
	size_t i;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = reallocarray(t->cells, t->cap * NCOL,
		    sizeof(*t->cells));
		if (t->cells == NULL)
			err(CTL_EXIT_FAIL, "table");
	}
	for (i = 0; i < NCOL; i++)
		if ((t->cells[t->nrows * NCOL + i] = strdup(row[i])) == NULL)
			err(CTL_EXIT_FAIL, "table");
	t->nrows++;
}

static void
table_print(struct table *t)
{
	size_t w[NCOL], i, r, n;
	const char *c;

	for (i = 0; i < NCOL; i++)
		w[i] = strlen(heads[i]);
	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < NCOL; i++)
			if ((n = strlen(t->cells[r * NCOL + i])) > w[i])
				w[i] = n;
	for (r = 0; r <= t->nrows; r++) {
		for (i = 0; i < NCOL; i++) {
			c = r == 0 ? heads[i] : t->cells[(r - 1) * NCOL + i];
			if (i == NCOL - 1)
				printf("%s\n", c);
			else
				printf("%-*s  ", (int)w[i], c);
		}
	}
	for (i = 0; i < t->nrows * NCOL; i++)
		free(t->cells[i]);
	free(t->cells);
}

struct lister {
	int		 json;
	int		 nsegs;		/* JSON: segments emitted so far */
	const char	*service;
	pid_t		 lockpid;
	int		 lockalive;
	struct shms_svc	*svc;
	struct table	 t;
	int		 guard_fired;	/* an arena was truncated under us */
};

/* Extra facts about e as "key=value ..." for the NOTE column. */
static void
extras_note(const struct ctl_extras *x, char *buf, size_t len)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < x->n && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s=%s", i ? " " : "",
		    x->kv[i].key, x->kv[i].val);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void
list_row(struct lister *l, const struct shms_entry *e,
    const struct ctl_extras *x)
{
	char layout[2 * SHMS_NAME_MAX], size[32], gen[32], pid[32], age[32];
	char note[SHMS_DETAIL_MAX + 64], seg[2048];
	const struct shms_seg_info *in = &e->info;
	int known = e->error == 0;
	const char *row[NCOL];

	strlcpy(seg, ctl_vis(ctl_entry_name(e)), sizeof(seg));
	snprintf(layout, sizeof(layout), "%s@%" PRIu32, in->layout,
	    in->layout_version);
	ctl_human_size(in->payload_len, size, sizeof(size));
	snprintf(gen, sizeof(gen), "%" PRIu64, in->generation);
	snprintf(pid, sizeof(pid), "%" PRId64, in->owner_pid);
	ctl_human_age(in->seal_ns ? in->seal_ns : in->ctime_ns, age,
	    sizeof(age));
	if (e->error != 0)
		snprintf(note, sizeof(note), "%s",
		    ctl_vis(ctl_entry_reason(e)));
	else
		extras_note(x, note, sizeof(note));
	/* A missing segment still has the manifest's layout and size. */
	known |= e->error == SHMS_EMISSING;
	row[C_SERVICE] = l->service;
	row[C_SEGMENT] = seg;
	row[C_STATE] = e->error == 0 ? ctl_state_word(in->state) : "-";
	row[C_LAYOUT] = known ? layout : "-";
	row[C_SIZE] = known ? size : "-";
	row[C_GEN] = known ? gen : "-";
	row[C_STATUS] = ctl_status_word(e);
	row[C_PID] = e->error == 0 ? pid : "-";
	row[C_OWNER] = ctl_owner_word(e, l->lockpid, l->lockalive);
	row[C_AGE] = e->error == 0 ? age : "-";
	row[C_NOTE] = note[0] ? note : "-";
	table_row(&l->t, row);
}

static void
json_u64(const char *key, uint64_t v, int comma)
{
	printf("\"%s\": %" PRIu64 "%s", key, v, comma ? ", " : "");
}

static void
json_key_str(const char *key, const char *v, int comma)
{
	printf("\"%s\": ", key);
	ctl_json_str(stdout, v);
	if (comma)
		fputs(", ", stdout);
}

static void
list_json(struct lister *l, const struct shms_entry *e,
    const struct ctl_extras *x)
{
	const struct shms_seg_info *in = &e->info;
	int known = e->error == 0 || e->error == SHMS_EMISSING;
	size_t i;

	printf("%s\n    {", l->nsegs++ ? "," : "");
	json_key_str("file", e->file, 1);
	json_key_str("segment", known ? in->name : NULL, 1);
	json_key_str("status", ctl_status_word(e), 1);
	json_key_str("state", e->error == 0 ? ctl_state_word(in->state) :
	    NULL, 1);
	json_key_str("kind", known ? ctl_kind_word(in->kind) : NULL, 1);
	json_key_str("layout", known ? in->layout : NULL, 1);
	json_u64("layout_version", in->layout_version, 1);
	json_u64("size", in->payload_len, 1);
	json_u64("file_size", in->file_size, 1);
	json_u64("generation", in->generation, 1);
	printf("\"owner_pid\": %" PRId64 ", ", in->owner_pid);
	json_key_str("owner", ctl_owner_word(e, l->lockpid, l->lockalive), 1);
	json_u64("ctime_ns", in->ctime_ns, 1);
	json_u64("seal_ns", in->seal_ns, 1);
	for (i = 0; i < x->n; i++) {
		if (x->kv[i].is_num)
			printf("\"%s\": %s, ", x->kv[i].key, x->kv[i].val);
		else
			json_key_str(x->kv[i].key, x->kv[i].val, 1);
	}
	printf("\"error_code\": %d, ", e->error);
	json_key_str("error", e->error ? e->detail : NULL, 0);
	printf("}");
}

static int
list_entry(const struct shms_entry *e, void *arg)
{
	struct lister *l = arg;
	struct ctl_extras x;

	memset(&x, 0, sizeof(x));
	if (e->error == 0 &&
	    ctl_entry_extras(l->svc, l->service, e, &x) == CTL_GUARD_FIRED)
		l->guard_fired = 1;
	if (l->json)
		list_json(l, e, &x);
	else
		list_row(l, e, &x);
	return 0;
}

/* The JSON object of one service, around its segments. */
static void
json_service_head(struct lister *l, int first)
{
	struct shms_manifest_info mi;
	int rc;

	printf("%s\n  {", first ? "" : ",");
	json_key_str("service", l->service, 1);
	json_key_str("path", shms_svc_path(l->svc), 1);
	printf("\"owner_pid\": %d, \"owner_alive\": %s, ", (int)l->lockpid,
	    l->lockalive ? "true" : "false");
	rc = shms_svc_manifest(l->svc, &mi);
	if (rc == 0) {
		printf("\"manifest\": {");
		json_u64("generation", mi.generation, 1);
		json_u64("count", mi.count, 1);
		json_u64("ctime_ns", mi.ctime_ns, 1);
		json_key_str("build_id", mi.build_id, 0);
		printf("}, \"manifest_error\": null, ");
	} else {
		printf("\"manifest\": null, ");
		json_key_str("manifest_error", rc == SHMS_ENOSTATE ? NULL :
		    shms_errdetail(l->svc), 1);
	}
	printf("\"segments\": [");
}

int
cmd_list(int argc, char **argv, const struct shmctl_opts *g)
{
	struct ctl_services ss;
	struct ctl_target tgt;
	struct lister l;
	char why[CTL_WHY_MAX];
	int rc, status = CTL_EXIT_OK, nout = 0;
	unsigned opts;
	size_t i;

	memset(&l, 0, sizeof(l));
	if ((rc = ctl_opts(argc, argv, CTL_OPT_JSON, &opts)) >= 0)
		return rc;
	l.json = (opts & CTL_OPT_JSON) != 0;
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 1 && (ctl_target_parse(argv[0], &tgt) != 0 ||
	    tgt.has_seg))) {
		if (argc == 1)
			warnx("invalid service name: %s", ctl_vis(argv[0]));
		ctl_usage(ctl_find("list"), stderr);
		return CTL_EXIT_USAGE;
	}
	if ((rc = ctl_services(g, argc ? tgt.service : NULL, &ss)) != 0)
		errx(CTL_EXIT_FAIL, "cannot list services: %s",
		    shms_strerror(rc));
	if (l.json)
		printf("{\"services\": [");
	for (i = 0; i < ss.n; i++) {
		l.service = ss.v[i];
		rc = ctl_open(g, l.service, SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE,
		    &l.svc, why);
		if (rc != 0) {
			warnx("%s", why);
			status = CTL_EXIT_FAIL;
			continue;
		}
		if (shms_svc_owner(l.svc, &l.lockpid, &l.lockalive) != 0)
			l.lockpid = l.lockalive = 0;
		if (l.json) {
			json_service_head(&l, nout == 0);
			l.nsegs = 0;
		}
		nout++;
		rc = shms_svc_list(l.svc, list_entry, &l);
		if (l.json)
			printf("%s]}", l.nsegs ? "\n  " : "");
		if (rc != 0) {
			warnx("%s: %s: %s", l.service, shms_strerror(rc),
			    ctl_vis(shms_errdetail(l.svc)));
			status = CTL_EXIT_FAIL;
		}
		shms_svc_close(l.svc);
	}
	if (l.guard_fired)
		status = CTL_EXIT_FAIL;
	if (l.json)
		printf("%s]}\n", nout ? "\n" : "");
	else if (l.t.nrows > 0)
		table_print(&l.t);
	ctl_services_free(&ss);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(CTL_EXIT_FAIL, "stdout");
	return status;
}

/* ---- info ---- */

static void field(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
field(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-16s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
flags_words(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "0x%" PRIx32 "%s%s%s%s", f, f ? " (" : "",
	    f & SHMS__F_SUMMED ? "summed" : "",
	    f & SHMS__F_HUGE ? (f & SHMS__F_SUMMED ? " huge" : "huge") : "",
	    f & SHMS__F_ARENA_SUM ? (f & (SHMS__F_SUMMED | SHMS__F_HUGE) ?
	    " arena-sum" : "arena-sum") : "");
	if (f)
		strlcat(buf, ")", len);
}

static void
time_field(const char *key, uint64_t ns)
{
	char iso[64], age[32];

	ctl_iso_time(ns, iso, sizeof(iso));
	ctl_human_age(ns, age, sizeof(age));
	if (ns == 0)
		field(key, "-");
	else
		field(key, "%s (%s ago)", iso, age);
}

static int
info_segment(struct shms_svc *svc, const char *service,
    const struct shms_entry *e)
{
	const struct shms_seg_info *in = &e->info;
	struct ctl_extras x;
	pid_t lockpid;
	int lockalive;
	char buf[128];
	size_t i;

	if (shms_svc_owner(svc, &lockpid, &lockalive) != 0)
		lockpid = lockalive = 0;
	field("service:", "%s", service);
	field("file:", "%s", ctl_vis(e->file));
	field("status:", "%s", ctl_status_word(e));
	if (e->error != 0 && e->error != SHMS_EMISSING) {
		field("error:", "%s", ctl_vis(ctl_entry_reason(e)));
		if (in->file_size != 0)
			field("file size:", "%" PRIu64, in->file_size);
		warnx("%s/%s: %s", service, ctl_vis(e->file),
		    shms_strerror(e->error));
		return CTL_EXIT_FAIL;
	}
	if (e->error == SHMS_EMISSING)
		field("error:", "%s (as the manifest lists it:)",
		    ctl_vis(ctl_entry_reason(e)));
	field("segment:", "%s", in->name);
	field("kind:", "%s", ctl_kind_word(in->kind));
	if (e->error == 0) {
		field("state:", "%s", ctl_state_word(in->state));
		field("format:", "%" PRIu32, in->format);
		flags_words(in->flags, buf, sizeof(buf));
		field("flags:", "%s", buf);
		field("page size:", "%" PRIu32, in->page_size);
	}
	field("layout:", "%s", in->layout);
	field("layout version:", "%" PRIu32, in->layout_version);
	field("generation:", "%" PRIu64, in->generation);
	ctl_human_size(in->payload_len, buf, sizeof(buf));
	if (e->error == 0)
		field("payload offset:", "%" PRIu64, in->payload_off);
	field("payload length:", "%" PRIu64 " (%s)", in->payload_len, buf);
	field("payload xxh3:", "0x%016" PRIx64, in->payload_xxh3);
	field("header xxh3:", "0x%016" PRIx64, in->hdr_xxh3);
	if (e->error != 0) {
		warnx("%s/%s: %s", service, ctl_vis(e->file),
		    shms_strerror(e->error));
		return CTL_EXIT_FAIL;
	}
	field("owner pid:", "%" PRId64 " (%s)", in->owner_pid,
	    ctl_owner_word(e, lockpid, lockalive));
	time_field("created:", in->ctime_ns);
	time_field("sealed:", in->seal_ns);
	field("build id:", "%s", ctl_vis(in->build_id));
	field("file size:", "%" PRIu64, in->file_size);
	memset(&x, 0, sizeof(x));
	if (ctl_entry_extras(svc, service, e, &x) == CTL_GUARD_FIRED)
		return CTL_EXIT_FAIL;
	for (i = 0; i < x.n; i++) {
		snprintf(buf, sizeof(buf), "%s:", x.kv[i].key);
		field(buf, "%s", x.kv[i].val);
	}
	return CTL_EXIT_OK;
}

static int
info_service(struct shms_svc *svc, const char *service,
    const struct ctl_entries *es)
{
	int count[SHMS_ENT_FOREIGN + 1] = { 0 };
	struct shms_manifest_info mi;
	char iso[64], age[32], size[32];
	pid_t lockpid;
	int lockalive, rc, status = CTL_EXIT_OK;
	size_t i;

	field("service:", "%s", service);
	field("path:", "%s", ctl_vis(shms_svc_path(svc)));
	if ((rc = shms_svc_owner(svc, &lockpid, &lockalive)) != 0)
		field("lock owner:", "unknown: %s", shms_strerror(rc));
	else if (lockpid == 0)
		field("lock owner:", "none");
	else
		field("lock owner:", "pid %d (%s)", (int)lockpid,
		    lockalive ? "alive, holds the lock" : "exited");
	rc = shms_svc_manifest(svc, &mi);
	if (rc == SHMS_ENOSTATE)
		field("manifest:", "none (no committed checkpoint)");
	else if (rc != 0) {
		field("manifest:", "invalid: %s",
		    ctl_vis(shms_errdetail(svc)));
		status = CTL_EXIT_FAIL;
	} else {
		ctl_iso_time(mi.ctime_ns, iso, sizeof(iso));
		ctl_human_age(mi.ctime_ns, age, sizeof(age));
		field("generation:", "%" PRIu64, mi.generation);
		field("segments:", "%" PRIu32, mi.count);
		field("committed:", "%s (%s ago)", iso, age);
		field("build id:", "%s", ctl_vis(mi.build_id));
	}
	for (i = 0; i < es->n; i++)
		if (es->v[i].status >= 1 && es->v[i].status <= SHMS_ENT_FOREIGN)
			count[es->v[i].status]++;
	field("files:", "%zu: %d committed, %d uncommitted, %d superseded, "
	    "%d arena, %d unknown", es->n, count[SHMS_ENT_COMMITTED],
	    count[SHMS_ENT_UNCOMMITTED], count[SHMS_ENT_SUPERSEDED],
	    count[SHMS_ENT_ARENA], count[SHMS_ENT_FOREIGN]);
	for (i = 0; i < es->n; i++) {
		const struct shms_entry *e = &es->v[i];

		ctl_human_size(e->info.payload_len, size, sizeof(size));
		printf("  %-24s %-11s %-9s %8s  %s\n", ctl_vis(e->file),
		    ctl_status_word(e), e->error == 0 ?
		    ctl_state_word(e->info.state) : "-", e->error == 0 ?
		    size : "-", e->error ? ctl_vis(ctl_entry_reason(e)) : "");
	}
	return status;
}

int
cmd_info(int argc, char **argv, const struct shmctl_opts *g)
{
	const struct shms_entry *e;
	struct ctl_entries es;
	struct ctl_target tgt;
	struct shms_svc *svc;
	int rc;

	if ((rc = ctl_opts(argc, argv, 0, NULL)) >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		ctl_usage(ctl_find("info"), stderr);
		return CTL_EXIT_USAGE;
	}
	if (ctl_target_parse(argv[0], &tgt) != 0) {
		warnx("invalid SERVICE[/SEGMENT]: %s", ctl_vis(argv[0]));
		return CTL_EXIT_USAGE;
	}
	svc = ctl_open_entries(g, tgt.service, SHMS_SVC_RDONLY |
	    SHMS_SVC_NOCREATE, &es);
	if (!tgt.has_seg)
		rc = info_service(svc, tgt.service, &es);
	else if ((e = ctl_resolve(svc, &es, tgt.seg)) == NULL) {
		warnx("%s: no segment or file %s", tgt.service,
		    ctl_vis(tgt.seg));
		rc = CTL_EXIT_FAIL;
	} else
		rc = info_segment(svc, tgt.service, e);
	ctl_entries_free(&es);
	shms_svc_close(svc);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(CTL_EXIT_FAIL, "stdout");
	return rc;
}
