/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_model: pool-debug records folded into per-process, per-pool size
 * series of bounded size, and judged with the module's detector.
 *
 * Memory is bounded whatever the log's length:
 *   - at most max_procs processes (later pids are counted, not kept);
 *   - per process at most max_pools pool records, in a hash by address;
 *     a destroyed pool's record is recycled first, then the least
 *     recently touched live one (counted as evicted);
 *   - per series PLOG_SERIES points, downsampled by doubling: a point
 *     stands for a bucket of `stride` x-units and holds the level after
 *     the bucket's last change; when the series is full the stride
 *     doubles and neighbouring buckets merge (so the series always covers
 *     the whole life at an even resolution, deterministically);
 *   - per pool the PLOG_SITES call sites that allocated most, by
 *     space-saving (a new site replaces the smallest and inherits its
 *     count as an upper bound, so a heavy site is never lost).
 *
 * The x axis is the process's event count by default, or (per_tag) the
 * number of pools created with that tag, e.g. "request".
 */
#ifndef PLOG_MODEL_H
#define PLOG_MODEL_H

#include <apr.h>
#include <apr_pools.h>

#include "plog.h"
#include "pw_detect.h"

#define PLOG_SERIES   128
#define PLOG_SITES    6
#define PLOG_TAG_MAX  48
#define PLOG_SITE_MAX 72

#define PLOG_MARK_CREATE  1
#define PLOG_MARK_CLEAR   2
#define PLOG_MARK_DESTROY 4

typedef struct plog_series_t {
    apr_uint64_t x[PLOG_SERIES];
    apr_int64_t y[PLOG_SERIES];
    unsigned char mark[PLOG_SERIES];
    apr_uint32_t n;
    apr_uint64_t stride;
} plog_series_t;

typedef struct plog_site_t {
    apr_uint32_t hash;
    apr_uint64_t bytes;
    apr_uint64_t count;
    apr_uint64_t err_bytes, err_count; /* inherited: bytes - err_bytes is
                                          a lower bound */
    char text[PLOG_SITE_MAX];
} plog_site_t;

typedef struct plog_pool_t {
    apr_uint64_t addr;
    apr_uint64_t parent;
    char tag[PLOG_TAG_MAX];
    int dead;         /* destroyed; the record may be recycled */
    int dying;        /* between its DESTROY and the CLEARED after it */
    int counted;      /* counted as a per_tag unit */
    apr_uint64_t gen; /* instance number at this address */
    apr_uint64_t first_x, last_x, end_x; /* end_x: at destroy */
    apr_uint64_t touched;                /* process event of the last event */
    apr_uint64_t level, max_level;
    int known; /* level is known (seen a sized event) */
    apr_uint32_t creates, clears, destroys;
    apr_uint64_t events;
    plog_series_t s;
    apr_uint32_t nsites;
    plog_site_t sites[PLOG_SITES];
} plog_pool_t;

typedef struct plog_proc_t {
    apr_uint64_t pid;
    apr_uint64_t events, units;
    apr_uint64_t first_line, last_line;
    apr_uint64_t creates, clears, destroys, evicted, recycled;
    plog_series_t total; /* the third size: the whole process */
    plog_pool_t *pools;  /* max_pools records, allocated on first use */
    apr_uint32_t npools;
    apr_uint32_t *index; /* open addressing: record + 1, 0 = empty */
    apr_uint32_t index_size;
    apr_uint32_t *deadq; /* ring of records that were destroyed */
    apr_uint32_t dq_head, dq_len;
    apr_uint64_t last_create_x; /* event of the last create */
} plog_proc_t;

typedef struct plog_opts_t {
    apr_uint32_t max_procs;
    apr_uint32_t max_pools;
    const char *per_tag; /* NULL: x is events */
    double warmup;       /* x-units, or a fraction when warmup_frac */
    int warmup_frac;
    double min_span; /* fraction of the judged window a pool must cover */
    pw_detect_params_t detect;
} plog_opts_t;

typedef struct plog_model_t {
    plog_opts_t o;
    apr_pool_t *pool;
    plog_proc_t *procs;
    apr_uint32_t nprocs;
    plog_proc_t *last; /* lookup cache: runs of one pid are common */
    apr_uint64_t lines, records, headers, bad, bad_first_line;
    apr_uint64_t torn;          /* records found after a torn prefix */
    apr_uint64_t procs_dropped; /* records of pids beyond max_procs */
    apr_uint64_t bytes;
} plog_model_t;

/* A judged series. */
typedef struct plog_judged_t {
    pw_detect_result_t r;
    double x0, x1; /* the window judged */
    double growth; /* level(x1) - level(x0) */
    int judged;    /* covered enough of the window */
} plog_judged_t;

void plog_opts_default(plog_opts_t *o);
void plog_model_init(plog_model_t *m, const plog_opts_t *o, apr_pool_t *p);

/* Feeds one physical line (no newline); counts what it cannot parse. */
void plog_model_line(plog_model_t *m, const char *line, apr_size_t len);

void plog_series_add(plog_series_t *s, apr_uint64_t x, apr_int64_t y,
                     unsigned char mark);

/* Level of a series at x (a step function), or the first level before it. */
double plog_series_at(const plog_series_t *s, double x);

/* The window [x0, x1] judged for a process (after warm-up, before its
 * teardown). */
void plog_proc_window(const plog_model_t *m, const plog_proc_t *pr, double *x0,
                      double *x1);

/* Judges a series over [max(x0, from), min(x1, to)], resampled to at most
 * PW_DETECT_MAX_POINTS points. */
void plog_judge(const plog_model_t *m, const plog_series_t *s, double from,
                double to, double x0, double x1, plog_judged_t *out);

/* Judges a pool of pr in pr's window. */
void plog_judge_pool(const plog_model_t *m, const plog_proc_t *pr,
                     const plog_pool_t *pl, plog_judged_t *out);

#endif /* PLOG_MODEL_H */
