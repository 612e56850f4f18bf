// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input to the trace language (docs/bad-input.md, section "The trace
 * language"): the rows no golden trace in tests/cli covers. The hmmsim tool
 * (its path is the first argument) replays each group twice with --check:
 * once with the bad lines, each followed by a picture of the state (stats
 * and dumps), and once with every bad line blanked out. The two outputs
 * must be the same but for one result line per bad line ("error ENAME"),
 * so each bad line changed nothing the pictures show; standard error must
 * hold exactly the expected diagnostics, each naming its line.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *hmmsim;

struct bad_line {
	const char *line;	/* the bad command (NULL: a generated one, see long_line()) */
	const char *result;	/* its result line: "error EINVAL" */
	const char *diag;	/* the start of its diagnostic after "FILE:N: ", or NULL for none */
};

struct group {
	const char *args;	/* options before "run", space-separated, or "" */
	const char *setup;	/* commands run first, one a line */
	const char *picture;	/* commands after each bad line: stats, dumps */
	const struct bad_line *bad;
	size_t nr_bad;
};

/* A text buffer of lines. */
struct text {
	char *buf;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The whole file @path, NUL-terminated, split in place into lines; returns the count. */
static unsigned int read_lines(const char *path, char **buf, char ***lines)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, len = 0, n;
	unsigned int nr = 0;

	assert_non_null(f);
	*buf = malloc(cap);
	assert_non_null(*buf);
	while ((n = fread(*buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			cap *= 2;
			*buf = realloc(*buf, cap);
			assert_non_null(*buf);
		}
	}
	fclose(f);
	(*buf)[len] = 0;
	*lines = calloc(count_lines(*buf) + 1, sizeof(char *));
	assert_non_null(*lines);
	for (char *p = *buf; *p;) {
		char *nl = strchr(p, '\n');

		(*lines)[nr++] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	return nr;
}

/*
 * Run hmmsim @args, then "run --check @trace" unless @trace is NULL; stdout
 * and stderr into @out and @err. Returns the exit status.
 */
static int run_hmmsim(const char *args, const char *trace, const char *out, const char *err)
{
	char *argv[16], *copy = strdup(args), *save = NULL;
	int argc = 0, status;
	pid_t pid;

	assert_non_null(copy);
	argv[argc++] = (char *)hmmsim;
	for (char *t = strtok_r(copy, " ", &save); t && argc < 12; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	if (trace) {
		argv[argc++] = "run";
		argv[argc++] = "--check";
		argv[argc++] = (char *)trace;
	}
	argv[argc] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(125);
		execv(hmmsim, argv);
		_exit(126);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(copy);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A line of 1100 characters: past the parser's 1023. */
static const char *long_line(void)
{
	static char line[1200];

	if (!line[0]) {
		strcpy(line, "dump p r ");
		memset(line + strlen(line), '0', 1100 - strlen(line));
		line[1100] = 0;
	}
	return line;
}

/* A fresh directory under $TMPDIR (or /tmp) in @dir. */
static void make_dir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, len, "%s/hmmsim-bad-input-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void run_group(const struct group *g)
{
	char dir[256], with[300], without[300], out1[300], err1[300], out2[300], err2[300];
	struct text t1 = { 0 }, t2 = { 0 };
	unsigned int *lineno = calloc(g->nr_bad, sizeof(unsigned int));
	char *b1, *b2, *be1, *be2, **o1, **o2, **e1, **e2;
	unsigned int n1, n2, ne1, ne2, i, j, k, line;

	assert_non_null(lineno);
	make_dir(dir, sizeof(dir));
	snprintf(with, sizeof(with), "%s/with.trace", dir);
	snprintf(without, sizeof(without), "%s/without.trace", dir);
	snprintf(out1, sizeof(out1), "%s/out1", dir);
	snprintf(err1, sizeof(err1), "%s/err1", dir);
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	snprintf(err2, sizeof(err2), "%s/err2", dir);

	text_add(&t1, g->setup);
	text_add(&t1, g->picture);
	text_add(&t2, g->setup);
	text_add(&t2, g->picture);
	line = count_lines(t1.buf);
	for (i = 0; i < g->nr_bad; i++) {
		text_add(&t1, g->bad[i].line ? g->bad[i].line : long_line());
		text_add(&t1, "\n");
		text_add(&t2, "\n");
		lineno[i] = ++line;
		text_add(&t1, g->picture);
		text_add(&t2, g->picture);
		line += count_lines(g->picture);
	}
	write_file(with, t1.buf);
	/* The same trace, its bad lines blank, named alike so that nothing else differs. */
	write_file(without, t2.buf);
	assert_int_equal(run_hmmsim(g->args, with, out1, err1), 0);
	assert_int_equal(run_hmmsim(g->args, without, out2, err2), 0);

	n1 = read_lines(out1, &b1, &o1);
	n2 = read_lines(out2, &b2, &o2);
	ne1 = read_lines(err1, &be1, &e1);
	ne2 = read_lines(err2, &be2, &e2);
	/* Without the bad lines: no diagnostic, no error. */
	if (ne2)
		fail_msg("without the bad lines, stderr says: %s", e2[0]);
	/* With them: one result line each, in place; every other line as without. */
	for (i = j = k = 0; i < n1; i++) {
		if (j < n2 && !strcmp(o1[i], o2[j])) {
			j++;
			continue;
		}
		if (k == g->nr_bad || strcmp(o1[i], g->bad[k].result))
			fail_msg("stdout line %u: '%s'; expected '%s' (bad line %u: %.60s)", i + 1,
				 o1[i], k < g->nr_bad ? g->bad[k].result : o2[j < n2 ? j : 0],
				 k < g->nr_bad ? lineno[k] : 0,
				 k < g->nr_bad && g->bad[k].line ? g->bad[k].line : "");
		k++;
	}
	if (j != n2 || k != g->nr_bad)
		fail_msg("stdout: %u of %u picture lines and %u of %zu results matched", j, n2, k,
			 g->nr_bad);
	/* stderr: exactly the expected diagnostics, in order, each naming its line. */
	for (i = k = 0; k < g->nr_bad; k++) {
		char prefix[512];

		if (!g->bad[k].diag)
			continue;
		snprintf(prefix, sizeof(prefix), "%s:%u: %s", with, lineno[k], g->bad[k].diag);
		if (i >= ne1 || strncmp(e1[i], prefix, strlen(prefix)))
			fail_msg("stderr line %u: '%s'; expected it to start with '%s'", i + 1,
				 i < ne1 ? e1[i] : "(none)", prefix);
		i++;
	}
	if (i != ne1)
		fail_msg("stderr: unexpected '%s'", e1[i]);

	free(b1), free(b2), free(be1), free(be2);
	free(o1), free(o2), free(e1), free(e2);
	free(t1.buf), free(t2.buf);
	free(lineno);
	unlink(with), unlink(without);
	unlink(out1), unlink(err1), unlink(out2), unlink(err2);
	rmdir(dir);
}

#define GROUP(a, s, p, b) { .args = (a), .setup = (s), .picture = (p), .bad = (b), \
			    .nr_bad = sizeof(b) / sizeof((b)[0]) }

/* The lexer and parser: lines, words, numbers, names, options that need values. */
static void test_parse(void **state)
{
	static const struct bad_line bad[] = {
		{ NULL, "error EINVAL", "line too long (at most 1023 characters)" },
		{ "stats p p p p p p p p p p p p p p p p p p p p p p p p p p p p p p p p p p",
		  "error EINVAL", "too many words (at most 32)" },
		{ "mmap", "error EINVAL", "mmap: missing P (usage: mmap P R SIZE" },
		{ "mmap p r2 x", "error EINVAL", "mmap: bad number 'x' for SIZE" },
		{ "mmap p r2 4K file", "error EINVAL", "mmap: 'file' needs a value (file=...)" },
		{ "mmap p r2 4K align", "error EINVAL", "mmap: 'align' needs a value (align=...)" },
		{ "mmap p r2 4K offset", "error EINVAL",
		  "mmap: 'offset' needs a value (offset=...)" },
		{ "mmap p r2 4K pgoff", "error EINVAL", "mmap: 'pgoff' needs a value (pgoff=...)" },
		{ "mmap p r2 4K pgoff=4K", "error EINVAL", "mmap: pgoff= needs file=F" },
		{ "mmap p r/2 4K", "error EINVAL", "mmap: bad name 'r/2' for R" },
		{ "file g 1Q", "error EINVAL", "file: bad number '1Q' for SIZE" },
		{ "file g/h 4K", "error EINVAL", "file: bad name 'g/h' for F" },
		{ "fork p q/", "error EINVAL", "fork: bad name 'q/' for C" },
		{ "write p r 0 4K 0x100", "error EINVAL", "write: bad BYTE '0x100' (0 to 255)" },
		{ "write p r 0 4K x", "error EINVAL", "write: bad BYTE 'x' (0 to 255)" },
		{ "madvise p r 0 4K", "error EINVAL", "madvise: missing ADVICE" },
		{ "mremap p r r2 align=4K offset", "error EINVAL",
		  "mremap: unknown option 'offset' (usage: mremap P R NEWR" },
		{ "set thp=never profile=no-such-kernel", "error EINVAL",
		  "unknown profile 'no-such-kernel' (known: current, " },
		{ "set thp=never color=red", "error EINVAL", "set: unknown setting 'color=red'" },
		{ "dump p r 0x1000x 4K", "error EINVAL", "dump: bad number '0x1000x' for OFF" },
	};
	static const struct group g = GROUP("",
		"proc p\nmmap p r 64K\nwrite p r 0 16K 7\n",
		"stats\ndump p r\nread p r 0 64K\n", bad);

	(void)state;
	run_group(&g);
}

/* Names: processes, regions and files that do not exist or already do. */
static void test_names(void **state)
{
	static const struct bad_line bad[] = {
		{ "write p nothere 0 4K", "error EINVAL", "unknown region 'nothere' of process 'p'" },
		{ "dump nobody r", "error EINVAL", "unknown process 'nobody'" },
		{ "madvise p r 60K 8K dontneed", "error EINVAL",
		  "range 0xf000+0x2000 is outside region 'r' of process 'p' (0x10000 bytes)" },
		{ "mprotect p r 64K 4K r", "error EINVAL",
		  "range 0x10000+0x1000 is outside region 'r' of process 'p' (0x10000 bytes)" },
		{ "file f 4K", "error EINVAL", "file 'f' exists" },
		{ "mmap p m2 4K file=g", "error EINVAL", "unknown file 'g'" },
		{ "exit nobody", "error EINVAL", "unknown process 'nobody'" },
	};
	static const struct group g = GROUP("",
		"proc p\nmmap p r 64K\nwrite p r 0 16K 7\nfile f 64K\nmmap p m 16K file=f\n",
		"stats\ndump p r\ndump p m\nread p r 0 64K\nread p m 0 16K\n", bad);

	(void)state;
	run_group(&g);
}

/* Errors of the mm under a command: the result line, and no diagnostic. */
static void test_mm_errors(void **state)
{
	static const struct bad_line bad[] = {
		{ "dump p r 0 0", "error EINVAL", NULL },
		{ "dump p r 4K 1K", "error EINVAL", NULL },
		{ "dump p r 1 4K", "error EINVAL", NULL },
		{ "madvise p s 0 16K free", "error EINVAL", NULL },
		{ "madvise p m 0 4K free", "error EINVAL", NULL },
		{ "madvise p r 0 0 dontneed", "error EINVAL", NULL },
		{ "mprotect p r 4K 0 none", "error EINVAL", NULL },
		{ "mremap p r r2 align=1M offset=1M", "error EINVAL", NULL },
		{ "mremap p r r2 align=2M offset=1", "error EINVAL", NULL },
		{ "mmap p z 4K align=2M offset=2M", "error EINVAL", NULL },
		{ "mmap p z 4K align=4K offset=1", "error EINVAL", NULL },
		{ "mmap p z 4K align=2K", "error EINVAL", NULL },
		{ "read p none 0 4K", "error EFAULT", NULL },
		{ "write p ro 0 1", "error EFAULT", NULL },
	};
	static const struct group g = GROUP("",
		"proc p\nmmap p r 64K\nwrite p r 0 16K 7\nmmap p s 16K shared\nwrite p s 0 4K 1\n"
		"file f 64K\nmmap p m 16K file=f\nwrite p m 0 4K 2\nmmap p ro 16K r\n"
		"read p ro 0 4K\nmmap p none 16K none\n",
		"stats\ndump p r\ndump p s\ndump p m\ndump p ro\ndump p none\nread p r 0 64K\n"
		"read p s 0 16K\nread p m 0 16K\nread p ro 0 16K\n", bad);

	(void)state;
	run_group(&g);
}

/*
 * hugetlb regions: placements and advice they refuse (MADV_FREE; MADV_DONTNEED
 * from inside a huge page).
 */
static void test_hugetlb(void **state)
{
	static const struct bad_line bad[] = {
		{ "madvise p h 0 4M free", "error EINVAL", NULL },
		{ "madvise p h 1M 2M dontneed", "error EINVAL", NULL },
		{ "mmap p h2 2M hugetlb=2M align=2M offset=4K", "error EINVAL", NULL },
		{ "mmap p h2 2M hugetlb=2M align=1M", "error EINVAL", NULL },
		{ "mremap p h h2 align=1M", "error EINVAL", NULL },
		{ "mmap p h2 2M hugetlb=2M", "error ENOMEM", NULL },
		{ "mmap p g 1G hugetlb=1G", "error ENOMEM", NULL },
	};
	static const struct group g = GROUP("--hugetlb-2m 2",
		"proc p\nmmap p h 4M hugetlb=2M\nwrite p h 0 4K 3\n",
		"stats\ndump p h\nread p h 0 4M\n", bad);

	(void)state;
	run_group(&g);
}

/*
 * The command line around the language: a machine that cannot be built is
 * exit status 1 and a message; a bad option value is a usage error, 2.
 */
static void test_command_line(void **state)
{
	static const struct {
		const char *args;
		int status;
		const char *err;
	} cases[] = {
		{ "--ram 12345 run /dev/null", 1,
		  "hmmsim: cannot create the simulated machine: EINVAL" },
		{ "--hugetlb-2m 1000 --ram 64M run /dev/null", 1,
		  "hmmsim: cannot create the simulated machine: ENOMEM" },
		{ "--ram 0 run /dev/null", 2, "hmmsim: bad RAM size '0'" },
		{ "--hugetlb-1g x run /dev/null", 2, "hmmsim: bad hugetlb page count 'x'" },
		{ "--seed 12Q run /dev/null", 2, "hmmsim: bad seed '12Q'" },
		{ "--list run /dev/null", 2, "hmmsim: --list goes with scenario" },
	};
	char dir[256], out[300], err[300];

	(void)state;
	make_dir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *bo, *be, **o, **e;
		int status = run_hmmsim(cases[i].args, NULL, out, err);
		unsigned int no = read_lines(out, &bo, &o), ne = read_lines(err, &be, &e);

		if (status != cases[i].status || !ne || strcmp(e[0], cases[i].err) || no)
			fail_msg("hmmsim %s: status %d, stderr '%s', %u stdout lines; expected %d "
				 "and '%s'", cases[i].args, status, ne ? e[0] : "", no,
				 cases[i].status, cases[i].err);
		free(bo), free(be), free(o), free(e);
	}
	unlink(out), unlink(err);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_mm_errors),
		cmocka_unit_test(test_hugetlb),
		cmocka_unit_test(test_command_line),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s HMMSIM\n", argv[0]);
		return 2;
	}
	hmmsim = argv[1];
	return cmocka_run_group_tests_name("bad_input_trace", tests, NULL, NULL);
}
