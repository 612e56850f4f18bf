// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmmsim: replay traces against the simulated HMM stack, or run a built-in
 * scenario. With no argument it runs the default scenario as a report,
 * which is what a newcomer sees first.
 *
 * Exit status: 0 when every command ran (a command's error line is data,
 * not a failure of the tool), 1 when --check found a violation or the
 * trace could not be read, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#include "cli.h"
#include "trace.h"

#define EXIT_USAGE	2

static const char usage_text[] =
	"Usage: hmmsim [OPTION]...                  run the default scenario, as a report\n"
	"       hmmsim [OPTION]... run TRACE        replay a trace file (- for stdin)\n"
	"       hmmsim [OPTION]... scenario NAME    run a built-in scenario, as a report\n"
	"       hmmsim scenario --list              list the built-in scenarios\n"
	"\n"
	"Options:\n"
	"  --check            check the mm's invariants after every command; a violation\n"
	"                     is reported with its trace line and makes the exit status 1\n"
	"  --json             one JSON object per command, with every counter\n"
	"  --echo             print each command (and the trace's comments) beside its result\n"
	"  --profile NAME     kernel behaviour profile of new processes (default current)\n"
	"  --thp MODE         THP mode at start: always, madvise (default), never\n"
	"  --seed N           seed of random=N accesses (the same seed, the same output)\n"
	"  --ram SIZE         simulated RAM (default 1G); sizes take 0x, K, M, G\n"
	"  --hugetlb-2m N     2 MiB pages in the hugetlb pool\n"
	"  --hugetlb-1g N     1 GiB pages in the hugetlb pool\n"
	"  --list             with scenario: list the scenarios\n"
	"  --commands         the trace language in brief\n"
	"  --help, --version\n";

__attribute__((format(printf, 1, 0))) static int usage_error(const char *fmt, const char *arg)
{
	fputs("hmmsim: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'hmmsim --help'.\n", stderr);
	return EXIT_USAGE;
}

static const char *thp_name(enum mm_thp_mode mode)
{
	return mode == MM_THP_ALWAYS ? "always" : mode == MM_THP_NEVER ? "never" : "madvise";
}

static void print_header(const struct scenario *sc, const struct exec_config *cfg)
{
	const struct mm_profile *prof = cfg->profile ? cfg->profile : &mm_profile_current;
	uint64_t ram = cfg->sys.ram ? cfg->sys.ram : UINT64_C(1) << 30;

	printf("hmmsim %s, scenario '%s': %s.\n", hmmsim_version(), sc->name, sc->title);
	printf("Simulated: one x86-64 machine, %" PRIu64 " MiB of RAM", ram >> 20);
	if (cfg->sys.hugetlb_2m || cfg->sys.hugetlb_1g)
		printf(", hugetlb pool %" PRIu64 "x2M + %" PRIu64 "x1G", cfg->sys.hugetlb_2m,
		       cfg->sys.hugetlb_1g);
	printf(", THP mode %s, kernel profile %s.\n", thp_name(cfg->sys.thp), prof->name);
	fputs(sc->about, stdout);
	putchar('\n');
}

static void list_scenarios(void)
{
	for (size_t i = 0; scenarios[i]; i++)
		printf("%-14s %s%s\n", scenarios[i]->name, scenarios[i]->title,
		       i ? "" : " (the default)");
}

/* Run @text (a scenario) or @in (a trace) and turn the outcome into an exit status. */
static int replay(const struct exec_config *cfg, FILE *in, const char *text)
{
	struct exec *x;
	int err, status = 0;

	err = exec_create(cfg, &x);
	if (err) {
		fprintf(stderr, "hmmsim: cannot create the simulated machine: %s\n",
			errno_name(err));
		return 1;
	}
	err = in ? exec_stream(x, in) : exec_text(x, text);
	if (err) {
		fprintf(stderr, "hmmsim: %s: read error\n", cfg->source);
		status = 1;
	}
	if (exec_violations(x)) {
		fprintf(stderr, "hmmsim: %s: %u check violation(s)\n", cfg->source,
			exec_violations(x));
		status = 1;
	}
	exec_destroy(x);
	return status;
}

enum {
	OPT_CHECK = 256,
	OPT_JSON,
	OPT_ECHO,
	OPT_PROFILE,
	OPT_THP,
	OPT_SEED,
	OPT_RAM,
	OPT_HUGETLB_2M,
	OPT_HUGETLB_1G,
	OPT_LIST,
	OPT_COMMANDS,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "echo", no_argument, NULL, OPT_ECHO },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "thp", required_argument, NULL, OPT_THP },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "ram", required_argument, NULL, OPT_RAM },
	{ "hugetlb-2m", required_argument, NULL, OPT_HUGETLB_2M },
	{ "hugetlb-1g", required_argument, NULL, OPT_HUGETLB_1G },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "commands", no_argument, NULL, OPT_COMMANDS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int run_main(int argc, char **argv)
{
	struct exec_config cfg = { .out = stdout, .err = stderr };
	bool list = false, echo = false, thp_set = false, h2_set = false, h1_set = false;
	const struct scenario *sc;
	const char *cmd = NULL;
	int opt, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_CHECK:
			cfg.check = true;
			break;
		case OPT_JSON:
			cfg.json = true;
			break;
		case OPT_ECHO:
			echo = true;
			break;
		case OPT_PROFILE:
			cfg.profile = mm_profile_find(optarg);
			if (!cfg.profile)
				return usage_error("unknown profile '%s'", optarg);
			break;
		case OPT_THP:
			if (!strcmp(optarg, "always"))
				cfg.sys.thp = MM_THP_ALWAYS;
			else if (!strcmp(optarg, "madvise"))
				cfg.sys.thp = MM_THP_MADVISE;
			else if (!strcmp(optarg, "never"))
				cfg.sys.thp = MM_THP_NEVER;
			else
				return usage_error("unknown THP mode '%s' (always, madvise, never)",
						   optarg);
			thp_set = true;
			break;
		case OPT_SEED:
			if (trace_parse_size(optarg, &cfg.seed))
				return usage_error("bad seed '%s'", optarg);
			break;
		case OPT_RAM:
			if (trace_parse_size(optarg, &cfg.sys.ram) || !cfg.sys.ram)
				return usage_error("bad RAM size '%s'", optarg);
			break;
		case OPT_HUGETLB_2M:
			if (trace_parse_size(optarg, &cfg.sys.hugetlb_2m))
				return usage_error("bad hugetlb page count '%s'", optarg);
			h2_set = true;
			break;
		case OPT_HUGETLB_1G:
			if (trace_parse_size(optarg, &cfg.sys.hugetlb_1g))
				return usage_error("bad hugetlb page count '%s'", optarg);
			h1_set = true;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_COMMANDS:
			trace_print_help(stdout);
			return 0;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return 0;
		case OPT_VERSION:
			printf("hmmsim %s\n", hmmsim_version());
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		cmd = argv[optind++];

	if (cmd && !strcmp(cmd, "run")) {
		const char *path = optind < argc ? argv[optind++] : NULL;
		FILE *in;

		if (!path)
			return usage_error("%s", "run: missing TRACE");
		if (optind < argc)
			return usage_error("unexpected '%s'", argv[optind]);
		if (list)
			return usage_error("%s", "--list goes with scenario");
		in = strcmp(path, "-") ? fopen(path, "r") : stdin;
		if (!in) {
			fprintf(stderr, "hmmsim: %s: %s\n", path, strerror(errno));
			return 1;
		}
		cfg.source = strcmp(path, "-") ? path : "<stdin>";
		cfg.echo = echo;
		status = replay(&cfg, in, NULL);
		if (in != stdin)
			fclose(in);
		return status;
	}

	if (cmd && strcmp(cmd, "scenario"))
		return usage_error("unknown command '%s' (run, scenario)", cmd);
	if (list) {
		if (optind < argc)
			return usage_error("unexpected '%s'", argv[optind]);
		list_scenarios();
		return 0;
	}
	sc = scenarios[0];
	if (cmd) {
		if (optind >= argc)
			return usage_error("%s", "scenario: missing NAME (hmmsim scenario --list)");
		sc = scenario_find(argv[optind]);
		if (!sc)
			return usage_error("unknown scenario '%s' (hmmsim scenario --list)",
					   argv[optind]);
		optind++;
	}
	if (optind < argc)
		return usage_error("unexpected '%s'", argv[optind]);
	if (!thp_set)
		cfg.sys.thp = sc->thp;
	if (!h2_set)
		cfg.sys.hugetlb_2m = sc->hugetlb_2m;
	if (!h1_set)
		cfg.sys.hugetlb_1g = sc->hugetlb_1g;
	cfg.source = sc->name;
	/* A scenario is a report: its comments are the narration. */
	cfg.echo = true;
	if (!cfg.json)
		print_header(sc, &cfg);
	return replay(&cfg, NULL, sc->trace);
}

int main(int argc, char **argv)
{
	int status;

	hmmsim_thread_register();
	status = run_main(argc, argv);
	hmmsim_thread_unregister();
	return status;
}
