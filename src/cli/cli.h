/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the parts of the hmmsim tool share: the executor of traces (exec.c)
 * and the built-in scenarios (scenarios.c). main.c only picks options and
 * feeds one of them to the other.
 */
#ifndef HMMSIM_CLI_H
#define HMMSIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hmmsim/mm.h>

/*
 * struct exec_config - how to replay.
 * @sys:	the simulated machine (RAM, hugetlb pools, initial THP mode).
 * @profile:	kernel behaviour profile of processes created before any
 *		`set profile=`; NULL for mm_profile_current.
 * @source:	the trace's name in diagnostics ("t.trace:12: ...").
 * @check:	run mm_system_check() after every command.
 * @json:	one JSON object per command instead of text.
 * @echo:	print comments, blank lines and each command beside its result
 *		(the readable report of scenarios); ignored with @json.
 * @seed:	the generator of random=N accesses (`set seed=` resets it);
 *		part of the input, so the output stays a function of the input.
 */
struct exec_config {
	struct mm_system_config sys;
	const struct mm_profile *profile;
	const char *source;
	bool check;
	bool json;
	bool echo;
	uint64_t seed;
	FILE *out;
	FILE *err;
};

struct exec;

/* Create the machine and an empty replay state. Returns 0, or mm_system_create()'s error. */
int exec_create(const struct exec_config *cfg, struct exec **out);

/*
 * Replay every line of @in. Returns 0, or -EIO when reading failed (the
 * trace is unreadable: the caller exits 1).
 */
int exec_stream(struct exec *x, FILE *in);

/* Replay a trace held in memory (a built-in scenario). */
int exec_text(struct exec *x, const char *text);

/* --check violations seen so far. */
unsigned int exec_violations(const struct exec *x);

/* Exit every process, drop every file, destroy the machine. */
void exec_destroy(struct exec *x);

/* The errno name of a negative errno ("EINVAL"), or "E<n>" when unknown. */
const char *errno_name(int err);

/*
 * struct scenario - a built-in trace and what the report says before it.
 * @name:	what `hmmsim scenario NAME` takes.
 * @title:	one line for --list and the report's first line.
 * @about:	a few lines on what is simulated and how to read it.
 * @hugetlb_2m, @hugetlb_1g: hugetlb pages the scenario needs (options
 *		given on the command line win).
 * @thp:	the THP mode it starts in.
 * @trace:	the trace text; its comments are the report's narration.
 */
struct scenario {
	const char *name;
	const char *title;
	const char *about;
	uint64_t hugetlb_2m;
	uint64_t hugetlb_1g;
	enum mm_thp_mode thp;
	const char *trace;
};

/* scenarios_gpu.c */
extern const struct scenario scenario_gpu_stream;
extern const struct scenario scenario_fork_cow_mirror;
extern const struct scenario scenario_migration_ping_pong;
extern const struct scenario scenario_fault_storm;

/* The scenarios, in --list order; the first is the default. */
extern const struct scenario *const scenarios[];

const struct scenario *scenario_find(const char *name);

#endif /* HMMSIM_CLI_H */
