/*
 * fuzz_ctlproto: the supervisor's control-socket request parser
 * (ctl_parse in tools/shmsupervise/ctlproto.c), and the reply helpers
 * that echo text back (ctl_kv, ctl_text). A request line is fed as the
 * supervisor does: the bytes before the first '\n'.
 * Invariants: a parsed upgrade path is absolute, NUL-terminated, without
 * spaces; replies stay inside their buffer with no control bytes from the
 * input.
 */
#include <limits.h>
#include <string.h>

#include "shmsupervise.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_buf b;	/* 16 KiB: off the stack */
	struct ctl_req req;
	const char *why = NULL;
	const unsigned char *nl;
	char *buf, *text;
	size_t len, i;
	int rc;

	nl = memchr(data, '\n', size);
	len = nl != NULL ? (size_t)(nl - data) : size;
	if ((buf = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(buf, data, len);
	rc = ctl_parse(buf, len, &req, &why);
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1 && why != NULL && why[0] != '\0');
	} else {
		FUZZ_ASSERT(len > 0 && len < CTL_REQ_MAX);
		FUZZ_ASSERT(req.cmd == CTL_STATUS || req.cmd == CTL_UPGRADE ||
		    req.cmd == CTL_RESTART || req.cmd == CTL_STOP);
		FUZZ_ASSERT(memchr(req.arg, '\0', sizeof(req.arg)) != NULL);
		if (req.arg[0] != '\0') {
			FUZZ_ASSERT(req.cmd == CTL_UPGRADE);
			FUZZ_ASSERT(req.arg[0] == '/');
			FUZZ_ASSERT(strchr(req.arg, ' ') == NULL);
		}
	}
	free(buf);

	/* The whole input as a value echoed in a reply. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&b, 0, sizeof(b));
	ctl_kv(&b, "detail", text);
	ctl_addf(&b, "%s\n", "ok");
	ctl_text(&b, text);
	FUZZ_ASSERT(b.len < sizeof(b.buf));
	FUZZ_ASSERT(b.buf[b.len] == '\0');
	for (i = 0; i < b.len; i++)
		FUZZ_ASSERT((unsigned char)b.buf[i] >= 0x20 ||
		    b.buf[i] == '\n');
	free(text);
	return 0;
}
