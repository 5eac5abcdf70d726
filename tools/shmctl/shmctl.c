/*
 * shmctl: inspect and manage the shared-memory state of shmstate services.
 * See shmctl(1). Commands live in ctl_*.c; shmctl.h says how to add one.
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmctl.h"

static const struct ctl_cmd commands[] = {
	{ "list", cmd_list, "[SERVICE] [--json]",
	    "list segment files, their state and owner" },
	{ "info", cmd_info, "SERVICE[/SEGMENT]",
	    "every header field of a segment, or a service summary" },
	{ "verify", cmd_verify, "[SERVICE]",
	    "recompute the checksums of committed segments" },
	{ "rm", cmd_rm, "[--force] SERVICE[/SEGMENT]",
	    "remove a segment file, or a whole service" },
	{ "gc", cmd_gc, "[SERVICE]",
	    "remove uncommitted and superseded files" },
	{ "dump", cmd_dump, "[--force] SERVICE/SEGMENT",
	    "write a segment's payload to stdout" },
	{ "status", cmd_status, "SERVICE [--json]",
	    "state, pid, timings of a supervised service" },
	{ "upgrade", cmd_upgrade, "SERVICE [--binary PATH]",
	    "swap in a new binary; roll back if it fails" },
	{ "restart", cmd_restart, "SERVICE",
	    "stop and start the supervised service" },
	{ "stop", cmd_stop, "SERVICE",
	    "stop the service and its supervisor" },
};

const struct ctl_cmd *
ctl_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void
ctl_usage(const struct ctl_cmd *c, FILE *fp)
{
	fprintf(fp, "usage: shmctl [-d dir] %s %s\n", c->name, c->synopsis);
	if (fp == stdout)
		fprintf(fp, "  %s\n", c->summary);
}

int
ctl_std_opt(const char *cmd, int ch)
{
	switch (ch) {
	case 'h':
		ctl_usage(ctl_find(cmd), stdout);
		return CTL_EXIT_OK;
	default:
		ctl_usage(ctl_find(cmd), stderr);
		return CTL_EXIT_USAGE;
	}
}

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: shmctl [-d dir] command [args]\n"
	    "       shmctl --help | --version\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-7s %-30s %s\n", commands[i].name,
		    commands[i].synopsis, commands[i].summary);
	fprintf(fp, "\n'shmctl COMMAND --help' describes a command; "
	    "see shmctl(1).\n");
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "dir",	required_argument,	NULL, 'd' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 },
	};
	struct shmctl_opts g = { NULL };
	const struct ctl_cmd *c;
	int ch;

	/* '+': the first operand is the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (optarg[0] == '\0')
				errx(CTL_EXIT_USAGE, "-d: empty directory");
			g.root = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("shmctl (shmstate) %s\n", SHMS_VERSION_STRING);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if ((c = ctl_find(argv[0])) == NULL) {
		warnx("unknown command: %s", ctl_vis(argv[0]));
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	/* Commands set optind = 0 themselves for a fresh getopt scan. */
	return c->fn(argc, argv, &g);
}
