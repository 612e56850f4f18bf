/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Result lines of the hmmsim tool: what each command prints, in text, echoed
 * text or JSON, and the diagnostics that name a trace line. Kept apart from
 * exec.c so that the format of the output, which tests and scripts parse, is
 * decided in one place.
 */
#ifndef HMMSIM_CLI_RESULT_H
#define HMMSIM_CLI_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hmmsim/mm.h>

#include "trace.h"

/* A growing string. Allocation failure is fatal: a half-printed result helps nobody. */
struct strbuf {
	char *s;
	size_t len, cap;
};

void *xrealloc(void *p, size_t size);
__attribute__((format(printf, 2, 3))) void sb_printf(struct strbuf *sb, const char *fmt, ...);
void sb_reset(struct strbuf *sb);
/* Append @s as a JSON string literal. */
void sb_json_str(struct strbuf *sb, const char *s);

/*
 * struct result - the result of the command being run.
 * @out, @err, @source, @json, @echo: where and how to print (exec_config's).
 * @cmd:	the command; its line and text head every result.
 * @text:	counters for the text line, " a=1 b=2".
 * @obj:	the same as JSON members, ",\"a\":1,\"b\":2".
 * @extra:	whole lines that go with the result line (a bare `stats`).
 * @msg:	the diagnostic, repeated in the JSON error object.
 */
struct result {
	FILE *out;
	FILE *err;
	const char *source;
	bool json;
	bool echo;
	const struct trace_cmd *cmd;
	struct strbuf text;
	struct strbuf obj;
	struct strbuf extra;
	char msg[512];
};

/* Start the result of @cmd. */
void res_begin(struct result *r, const struct trace_cmd *cmd);
void res_u64(struct result *r, const char *name, uint64_t v);
/* An address: hex in text, a number in JSON. */
void res_hex(struct result *r, const char *name, uint64_t v);

/*
 * Print "ok" and the counters; "dump P R" and the runs for a dump,
 * "snapshot D P R" and the runs for a snapshot.
 */
void res_ok(struct result *r);
/* Print "error ENAME" (and the diagnostic, in JSON). */
void res_err(struct result *r, int err);

/*
 * Report bad input: "SOURCE:LINE: message" on stderr, kept for the JSON
 * error object. Returns -EINVAL, for the caller to hand to res_err().
 */
__attribute__((format(printf, 2, 3))) int diag(struct result *r, const char *fmt, ...);

/* A --check violation after the command: a line on stdout and on stderr. */
void res_violation(struct result *r, const char *msg);

/* The event counters that changed from @a to @b (all of them in JSON). */
void res_deltas(struct result *r, const struct mm_stats *a, const struct mm_stats *b);

/* The same, with the process's "faults" named "cpu_faults" when @cpu (device commands). */
void res_deltas_cpu(struct result *r, const struct mm_stats *a, const struct mm_stats *b,
		    bool cpu);

/* Every counter of @st, as " name=value" or as a JSON object. */
void put_stats(struct strbuf *sb, const struct mm_stats *st, bool json);

void res_free(struct result *r);

#endif /* HMMSIM_CLI_RESULT_H */
