/*
 * ctl_arena.c: facts about an arena beyond its header, for shmctl list,
 * info and verify, from shms_arena_inspect() (read-only; a live arena
 * with a running owner is only read for its counters).
 */
#include <inttypes.h>
#include <stdio.h>

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

void
ctl_entry_extras(struct shms_svc *svc, const struct shms_entry *e,
    struct ctl_extras *x)
{
	struct shms_arena_stats st;

	if (e->status != SHMS_ENT_ARENA || e->error != 0 ||
	    shms_arena_inspect(svc, e->file, 0, &st) != 0)
		return;
	put_num(x, "used_bytes", st.in_use);
	put_num(x, "allocs", st.nallocs);
	put_num(x, "free_bytes", st.free_bytes);
	put_num(x, "frag_pct", (uint64_t)(st.fragmentation * 100 + 0.5));
	put(x, "root", 0, st.root != 0 ? "set" : "unset");
}

int
ctl_arena_verify(struct shms_svc *svc, const struct shms_entry *e)
{
	struct shms_arena_stats st;

	if (e->status != SHMS_ENT_ARENA)
		return 0;
	return shms_arena_inspect(svc, e->file, SHMS_ARENA_VERIFY, &st);
}
