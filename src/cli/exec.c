// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Replaying traces against the simulated mm: the tables that turn trace
 * names into processes, regions and files, and one function per command.
 * result.c prints what they produce.
 *
 * A region is a name for what one mmap returned: its start and length stay
 * as they were mapped, whatever later munmaps do to the VMAs under it, so
 * offsets in a trace keep meaning the same bytes. Only mremap moves it.
 * Counters on a result line are what the command changed in its process's
 * mm_stats (the event counters, not the gauges), which is what a reader
 * wants to see next to "write": how many faults, THPs, splits and copies it
 * cost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hmmsim/hmmsim.h>

#include "cli.h"
#include "exec.h"
#include "result.h"
#include "trace.h"

/* Every counter of @p, as " name=value" or as a JSON object. */
void put_proc_stats(struct strbuf *sb, struct proc *p, bool json)
{
	struct mm_stats st;

	mm_get_stats(p->mm, &st);
	put_stats(sb, &st, json);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */
/* ------------------------------------------------------------------------ */

struct proc *proc_find(struct exec *x, const char *name)
{
	for (size_t i = 0; i < x->nr_procs; i++) {
		if (!strcmp(x->procs[i].name, name))
			return &x->procs[i];
	}
	return NULL;
}

static struct proc *proc_get(struct exec *x, const char *name)
{
	struct proc *p = proc_find(x, name);

	if (!p)
		diag(&x->res, "unknown process '%s'", name);
	return p;
}

static struct proc *proc_add(struct exec *x, const char *name, struct mm_struct *mm)
{
	struct proc *p;

	x->procs = xrealloc(x->procs, (x->nr_procs + 1) * sizeof(*x->procs));
	p = &x->procs[x->nr_procs++];
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->mm = mm;
	return p;
}

static void proc_remove(struct exec *x, struct proc *p)
{
	size_t i = p - x->procs;

	free(p->regions);
	memmove(p, p + 1, (x->nr_procs - i - 1) * sizeof(*p));
	x->nr_procs--;
}

static struct region *region_find(struct proc *p, const char *name)
{
	for (size_t i = 0; i < p->nr_regions; i++) {
		if (!strcmp(p->regions[i].name, name))
			return &p->regions[i];
	}
	return NULL;
}

static void region_add(struct proc *p, const char *name, uint64_t start, uint64_t len)
{
	struct region *r;

	p->regions = xrealloc(p->regions, (p->nr_regions + 1) * sizeof(*p->regions));
	r = &p->regions[p->nr_regions++];
	strcpy(r->name, name);
	r->start = start;
	r->len = len;
}

/* P and R of the command, or NULL after a diagnostic. */
struct region *region_get(struct exec *x, struct proc **pp)
{
	struct proc *p = proc_get(x, x->res.cmd->proc);
	struct region *r;

	if (!p)
		return NULL;
	r = region_find(p, x->res.cmd->region);
	if (!r)
		diag(&x->res, "unknown region '%s' of process '%s'", x->res.cmd->region, p->name);
	*pp = p;
	return r;
}

/*
 * P, R and [OFF, OFF + LEN) as an address. Offsets are relative to where R
 * was mapped and must stay inside it: a range that spills over is a slip in
 * the trace, not a question for the mm.
 */
struct region *range_get(struct exec *x, struct proc **pp, uint64_t *addr)
{
	const struct trace_cmd *c = x->res.cmd;
	struct region *r = region_get(x, pp);

	if (!r)
		return NULL;
	if (c->off > r->len || c->len > r->len - c->off) {
		diag(&x->res, "range 0x%" PRIx64 "+0x%" PRIx64 " is outside region '%s' of process '%s' "
		     "(0x%" PRIx64 " bytes)", c->off, c->len, r->name, (*pp)->name, r->len);
		return NULL;
	}
	*addr = r->start + c->off;
	return r;
}

static struct file_ent *file_find(struct exec *x, const char *name)
{
	for (size_t i = 0; i < x->nr_files; i++) {
		if (!strcmp(x->files[i].name, name))
			return &x->files[i];
	}
	return NULL;
}

static unsigned int mm_prot(enum trace_prot prot)
{
	switch (prot) {
	case PROT_KIND_R:
		return MM_PROT_READ;
	case PROT_KIND_NONE:
		return MM_PROT_NONE;
	case PROT_KIND_RW:
		break;
	}
	return MM_PROT_READ | MM_PROT_WRITE;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */
/* ------------------------------------------------------------------------ */

/* splitmix64: small, fast and a pure function of the seed. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

int access_begin(struct exec *x, uint64_t addr, uint64_t len, struct access_iter *it)
{
	const struct trace_cmd *c = x->res.cmd;

	*it = (struct access_iter){ .addr = addr, .len = len, .left = 1 };
	if (!c->random)
		return 0;
	if ((c->off | c->len) % MM_PAGE_SIZE || !c->len)
		return diag(&x->res, "%s: random=N needs OFF and LEN in whole pages",
			    trace_op_name(c->op));
	it->random = true;
	it->left = c->random;
	return 0;
}

bool access_next(struct exec *x, struct access_iter *it, uint64_t *a, uint64_t *l)
{
	uint64_t npages = it->len / MM_PAGE_SIZE;

	if (!it->left)
		return false;
	it->left--;
	if (!it->random) {
		*a = it->addr;
		*l = it->len;
		return true;
	}
	/* A page in [0, npages), by multiply-shift: no modulo bias worth the name. */
	*a = it->addr + (uint64_t)(((unsigned __int128)rng_next(&x->rng) * npages) >> 64) *
			MM_PAGE_SIZE;
	*l = MM_PAGE_SIZE;
	return true;
}

static int cmd_set(struct exec *x)
{
	static const enum mm_thp_mode modes[] = {
		[TRACE_THP_ALWAYS] = MM_THP_ALWAYS,
		[TRACE_THP_MADVISE] = MM_THP_MADVISE,
		[TRACE_THP_NEVER] = MM_THP_NEVER,
	};
	const struct trace_cmd *c = x->res.cmd;
	const struct mm_profile *prof = x->profile;
	int err;

	if (c->set_mask & SET_PROFILE) {
		prof = mm_profile_find(c->profile);
		if (!prof) {
			char known[256] = "";

			for (size_t i = 0; mm_profiles[i]; i++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
					 i ? ", " : "", mm_profiles[i]->name);
			return diag(&x->res, "unknown profile '%s' (known: %s)", c->profile, known);
		}
	}
	if (c->set_mask & SET_THP) {
		err = mm_system_set_thp(x->sys, modes[c->thp]);
		if (err)
			return err;
	}
	if (c->set_mask & SET_SEED)
		x->rng = c->seed;
	x->profile = prof;
	return 0;
}

static int cmd_mmap(struct exec *x, struct proc *p)
{
	const struct trace_cmd *c = x->res.cmd;
	struct mm_mmap_args args = {
		.len = c->size,
		.prot = mm_prot(c->prot),
		.align = c->align,
		.offset = c->offset,
		.pgoff = c->pgoff,
	};
	uint64_t start, gran = MM_PAGE_SIZE;
	struct file_ent *f;
	int err;

	if (region_find(p, c->region))
		return diag(&x->res, "region '%s' exists in process '%s'", c->region, p->name);
	switch (c->kind) {
	case MAP_KIND_ANON:
		args.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS;
		break;
	case MAP_KIND_SHARED:
		args.flags = MM_MAP_SHARED | MM_MAP_ANONYMOUS;
		break;
	case MAP_KIND_FILE:
		f = file_find(x, c->file);
		if (!f)
			return diag(&x->res, "unknown file '%s'", c->file);
		args.flags = MM_MAP_SHARED;
		args.file = f->file;
		break;
	case MAP_KIND_HUGETLB:
		args.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS | MM_MAP_HUGETLB |
			     (c->huge_size == MM_PUD_SIZE ? MM_MAP_HUGE_1GB : MM_MAP_HUGE_2MB);
		gran = c->huge_size;
		break;
	}
	err = mm_mmap(p->mm, &args, &start);
	if (err)
		return err;
	/* mmap rounds the length up, to the huge page for hugetlb: so does the region. */
	args.len = (c->size + gran - 1) & ~(gran - 1);
	if (c->hugepage || c->nohugepage) {
		err = mm_madvise(p->mm, start, args.len,
				 c->hugepage ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE);
		if (err) {
			mm_munmap(p->mm, start, args.len);
			return err;
		}
	}
	region_add(p, c->region, start, args.len);
	res_hex(&x->res, "start", start);
	return 0;
}

static int cmd_mremap(struct exec *x, struct proc *p, struct region *r)
{
	const struct trace_cmd *c = x->res.cmd;
	uint64_t start;
	int err;

	if (strcmp(c->name2, r->name) && region_find(p, c->name2))
		return diag(&x->res, "region '%s' exists in process '%s'", c->name2, p->name);
	err = mm_mremap(p->mm, r->start, r->len, 0, 0, c->align, c->offset, &start);
	if (err)
		return err;
	strcpy(r->name, c->name2);
	r->start = start;
	res_hex(&x->res, "start", start);
	return 0;
}

static int cmd_fork(struct exec *x, struct proc *p)
{
	struct mm_struct *mm;
	struct proc *child;
	size_t pi = p - x->procs;
	int err;

	if (proc_find(x, x->res.cmd->name2))
		return diag(&x->res, "process '%s' exists", x->res.cmd->name2);
	if (dev_find(x, x->res.cmd->name2))
		return diag(&x->res, "'%s' names a device", x->res.cmd->name2);
	err = mm_fork(p->mm, &mm);
	if (err)
		return err;
	child = proc_add(x, x->res.cmd->name2, mm);
	p = &x->procs[pi];	/* proc_add may have moved the table */
	if (p->nr_regions) {
		child->regions = xrealloc(NULL, p->nr_regions * sizeof(*p->regions));
		memcpy(child->regions, p->regions, p->nr_regions * sizeof(*p->regions));
		child->nr_regions = p->nr_regions;
	}
	return 0;
}

/* read and write, over the range or random=N pages of it. */
static int cmd_access(struct exec *x, struct proc *p, uint64_t addr)
{
	const struct trace_cmd *c = x->res.cmd;
	uint64_t a, l, sum, total = 0;
	struct access_iter it;
	int err;

	err = access_begin(x, addr, c->len, &it);
	while (!err && access_next(x, &it, &a, &l)) {
		if (c->op == OP_WRITE) {
			err = mm_memset(p->mm, a, c->byte, l);
		} else {
			err = mm_read_sum(p->mm, a, l, &sum);
			total += sum;
		}
	}
	if (!err && c->op == OP_READ)
		res_u64(&x->res, "sum", total);
	return err;
}

static int cmd_dump(struct exec *x, struct proc *p, uint64_t addr, uint64_t len)
{
	char small[512], *buf = small;
	int n;

	n = mm_dump(p->mm, addr, len, small, sizeof(small));
	if (n >= (int)sizeof(small)) {
		buf = xrealloc(NULL, n + 1);
		n = mm_dump(p->mm, addr, len, buf, n + 1);
	}
	if (n >= 0) {
		char *save = NULL;
		bool first = true;

		sb_printf(&x->res.text, " %s", buf);
		sb_printf(&x->res.obj, ",\"proc\":");
		sb_json_str(&x->res.obj, p->name);
		sb_printf(&x->res.obj, ",\"region\":");
		sb_json_str(&x->res.obj, x->res.cmd->region);
		sb_printf(&x->res.obj, ",\"runs\":[");
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			sb_printf(&x->res.obj, "%s\"%s\"", first ? "" : ",", t);
			first = false;
		}
		sb_printf(&x->res.obj, "]");
	}
	if (buf != small)
		free(buf);
	return n < 0 ? n : 0;
}

/* `stats` alone: a line per process, then the machine's counters on the result line. */
static void cmd_stats_all(struct exec *x)
{
	struct phys_hugetlb *hp = mm_system_hugetlb(x->sys);
	struct phys_hugetlb_stats hs = { 0 };
	struct phys_pool_stats ps;
	static const char *const thp[] = {
		[MM_THP_MADVISE] = "madvise", [MM_THP_ALWAYS] = "always", [MM_THP_NEVER] = "never",
	};
	enum mm_thp_mode mode = mm_system_thp(x->sys);

	phys_pool_stats(mm_system_pool(x->sys), &ps);
	if (hp)
		phys_hugetlb_stats(hp, &hs);
	if (x->cfg.json)
		sb_printf(&x->res.obj, ",\"procs\":{");
	for (size_t i = 0; i < x->nr_procs; i++) {
		if (x->cfg.json) {
			sb_printf(&x->res.obj, "%s", i ? "," : "");
			sb_json_str(&x->res.obj, x->procs[i].name);
			sb_printf(&x->res.obj, ":");
			put_proc_stats(&x->res.obj, &x->procs[i], true);
		} else {
			sb_printf(&x->res.extra, "%sstats %s", x->cfg.echo ? "  " : "", x->procs[i].name);
			put_proc_stats(&x->res.extra, &x->procs[i], false);
			sb_printf(&x->res.extra, "\n");
		}
	}
	if (x->cfg.json)
		sb_printf(&x->res.obj, "},\"thp\":\"%s\"", thp[mode]);
	else
		sb_printf(&x->res.text, " thp=%s", thp[mode]);
	dev_stats_all(x);
	/* In JSON "procs" is the object above; the count is its size. */
	sb_printf(&x->res.text, " procs=%zu", x->nr_procs);
	res_u64(&x->res, "ram_pages", ps.nr_frames);
	res_u64(&x->res, "free_pages", ps.free_frames);
	res_u64(&x->res, "folios", ps.live_folios);
	res_u64(&x->res, "hugetlb_2m_free", hs.free[0]);
	res_u64(&x->res, "hugetlb_2m_reserved", hs.reserved[0]);
	res_u64(&x->res, "hugetlb_1g_free", hs.free[1]);
	res_u64(&x->res, "hugetlb_1g_reserved", hs.reserved[1]);
}

/* The commands that act on one process: counters are that process's changes. */
static int run_on_proc(struct exec *x)
{
	const struct trace_cmd *c = x->res.cmd;
	struct mm_stats before, after;
	struct region *r = NULL;
	struct proc *p;
	uint64_t addr = 0;
	size_t pi;
	int err;

	if (c->op == OP_MMAP || c->op == OP_FORK || c->op == OP_EXIT) {
		p = proc_get(x, c->proc);
	} else if (c->has_range) {
		r = range_get(x, &p, &addr);
		p = r ? p : NULL;
	} else {
		r = region_get(x, &p);
		p = r ? p : NULL;
	}
	if (!p)
		return -EINVAL;
	if (c->op == OP_EXIT) {
		mm_exit(p->mm);
		proc_remove(x, p);
		return 0;
	}
	pi = p - x->procs;
	mm_get_stats(p->mm, &before);
	switch (c->op) {
	case OP_MMAP:
		err = cmd_mmap(x, p);
		break;
	case OP_MUNMAP:
		err = mm_munmap(p->mm, addr, c->len);
		break;
	case OP_MPROTECT:
		err = mm_mprotect(p->mm, addr, c->len, mm_prot(c->prot));
		break;
	case OP_MADVISE: {
		static const enum mm_advice adv[] = {
			[ADV_DONTNEED] = MM_MADV_DONTNEED, [ADV_FREE] = MM_MADV_FREE,
			[ADV_HUGEPAGE] = MM_MADV_HUGEPAGE, [ADV_NOHUGEPAGE] = MM_MADV_NOHUGEPAGE,
		};
		err = mm_madvise(p->mm, addr, c->len, adv[c->advice]);
		break;
	}
	case OP_MREMAP:
		err = cmd_mremap(x, p, r);
		break;
	case OP_FORK:
		err = cmd_fork(x, p);
		p = &x->procs[pi];
		break;
	case OP_READ:
	case OP_WRITE:
		err = cmd_access(x, p, addr);
		break;
	case OP_DUMP:
		return cmd_dump(x, p, c->has_range ? addr : r->start, c->has_range ? c->len : r->len);
	default:
		return diag(&x->res, "internal: '%s' is not a process command", trace_op_name(c->op));
	}
	if (err)
		return err;
	mm_get_stats(p->mm, &after);
	res_deltas(&x->res, &before, &after);
	return 0;
}

static int run_cmd(struct exec *x)
{
	const struct trace_cmd *c = x->res.cmd;
	struct mm_struct *mm;
	struct phys_file *f;
	struct proc *p;
	int err;

	if (trace_op_is_device(c->op))
		return run_dev_cmd(x);
	switch (c->op) {
	case OP_SET:
		return cmd_set(x);
	case OP_PROC:
		if (proc_find(x, c->proc))
			return diag(&x->res, "process '%s' exists", c->proc);
		if (dev_find(x, c->proc))
			return diag(&x->res, "'%s' names a device", c->proc);
		err = mm_create(x->sys, x->profile, &mm);
		if (!err)
			proc_add(x, c->proc, mm);
		return err;
	case OP_FILE:
		if (file_find(x, c->file))
			return diag(&x->res, "file '%s' exists", c->file);
		err = phys_file_create(mm_system_pool(x->sys), c->size, &f);
		if (err)
			return err;
		x->files = xrealloc(x->files, (x->nr_files + 1) * sizeof(*x->files));
		strcpy(x->files[x->nr_files].name, c->file);
		x->files[x->nr_files++].file = f;
		return 0;
	case OP_STATS:
		if (!c->proc[0]) {
			cmd_stats_all(x);
			return 0;
		}
		p = proc_find(x, c->proc);
		if (!p && dev_find(x, c->proc)) {
			dev_put_stats(x, dev_find(x, c->proc));
			return 0;
		}
		if (!p)
			return diag(&x->res, "unknown process or device '%s'", c->proc);
		put_proc_stats(&x->res.text, p, false);
		/* In JSON the counters are one object, under "stats". */
		sb_printf(&x->res.obj, ",\"stats\":");
		put_proc_stats(&x->res.obj, p, true);
		return 0;
	default:
		return run_on_proc(x);
	}
}

/* One line of the trace: parse, run, print its result, check. */
static void exec_line(struct exec *x, const char *line, unsigned int lineno)
{
	struct trace_cmd cmd;
	char msg[sizeof(x->res.msg)];
	int ret, err;

	ret = trace_parse(line, lineno, &cmd, msg, sizeof(msg));
	if (!ret) {
		if (x->cfg.echo && !x->cfg.json)
			fprintf(x->cfg.out, "%s\n", line + strspn(line, " \t"));
		return;
	}
	if (ret < 0 && !cmd.text[0])
		snprintf(cmd.text, sizeof(cmd.text), "%.*s", 200, line);
	res_begin(&x->res, &cmd);
	if (ret < 0) {
		res_err(&x->res, diag(&x->res, "%s", msg));
		return;
	}
	err = run_cmd(x);
	if (err)
		res_err(&x->res, err);
	else
		res_ok(&x->res);
	if (x->cfg.check &&
	    (mm_system_check(x->sys, msg, sizeof(msg)) || dev_check_all(x, msg, sizeof(msg)))) {
		x->violations++;
		res_violation(&x->res, msg);
	}
	x->res.cmd = NULL;
}

/*
 * A progress line on standard error, for long replays watched on a
 * terminal: after the first second, at most once a second. It never goes
 * into the results (they may be a pipe).
 */
static void progress(struct exec *x, unsigned int lineno, bool done)
{
	struct timespec ts;
	uint64_t now;

	if (!x->progress_tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!x->progress_start)
		x->progress_start = x->progress_last = now;
	if (done) {
		if (x->progress_shown)
			fputs("\r\033[K", stderr);
		x->progress_shown = false;
		return;
	}
	if (now - x->progress_start < 1000 || now - x->progress_last < 1000)
		return;
	x->progress_last = now;
	x->progress_shown = true;
	fprintf(stderr, "\r\033[Khmmsim: line %u, %.0f s", lineno,
		(double)(now - x->progress_start) / 1000);
}

int exec_stream(struct exec *x, FILE *in)
{
	unsigned int lineno = 0;
	size_t cap = 0;
	char *line = NULL;
	ssize_t n;

	x->progress_tty = isatty(fileno(x->cfg.out)) && isatty(STDERR_FILENO);
	while ((n = getline(&line, &cap, in)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		progress(x, lineno, true);	/* off the line before a result lands there */
		exec_line(x, line, ++lineno);
		if (x->progress_tty)
			fflush(x->cfg.out);
		progress(x, lineno, false);
	}
	progress(x, lineno, true);
	free(line);
	fflush(x->cfg.out);
	return ferror(in) ? -EIO : 0;
}

int exec_text(struct exec *x, const char *text)
{
	unsigned int lineno = 0;

	while (*text) {
		size_t n = strcspn(text, "\n");
		char *line = xrealloc(NULL, n + 1);

		memcpy(line, text, n);
		line[n] = '\0';
		exec_line(x, line, ++lineno);
		free(line);
		text += n + (text[n] == '\n');
	}
	fflush(x->cfg.out);
	return 0;
}

int exec_create(const struct exec_config *cfg, struct exec **out)
{
	struct exec *x = calloc(1, sizeof(*x));
	int err;

	if (!x)
		return -ENOMEM;
	x->cfg = *cfg;
	x->profile = cfg->profile;
	x->rng = cfg->seed;
	err = mm_system_create(&cfg->sys, &x->sys);
	if (err) {
		free(x);
		return err;
	}
	x->res = (struct result){
		.out = cfg->out,
		.err = cfg->err,
		.source = cfg->source,
		.json = cfg->json,
		.echo = cfg->echo && !cfg->json,
	};
	*out = x;
	return 0;
}

unsigned int exec_violations(const struct exec *x)
{
	return x->violations;
}

void exec_destroy(struct exec *x)
{
	/* Devices first: their memory goes back to the processes that map it. */
	size_t left = dev_destroy_all(x);

	while (x->nr_procs) {
		mm_exit(x->procs[x->nr_procs - 1].mm);
		proc_remove(x, &x->procs[x->nr_procs - 1]);
	}
	/* What a fork child kept mapped is gone with it. */
	if (left && dev_destroy_all(x))
		fprintf(x->cfg.err, "%s: a device could not be destroyed\n", x->cfg.source);
	for (size_t i = 0; i < x->nr_files; i++)
		phys_file_put(x->files[i].file);
	mm_system_destroy(x->sys);
	free(x->procs);
	free(x->files);
	free(x->devs);
	res_free(&x->res);
	free(x);
}
