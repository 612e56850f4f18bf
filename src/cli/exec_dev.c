// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The device commands of the trace language (DESIGN.md): fake GPUs from
 * gpu.h, driven the way the kernel's test device (test_hmm's dmirror) is
 * driven by hmm-tests.c. Each command answers what the ioctl answers: its
 * errors, and on success the counters faults= (device fault rounds, not
 * pages) and cpages= (pages), with sum= where data was read back. After
 * those come sim_ns= (the device's simulated time during the command) and
 * the process's mm counters that changed, its CPU faults as cpu_faults=
 * (what hmm_range_fault() and migration cost the CPU side).
 *
 * Devices and processes share one name space, so that `stats NAME` is never
 * ambiguous.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#include "exec.h"

struct dev_ent *dev_find(struct exec *x, const char *name)
{
	for (size_t i = 0; i < x->nr_devs; i++) {
		if (!strcmp(x->devs[i].name, name))
			return &x->devs[i];
	}
	return NULL;
}

static int cmd_device(struct exec *x)
{
	const struct trace_cmd *c = x->res.cmd;
	struct gpu_config cfg;
	struct gpu_dev *dev;
	int err;

	if (dev_find(x, c->dev))
		return diag(&x->res, "device '%s' exists", c->dev);
	if (proc_find(x, c->dev))
		return diag(&x->res, "'%s' names a process", c->dev);
	gpu_config_init(&cfg);
	cfg.name = c->dev;
	if (c->format[0] && gpu_format_parse(c->format, &cfg.format))
		return diag(&x->res, "unknown format '%s' (gp100, x86, 4k)", c->format);
	if (c->dev_opts & DEV_OPT_MEMORY) {
		if (c->size % MM_PAGE_SIZE)
			return diag(&x->res, "memory=0x%" PRIx64 " is not a multiple of 4K", c->size);
		cfg.memory = c->size;
	}
	if (c->dev_opts & DEV_OPT_POLICY) {
		static const enum gpu_size_policy sizes[] = {
			[DEV_POLICY_MAP_ORDER] = GPU_SIZE_MAP_ORDER,
			[DEV_POLICY_4K] = GPU_SIZE_4K,
			[DEV_POLICY_ODP] = GPU_SIZE_INFER,
		};
		cfg.size = sizes[c->policy];
	}
	if (c->dev_opts & DEV_OPT_MAP)
		cfg.map = c->map_page ? GPU_MAP_PAGE : GPU_MAP_LARGE;
	if (c->dev_opts & DEV_OPT_MIGRATE)
		cfg.migrate = c->migrate_first_touch ? GPU_MIGRATE_FIRST_TOUCH : GPU_MIGRATE_NEVER;
	if (c->dev_opts & DEV_OPT_EXEC)
		cfg.exec = c->exec_thread ? GPU_EXEC_THREAD : GPU_EXEC_CLOCK;
	if (c->dev_opts & DEV_OPT_MEMTYPE)
		cfg.memory_type = c->coherent ? HMM_DEVMEM_COHERENT : HMM_DEVMEM_PRIVATE;
	err = gpu_dev_create(x->sys, &cfg, &dev);
	if (err)
		return err;
	x->devs = xrealloc(x->devs, (x->nr_devs + 1) * sizeof(*x->devs));
	strcpy(x->devs[x->nr_devs].name, c->dev);
	x->devs[x->nr_devs++].dev = dev;
	return 0;
}

/* The runs of a snapshot, as text after the head and as a JSON array. */
static int put_snapshot(struct exec *x, const uint32_t *flags, uint64_t npages)
{
	char small[512], *buf = small, *save = NULL;
	bool first = true;
	int n;

	n = gpu_snapshot_format(flags, npages, small, sizeof(small));
	if (n < 0)
		return n;
	if (n >= (int)sizeof(small)) {
		buf = xrealloc(NULL, n + 1);
		gpu_snapshot_format(flags, npages, buf, n + 1);
	}
	sb_printf(&x->res.text, " %s", buf);
	sb_printf(&x->res.obj, ",\"dev\":");
	sb_json_str(&x->res.obj, x->res.cmd->dev);
	sb_printf(&x->res.obj, ",\"proc\":");
	sb_json_str(&x->res.obj, x->res.cmd->proc);
	sb_printf(&x->res.obj, ",\"region\":");
	sb_json_str(&x->res.obj, x->res.cmd->region);
	sb_printf(&x->res.obj, ",\"runs\":[");
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		sb_printf(&x->res.obj, "%s", first ? "" : ",");
		sb_json_str(&x->res.obj, t);
		first = false;
	}
	sb_printf(&x->res.obj, "]");
	if (buf != small)
		free(buf);
	return 0;
}

static int cmd_snapshot(struct exec *x, struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr)
{
	uint64_t len = x->res.cmd->len;
	uint64_t npages = len / MM_PAGE_SIZE;
	struct gpu_result res;
	uint32_t *flags;
	int err;

	/* gpu_snapshot() checks the range; an array for a bad one is never written. */
	flags = xrealloc(NULL, (npages ? npages : 1) * sizeof(*flags));
	err = gpu_snapshot(dev, mm, addr, len, flags, &res);
	if (!err)
		err = put_snapshot(x, flags, npages);
	free(flags);
	return err;
}

/* dev_read and dev_write, over the range or random=N pages of it. */
static int dev_access(struct exec *x, struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
		      struct gpu_result *res)
{
	const struct trace_cmd *c = x->res.cmd;
	struct gpu_result step;
	struct access_iter it;
	uint64_t a, l;
	int err;

	err = access_begin(x, addr, c->len, &it);
	while (!err && access_next(x, &it, &a, &l)) {
		step = (struct gpu_result){ 0 };
		if (c->op == OP_DEV_READ)
			err = gpu_dev_read(dev, mm, a, l, NULL, &step);
		else
			err = gpu_dev_memset(dev, mm, a, l, c->byte, &step);
		res->faults += step.faults;
		res->cpages += step.cpages;
		res->sum += step.sum;
		res->sim_ns += step.sim_ns;
	}
	return err;
}

/* The commands on a range of a process: D P R OFF LEN. */
static int run_dev_range(struct exec *x, struct gpu_dev *dev)
{
	const struct trace_cmd *c = x->res.cmd;
	struct gpu_result res = { 0 };
	struct mm_stats before, after;
	struct proc *p;
	uint64_t addr;
	bool sum = false, faults = true;
	int err;

	if (!range_get(x, &p, &addr))
		return -EINVAL;
	if (c->op == OP_SNAPSHOT)
		return cmd_snapshot(x, dev, p->mm, addr);
	mm_get_stats(p->mm, &before);
	switch (c->op) {
	case OP_DEV_READ:
	case OP_DEV_WRITE:
		err = dev_access(x, dev, p->mm, addr, &res);
		sum = c->op == OP_DEV_READ;
		break;
	case OP_MIGRATE_TO_DEV:
		err = gpu_migrate_to_dev(dev, p->mm, addr, c->len, NULL, &res);
		sum = true;
		faults = false;
		break;
	case OP_MIGRATE_TO_SYS:
		err = gpu_migrate_to_sys(dev, p->mm, addr, c->len, &res);
		faults = false;
		break;
	case OP_EXCLUSIVE:
		if (c->check)
			return gpu_check_exclusive(dev, p->mm, addr, c->len);
		err = gpu_exclusive(dev, p->mm, addr, c->len, NULL, &res);
		sum = true;
		faults = false;
		break;
	default:
		return diag(&x->res, "internal: '%s' is not a range command", trace_op_name(c->op));
	}
	if (err)
		return err;
	if (faults)
		res_u64(&x->res, "faults", res.faults);
	res_u64(&x->res, "cpages", res.cpages);
	if (sum)
		res_u64(&x->res, "sum", res.sum);
	res_u64(&x->res, "sim_ns", res.sim_ns);
	mm_get_stats(p->mm, &after);
	res_deltas_cpu(&x->res, &before, &after, true);
	return 0;
}

int run_dev_cmd(struct exec *x)
{
	const struct trace_cmd *c = x->res.cmd;
	struct dev_ent *d;

	if (c->op == OP_DEVICE)
		return cmd_device(x);
	d = dev_find(x, c->dev);
	if (!d)
		return diag(&x->res, "unknown device '%s'", c->dev);
	if (c->op == OP_RELEASE)
		return gpu_release(d->dev);
	return run_dev_range(x, d->dev);
}

/*
 * gpu_stats_format()'s line, as " name=value" items into @sb, or as a JSON
 * object.
 */
static void put_dev_stats(struct strbuf *sb, struct gpu_dev *dev, bool json)
{
	char small[1024], *buf = small, *save = NULL;
	struct gpu_stats st;
	bool first = true;
	int n;

	gpu_stats(dev, &st);
	n = gpu_stats_format(&st, small, sizeof(small));
	if (n >= (int)sizeof(small)) {
		buf = xrealloc(NULL, n + 1);
		gpu_stats_format(&st, buf, n + 1);
	}
	if (!json) {
		sb_printf(sb, " %s", buf);
	} else {
		sb_printf(sb, "{");
		for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(t, '=');

			if (!eq)
				continue;
			*eq = '\0';
			sb_printf(sb, "%s\"%s\":%s", first ? "" : ",", t, eq + 1);
			first = false;
		}
		sb_printf(sb, "}");
	}
	if (buf != small)
		free(buf);
}

void dev_put_stats(struct exec *x, struct dev_ent *d)
{
	put_dev_stats(&x->res.text, d->dev, false);
	sb_printf(&x->res.obj, ",\"stats\":");
	put_dev_stats(&x->res.obj, d->dev, true);
}

void dev_stats_all(struct exec *x)
{
	if (!x->nr_devs)
		return;
	if (x->cfg.json)
		sb_printf(&x->res.obj, ",\"devices\":{");
	for (size_t i = 0; i < x->nr_devs; i++) {
		if (x->cfg.json) {
			sb_printf(&x->res.obj, "%s", i ? "," : "");
			sb_json_str(&x->res.obj, x->devs[i].name);
			sb_printf(&x->res.obj, ":");
			put_dev_stats(&x->res.obj, x->devs[i].dev, true);
		} else {
			sb_printf(&x->res.extra, "%sstats %s", x->cfg.echo ? "  " : "",
				  x->devs[i].name);
			put_dev_stats(&x->res.extra, x->devs[i].dev, false);
			sb_printf(&x->res.extra, "\n");
		}
	}
	if (x->cfg.json)
		sb_printf(&x->res.obj, "}");
}

int dev_check_all(struct exec *x, char *msg, size_t len)
{
	char m[512];

	for (size_t i = 0; i < x->nr_devs; i++) {
		int err = gpu_check(x->devs[i].dev, m, sizeof(m));

		if (err) {
			snprintf(msg, len, "device %s: %s", x->devs[i].name, m);
			return err;
		}
	}
	return 0;
}

size_t dev_destroy_all(struct exec *x)
{
	size_t left = 0;

	for (size_t i = x->nr_devs; i-- > 0;) {
		if (!gpu_dev_destroy(x->devs[i].dev))
			x->devs[i].dev = NULL;
	}
	for (size_t i = 0; i < x->nr_devs; i++) {
		if (x->devs[i].dev)
			x->devs[left++] = x->devs[i];
	}
	x->nr_devs = left;
	return left;
}
