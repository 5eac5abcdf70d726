/*
 * ctl_arena.c: facts about an entry beyond its header, for shmctl list
 * and info. The arena section fills this in (bytes in use, root set,
 * allocator check); until then there is nothing to add.
 */
#include "shmctl.h"

void
ctl_entry_extras(struct shms_svc *svc, const struct shms_entry *e,
    struct ctl_extras *x)
{
	/* TODO(arena): for e->status == SHMS_ENT_ARENA, add "used" (bytes
	 * in use, is_num) and "root" (set/unset) here. */
	(void)svc;
	(void)e;
	(void)x;
}
