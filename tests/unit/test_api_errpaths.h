/*
 * test_api_errpaths.h: helpers shared by test_api_errpaths.c,
 * test_api_errpaths_sys.c and test_handoff.c.
 */
#ifndef TEST_API_ERRPATHS_H
#define TEST_API_ERRPATHS_H

#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * A datagram socket standing in for the supervisor, bound at a path of
 * this process (tag tells the test files apart) and named by
 * $NOTIFY_SOCKET.
 */
static inline int
bind_notify(const char *tag, char *path, size_t len)
{
	struct sockaddr_un sa;
	int s;

	snprintf(path, len, "/tmp/%s.%ld.sock", tag, (long)getpid());
	unlink(path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	return s;
}

#endif /* TEST_API_ERRPATHS_H */
