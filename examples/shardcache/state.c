/*
 * state.c: the state backend interface (see struct sc_state_ops in sc.h)
 * and its trivial members: none (a plain cache) and adopt (not yet).
 */
#include <stddef.h>

#include "sc.h"

static int
none_open(struct server *srv)
{
	srv->state_info.mode = SC_STATE_NONE;
	srv->state_info.restart = "cold";
	return 0;
}

static int
none_save(struct server *srv)
{
	(void)srv;
	return 0;
}

static void
none_close(struct server *srv)
{
	(void)srv;
}

const struct sc_state_ops sc_state_none = {
	.name = "none",
	.open = none_open,
	.save = none_save,
	.close = none_close,
};

/*
 * TODO(cache): adopt mode. Each shard's struct shard_root, table and
 * items go into its own arena (shard->base = mapping address, shard->mem
 * = arena alloc/free, refs are arena offsets), so a restart maps the
 * arenas and serves at once. The store already uses refs and a per-shard
 * allocator for exactly this.
 */
static int
adopt_open(struct server *srv)
{
	(void)srv;
	log_warnx("--state adopt is not implemented yet (needs the arena "
	    "allocator); use --state copy or --state none");
	return -1;
}

const struct sc_state_ops sc_state_adopt = {
	.name = "adopt",
	.open = adopt_open,
	.save = none_save,
	.close = none_close,
};

const struct sc_state_ops *
state_ops(int mode)
{
	switch (mode) {
	case SC_STATE_COPY:
		return &sc_state_copy;
	case SC_STATE_ADOPT:
		return &sc_state_adopt;
	default:
		return &sc_state_none;
	}
}
