/*
 * ctl_arena.c: facts about an arena beyond its header, for shmctl list,
 * info and verify, from shms_arena_inspect() (read-only; a live arena
 * with a running owner is only read for its counters), always under
 * ctl_guard_run(): the arena is mapped, and a truncation meanwhile must
 * cost one entry, not the whole command.
 */
#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <bsd/string.h>

#include "shmctl.h"

static void
put(struct ctl_extras *x, const char *key, int is_num, const char *val)
{
	if (x->n >= CTL_EXTRAS_MAX)
		return;
	x->kv[x->n].key = key;
	x->kv[x->n].is_num = is_num;
	strlcpy(x->kv[x->n].val, val, sizeof(x->kv[x->n].val));
	x->n++;
}

static void
put_num(struct ctl_extras *x, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	put(x, key, 1, buf);
}

/* One shms_arena_inspect() call, as a ctl_guard_run() function. */
struct inspect_call {
	struct shms_svc			*svc;
	const char			*file;
	unsigned			 flags;
	struct shms_arena_stats		*st;
};

static int
inspect_fn(void *arg)
{
	struct inspect_call *c = arg;

	return shms_arena_inspect(c->svc, c->file, c->flags, c->st);
}

/*
 * shms_arena_inspect() under the SIGBUS guard: the arena is mapped, and
 * a same-uid process may truncate it meanwhile. A fired guard is
 * reported here, once, as SERVICE/FILE: CTL_GUARD_WHY.
 */
static int
inspect_guarded(struct shms_svc *svc, const char *service,
    const char *file, unsigned flags, struct shms_arena_stats *st)
{
	struct inspect_call c = { svc, file, flags, st };
	int rc;

	rc = ctl_guard_run(inspect_fn, &c);
	if (rc == CTL_GUARD_FIRED)
		warnx("%s/%s: %s", service, ctl_vis(file), CTL_GUARD_WHY);
	return rc;
}

int
ctl_entry_extras(struct shms_svc *svc, const char *service,
    const struct shms_entry *e, struct ctl_extras *x)
{
	struct shms_arena_stats st;
	int rc;

	if (e->status != SHMS_ENT_ARENA || e->error != 0)
		return 0;
	/* An out-parameter to the library; zeroed for the analyzers, which
	 * cannot follow it through the guard's void pointer. */
	memset(&st, 0, sizeof(st));
	rc = inspect_guarded(svc, service, e->file, 0, &st);
	if (rc != 0)
		return rc == CTL_GUARD_FIRED ? rc : 0;
	put_num(x, "used_bytes", st.in_use);
	put_num(x, "allocs", st.nallocs);
	put_num(x, "free_bytes", st.free_bytes);
	put_num(x, "frag_pct", (uint64_t)(st.fragmentation * 100 + 0.5));
	put(x, "root", 0, st.root != 0 ? "set" : "unset");
	return 0;
}

int
ctl_arena_verify(struct shms_svc *svc, const char *service,
    const struct shms_entry *e)
{
	struct shms_arena_stats st;

	if (e->status != SHMS_ENT_ARENA)
		return 0;
	memset(&st, 0, sizeof(st));	/* as in ctl_entry_extras() */
	return inspect_guarded(svc, service, e->file, SHMS_ARENA_VERIFY, &st);
}
