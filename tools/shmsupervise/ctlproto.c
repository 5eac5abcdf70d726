/*
 * ctlproto.c: the control-socket protocol, as pure functions so they can
 * be unit tested and fuzzed.
 *
 * A request is one line of printable ASCII, at most CTL_REQ_MAX bytes with
 * its '\n': a command and, for upgrade, one optional absolute path:
 *	status | upgrade [/abs/path] | restart | stop
 * A reply is "ok[ text]" or "error text" on the first line, then
 * "key value" lines; the server closes the connection after it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shmsupervise.h"

static const struct {
	const char	*word;
	enum ctl_cmd	 cmd;
	int		 arg;	/* takes an optional argument */
} ctl_cmds[] = {
	{ "status",	CTL_STATUS,	0 },
	{ "upgrade",	CTL_UPGRADE,	1 },
	{ "restart",	CTL_RESTART,	0 },
	{ "stop",	CTL_STOP,	0 },
};

int
ctl_parse(const char *buf, size_t len, struct ctl_req *req, const char **why)
{
	const char *sp;
	size_t i, wlen;

	if (len == 0) {
		*why = "empty request";
		return -1;
	}
	if (len >= CTL_REQ_MAX) {
		*why = "request too long";
		return -1;
	}
	/* A CR of a telnet-style client is tolerated at the end only. */
	if (buf[len - 1] == '\r' && --len == 0) {
		*why = "empty request";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e) {
			*why = "request contains control or non-ASCII bytes";
			return -1;
		}
	sp = memchr(buf, ' ', len);
	wlen = sp ? (size_t)(sp - buf) : len;
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strlen(ctl_cmds[i].word) != wlen ||
		    memcmp(ctl_cmds[i].word, buf, wlen) != 0)
			continue;
		memset(req, 0, sizeof(*req));
		req->cmd = ctl_cmds[i].cmd;
		if (sp == NULL)
			return 0;
		if (!ctl_cmds[i].arg) {
			*why = "command takes no argument";
			return -1;
		}
		sp++;
		len -= wlen + 1;
		if (len == 0 || memchr(sp, ' ', len) != NULL) {
			*why = "expected one argument";
			return -1;
		}
		if (sp[0] != '/') {
			*why = "binary must be an absolute path";
			return -1;
		}
		if (len >= sizeof(req->arg)) {
			*why = "path too long";
			return -1;
		}
		memcpy(req->arg, sp, len);
		req->arg[len] = '\0';
		return 0;
	}
	*why = "unknown command";
	return -1;
}

void
ctl_addf(struct ctl_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(b->buf) - b->len;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Appends text with control characters replaced by '?' (one line). */
void
ctl_text(struct ctl_buf *b, const char *text)
{
	char clean[1024];
	size_t i;

	for (i = 0; text[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = ((unsigned char)text[i] < 0x20 ||
		    text[i] == 0x7f) ? '?' : text[i];
	clean[i] = '\0';
	ctl_addf(b, "%s", clean);
}

void
ctl_kv(struct ctl_buf *b, const char *key, const char *value)
{
	ctl_addf(b, "%s ", key);
	ctl_text(b, value);
	ctl_addf(b, "\n");
}
