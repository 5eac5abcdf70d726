/*
 * fuzz_notify: the sd_notify datagram parser (shms_notify_parse), which
 * the supervisor runs on whatever a (possibly hostile) child sends.
 * Invariants: only datagrams of 1..SHMS_NOTIFY_MAX bytes without NUL parse;
 * the strings it fills are NUL-terminated and within their bounds.
 */
#include <string.h>

#include "shmstate.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shms_notify_msg msg;
	unsigned char *buf;
	int rc;

	/* An exact-size copy: the parser must not read past len. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	memset(&msg, 0xa5, sizeof(msg));
	rc = shms_notify_parse(size ? buf : NULL, size, &msg);
	if (rc != 0) {
		FUZZ_ASSERT(rc == SHMS_EPROTO);
		free(buf);
		return 0;
	}
	FUZZ_ASSERT(size > 0 && size <= SHMS_NOTIFY_MAX);
	FUZZ_ASSERT(memchr(buf, '\0', size) == NULL);
	FUZZ_ASSERT(memchr(msg.status, '\0', sizeof(msg.status)) != NULL);
	FUZZ_ASSERT(memchr(msg.fdname, '\0', sizeof(msg.fdname)) != NULL);
	if (msg.seen & SHMS_NOTIFY_ERRNO)
		FUZZ_ASSERT(msg.errnum >= 0 && msg.errnum <= 4095);
	if (msg.seen & SHMS_NOTIFY_MAINPID)
		FUZZ_ASSERT(msg.mainpid >= 1);
	if (msg.seen & SHMS_NOTIFY_FDNAME)
		FUZZ_ASSERT(msg.fdname[0] != '\0' &&
		    strchr(msg.fdname, ':') == NULL);
	free(buf);
	return 0;
}
