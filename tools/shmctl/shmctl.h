/*
 * shmctl: inspect and manage shmstate segments; talk to a supervisor.
 *
 * Adding a command:
 *  1. Write `int cmd_<name>(int argc, char **argv,
 *     const struct shmctl_opts *g)' in a file of your own,
 *     tools/shmctl/ctl_<area>.c (shmctl.mk builds every .c file there).
 *     argv[0] is the command name. Parse options with getopt_long() after
 *     setting optind = 0 (a fresh scan); answer -h/--help with
 *     ctl_usage(cmd, stdout) and return 0; on a bad command line call
 *     ctl_usage(cmd, stderr) and return CTL_EXIT_USAGE. Report failures
 *     with warn(3)/warnx(3) (the reason, never just "failed") and return
 *     CTL_EXIT_FAIL, or err(3)/errx(3) with CTL_EXIT_FAIL.
 *  2. Declare it below and add one line to commands[] in shmctl.c (name,
 *     function, synopsis, one-line summary); `shmctl --help' lists it.
 *  3. Document it in man/shmctl.1 (COMMANDS) and test it in
 *     tests/integ/.
 * Print anything that came from disk or a peer through ctl_vis() (tables)
 * or ctl_json_str() (--json): file names are arbitrary bytes. Call
 * anything that reads a file through a mapping (shms_arena_inspect())
 * under ctl_guard_run(): a truncation meanwhile raises SIGBUS.
 */
#ifndef SHMCTL_H
#define SHMCTL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmstate.h"

#define CTL_EXIT_OK	0
#define CTL_EXIT_FAIL	1	/* an operation failed, or verify found damage */
#define CTL_EXIT_USAGE	2	/* bad command line */

/* Global options, parsed before the command name. */
struct shmctl_opts {
	const char	*root;	/* -d DIR; NULL: $SHMSTATE_DIR or default */
};

struct ctl_cmd {
	const char	*name;
	int		(*fn)(int, char **, const struct shmctl_opts *);
	const char	*synopsis;	/* after "shmctl NAME " */
	const char	*summary;
};

/* ---- commands (ctl_list.c, ctl_maint.c) ---- */
int	cmd_list(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_info(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_verify(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_rm(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_gc(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_dump(int argc, char **argv, const struct shmctl_opts *g);
/* ---- supervisor commands (ctl_supervise.c) ---- */
int	cmd_status(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_upgrade(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_restart(int argc, char **argv, const struct shmctl_opts *g);
int	cmd_stop(int argc, char **argv, const struct shmctl_opts *g);

/* ---- shmctl.c ---- */
const struct ctl_cmd *ctl_find(const char *name);
void	ctl_usage(const struct ctl_cmd *c, FILE *fp);
/*
 * The common part of every command's option loop: -h/--help and unknown
 * options. Returns -1 to go on, or the exit status to return.
 */
int	ctl_std_opt(const char *cmd, int ch);

/* ---- ctl_util.c ---- */

/* Options a command may take besides -h/--help (ctl_opts()). */
#define CTL_OPT_FORCE	0x1u	/* -f, --force */
#define CTL_OPT_JSON	0x2u	/* -j, --json */
/*
 * The option loop of a command taking -h/--help and the CTL_OPT_* bits in
 * allow: a fresh getopt_long() scan of argv (argv[0] is the command);
 * *seen (may be NULL when allow is 0) gets the bits given. Returns -1 to
 * go on with the operands at argv + optind, or the exit status to return.
 */
int	ctl_opts(int argc, char **argv, unsigned allow, unsigned *seen);

/* SERVICE[/SEGMENT] split and checked; seg is NULL when absent. */
struct ctl_target {
	char	 service[SHMS_NAME_MAX + 1];
	char	 seg[2 * SHMS_NAME_MAX + 32];
	int	 has_seg;
};
int	ctl_target_parse(const char *arg, struct ctl_target *t);

/*
 * Opens a service. Returns the library code; on failure writes the
 * reason ("SERVICE: …") into why (SHMS_DETAIL_MAX + 128 bytes).
 */
#define CTL_WHY_MAX	(SHMS_DETAIL_MAX + 128)
int	ctl_open(const struct shmctl_opts *g, const char *service,
	    unsigned flags, struct shms_svc **out, char *why);

/* Every file of a service, copied (shms_svc_list() collected). */
struct ctl_entries {
	struct shms_entry	*v;
	size_t			 n;
};
int	ctl_entries_load(struct shms_svc *svc, struct ctl_entries *es);
void	ctl_entries_free(struct ctl_entries *es);
/* ctl_open() and ctl_entries_load(), exiting with the reason on failure. */
struct shms_svc *ctl_open_entries(const struct shmctl_opts *g,
	    const char *service, unsigned flags, struct ctl_entries *es);

/*
 * Calls fn for the named service (one) or for every service under the
 * root; returns how many calls failed (fn returned non-zero).
 */
size_t	ctl_each_service(const struct shmctl_opts *g, const char *one,
	    int (*fn)(const struct shmctl_opts *, const char *, int named));

/*
 * Resolves SEGMENT (a file name, a segment name of the committed
 * checkpoint, or an arena name) to its entry in es; NULL if none.
 */
const struct shms_entry *ctl_resolve(struct shms_svc *svc,
	    const struct ctl_entries *es, const char *seg);

/* Services to act on: the one named, or all under the root. */
struct ctl_services {
	char	**v;
	size_t	  n;
};
int	ctl_services(const struct shmctl_opts *g, const char *one,
	    struct ctl_services *out);
void	ctl_services_free(struct ctl_services *s);

/* Display name of an entry: its segment name if known, else the file. */
const char *ctl_entry_name(const struct shms_entry *e);

/* Why an entry is bad, without the leading "<file>: ". */
const char *ctl_entry_reason(const struct shms_entry *e);

/* Words for enums. */
const char *ctl_state_word(int state);
const char *ctl_status_word(const struct shms_entry *e);
const char *ctl_kind_word(int kind);
/* alive, exited or dead ("-" unknown); lockpid/alive from shms_svc_owner. */
const char *ctl_owner_word(const struct shms_entry *e, pid_t lockpid,
	    int lockalive);

/*
 * Escapes s for a terminal (vis(3), C style) into one of CTL_VIS_BUFS
 * static buffers used in turn: one printf may take that many.
 */
#define CTL_VIS_BUFS	8
const char *ctl_vis(const char *s);
/* Writes s as a JSON string literal (with quotes); NULL gives null. */
void	ctl_json_str(FILE *fp, const char *s);

/* "1.5M"-style size, "3m"-style age, ISO-8601 UTC time, into buf. */
void	ctl_human_size(uint64_t n, char *buf, size_t len);
void	ctl_human_age(uint64_t then_ns, char *buf, size_t len);
void	ctl_iso_time(uint64_t ns, char *buf, size_t len);
uint64_t ctl_now_ns(void);

/* ---- ctl_arena.c: extra arena facts (bytes in use, root set, …) ---- */
#define CTL_EXTRAS_MAX	8
struct ctl_extras {
	size_t	n;
	struct {
		const char	*key;	/* static; JSON key and table label */
		char		 val[64];
		int		 is_num; /* JSON number rather than string */
	} kv[CTL_EXTRAS_MAX];
};
/*
 * Fills x (n = 0 on entry) with facts about entry e of service beyond its
 * header; list shows them in its NOTE column and --json as extra members,
 * info as extra lines. Returns 0, or CTL_GUARD_FIRED (reported on stderr;
 * x left empty) if the arena was truncated while being read.
 */
int	ctl_entry_extras(struct shms_svc *svc, const char *service,
	    const struct shms_entry *e, struct ctl_extras *x);
/*
 * For an arena entry: the full allocator metadata check (and seal
 * checksum); 0 or the error, with the detail on svc, or CTL_GUARD_FIRED
 * (reported on stderr as SERVICE/FILE: CTL_GUARD_WHY). 0 for other
 * entries.
 */
int	ctl_arena_verify(struct shms_svc *svc, const char *service,
	    const struct shms_entry *e);

/* ---- ctl_guard.c: SIGBUS from a file truncated under a mapping ---- */
#define CTL_GUARD_FIRED	1	/* not 0, not a library or -errno code */
#define CTL_GUARD_WHY	"file truncated while being read (SIGBUS)"
/*
 * Calls fn(arg) with a SIGBUS handler installed and returns what fn
 * returned, or CTL_GUARD_FIRED if touching a mapped page raised SIGBUS
 * (fn is abandoned there; the mapping that faulted and the descriptors
 * of its file that fn opened are released), or -errno if the handler
 * could not be installed. The previous SIGBUS disposition is restored
 * before returning. Not reentrant; fn must not take locks or allocate
 * while it reads through a mapping, since a jump skips its unwind.
 */
int	ctl_guard_run(int (*fn)(void *), void *arg);

#endif /* SHMCTL_H */
