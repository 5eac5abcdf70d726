/*
 * shmsupervise.h: shared declarations of the supervisor's modules.
 *
 * One process, one child at a time, one poll(2) loop; signals arrive
 * through a signalfd, so no work happens in a signal handler.
 */
#ifndef SHMSUPERVISE_H
#define SHMSUPERVISE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmstate.h"

struct pollfd;

#define SUP_LISTEN_MAX		64	/* --listen options */
#define SUP_ARGS_MAX		256	/* child argv entries */
#define SUP_ERR_LINES		20	/* child stderr lines kept */
#define SUP_ERR_LINE_MAX	240	/* bytes per kept line */
#define SUP_CTL_CONNS		8	/* control connections at once */
#define SUP_BACKOFF_MIN_MS	100	/* first restart delay */
#define SUP_BACKOFF_RESET_S	10	/* ready this long: backoff starts over */

/* Files in the service directory that belong to the supervisor. */
#define SUP_LOCK_FILE		"supervisor.lock"
#define SUP_CONTROL_SOCK	"control.sock"
#define SUP_NOTIFY_SOCK		"notify.sock"

/* What `shmctl status' calls the supervisor's state. */
enum sup_state {
	ST_STARTING,	/* child started, waiting for READY=1 */
	ST_READY,
	ST_UPGRADING,	/* an upgrade, restart or rollback in progress */
	ST_STOPPING,	/* graceful stop of the whole supervisor */
	ST_BACKOFF,	/* child died; restart scheduled */
};

/* Phases of an upgrade (and of restart, which upgrades to itself). */
enum up_phase {
	UP_NONE,
	UP_STOP,	/* stop signal sent to the old child */
	UP_START,	/* new binary started, waiting for READY=1 */
	UP_ROLLBACK,	/* new one failed; previous binary started again */
};

struct listener {
	char	 spec[PATH_MAX + 32];	/* as given, without the name */
	char	 name[SHMS_FDNAME_MAX + 1];
	char	 desc[PATH_MAX + 64];	/* resolved, e.g. tcp:127.0.0.1:4567 */
	char	 unlink_path[PATH_MAX];	/* unix socket to remove at exit */
	int	 fd;
};

/* The one child process. */
struct child {
	pid_t		pid;		/* 0: none */
	pid_t		mainpid;	/* MAINPID= it declared, else 0 */
	char		binary[PATH_MAX];
	int		binfd;		/* O_PATH fd of the file it was started
					 * from, for a rollback after the path
					 * was replaced; -1 */
	int		errfd;		/* its stderr, read end; -1 */
	int		execfd;		/* CLOEXEC pipe: EOF at exec; -1 */
	int		ready;
	int		killed;		/* SIGKILL sent */
	int		wstatus;	/* from waitpid, valid once reaped */
	uint64_t	t_fork, t_exec, t_ready, t_term, t_exit;
	uint64_t	ckpt_us, adopt_us;	/* as the child reported */
	unsigned	seen;		/* SHMS_NOTIFY_* bits seen so far */
	char		status[SHMS_STATUS_MAX + 1];
	/* stderr: partial line, then a ring of the last complete lines. */
	char		line[SUP_ERR_LINE_MAX];
	size_t		linelen;
	char		ring[SUP_ERR_LINES][SUP_ERR_LINE_MAX];
	unsigned	ring_next, ring_count;
};

/* The result of the last upgrade, as `shmctl status' shows it. */
struct up_report {
	int		 done;		/* an upgrade ever finished */
	char		 kind[16];	/* upgrade, restart, reload */
	char		 result[16];	/* ok, rolled-back, failed */
	char		 reason[512];
	char		 from[PATH_MAX], to[PATH_MAX];
	int		 old_killed;	/* old child needed SIGKILL */
	int		 new_owned;	/* failed new child had taken the lock */
	double		 stop_ms, ckpt_ms, exec_ms, ready_ms, adopt_ms;
	double		 total_ms, overhead_ms;
	char		 errlines[SUP_ERR_LINES][SUP_ERR_LINE_MAX];
	unsigned	 nerr;
};

struct config {
	char		 name[SHMS_NAME_MAX + 1];
	char		 root[PATH_MAX];	/* state root, $SHMSTATE_DIR */
	char		 dir[PATH_MAX];		/* root/name */
	char		*argv[SUP_ARGS_MAX + 1];	/* child argv, argv[0] any */
	int		 argc;
	char		 binary[PATH_MAX];	/* current configured binary */
	struct listener	 ls[SUP_LISTEN_MAX];
	int		 nls;
	int		 stop_signal;
	unsigned	 stop_timeout_ms, ready_timeout_ms;
	unsigned	 max_restarts, restart_window_s, backoff_max_ms;
	const char	*pidfile;
	int		 debug;
	unsigned	 max_handoff_conns;	/* --max-handoff-conns */
	uint64_t	 max_handoff_blob;	/* --max-handoff-blob, bytes */
};

/* shmsupervise.c */
extern struct config	 conf;
uint64_t	 now_ns(void);
double		 ms_between(uint64_t a, uint64_t b);
const char	*state_name(enum sup_state st);

/* sockets.c */
int	 listen_parse(const char *arg, struct listener *l, const char *defname,
	    char *err, size_t errlen);
int	 listen_open(struct listener *l, char *err, size_t errlen);
void	 listen_cleanup(struct listener *l);
int	 unix_bind(const char *path, int type, mode_t mode, int *fdp,
	    char *err, size_t errlen);
int	 notify_open(const char *dir, char *addr, size_t addrlen);
/*
 * Reads one datagram from the notify socket. Returns 1 and fills *msg,
 * *pid and *when (CLOCK_MONOTONIC ns at which the kernel queued it, so
 * that a late wake-up does not skew the phase times) when a well-formed
 * message arrived from an allowed sender, 0 when it was dropped (logged),
 * -1 when there is nothing more to read.
 */
int	 notify_recv(int s, const struct child *c,
	    struct shms_notify_msg *msg, pid_t *pid, uint64_t *when);
/* fds that came with the last message notify_recv() returned 1 for. */
int	 notify_fds(int **fds);

/* child.c */
/*
 * An fd passed to the child as fd 3, 4, ... with LISTEN_FDS and its name
 * in LISTEN_FDNAMES: the listening sockets, in --listen order. Room for
 * the fd store (FDSTORE=1, connection handoff): the fds a previous child
 * handed over go after them, under their FDNAME=.
 */
struct passfd {
	int		 fd;
	const char	*name;
};
#define SUP_HANDOFF_CONNS_CAP	8192	/* --max-handoff-conns at most: their
					 * names must fit LISTEN_FDNAMES */
#define SUP_HANDOFF_BLOBS	4	/* handoff blobs held at once */
#define SUP_PASSFD_MAX	(SUP_LISTEN_MAX + SUP_HANDOFF_CONNS_CAP + \
			    SUP_HANDOFF_BLOBS)

/*
 * Starts binary with the npf fds of pf. binfd >= 0: exec that file
 * (execveat) rather than what the path names now; ownership passes to c.
 * Returns 0 or -1 with err.
 */
int	 child_start(struct child *c, const char *binary, int binfd,
	    const struct passfd *pf, int npf, char *err, size_t errlen);
void	 child_read_exec(struct child *c);
void	 child_read_stderr(struct child *c, int final);
void	 child_close_fds(struct child *c);
/* Last n stderr lines, oldest first, into out (n <= SUP_ERR_LINES). */
unsigned child_errlines(const struct child *c,
	    char out[][SUP_ERR_LINE_MAX], unsigned n);
void	 child_describe_exit(int wstatus, char *buf, size_t len);
void	 child_signal(struct child *c, int sig);

/* fdstore.c: connections handed over between two children. */
struct fdstore_counts {
	unsigned	handed;		/* connections a child handed over */
	unsigned	taken;		/* ... that the next child took */
	unsigned	closed;		/* ... closed: nobody took them, over
					 * the limit, refused, stopping */
	unsigned	over_limit;	/* over --max-handoff-conns */
	unsigned	refused;	/* not a socket / not a sealed blob */
};
/* Takes fds received with FDSTORE=1 and FDNAME=name; keep 0: close. */
void	 fdstore_add(const char *name, const int *fds, int n, int keep);
/* Appends the held fds to pf (at most max); returns how many. */
int	 fdstore_passfds(struct passfd *pf, int max);
/* The child that got them (after a successful start). */
void	 fdstore_passed(pid_t pid);
/* X_SHMS_CONNS_TAKEN= / FDSTOREREMOVE= from pid. */
void	 fdstore_report(pid_t pid, const struct shms_notify_msg *m);
/* pid is ready: let go of what it got. Returns 1 if some were not taken. */
int	 fdstore_commit(pid_t pid);
/* Shuts down and closes everything held. */
void	 fdstore_drop(const char *why);
int	 fdstore_held(void);
void	 fdstore_new_round(void);
const struct fdstore_counts *fdstore_counts(void);

/* control.c */
int	 control_open(const char *dir, char *err, size_t errlen);
void	 control_close(const char *dir);
int	 control_listen_fd(void);
int	 control_pollfds(struct pollfd *pfd, int max);
void	 control_handle(struct pollfd *pfd, int n);
void	 control_accept(void);
void	 control_expire(uint64_t now);
uint64_t control_next_deadline(void);
/* Sends text (a full reply) to connection id and closes it. */
void	 control_reply(int id, const char *text);

/* ctlproto.c: the control protocol, pure functions. */
#define CTL_REQ_MAX	4096	/* bytes of one request line, '\n' included */

enum ctl_cmd {
	CTL_STATUS,
	CTL_UPGRADE,
	CTL_RESTART,
	CTL_STOP,
};

struct ctl_req {
	enum ctl_cmd	cmd;
	char		arg[PATH_MAX];	/* upgrade: binary, or "" */
};

/*
 * Parses one request line of len bytes (the terminating '\n' excluded).
 * Returns 0, or -1 with *why set to a static reason.
 */
int	 ctl_parse(const char *buf, size_t len, struct ctl_req *req,
	    const char **why);

/* Reply building: a bounded buffer; appends are truncated, never overflow. */
struct ctl_buf {
	char	buf[16384];
	size_t	len;
};
void	 ctl_addf(struct ctl_buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 ctl_text(struct ctl_buf *b, const char *text);
/* Adds "key value\n" with control characters in value replaced by '?'. */
void	 ctl_kv(struct ctl_buf *b, const char *key, const char *value);

/* Dispatch, implemented in shmsupervise.c. */
void	 sup_request(int conn, const struct ctl_req *req);
void	 sup_conn_gone(int conn);

#endif /* SHMSUPERVISE_H */
