/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * poolwatch-log: leak verdicts from APR pool-debug logs, in one pass.
 *
 *   poolwatch-log [--per request] [--csv DIR|FILE] [--svg DIR] FILE|-
 *
 * What split.py and plot.py did by hand for "APR Memory Pools Rock": split
 * the log per process, follow every pool's size, draw it, and say which
 * pools grew and never came back. The verdict is the module's own
 * (src/pw_detect.c, linked in): the same Theil-Sen slope and persistence
 * test, on series resampled evenly over each process's judged window.
 *
 * One pass, constant memory (plog_model.h has the bounds), so a
 * multi-gigabyte log or an endless pipe is fine; .xz is decoded on the fly.
 * Exit status: 0 no leak, 1 leak, 2 error (bad arguments, unreadable
 * input, or input with no pool-debug record at all).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>

#include "cli.h"
#include "plog_input.h"
#include "plog_model.h"
#include "plog_svg.h"

#define EXIT_NOLEAK 0
#define EXIT_LEAK   1
#define EXIT_ERROR  2
#define TOP_SVG     6

static const char *progname = "poolwatch-log";

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: %s [options] FILE|-\n"
        "Leak verdicts from an APR pool-debug log (APR_POOL_DEBUG_LOG or "
        "stderr of a\n"
        "server built on --enable-pool-debug=verbose); FILE may be "
        "xz-compressed.\n"
        "\n"
        "  -p, --per TAG         x axis: pools created with tag TAG (e.g. "
        "request)\n"
        "                        instead of log events of the process\n"
        "  -w, --warmup N|P%%     x-units (or percent of each process) not "
        "judged\n"
        "                        (default 10%%)\n"
        "      --min-slope B     bytes per x-unit that count as growth "
        "(default 1;\n"
        "                        4 with --per, as the module's pool signal)\n"
        "      --min-span F      part of the judged window a pool must cover "
        "to be\n"
        "                        judged (default 0.25)\n"
        "      --max-procs N     processes followed (default 64)\n"
        "      --max-pools N     pool records per process (default 512)\n"
        "  -t, --top N           pools listed per process (default 10)\n"
        "      --csv DIR|FILE    series as CSV: one file, or DIR/pid-PID.csv\n"
        "      --svg DIR         a graph per process: DIR/pid-PID.svg\n"
        "      --stats           lines, bytes and throughput on stderr\n"
        "  -q, --quiet           only the verdict line\n"
        "  -h, --help            this text\n"
        "\n"
        "Exit status: 0 no leak, 1 a leak (a pool or a process total), 2 "
        "error.\n",
        progname);
}

typedef struct app_t {
    plog_model_t m;
    const char *csv, *svg, *input;
    unsigned int top;
    int quiet, stats;
    apr_pool_t *pool;
} app_t;

static void on_line(void *baton, const char *line, apr_size_t len)
{
    plog_model_line(baton, line, len);
}

static const char *x_unit(const plog_model_t *m)
{
    return m->o.per_tag ? m->o.per_tag : "event";
}

/* Candidates for the summary and the graph: pools judged over the window
 * whose level rose in it, worst verdict first, then steepest. */
typedef struct cand_t {
    const plog_pool_t *pl;
    plog_judged_t j;
} cand_t;

static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;

    if (x->j.r.verdict != y->j.r.verdict) {
        return x->j.r.verdict > y->j.r.verdict ? -1 : 1;
    }
    if (x->j.r.slope != y->j.r.slope) {
        return x->j.r.slope > y->j.r.slope ? -1 : 1;
    }
    return x->pl->addr < y->pl->addr ? -1 : 1;
}

static unsigned int candidates(const plog_model_t *m, const plog_proc_t *pr,
                               cand_t *out)
{
    unsigned int i, n = 0;

    for (i = 0; i < pr->npools; i++) {
        plog_judged_t j;

        plog_judge_pool(m, pr, &pr->pools[i], &j);
        if (j.judged && j.growth > 0) {
            out[n].pl = &pr->pools[i];
            out[n].j = j;
            n++;
        }
    }
    qsort(out, n, sizeof(*out), cand_cmp);
    return n;
}

static int site_cmp(const void *a, const void *b)
{
    const plog_site_t *x = a, *y = b;

    return x->bytes == y->bytes ? 0 : (x->bytes > y->bytes ? -1 : 1);
}

static void print_sites(const plog_pool_t *pl)
{
    plog_site_t s[PLOG_SITES];
    unsigned int i;

    memcpy(s, pl->sites, sizeof(s[0]) * pl->nsites);
    qsort(s, pl->nsites, sizeof(s[0]), site_cmp);
    for (i = 0; i < pl->nsites && i < 3; i++) {
        if (s[i].err_count == 0) {
            printf("        %-44s %10" APR_UINT64_T_FMT
                   " B in %" APR_UINT64_T_FMT " allocations\n",
                   s[i].text, s[i].bytes, s[i].count);
            continue;
        }
        /* it took the place of another site: a range */
        printf("        %-44s %" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT
               " B in %" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT
               " allocations\n",
               s[i].text, s[i].bytes - s[i].err_bytes, s[i].bytes,
               s[i].count - s[i].err_count, s[i].count);
    }
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", progname, path,
                strerror(errno));
    }
    return f;
}

static void csv_series(FILE *f, apr_uint64_t pid, const char *pool,
                       const char *tag, const plog_series_t *s)
{
    apr_uint32_t i;

    for (i = 0; i < s->n; i++) {
        fprintf(f,
                "%" APR_UINT64_T_FMT ",%s,\"%s\",%" APR_UINT64_T_FMT
                ",%" APR_INT64_T_FMT ",%s%s%s\n",
                pid, pool, tag, s->x[i], s->y[i],
                s->mark[i] & PLOG_MARK_CREATE ? "C" : "",
                s->mark[i] & PLOG_MARK_CLEAR ? "L" : "",
                s->mark[i] & PLOG_MARK_DESTROY ? "D" : "");
    }
}

/* Tags are quoted in CSV; a quote in one is doubled. */
static const char *csv_tag(apr_pool_t *p, const char *tag)
{
    const char *q = strchr(tag, '"');
    char *out, *o;

    if (q == NULL) {
        return tag;
    }
    out = o = apr_palloc(p, strlen(tag) * 2 + 1);
    for (; *tag; tag++) {
        if (*tag == '"') {
            *o++ = '"';
        }
        *o++ = *tag;
    }
    *o = '\0';
    return out;
}

static void csv_proc(FILE *f, const plog_proc_t *pr, apr_pool_t *p)
{
    apr_uint32_t i;

    csv_series(f, pr->pid, "total", "", &pr->total);
    for (i = 0; i < pr->npools; i++) {
        const plog_pool_t *pl = &pr->pools[i];
        char addr[32];

        snprintf(addr, sizeof(addr), "0x%" APR_UINT64_T_HEX_FMT, pl->addr);
        csv_series(f, pr->pid, addr, csv_tag(p, pl->tag), &pl->s);
    }
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *csv_header(const plog_model_t *m)
{
    return m->o.per_tag ? "pid,pool,tag,x_units,bytes,marks\n"
                        : "pid,pool,tag,x_events,bytes,marks\n";
}

static int report(app_t *a)
{
    plog_model_t *m = &a->m;
    unsigned int i, k, leaks = 0, suspects = 0, total_leaks = 0;
    cand_t *c = malloc(sizeof(*c) * (m->o.max_pools ? m->o.max_pools : 1));
    FILE *csv_all = NULL;
    int csv_dir = a->csv && is_dir(a->csv), rc = 0;

    if (c == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return -1;
    }
    if (a->csv && !csv_dir) {
        csv_all = open_out(a->csv);
        if (csv_all == NULL) {
            free(c);
            return -1;
        }
        fputs(csv_header(m), csv_all);
    }
    if (!a->quiet) {
        printf("%s: %s: %" APR_UINT64_T_FMT " lines, %" APR_UINT64_T_FMT
               " records, %" APR_UINT64_T_FMT " unparsable",
               progname, a->input, m->lines, m->records, m->bad);
        if (m->bad) {
            printf(" (first at line %" APR_UINT64_T_FMT ")", m->bad_first_line);
        }
        printf(", %" APR_UINT64_T_FMT " torn, %u process%s", m->torn, m->nprocs,
               m->nprocs == 1 ? "" : "es");
        if (m->procs_dropped) {
            printf(" (%" APR_UINT64_T_FMT " records of further processes "
                   "dropped: --max-procs)",
                   m->procs_dropped);
        }
        printf("\nx axis: %s; warm-up %g%s; min slope %g B/%s; detector "
               "pw_detect (the module's)\n",
               m->o.per_tag ? "pools created with the tag"
                            : "events of each "
                              "process",
               m->o.warmup_frac ? m->o.warmup * 100 : m->o.warmup,
               m->o.warmup_frac ? "%" : "", m->o.detect.min_slope, x_unit(m));
        if (m->o.per_tag) {
            printf("x unit: a pool tagged \"%s\"\n", m->o.per_tag);
        }
    }
    for (i = 0; i < m->nprocs; i++) {
        const plog_proc_t *pr = &m->procs[i];
        plog_judged_t tj;
        double x0, x1;
        unsigned int n = candidates(m, pr, c);

        plog_proc_window(m, pr, &x0, &x1);
        plog_judge(m, &pr->total, 0, x1, x0, x1, &tj);
        if (tj.r.verdict == PW_VERDICT_LEAK) {
            total_leaks++;
        }
        for (k = 0; k < n; k++) {
            leaks += c[k].j.r.verdict == PW_VERDICT_LEAK;
            suspects += c[k].j.r.verdict == PW_VERDICT_SUSPECT;
        }
        if (!a->quiet) {
            printf("\nprocess %" APR_UINT64_T_FMT ": %" APR_UINT64_T_FMT
                   " events (lines %" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT
                   "), %" APR_UINT64_T_FMT " creates, %" APR_UINT64_T_FMT
                   " clears, %" APR_UINT64_T_FMT " destroys",
                   pr->pid, pr->events, pr->first_line, pr->last_line,
                   pr->creates, pr->clears, pr->destroys);
            if (m->o.per_tag) {
                printf(", %" APR_UINT64_T_FMT " %s", pr->units, m->o.per_tag);
            }
            if (pr->evicted) {
                printf(", %" APR_UINT64_T_FMT " live pools evicted "
                       "(--max-pools)",
                       pr->evicted);
            }
            printf("\n  judged %ss %.0f-%.0f of %.0f%s\n", x_unit(m), x0, x1,
                   (double)(m->o.per_tag ? pr->units : pr->events),
                   x1 < (double)(m->o.per_tag ? pr->units : pr->events)
                       ? " (then teardown)"
                       : "");
            printf("  total  %-7s %+12.0f B in the window, %10.2f B/%s\n",
                   pw_verdict_name(tj.r.verdict), tj.growth, tj.r.slope,
                   x_unit(m));
            if (n == 0) {
                printf("  no pool grew over the window\n");
            } else {
                printf("  pools that grew over the window (worst first; a "
                       "destroyed one up to its destroy):\n");
            }
            for (k = 0; k < n && k < a->top; k++) {
                const plog_pool_t *pl = c[k].pl;

                printf(
                    "    %-7s %10.2f B/%s %+10.0f B  0x%" APR_UINT64_T_HEX_FMT
                    " \"%s\"",
                    pw_verdict_name(c[k].j.r.verdict), c[k].j.r.slope,
                    x_unit(m), c[k].j.growth, pl->addr, pl->tag);
                if (pl->parent) {
                    printf(" parent 0x%" APR_UINT64_T_HEX_FMT, pl->parent);
                }
                printf(", %u clear%s%s\n", pl->clears,
                       pl->clears == 1 ? "" : "s",
                       pl->dead ? ", destroyed" : "");
                print_sites(pl);
            }
            if (n > a->top) {
                printf("    ... %u more\n", n - a->top);
            }
        }
        if (a->svg) {
            const plog_pool_t *top[TOP_SVG];
            char *path = apr_psprintf(
                a->pool, "%s/pid-%" APR_UINT64_T_FMT ".svg", a->svg, pr->pid);
            FILE *f = open_out(path);

            if (f == NULL) {
                rc = -1;
            } else {
                for (k = 0; k < n && k < TOP_SVG; k++) {
                    top[k] = c[k].pl;
                }
                plog_svg_write(f, m, pr, top, k);
                fclose(f);
            }
        }
        if (csv_dir) {
            char *path = apr_psprintf(
                a->pool, "%s/pid-%" APR_UINT64_T_FMT ".csv", a->csv, pr->pid);
            FILE *f = open_out(path);

            if (f == NULL) {
                rc = -1;
            } else {
                fputs(csv_header(m), f);
                csv_proc(f, pr, a->pool);
                fclose(f);
            }
        } else if (csv_all) {
            csv_proc(csv_all, pr, a->pool);
        }
    }
    if (csv_all) {
        fclose(csv_all);
    }
    free(c);
    printf("%sverdict: %s (%u pool%s leak, %u suspect, %u process total%s "
           "leak)\n",
           a->quiet ? "" : "\n", leaks + total_leaks ? "leak" : "no leak",
           leaks, leaks == 1 ? "" : "s", suspects, total_leaks,
           total_leaks == 1 ? "" : "s");
    if (rc < 0) {
        return -1;
    }
    return leaks + total_leaks ? 1 : 0;
}

/* Peak resident size of this program (VmHWM: this image only, unlike
 * getrusage, which also counts what the parent had before exec). */
static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmHWM:", 6)) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

int main(int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        {"per", 'p', 1, "x unit"},
        {"warmup", 'w', 1, "warm-up"},
        {"min-slope", 256, 1, "min slope"},
        {"min-span", 257, 1, "min span"},
        {"max-procs", 258, 1, "processes"},
        {"max-pools", 259, 1, "pools"},
        {"top", 't', 1, "top"},
        {"csv", 260, 1, "csv"},
        {"svg", 261, 1, "svg"},
        {"stats", 262, 0, "stats"},
        {"quiet", 'q', 0, "quiet"},
        {"help", 'h', 0, "help"},
        {NULL, 0, 0, NULL}};
    apr_pool_t *pool;
    apr_getopt_t *g;
    apr_status_t rv;
    int ch, slope_set = 0, rc, from_stdin = 0;
    const char *arg;
    plog_opts_t o;
    app_t a;
    double v;
    FILE *in;
    char err[256];
    struct timespec t0, t1;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    memset(&a, 0, sizeof(a));
    a.pool = pool;
    a.top = 10;
    plog_opts_default(&o);
    /* apr_getopt takes a lone "-" for an option: the last argument "-"
     * (stdin) is set aside first */
    if (argc > 1 && !strcmp(argv[argc - 1], "-")) {
        from_stdin = 1;
        argc--;
    }
    apr_getopt_init(&g, pool, argc, argv);
    g->errfn = NULL; /* our own message below */
    while ((rv = apr_getopt_long(g, opts, &ch, &arg)) == APR_SUCCESS) {
        switch (ch) {
            case 'p':
                o.per_tag = arg;
                break;
            case 'w': {
                apr_size_t l = strlen(arg);

                if (l > 1 && arg[l - 1] == '%') {
                    char *num = apr_pstrndup(pool, arg, l - 1);

                    if (!pw_cli_number(num, 0, 99, &v)) {
                        goto bad_value;
                    }
                    o.warmup = v / 100.0;
                    o.warmup_frac = 1;
                } else {
                    if (!pw_cli_number(arg, 0, 1e15, &v)) {
                        goto bad_value;
                    }
                    o.warmup = v;
                    o.warmup_frac = 0;
                }
                break;
            }
            case 256:
                if (!pw_cli_number(arg, 0.001, 1e12, &o.detect.min_slope)) {
                    goto bad_value;
                }
                slope_set = 1;
                break;
            case 257:
                if (!pw_cli_number(arg, 0.0, 1.0, &o.min_span)) {
                    goto bad_value;
                }
                break;
            case 258:
                if (!pw_cli_number(arg, 1, 100000, &v)) {
                    goto bad_value;
                }
                o.max_procs = (apr_uint32_t)v;
                break;
            case 259:
                if (!pw_cli_number(arg, 8, 1000000, &v)) {
                    goto bad_value;
                }
                o.max_pools = (apr_uint32_t)v;
                break;
            case 't':
                if (!pw_cli_number(arg, 0, 100000, &v)) {
                    goto bad_value;
                }
                a.top = (unsigned int)v;
                break;
            case 260:
                a.csv = arg;
                break;
            case 261:
                a.svg = arg;
                break;
            case 262:
                a.stats = 1;
                break;
            case 'q':
                a.quiet = 1;
                break;
            case 'h':
                usage(stdout);
                return EXIT_NOLEAK;
        }
        continue;
    bad_value:
        pw_cli_bad_value(stderr, progname, opts, ch, arg);
        fprintf(stderr, "Try '%s --help'.\n", progname);
        return EXIT_ERROR;
    }
    if (rv != APR_EOF) {
        fprintf(stderr, "%s: unknown option or missing value: %s\n", progname,
                argv[g->ind - 1]);
        usage(stderr);
        return EXIT_ERROR;
    }
    if (g->ind != argc - 1 + from_stdin) {
        fprintf(stderr, "%s: give one FILE (or - for stdin)\n", progname);
        usage(stderr);
        return EXIT_ERROR;
    }
    if (o.per_tag && !slope_set) {
        o.detect.min_slope = 4.0; /* per request, as the module's pool signal */
    }
    if (a.svg && !is_dir(a.svg)) {
        fprintf(stderr, "%s: --svg %s: not a directory\n", progname, a.svg);
        return EXIT_ERROR;
    }
    a.input = from_stdin ? "-" : argv[g->ind];
    if (from_stdin) {
        in = stdin;
        a.input = "(stdin)";
    } else if ((in = fopen(a.input, "rb")) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", progname, a.input, strerror(errno));
        return EXIT_ERROR;
    }
    plog_model_init(&a.m, &o, pool);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (plog_read(in, on_line, &a.m, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s: %s\n", progname, a.input, err);
        return EXIT_ERROR;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (in != stdin) {
        fclose(in);
    }
    if (a.stats) {
        double s = (double)(t1.tv_sec - t0.tv_sec) +
                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

        fprintf(stderr,
                "%s: read %" APR_UINT64_T_FMT " bytes, %" APR_UINT64_T_FMT
                " lines in %.3f s: %.1f MB/s, peak RSS %ld KiB\n",
                progname, a.m.bytes, a.m.lines, s,
                s > 0 ? (double)a.m.bytes / s / 1e6 : 0.0, peak_rss_kib());
    }
    if (a.m.records == 0) {
        fprintf(stderr,
                "%s: %s: no APR pool-debug record in %" APR_UINT64_T_FMT
                " lines (is APR built with --enable-pool-debug=verbose?)\n",
                progname, a.input, a.m.lines);
        return EXIT_ERROR;
    }
    rc = report(&a);
    fflush(stdout);
    return rc < 0 ? EXIT_ERROR : rc;
}
