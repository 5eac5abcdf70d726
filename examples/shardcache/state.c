/*
 * state.c: the state backend interface (see struct sc_state_ops in sc.h)
 * and its trivial member none (a plain cache). copy: state_copy.c; adopt:
 * state_adopt.c.
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
