// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_trace: the input is a trace for the hmmsim tool (docs/trace.md),
 * replayed by the tool's own interpreter (src/cli/exec.c, built into this
 * fuzzer) as `hmmsim run --check` would: mm_system_check() after every
 * command. The fuzzer aborts when
 *  - a check finds a violation (the trace line and the message are printed);
 *  - the interpreter reports a read error;
 *  - a second replay of the same input (for one input in REPLAY_EVERY,
 *    chosen by a hash of the input) prints something else: the tool's
 *    output is documented to be a function of the input;
 *  - or the sanitizers see anything.
 *
 * Bounds, so that one input stays a few milliseconds: inputs above
 * MAX_INPUT bytes are rejected, and before replay every line is parsed and
 * a line that would be too costly (an access or an mmap above the limits
 * below, too many processes, dumps or accesses in all) is blanked, so the
 * line numbers stay the same. The machine is small (RAM_DEFAULT), so that
 * running out of memory is reachable.
 *
 * A "# args:" line, as the golden traces of tests/cli/traces have, gives
 * options: --json, --echo, --ram SIZE, --hugetlb-2m N, --thp MODE,
 * --profile NAME (others are ignored). The golden traces are seeds as they are.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#include "cli/cli.h"
#include "cli/trace.h"

#define MAX_INPUT	4096
#define MAX_LINES	512
#define RAM_DEFAULT	(UINT64_C(32) << 20)
#define RAM_MAX		(UINT64_C(256) << 20)
#define HUGETLB_2M_DEFAULT 4
#define MAX_MAP		(UINT64_C(1) << 30)	/* mmap, file, device memory */
#define MAX_LEN		(UINT64_C(8) << 20)	/* one read, write, dump... range */
#define MAX_ACCESS	(UINT64_C(8) << 20)	/* reads and writes of one input */
#define MAX_DEVMEM	(UINT64_C(64) << 20)	/* device memory= */
#define MAX_DUMPS	32
#define MAX_PROCS	8
#define REPLAY_EVERY	8

/* Everything an input asks of the machine, from its "# args:" line. */
static void parse_args(const char *line, struct exec_config *cfg)
{
	char buf[256], *save = NULL, *tok, *arg;
	uint64_t v;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(tok, "--json")) {
			cfg->json = true;
		} else if (!strcmp(tok, "--echo")) {
			cfg->echo = true;
		} else if (!strcmp(tok, "--ram") || !strcmp(tok, "--hugetlb-2m") ||
			   !strcmp(tok, "--thp") || !strcmp(tok, "--profile")) {
			arg = strtok_r(NULL, " \t", &save);
			if (!arg)
				break;
			if (!strcmp(tok, "--profile")) {
				cfg->profile = mm_profile_find(arg);
			} else if (!strcmp(tok, "--thp")) {
				cfg->sys.thp = !strcmp(arg, "always") ? MM_THP_ALWAYS :
					       !strcmp(arg, "never")  ? MM_THP_NEVER :
									MM_THP_MADVISE;
			} else if (!trace_parse_size(arg, &v)) {
				if (!strcmp(tok, "--ram"))
					cfg->sys.ram = v;
				else
					cfg->sys.hugetlb_2m = v;
			}
		}
	}
}

/*
 * Copy @data into @out (NUL-terminated), blanking the lines that are too
 * costly, and fill @cfg from the "# args:" line. Returns false to reject.
 */
static bool prepare(const uint8_t *data, size_t size, char *out, struct exec_config *cfg,
		    bool *devices)
{
	uint64_t access = 0, ram;
	unsigned int lines = 0, dumps = 0, procs = 0;
	bool args_seen = false;
	char msg[256];
	size_t i = 0;

	cfg->sys.ram = RAM_DEFAULT;
	cfg->sys.hugetlb_2m = HUGETLB_2M_DEFAULT;
	while (i < size) {
		size_t n = 0, end;
		char line[MAX_INPUT + 1];
		struct trace_cmd cmd;
		bool drop = false;

		while (i + n < size && data[i + n] != '\n')
			n++;
		end = i + n + (i + n < size);
		/* exec_stream reads a line as a C string: it ends at a NUL. */
		memcpy(line, data + i, n);
		line[n] = '\0';
		if (++lines > MAX_LINES)
			return false;
		if (!args_seen && !strncmp(line, "# args:", 7)) {
			args_seen = true;
			parse_args(line + 7, cfg);
		}
		if (trace_parse(line, lines, &cmd, msg, sizeof(msg)) == 1) {
			if (cmd.size > MAX_MAP || cmd.len > MAX_LEN)
				drop = true;
			if ((cmd.op == OP_READ || cmd.op == OP_WRITE ||
			     trace_op_is_device(cmd.op)) &&
			    (access += cmd.random ? cmd.random * 4096 : cmd.len) > MAX_ACCESS)
				drop = true;
			if (cmd.op == OP_DEVICE && cmd.size > MAX_DEVMEM)
				drop = true;
			if (cmd.op == OP_DEVICE && !drop)
				*devices = true;
			if (cmd.op == OP_DUMP && ++dumps > MAX_DUMPS)
				drop = true;
			if ((cmd.op == OP_PROC || cmd.op == OP_FORK) && ++procs > MAX_PROCS)
				drop = true;
		}
		if (drop) {
			memset(out + i, ' ', n);	/* a blank line: nothing to run */
			out[i] = '#';
		} else {
			memcpy(out + i, data + i, n);
		}
		if (end > i + n)
			out[i + n] = '\n';
		i = end;
	}
	out[size] = '\0';

	/* A small machine; the hugetlb pool must fit (mm_system_create says -ENOMEM). */
	ram = cfg->sys.ram;
	if (!ram || ram > RAM_MAX || (ram & (MM_PAGE_SIZE - 1)))
		cfg->sys.ram = RAM_DEFAULT;
	if (cfg->sys.hugetlb_2m > cfg->sys.ram / MM_PMD_SIZE / 2)
		cfg->sys.hugetlb_2m = cfg->sys.ram / MM_PMD_SIZE / 2;
	cfg->sys.hugetlb_1g = 0;
	return true;
}

/* Replay @text; returns the output (stdout and stderr interleaved), malloc'd. */
static char *replay(const struct exec_config *base, const char *text, size_t len,
		    size_t *out_len, unsigned int *violations, int *read_err)
{
	struct exec_config cfg = *base;
	char *out = NULL;
	struct exec *x;
	FILE *in;
	int err;

	cfg.out = open_memstream(&out, out_len);
	if (!cfg.out)
		abort();
	cfg.err = cfg.out;
	err = exec_create(&cfg, &x);
	if (err) {
		fprintf(stderr, "fuzz_trace: exec_create: %d\n", err);
		abort();
	}
	/* fmemopen() wants at least one byte. */
	in = len ? fmemopen((void *)text, len, "r") : NULL;
	if (len && !in)
		abort();
	*read_err = in ? exec_stream(x, in) : 0;
	if (in)
		fclose(in);
	*violations = exec_violations(x);
	exec_destroy(x);
	fclose(cfg.out);
	return out;
}

/* FNV-1a. */
static uint32_t hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

static void report(const char *what, const char *text, const char *out, size_t out_len)
{
	const size_t tail = 16384;

	fprintf(stderr, "fuzz_trace: %s\n---- trace (as replayed) ----\n%s\n---- output%s ----\n",
		what, text, out_len > tail ? " (tail)" : "");
	fwrite(out_len > tail ? out + out_len - tail : out, 1, out_len > tail ? tail : out_len,
	       stderr);
	fputs("\n----\n", stderr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* HMMSIM_FUZZ_LOG=1: print each input's replay (to read a reproducer). */
static bool print_log;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	print_log = getenv("HMMSIM_FUZZ_LOG") != NULL;
	hmmsim_thread_register();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exec_config cfg = { .check = true, .source = "fuzz" };
	char text[MAX_INPUT + 1];
	bool devices = false;
	unsigned int v1, v2;
	size_t len1, len2;
	char *out1, *out2;
	int e1, e2;

	if (size > MAX_INPUT || !prepare(data, size, text, &cfg, &devices))
		return -1;
	out1 = replay(&cfg, text, size, &len1, &v1, &e1);
	if (print_log)
		fwrite(out1, 1, len1, stderr);
	if (v1 || e1) {
		report(v1 ? "--check found a violation" : "read error", text, out1, len1);
		abort();
	}
	/*
	 * The output is a function of the input: a second replay prints the
	 * same. It doubles the cost, so only for some inputs, always the same
	 * ones. (With the checks again: gpu_check() counts in the devices'
	 * fences, so --check changes what `stats D` prints.)
	 */
	if (hash(data, size) % REPLAY_EVERY) {
		free(out1);
		goto out;
	}
	out2 = replay(&cfg, text, size, &len2, &v2, &e2);
	if (len1 != len2 || memcmp(out1, out2, len1)) {
		size_t k = 0;

		while (k < len1 && k < len2 && out1[k] == out2[k])
			k++;
		fprintf(stderr, "fuzz_trace: a second replay differs at byte %zu\n", k);
		report("first replay", text, out1, len1);
		report("second replay", text, out2, len2);
		abort();
	}
	free(out1);
	free(out2);
out:
	/*
	 * A device's memory is freed after a grace period (call_rcu), where
	 * LeakSanitizer cannot see it: wait for that before libFuzzer looks
	 * for leaks. It takes about 10 ms, so only when there was a device.
	 */
	if (devices)
		hmmsim_barrier();
	return 0;
}
