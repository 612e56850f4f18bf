// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The trace lexer and parser. A line is cut at '#', split on blanks, and
 * its first word picks the command; each command then takes its positional
 * arguments and its keyword options (key=value or a bare word) in the order
 * DESIGN.md gives, except that options may come in any order, because
 * people write "mmap p b 4M hugepage r" as often as the other way round.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

#define MAX_TOKENS	32

static const struct {
	const char *name;
	const char *usage;
} ops[] = {
	[OP_SET] = { "set", "set thp=always|madvise|never | profile=NAME | seed=N" },
	[OP_PROC] = { "proc", "proc P" },
	[OP_MMAP] = { "mmap", "mmap P R SIZE [anon|shared|file=F|hugetlb=2M|hugetlb=1G] "
			      "[rw|r|none] [hugepage|nohugepage|align=SIZE|offset=SIZE|pgoff=SIZE]..." },
	[OP_MUNMAP] = { "munmap", "munmap P R OFF LEN" },
	[OP_MPROTECT] = { "mprotect", "mprotect P R OFF LEN rw|r|none" },
	[OP_MADVISE] = { "madvise", "madvise P R OFF LEN dontneed|free|hugepage|nohugepage" },
	[OP_MREMAP] = { "mremap", "mremap P R NEWR [align=SIZE] [offset=SIZE]" },
	[OP_FORK] = { "fork", "fork P C" },
	[OP_EXIT] = { "exit", "exit P" },
	[OP_FILE] = { "file", "file F SIZE" },
	[OP_READ] = { "read", "read P R OFF LEN [random=N]" },
	[OP_WRITE] = { "write", "write P R OFF LEN [BYTE] [random=N]" },
	[OP_DUMP] = { "dump", "dump P R [OFF LEN]" },
	[OP_STATS] = { "stats", "stats [P|D]" },
	[OP_DEVICE] = { "device", "device D [format=gp100|x86|4k] [memory=SIZE] "
				  "[policy=map-order|4k|odp] [map=large|page] "
				  "[migrate=never|first-touch] [exec=clock|thread] "
				  "[memtype=private|coherent]" },
	[OP_DEV_READ] = { "dev_read", "dev_read D P R OFF LEN [random=N]" },
	[OP_DEV_WRITE] = { "dev_write", "dev_write D P R OFF LEN [BYTE] [random=N]" },
	[OP_MIGRATE_TO_DEV] = { "migrate_to_dev", "migrate_to_dev D P R OFF LEN" },
	[OP_MIGRATE_TO_SYS] = { "migrate_to_sys", "migrate_to_sys D P R OFF LEN" },
	[OP_SNAPSHOT] = { "snapshot", "snapshot D P R OFF LEN" },
	[OP_EXCLUSIVE] = { "exclusive", "exclusive D P R OFF LEN [check]" },
	[OP_RELEASE] = { "release", "release D" },
};

#define NR_OPS	(sizeof(ops) / sizeof(ops[0]))

const char *trace_op_name(enum trace_op op)
{
	return (unsigned int)op < NR_OPS ? ops[op].name : "?";
}

void trace_print_help(FILE *out)
{
	fputs("One command a line; '#' starts a comment. SIZE, OFF and LEN take 0x hex and the\n"
	      "suffixes K, M, G. OFF and LEN are relative to region R. Each command prints one\n"
	      "result line: 'ok' and counters as name=value, or 'error ENAME'.\n\n", out);
	for (size_t i = 0; i < NR_OPS; i++)
		fprintf(out, "  %s\n", ops[i].usage);
	fputs("\ndump prints 'dump P R' and runs COUNT:CODE@PFN. CODE: - unmapped, H PMD or larger\n"
	      "leaf, T PTE-mapped page of a large folio, p small page, z zero page, d device-private,\n"
	      "m migration, e device-exclusive entry; then x mapped once or . more; then w writable\n"
	      "or . not.\n\n"
	      "Device commands print faults= (device fault rounds) cpages= (pages) sum= (bytes\n"
	      "read) sim_ns= (simulated device time), then the process's counters that changed\n"
	      "(its CPU faults as cpu_faults=). snapshot prints 'snapshot D P R' and runs\n"
	      "COUNT:FLAGS, FLAGS of ERROR NONE READ WRITE ZERO PMD PUD DEV_PRIVATE_LOCAL\n"
	      "DEV_PRIVATE_REMOTE DEV_COHERENT_LOCAL DEV_COHERENT_REMOTE joined by '|'.\n", out);
}

/* The tokens of one line and where the parser is in them. */
struct cursor {
	char *tok[MAX_TOKENS];
	int n;
	int i;
	enum trace_op op;
	char *msg;
	size_t msglen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int trace_parse_size(const char *s, uint64_t *out)
{
	unsigned int base = 10, shift = 0;
	uint64_t v = 0;
	const char *p = s;
	bool digits = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
		digits = true;
	}
	if (!digits)
		return -EINVAL;
	switch (*p) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		p++;
		break;
	case 'M':
		shift = 20;
		p++;
		break;
	case 'G':
		shift = 30;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > TRACE_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	}
	return true;
}

static const char *next(struct cursor *c)
{
	return c->i < c->n ? c->tok[c->i++] : NULL;
}

static int missing(struct cursor *c, const char *what)
{
	return fail(c, "%s: missing %s (usage: %s)", ops[c->op].name, what, ops[c->op].usage);
}

static int check_name(struct cursor *c, const char *what, const char *s, char *dst)
{
	if (!valid_name(s))
		return fail(c, "%s: bad name '%s' for %s (letters, digits, '_', '-', '.'; at most %d)",
			    ops[c->op].name, s, what, TRACE_NAME_MAX);
	strcpy(dst, s);
	return 0;
}

static int need_name(struct cursor *c, const char *what, char *dst)
{
	const char *s = next(c);

	return s ? check_name(c, what, s, dst) : missing(c, what);
}

static int check_size(struct cursor *c, const char *what, const char *s, uint64_t *dst)
{
	if (trace_parse_size(s, dst))
		return fail(c, "%s: bad number '%s' for %s", ops[c->op].name, s, what);
	return 0;
}

static int need_size(struct cursor *c, const char *what, uint64_t *dst)
{
	const char *s = next(c);

	return s ? check_size(c, what, s, dst) : missing(c, what);
}

static int check_byte(struct cursor *c, const char *s, int *dst)
{
	uint64_t v;

	if (trace_parse_size(s, &v) || v > 255)
		return fail(c, "%s: bad BYTE '%s' (0 to 255)", ops[c->op].name, s);
	*dst = (int)v;
	return 0;
}

static int at_end(struct cursor *c)
{
	if (c->i < c->n)
		return fail(c, "%s: unexpected '%s' (usage: %s)", ops[c->op].name, c->tok[c->i],
			    ops[c->op].usage);
	return 0;
}

static int parse_prot(const char *s, enum trace_prot *prot)
{
	if (!strcmp(s, "rw"))
		*prot = PROT_KIND_RW;
	else if (!strcmp(s, "r"))
		*prot = PROT_KIND_R;
	else if (!strcmp(s, "none"))
		*prot = PROT_KIND_NONE;
	else
		return -EINVAL;
	return 0;
}

/* "key=value" -> the value when @tok starts with @key and '=', else NULL. */
static const char *keyval(const char *tok, const char *key)
{
	size_t n = strlen(key);

	return !strncmp(tok, key, n) && tok[n] == '=' ? tok + n + 1 : NULL;
}

static int parse_set(struct cursor *c, struct trace_cmd *cmd)
{
	const char *t, *v;

	if (c->i >= c->n)
		return missing(c, "a setting");
	while ((t = next(c))) {
		if ((v = keyval(t, "thp"))) {
			if (!strcmp(v, "always"))
				cmd->thp = TRACE_THP_ALWAYS;
			else if (!strcmp(v, "madvise"))
				cmd->thp = TRACE_THP_MADVISE;
			else if (!strcmp(v, "never"))
				cmd->thp = TRACE_THP_NEVER;
			else
				return fail(c, "set: unknown THP mode '%s' (always, madvise, never)", v);
			cmd->set_mask |= SET_THP;
		} else if ((v = keyval(t, "profile"))) {
			if (check_name(c, "profile", v, cmd->profile))
				return -EINVAL;
			cmd->set_mask |= SET_PROFILE;
		} else if ((v = keyval(t, "seed"))) {
			if (check_size(c, "seed", v, &cmd->seed))
				return -EINVAL;
			cmd->set_mask |= SET_SEED;
		} else {
			return fail(c, "set: unknown setting '%s' (usage: %s)", t, ops[OP_SET].usage);
		}
	}
	return 0;
}

static int parse_mmap(struct cursor *c, struct trace_cmd *cmd)
{
	bool have_kind = false, have_prot = false;
	const char *t, *v;

	if (need_name(c, "P", cmd->proc) || need_name(c, "R", cmd->region) ||
	    need_size(c, "SIZE", &cmd->size))
		return -EINVAL;
	while ((t = next(c))) {
		enum trace_prot prot;
		bool kind = true;

		if (!strcmp(t, "anon")) {
			cmd->kind = MAP_KIND_ANON;
		} else if (!strcmp(t, "shared")) {
			cmd->kind = MAP_KIND_SHARED;
		} else if ((v = keyval(t, "file"))) {
			cmd->kind = MAP_KIND_FILE;
			if (check_name(c, "F", v, cmd->file))
				return -EINVAL;
		} else if ((v = keyval(t, "hugetlb"))) {
			cmd->kind = MAP_KIND_HUGETLB;
			if (!strcmp(v, "2M"))
				cmd->huge_size = UINT64_C(1) << 21;
			else if (!strcmp(v, "1G"))
				cmd->huge_size = UINT64_C(1) << 30;
			else
				return fail(c, "mmap: bad hugetlb size '%s' (2M or 1G)", v);
		} else {
			kind = false;
		}
		if (kind) {
			if (have_kind)
				return fail(c, "mmap: more than one KIND ('%s')", t);
			have_kind = true;
			continue;
		}
		if (!parse_prot(t, &prot)) {
			if (have_prot)
				return fail(c, "mmap: more than one PROT ('%s')", t);
			have_prot = true;
			cmd->prot = prot;
		} else if (!strcmp(t, "hugepage")) {
			cmd->hugepage = true;
		} else if (!strcmp(t, "nohugepage")) {
			cmd->nohugepage = true;
		} else if ((v = keyval(t, "align"))) {
			if (check_size(c, "align", v, &cmd->align))
				return -EINVAL;
		} else if ((v = keyval(t, "offset"))) {
			if (check_size(c, "offset", v, &cmd->offset))
				return -EINVAL;
		} else if ((v = keyval(t, "pgoff"))) {
			if (check_size(c, "pgoff", v, &cmd->pgoff))
				return -EINVAL;
		} else if (!strcmp(t, "file") || !strcmp(t, "hugetlb") || !strcmp(t, "align") ||
			   !strcmp(t, "offset") || !strcmp(t, "pgoff")) {
			return fail(c, "mmap: '%s' needs a value (%s=...)", t, t);
		} else {
			return fail(c, "mmap: unknown option '%s' (usage: %s)", t, ops[OP_MMAP].usage);
		}
	}
	if (cmd->hugepage && cmd->nohugepage)
		return fail(c, "mmap: hugepage and nohugepage together");
	if (cmd->pgoff && cmd->kind != MAP_KIND_FILE)
		return fail(c, "mmap: pgoff= needs file=F");
	return 0;
}

static int parse_mremap(struct cursor *c, struct trace_cmd *cmd)
{
	const char *t, *v;

	if (need_name(c, "P", cmd->proc) || need_name(c, "R", cmd->region) ||
	    need_name(c, "NEWR", cmd->name2))
		return -EINVAL;
	while ((t = next(c))) {
		if ((v = keyval(t, "align"))) {
			if (check_size(c, "align", v, &cmd->align))
				return -EINVAL;
		} else if ((v = keyval(t, "offset"))) {
			if (check_size(c, "offset", v, &cmd->offset))
				return -EINVAL;
		} else {
			return fail(c, "mremap: unknown option '%s' (usage: %s)", t,
				    ops[OP_MREMAP].usage);
		}
	}
	return 0;
}

/* @v among @names (NULL-terminated): its index, or -1. */
static int pick(const char *v, const char *const *names)
{
	for (int i = 0; names[i]; i++) {
		if (!strcmp(v, names[i]))
			return i;
	}
	return -1;
}

static int parse_device(struct cursor *c, struct trace_cmd *cmd)
{
	static const char *const policies[] = { "map-order", "4k", "odp", NULL };
	static const char *const maps[] = { "large", "page", NULL };
	static const char *const migrates[] = { "never", "first-touch", NULL };
	static const char *const execs[] = { "clock", "thread", NULL };
	static const char *const memtypes[] = { "private", "coherent", NULL };
	const char *t, *v;
	int i;

	if (need_name(c, "D", cmd->dev))
		return -EINVAL;
	while ((t = next(c))) {
		if ((v = keyval(t, "format"))) {
			if (check_name(c, "format", v, cmd->format))
				return -EINVAL;
		} else if ((v = keyval(t, "memory"))) {
			if (check_size(c, "memory", v, &cmd->size))
				return -EINVAL;
			cmd->dev_opts |= DEV_OPT_MEMORY;
		} else if ((v = keyval(t, "policy"))) {
			if ((i = pick(v, policies)) < 0)
				return fail(c, "device: unknown policy '%s' (map-order, 4k, odp)", v);
			cmd->policy = (enum trace_dev_policy)i;
			cmd->dev_opts |= DEV_OPT_POLICY;
		} else if ((v = keyval(t, "map"))) {
			if ((i = pick(v, maps)) < 0)
				return fail(c, "device: unknown map '%s' (large, page)", v);
			cmd->map_page = i;
			cmd->dev_opts |= DEV_OPT_MAP;
		} else if ((v = keyval(t, "migrate"))) {
			if ((i = pick(v, migrates)) < 0)
				return fail(c, "device: unknown migrate '%s' (never, first-touch)", v);
			cmd->migrate_first_touch = i;
			cmd->dev_opts |= DEV_OPT_MIGRATE;
		} else if ((v = keyval(t, "exec"))) {
			if ((i = pick(v, execs)) < 0)
				return fail(c, "device: unknown exec '%s' (clock, thread)", v);
			cmd->exec_thread = i;
			cmd->dev_opts |= DEV_OPT_EXEC;
		} else if ((v = keyval(t, "memtype"))) {
			if ((i = pick(v, memtypes)) < 0)
				return fail(c, "device: unknown memtype '%s' (private, coherent)", v);
			cmd->coherent = i;
			cmd->dev_opts |= DEV_OPT_MEMTYPE;
		} else {
			return fail(c, "device: unknown option '%s' (usage: %s)", t,
				    ops[OP_DEVICE].usage);
		}
	}
	return 0;
}

/* At most this many accesses in one random=N. */
#define RANDOM_MAX	(UINT64_C(1) << 20)

/*
 * What may follow the range of read, write, dev_read and dev_write: BYTE
 * (writes only) and random=N, in any order.
 */
static int parse_access(struct cursor *c, struct trace_cmd *cmd, bool byte)
{
	const char *t, *v;
	bool have_byte = false;

	cmd->byte = 1;
	while ((t = next(c))) {
		if ((v = keyval(t, "random"))) {
			if (check_size(c, "random", v, &cmd->random))
				return -EINVAL;
			if (!cmd->random || cmd->random > RANDOM_MAX)
				return fail(c, "%s: random=%s: 1 to %" PRIu64 " accesses",
					    ops[c->op].name, v, RANDOM_MAX);
		} else if (byte && !have_byte) {
			if (check_byte(c, t, &cmd->byte))
				return -EINVAL;
			have_byte = true;
		} else {
			return fail(c, "%s: unexpected '%s' (usage: %s)", ops[c->op].name, t,
				    ops[c->op].usage);
		}
	}
	return 0;
}

/* P R OFF LEN, the range of most commands. */
static int need_range(struct cursor *c, struct trace_cmd *cmd)
{
	if (need_name(c, "P", cmd->proc) || need_name(c, "R", cmd->region) ||
	    need_size(c, "OFF", &cmd->off) || need_size(c, "LEN", &cmd->len))
		return -EINVAL;
	cmd->has_range = true;
	return 0;
}

static int parse_args(struct cursor *c, struct trace_cmd *cmd)
{
	const char *t;

	switch (c->op) {
	case OP_SET:
		return parse_set(c, cmd);
	case OP_PROC:
	case OP_EXIT:
		return need_name(c, "P", cmd->proc);
	case OP_MMAP:
		return parse_mmap(c, cmd);
	case OP_MUNMAP:
		return need_range(c, cmd);
	case OP_READ:
	case OP_WRITE:
		if (need_range(c, cmd))
			return -EINVAL;
		return parse_access(c, cmd, c->op == OP_WRITE);
	case OP_MPROTECT:
		if (need_range(c, cmd))
			return -EINVAL;
		if (!(t = next(c)))
			return missing(c, "PROT");
		if (parse_prot(t, &cmd->prot))
			return fail(c, "mprotect: unknown PROT '%s' (rw, r, none)", t);
		return 0;
	case OP_MADVISE:
		if (need_range(c, cmd))
			return -EINVAL;
		if (!(t = next(c)))
			return missing(c, "ADVICE");
		if (!strcmp(t, "dontneed"))
			cmd->advice = ADV_DONTNEED;
		else if (!strcmp(t, "free"))
			cmd->advice = ADV_FREE;
		else if (!strcmp(t, "hugepage"))
			cmd->advice = ADV_HUGEPAGE;
		else if (!strcmp(t, "nohugepage"))
			cmd->advice = ADV_NOHUGEPAGE;
		else
			return fail(c, "madvise: unknown advice '%s' "
				    "(dontneed, free, hugepage, nohugepage)", t);
		return 0;
	case OP_MREMAP:
		return parse_mremap(c, cmd);
	case OP_FORK:
		return need_name(c, "P", cmd->proc) ? -EINVAL : need_name(c, "C", cmd->name2);
	case OP_FILE:
		return need_name(c, "F", cmd->file) ? -EINVAL : need_size(c, "SIZE", &cmd->size);
	case OP_DUMP:
		if (need_name(c, "P", cmd->proc) || need_name(c, "R", cmd->region))
			return -EINVAL;
		if (c->i == c->n)
			return 0;
		if (need_size(c, "OFF", &cmd->off) || need_size(c, "LEN", &cmd->len))
			return -EINVAL;
		cmd->has_range = true;
		return 0;
	case OP_STATS:
		/* A process or a device: exec.c tells which. */
		return c->i < c->n ? need_name(c, "P or D", cmd->proc) : 0;
	case OP_DEVICE:
		return parse_device(c, cmd);
	case OP_DEV_READ:
	case OP_DEV_WRITE:
		if (need_name(c, "D", cmd->dev) || need_range(c, cmd))
			return -EINVAL;
		return parse_access(c, cmd, c->op == OP_DEV_WRITE);
	case OP_EXCLUSIVE:
		if (need_name(c, "D", cmd->dev) || need_range(c, cmd))
			return -EINVAL;
		if (c->i < c->n && !strcmp(c->tok[c->i], "check")) {
			cmd->check = true;
			c->i++;
		}
		return 0;
	case OP_MIGRATE_TO_DEV:
	case OP_MIGRATE_TO_SYS:
	case OP_SNAPSHOT:
		return need_name(c, "D", cmd->dev) ? -EINVAL : need_range(c, cmd);
	case OP_RELEASE:
		return need_name(c, "D", cmd->dev);
	}
	return fail(c, "internal: no parser for '%s'", ops[c->op].name);
}

int trace_parse(const char *line, unsigned int lineno, struct trace_cmd *cmd, char *msg,
		size_t msglen)
{
	struct cursor c = { .msg = msg, .msglen = msglen };
	char buf[1024];
	char *p, *end, *save = NULL;
	size_t i;

	memset(cmd, 0, sizeof(*cmd));
	cmd->line = lineno;
	if (strlen(line) >= sizeof(buf))
		return fail(&c, "line too long (at most %zu characters)", sizeof(buf) - 1);
	strcpy(buf, line);
	p = strchr(buf, '#');
	if (p)
		*p = '\0';
	p = buf + strspn(buf, " \t\r\v\f");
	end = p + strlen(p);
	while (end > p && strchr(" \t\r\v\f", end[-1]))
		*--end = '\0';
	if (!*p)
		return 0;
	snprintf(cmd->text, sizeof(cmd->text), "%s", p);

	for (char *t = strtok_r(p, " \t\r\v\f", &save); t; t = strtok_r(NULL, " \t\r\v\f", &save)) {
		if (c.n == MAX_TOKENS)
			return fail(&c, "too many words (at most %d)", MAX_TOKENS);
		c.tok[c.n++] = t;
	}
	for (i = 0; i < NR_OPS; i++) {
		if (!strcmp(c.tok[0], ops[i].name))
			break;
	}
	if (i == NR_OPS)
		return fail(&c, "unknown command '%s'", c.tok[0]);
	c.op = cmd->op = (enum trace_op)i;
	c.i = 1;
	if (parse_args(&c, cmd) || at_end(&c))
		return -EINVAL;
	return 1;
}
