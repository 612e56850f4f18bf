// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Result lines. Text mode prints "ok a=1 b=2" (only the counters that
 * changed, so a line reads as what the command cost); JSON prints every
 * counter, zeros included, so that scripts see a fixed schema; echo mode
 * puts the command in front, for the reports of scenarios.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "result.h"

/* Column of results in echoed output: commands of most traces fit before it. */
#define ECHO_WIDTH	34

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p) {
		fputs("hmmsim: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = (sb->len + n + 1) * 2;
		sb->s = xrealloc(sb->s, sb->cap);
	}
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, n + 1, fmt, ap);
	va_end(ap);
	sb->len += n;
}

void sb_reset(struct strbuf *sb)
{
	sb_printf(sb, "%s", "");	/* allocates on first use: s is never NULL after */
	sb->len = 0;
	sb->s[0] = '\0';
}

void sb_json_str(struct strbuf *sb, const char *s)
{
	sb_printf(sb, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_printf(sb, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			sb_printf(sb, "\\u%04x", *s);
		else
			sb_printf(sb, "%c", *s);
	}
	sb_printf(sb, "\"");
}

const char *errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EIO, "EIO" }, { E2BIG, "E2BIG" },
		{ EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EFAULT, "EFAULT" },
		{ EBUSY, "EBUSY" }, { EEXIST, "EEXIST" }, { ENODEV, "ENODEV" },
		{ EINVAL, "EINVAL" }, { ENOSPC, "ENOSPC" }, { ERANGE, "ERANGE" },
		{ ENOSYS, "ENOSYS" }, { EOVERFLOW, "EOVERFLOW" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ EUCLEAN, "EUCLEAN" }, { EHWPOISON, "EHWPOISON" },
	};
	static char buf[16];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].err == -err)
			return names[i].name;
	}
	snprintf(buf, sizeof(buf), "E%d", -err);
	return buf;
}

void res_begin(struct result *r, const struct trace_cmd *cmd)
{
	r->cmd = cmd;
	r->msg[0] = '\0';
	sb_reset(&r->text);
	sb_reset(&r->obj);
	sb_reset(&r->extra);
}

void res_u64(struct result *r, const char *name, uint64_t v)
{
	sb_printf(&r->text, " %s=%" PRIu64, name, v);
	sb_printf(&r->obj, ",\"%s\":%" PRIu64, name, v);
}

void res_hex(struct result *r, const char *name, uint64_t v)
{
	sb_printf(&r->text, " %s=0x%" PRIx64, name, v);
	sb_printf(&r->obj, ",\"%s\":%" PRIu64, name, v);
}

/* The start of a JSON object about the command: where it came from. */
static void json_head(struct result *r, struct strbuf *sb)
{
	sb_printf(sb, "{\"line\":%u,\"cmd\":", r->cmd->line);
	sb_json_str(sb, r->cmd->text);
}

/* Print the result line: @head ("ok", "error EINVAL", "dump p buf"), then the counters. */
static void emit(struct result *r, const char *head, const char *status, bool dump)
{
	if (r->json) {
		struct strbuf sb = { 0 };

		json_head(r, &sb);
		sb_printf(&sb, ",\"result\":\"%s\"%s}", status, r->obj.s);
		fprintf(r->out, "%s\n", sb.s);
		free(sb.s);
	} else if (r->echo) {
		/*
		 * The command leads and the lines that detail it follow; a dump
		 * shows only its runs, since the command names what is dumped.
		 */
		fprintf(r->out, "%-*s %s%s\n%s", ECHO_WIDTH, r->cmd->text, dump ? "" : head,
			dump ? r->text.s + 1 : r->text.s, r->extra.s);
	} else {
		/* The result line comes last, so that a reader can tell where a command ends. */
		fprintf(r->out, "%s%s%s\n", r->extra.s, head, r->text.s);
	}
}

void res_ok(struct result *r)
{
	char head[3 * TRACE_NAME_MAX + 16];

	if (r->cmd->op == OP_DUMP) {
		snprintf(head, sizeof(head), "dump %s %s", r->cmd->proc, r->cmd->region);
		emit(r, head, "ok", true);
	} else if (r->cmd->op == OP_SNAPSHOT) {
		snprintf(head, sizeof(head), "snapshot %s %s %s", r->cmd->dev, r->cmd->proc,
			 r->cmd->region);
		emit(r, head, "ok", true);
	} else {
		emit(r, "ok", "ok", false);
	}
}

void res_err(struct result *r, int err)
{
	char head[32];

	snprintf(head, sizeof(head), "error %s", errno_name(err));
	sb_reset(&r->text);
	sb_reset(&r->obj);
	sb_reset(&r->extra);
	sb_printf(&r->obj, ",\"errno\":\"%s\"", errno_name(err));
	if (r->msg[0]) {
		sb_printf(&r->obj, ",\"message\":");
		sb_json_str(&r->obj, r->msg);
	}
	emit(r, head, "error", false);
}

/*
 * stdout is flushed before anything goes to stderr, so that the two streams
 * interleave in order when they share a file or a terminal.
 */
int diag(struct result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	fflush(r->out);
	fprintf(r->err, "%s:%u: %s\n", r->source, r->cmd->line, r->msg);
	fflush(r->err);
	return -EINVAL;
}

void res_violation(struct result *r, const char *msg)
{
	fflush(r->out);
	fprintf(r->err, "%s:%u: check failed: %s\n", r->source, r->cmd->line, msg);
	if (r->json) {
		struct strbuf sb = { 0 };

		json_head(r, &sb);
		sb_printf(&sb, ",\"check\":");
		sb_json_str(&sb, msg);
		fprintf(r->out, "%s}\n", sb.s);
		free(sb.s);
	} else {
		fprintf(r->out, "check failed: %s:%u: %s\n", r->source, r->cmd->line, msg);
	}
}

static const struct {
	const char *name;
	size_t off;
	bool gauge;	/* a level, not an event: never shown as a change */
} stat_fields[] = {
#define F(n, g) { #n, offsetof(struct mm_stats, n), g }
	F(faults, false), F(anon_pages, false), F(thp_fault_alloc, false),
	F(thp_fault_fallback, false), F(zero_page, false), F(huge_zero_page, false),
	F(cow_copy, false), F(cow_reuse, false), F(thp_split_pmd, false),
	F(deferred_split, false), F(hugetlb_faults, false), F(notifications, false),
	F(rss_anon, true), F(rss_file, true), F(vmas, true),
#undef F
};

#define NR_STAT_FIELDS	(sizeof(stat_fields) / sizeof(stat_fields[0]))

static uint64_t stat_get(const struct mm_stats *st, size_t i)
{
	return *(const uint64_t *)((const char *)st + stat_fields[i].off);
}

void res_deltas_cpu(struct result *r, const struct mm_stats *a, const struct mm_stats *b,
		    bool cpu)
{
	for (size_t i = 0; i < NR_STAT_FIELDS; i++) {
		uint64_t d = stat_get(b, i) - stat_get(a, i);
		const char *name = stat_fields[i].name;

		if (stat_fields[i].gauge)
			continue;
		if (cpu && !strcmp(name, "faults"))
			name = "cpu_faults";
		if (d)
			sb_printf(&r->text, " %s=%" PRIu64, name, d);
		sb_printf(&r->obj, ",\"%s\":%" PRIu64, name, d);
	}
}

void res_deltas(struct result *r, const struct mm_stats *a, const struct mm_stats *b)
{
	res_deltas_cpu(r, a, b, false);
}

void put_stats(struct strbuf *sb, const struct mm_stats *st, bool json)
{
	for (size_t i = 0; i < NR_STAT_FIELDS; i++) {
		if (json)
			sb_printf(sb, "%s\"%s\":%" PRIu64, i ? "," : "{", stat_fields[i].name,
				  stat_get(st, i));
		else
			sb_printf(sb, " %s=%" PRIu64, stat_fields[i].name, stat_get(st, i));
	}
	if (json)
		sb_printf(sb, "}");
}

void res_free(struct result *r)
{
	free(r->text.s);
	free(r->obj.s);
	free(r->extra.s);
}
