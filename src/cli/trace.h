/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trace language of the hmmsim tool (DESIGN.md, "The trace language"):
 * one command a line, '#' comments, sizes with 0x and K/M/G. This layer
 * only turns text into a struct trace_cmd; it knows nothing of processes or
 * regions, which exec.c resolves, so that a syntax error and a name error
 * are reported the same way but from the place that can tell them apart.
 */
#ifndef HMMSIM_CLI_TRACE_H
#define HMMSIM_CLI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Names of processes, regions, files and devices: [A-Za-z0-9_.-], at most this long. */
#define TRACE_NAME_MAX	63

enum trace_op {
	OP_SET,
	OP_PROC,
	OP_MMAP,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_MADVISE,
	OP_MREMAP,
	OP_FORK,
	OP_EXIT,
	OP_FILE,
	OP_READ,
	OP_WRITE,
	OP_DUMP,
	OP_STATS,
	/* The device commands (exec_dev.c): every op from here on. */
	OP_DEVICE,
	OP_DEV_READ,
	OP_DEV_WRITE,
	OP_MIGRATE_TO_DEV,
	OP_MIGRATE_TO_SYS,
	OP_SNAPSHOT,
	OP_EXCLUSIVE,
	OP_RELEASE,
};

enum trace_map_kind {
	MAP_KIND_ANON,		/* private anonymous, the default */
	MAP_KIND_SHARED,	/* shared anonymous */
	MAP_KIND_FILE,		/* shared mapping of a simulated file */
	MAP_KIND_HUGETLB,	/* private hugetlb, 2M or 1G pages */
};

/* What `set` may change; a line may set several. */
#define SET_THP		(1u << 0)
#define SET_PROFILE	(1u << 1)
#define SET_SEED	(1u << 2)

/* Trace-level protections, mapped to MM_PROT_* by exec.c. */
enum trace_prot {
	PROT_KIND_RW,
	PROT_KIND_R,
	PROT_KIND_NONE,
};

enum trace_advice {
	ADV_DONTNEED,
	ADV_FREE,
	ADV_HUGEPAGE,
	ADV_NOHUGEPAGE,
};

enum trace_thp {
	TRACE_THP_ALWAYS,
	TRACE_THP_MADVISE,
	TRACE_THP_NEVER,
};

/* Device options: which of them `device` was given (trace_cmd.dev_opts). */
#define DEV_OPT_MEMORY	(1u << 0)
#define DEV_OPT_POLICY	(1u << 1)
#define DEV_OPT_MAP	(1u << 2)
#define DEV_OPT_MIGRATE	(1u << 3)
#define DEV_OPT_EXEC	(1u << 4)
#define DEV_OPT_MEMTYPE	(1u << 5)

/* policy=: where the device page size comes from (gpu_size_policy). */
enum trace_dev_policy {
	DEV_POLICY_MAP_ORDER,
	DEV_POLICY_4K,
	DEV_POLICY_ODP,
};

/*
 * struct trace_cmd - one parsed command. Only the fields its op uses are
 * meaningful; the rest are zero.
 * @line:	1-based line in the trace, for diagnostics.
 * @text:	the command as written, without comment and outer blanks (for
 *		echoing and JSON).
 * @proc:	P; @region: R; @name2: NEWR, C, F or D's second name, see below.
 * @dev:	D of the device commands.
 * @file:	F of `file` and of mmap's file=F.
 * @off, @len:	OFF and LEN; @has_range says dump/stats got them.
 * @size:	SIZE of mmap, file; memory= of device.
 */
struct trace_cmd {
	enum trace_op op;
	unsigned int line;
	char text[256];

	char proc[TRACE_NAME_MAX + 1];
	char region[TRACE_NAME_MAX + 1];
	char name2[TRACE_NAME_MAX + 1];
	char dev[TRACE_NAME_MAX + 1];
	char file[TRACE_NAME_MAX + 1];

	uint64_t off;
	uint64_t len;
	bool has_range;
	uint64_t size;

	/* mmap */
	enum trace_map_kind kind;
	uint64_t huge_size;		/* hugetlb: 2M or 1G */
	enum trace_prot prot;		/* mmap, mprotect */
	bool hugepage;
	bool nohugepage;
	uint64_t align;			/* mmap, mremap: 0 when not given */
	uint64_t offset;
	uint64_t pgoff;			/* file mappings: offset in the file */

	enum trace_advice advice;	/* madvise */
	int byte;			/* write, dev_write */
	uint64_t random;		/* random=N of read, write, dev_read, dev_write */

	/* set */
	unsigned int set_mask;
	enum trace_thp thp;
	char profile[TRACE_NAME_MAX + 1];
	uint64_t seed;

	/* device */
	char format[TRACE_NAME_MAX + 1];
	unsigned int dev_opts;		/* DEV_OPT_*: the options given */
	enum trace_dev_policy policy;
	bool map_page;			/* map=page (else large) */
	bool migrate_first_touch;	/* migrate=first-touch (else never) */
	bool exec_thread;		/* exec=thread (else clock) */
	bool coherent;			/* memtype=coherent (else private) */

	/* exclusive ... check: test_hmm's CHECK_EXCLUSIVE instead */
	bool check;
};

/*
 * Parse one line of a trace (without its newline). Returns 1 with *@cmd
 * filled, 0 for a blank or comment-only line, or -EINVAL with a one-line
 * explanation (no file or line prefix) in @msg.
 */
int trace_parse(const char *line, unsigned int lineno, struct trace_cmd *cmd, char *msg,
		size_t msglen);

/* The name of @op as written in traces ("munmap", "dev_read"...). */
const char *trace_op_name(enum trace_op op);

/* The commands and their arguments, one a line, for --commands. */
void trace_print_help(FILE *out);

/* The commands exec_dev.c runs, on a fake GPU. */
static inline bool trace_op_is_device(enum trace_op op)
{
	return op >= OP_DEVICE;
}

/*
 * Parse a size or offset: decimal or 0x hex, optionally followed by K, M or
 * G (binary multiples). Returns 0, or -EINVAL (not a number, overflow).
 */
int trace_parse_size(const char *s, uint64_t *out);

#endif /* HMMSIM_CLI_TRACE_H */
