/*
 * test_handoff.c: connection handoff. A real round trip: connections and
 * their state sent with shms_handoff_send() to a datagram socket standing
 * in for the supervisor, received with their fds, taken back with
 * shms_handoff_take(); then the blob parser on every kind of damage.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "shmstate.h"
#include "test_api_errpaths.h"

#define NCONN	300	/* more than one datagram's worth of fds */

struct rx {
	int	fd;
	char	name[SHMS_FDNAME_MAX + 1];
};

/* Receives every datagram queued on s; fds with their FDNAME. */
static int
drain(int s, struct rx *rx, int max, char *last, size_t lastlen)
{
	char buf[SHMS_NOTIFY_MAX + 1];
	union {
		struct cmsghdr	align;
		char		b[CMSG_SPACE(sizeof(int) * SHMS_NOTIFY_FDS_MAX)];
	} cm;
	struct shms_notify_msg m;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *h;
	ssize_t n;
	int k = 0, i, cnt;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			break;
		assert_int_equal(shms_notify_parse(buf, (size_t)n, &m), 0);
		if (last != NULL) {
			memcpy(last, buf, (size_t)n < lastlen ? (size_t)n :
			    lastlen - 1);
			last[(size_t)n < lastlen ? (size_t)n : lastlen - 1] =
			    '\0';
		}
		for (h = CMSG_FIRSTHDR(&mh); h != NULL;
		    h = CMSG_NXTHDR(&mh, h)) {
			int *fds = (int *)CMSG_DATA(h);

			if (h->cmsg_type != SCM_RIGHTS)
				continue;
			assert_true(m.seen & SHMS_NOTIFY_FDSTORE);
			cnt = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (i = 0; i < cnt; i++) {
				assert_true(k < max);
				rx[k].fd = fds[i];
				strcpy(rx[k++].name, m.fdname);
			}
		}
	}
	return k;
}

static void
test_round_trip(void **state)
{
	static struct rx rx[NCONN + 8];
	struct shms_listen_fd lf[NCONN + 8];
	int pairs[NCONN][2], s, i, n, fd;
	struct shms_handoff *h;
	struct shms_handoff_in *in;
	struct shms_handoff_stats st;
	struct shms_handoff_rec rec;
	char path[108], last[256], in_b[64], out_b[64];

	(void)state;
	s = bind_notify("test_handoff", path, sizeof(path));
	assert_int_equal(shms_handoff_new(&h), 0);
	for (i = 0; i < NCONN; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0,
		    pairs[i]), 0);
		snprintf(in_b, sizeof(in_b), "get k%d", i);
		snprintf(out_b, sizeof(out_b), "VALUE %d", i);
		assert_int_equal(shms_handoff_add(h, pairs[i][0], in_b,
		    strlen(in_b), i % 2 ? out_b : NULL, i % 2 ?
		    strlen(out_b) : 0, "SC01", 4), 0);
	}
	/* Not a socket: refused. */
	assert_int_equal(shms_handoff_add(h, s == 0 ? 1 : 0, NULL, 0, NULL,
	    0, NULL, 0) == 0, 0);
	assert_int_equal(shms_handoff_add(h, pairs[0][0], NULL, 0, NULL, 0,
	    "x", SHMS_HANDOFF_APP_MAX + 1), SHMS_ELIMIT);
	assert_int_equal(shms_handoff_send(h), NCONN);
	shms_handoff_free(h);
	n = drain(s, rx, NCONN + 8, NULL, 0);
	assert_int_equal(n, NCONN + 1);
	assert_string_equal(rx[0].name, SHMS_HANDOFF_BLOB_NAME);
	/* The old side closes its copies; the received ones stay. */
	for (i = 0; i < NCONN; i++)
		close(pairs[i][0]);
	/* A listener-like entry, and the order reversed as a store may. */
	lf[0].fd = dup(s);
	strcpy(lf[0].name, "listener");
	for (i = 0; i < n; i++) {
		lf[n - i].fd = rx[i].fd;
		strcpy(lf[n - i].name, rx[i].name);
	}
	assert_int_equal(shms_handoff_take(&in, lf, (size_t)n + 1), NCONN);
	assert_true(lf[0].fd >= 0);
	for (i = 1; i <= n; i++)
		assert_int_equal(lf[i].fd, -1);
	shms_handoff_stats(in, &st);
	assert_int_equal(st.handed, NCONN);
	assert_int_equal(st.taken, NCONN);
	assert_int_equal(st.closed, 0);
	assert_int_equal(shms_handoff_count(in), NCONN);
	for (i = 0; i < NCONN; i++) {
		struct stat a;
		char want[64];
		int j;

		fd = shms_handoff_conn(in, (size_t)i, &rec);
		assert_int_equal(fstat(fd, &a), 0);
		assert_int_equal((uint64_t)a.st_ino, rec.ino);
		/* Find which pair: write through it, read the other end. */
		assert_int_equal(write(fd, "z", 1), 1);
		for (j = 0; j < NCONN; j++) {
			char c;

			if (recv(pairs[j][1], &c, 1, MSG_DONTWAIT) == 1)
				break;
		}
		assert_true(j < NCONN);
		snprintf(want, sizeof(want), "get k%d", j);
		assert_int_equal(rec.inlen, strlen(want));
		assert_memory_equal(rec.in, want, rec.inlen);
		assert_int_equal(rec.outlen, j % 2 ? strlen("VALUE ") +
		    (size_t)snprintf(want, sizeof(want), "%d", j) : 0);
		assert_int_equal(rec.applen, 4);
		assert_memory_equal(rec.app, "SC01", 4);
		close(fd);
	}
	assert_int_equal(shms_handoff_release(in, NCONN), 1);
	n = drain(s, rx, 1, last, sizeof(last));
	assert_int_equal(n, 0);
	assert_string_equal(last, "FDSTOREREMOVE=1\nFDNAME="
	    SHMS_HANDOFF_BLOB_NAME);
	close(lf[0].fd);
	for (i = 0; i < NCONN; i++)
		close(pairs[i][1]);
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
}

/* A blob of two records, as shms_handoff_send() writes it. */
static size_t
make_blob(unsigned char *b, size_t cap)
{
	struct shms_handoff *h;
	struct rx rx[4];
	char path[108];
	int s, p[2][2], n, i;
	ssize_t len;

	s = bind_notify("test_handoff", path, sizeof(path));
	assert_int_equal(shms_handoff_new(&h), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p[i]), 0);
		assert_int_equal(shms_handoff_add(h, p[i][0], "abc", 3, "de",
		    2, "f", 1), 0);
	}
	assert_int_equal(shms_handoff_send(h), 2);
	shms_handoff_free(h);
	n = drain(s, rx, 4, NULL, 0);
	assert_int_equal(n, 3);
	len = pread(rx[0].fd, b, cap, 0);
	assert_true(len > 32);
	/* Sealed: cannot be changed by whoever holds it. */
	assert_int_equal(pwrite(rx[0].fd, "x", 1, 0), -1);
	for (i = 0; i < n; i++)
		close(rx[i].fd);
	for (i = 0; i < 2; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
	return (size_t)len;
}

static void
resum(unsigned char *b, size_t len)
{
	uint64_t x = XXH3_64bits(b + 16, len - 16);

	memcpy(b + 8, &x, 8);
}

static void
test_parse(void **state)
{
	unsigned char b[4096], c[4096];
	struct shms_handoff_rec r[2];
	size_t len, i;
	uint32_t v;

	(void)state;
	len = make_blob(b, sizeof(b));
	assert_int_equal(shms_handoff_parse(b, len, r, 2), 2);
	assert_memory_equal(r[1].in, "abc", 3);
	assert_memory_equal(r[1].out, "de", 2);
	assert_memory_equal(r[1].app, "f", 1);
	assert_int_equal(shms_handoff_parse(b, len, r, 1), SHMS_ELIMIT);
	assert_int_equal(shms_handoff_parse(b, len, NULL, 0), SHMS_ELIMIT);
	/* Any flipped byte is caught. */
	for (i = 0; i < len; i++) {
		memcpy(c, b, len);
		c[i] ^= 0x40;
		assert_true(shms_handoff_parse(c, len, r, 2) < 0);
	}
	/* Any truncation too. */
	for (i = 0; i < len; i++)
		assert_true(shms_handoff_parse(b, i, r, 2) < 0);
	/* Well summed but malformed: the bounds still hold. */
	memcpy(c, b, len);
	v = 2;
	memcpy(c + 16, &v, 4);
	resum(c, len);
	assert_int_equal(shms_handoff_parse(c, len, r, 2), SHMS_EVERSION);
	memcpy(c, b, len);
	v = SHMS_HANDOFF_DATA_MAX;
	memcpy(c + 32 + 16, &v, 4);	/* inlen past the end */
	resum(c, len);
	assert_int_equal(shms_handoff_parse(c, len, r, 2), SHMS_EPROTO);
	memcpy(c, b, len);
	v = 3;
	memcpy(c + 20, &v, 4);		/* count above what is there */
	resum(c, len);
	assert_int_equal(shms_handoff_parse(c, len, r, 2), SHMS_EPROTO);
	memcpy(c, b, len);
	c[32 + 32 + 6] = 1;		/* padding not zero */
	resum(c, len);
	assert_int_equal(shms_handoff_parse(c, len, r, 2), SHMS_EPROTO);
	assert_int_equal(shms_handoff_parse(NULL, len, r, 2), SHMS_EPROTO);
}

static void
test_take_bad(void **state)
{
	struct shms_listen_fd lf[3];
	struct shms_handoff_in *in;
	struct shms_handoff_stats st;
	int p[2], fd;

	(void)state;
	/* A connection without any blob: closed, its peer sees the end. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	lf[0].fd = p[0];
	strcpy(lf[0].name, SHMS_HANDOFF_CONN_NAME);
	/* An unsealed "blob". */
	fd = memfd_create("x", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "SHMSHOFF", 8), 8);
	lf[1].fd = fd;
	strcpy(lf[1].name, SHMS_HANDOFF_BLOB_NAME);
	/* A regular file named as a connection. */
	lf[2].fd = memfd_create("y", MFD_CLOEXEC);
	strcpy(lf[2].name, SHMS_HANDOFF_CONN_NAME);
	assert_int_equal(shms_handoff_take(&in, lf, 3), 0);
	shms_handoff_stats(in, &st);
	assert_int_equal(st.bad_blobs, 1);
	assert_int_equal(st.closed, 2);
	assert_true(strstr(shms_handoff_detail(in), "sealed") != NULL);
	assert_int_equal(read(p[1], &fd, 1), 0);
	assert_int_equal(shms_handoff_release(in, 0), 0);
	close(p[1]);
	assert_int_equal(shms_handoff_release(NULL, 0), 0);
	assert_int_equal(shms_handoff_take(NULL, lf, 0), -EINVAL);
}

/*
 * The same socket passed twice (two fds of one open file): taken once,
 * and the extra fd is only closed: a shutdown would end the connection
 * just taken.
 */
static void
test_take_dup(void **state)
{
	char path[108], last[256], c;
	struct shms_listen_fd lf[3];
	struct shms_handoff_in *in;
	struct shms_handoff_stats st;
	struct shms_handoff_rec rec;
	struct shms_handoff *h;
	struct rx rx[4];
	int s, p[2], n, i, k = 0, fd;

	(void)state;
	s = bind_notify("test_handoff", path, sizeof(path));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	assert_int_equal(shms_handoff_new(&h), 0);
	assert_int_equal(shms_handoff_add(h, p[0], "ge", 2, NULL, 0, "A", 1),
	    0);
	assert_int_equal(shms_handoff_send(h), 1);
	shms_handoff_free(h);
	close(p[0]);
	n = drain(s, rx, 4, last, sizeof(last));
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		lf[k].fd = rx[i].fd;
		strcpy(lf[k++].name, rx[i].name);
		if (strcmp(rx[i].name, SHMS_HANDOFF_CONN_NAME) == 0) {
			lf[k].fd = dup(rx[i].fd);
			assert_true(lf[k].fd >= 0);
			strcpy(lf[k++].name, rx[i].name);
		}
	}
	assert_int_equal(k, 3);
	assert_int_equal(shms_handoff_take(&in, lf, 3), 1);
	shms_handoff_stats(in, &st);
	assert_int_equal(st.taken, 1);
	assert_int_equal(st.closed, 0);
	fd = shms_handoff_conn(in, 0, &rec);
	assert_int_equal(rec.inlen, 2);
	/* Still open both ways. */
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(p[1], &c, 1), 1);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'y');
	close(fd);
	close(p[1]);
	assert_int_equal(shms_handoff_release(in, 1), 1);
	(void)drain(s, rx, 4, NULL, 0);
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_take_bad),
		cmocka_unit_test(test_take_dup),
	};

	unsetenv("NOTIFY_SOCKET");
	return cmocka_run_group_tests_name("handoff", tests, NULL, NULL);
}
