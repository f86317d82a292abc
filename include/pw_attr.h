/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_attr: which key made a child grow.
 *
 * A child samples every N requests; between two samples it served some
 * requests of some keys, and each signal grew by some bytes. Those
 * intervals go into a window; the judge regresses each signal's interval
 * growth on the per-key request counts (least squares), then rebuilds, for
 * each key, the level it alone would have reached (an interval's growth
 * minus what the other keys are estimated to have added) and hands that
 * series to pw_detect. With one key per interval (httpd -X, prefork with
 * PoolWatchSampleEvery 1, or a soak test of one URL) this is exact.
 *
 * Pure C (APR types only): unit-tested.
 */
#ifndef PW_ATTR_H
#define PW_ATTR_H

#include <apr.h>

#include "pw_detect.h"
#include "pw_keys.h"

#define PW_WINDOW    64 /* intervals judged */
#define PW_IVL_KEYS  8  /* keys counted per interval; more go to "other" */
#define PW_IVL_POOLS 4  /* pools that grew most, per interval */
#define PW_ATTR_KEYS 32 /* keys regressed at once; more go to "other" */
/* A key that shared its intervals is a leak only if its estimate is this
 * many standard errors above zero (one-sided, ~1 in 30000 if the errors
 * were normal and independent; they are neither, hence the margin). */
#define PW_ATTR_Z 4.0
/* ... and only if the intervals it ran in grew, in all, by at least this
 * part of its estimate times its requests there. */
#define PW_ATTR_OWN 0.5
/* Beyond this variance inflation ((X'X)^-1_cc (X'X)_cc) a key's column is
 * a combination of others': its estimate is the ridge's, not the data's. */
#define PW_ATTR_VIF_MAX 1e6

/* Signals judged from intervals (the connection signal is exact per
 * request and judged by the glue): indices into g[]. */
#define PW_IVL_SIGNALS 3
#define PW_IVL_POOL    0
#define PW_IVL_HEAP    1
#define PW_IVL_RSS     2

typedef struct pw_interval_t {
    apr_uint32_t requests; /* all requests the child served in it */
    apr_uint32_t other;    /* requests not in key[] (more than 8 keys) */
    apr_int64_t g[PW_IVL_SIGNALS];
    apr_uint32_t nk;
    apr_uint32_t key[PW_IVL_KEYS];  /* key table index */
    apr_uint32_t kgen[PW_IVL_KEYS]; /* the entry's generation then */
    apr_uint32_t cnt[PW_IVL_KEYS];
    apr_uint32_t warm[PW_IVL_KEYS]; /* of cnt, still in warm-up: these
                                       intervals add no point to the key */
    apr_uint32_t npool;
    apr_uint32_t pool[PW_IVL_POOLS]; /* caller's pool ids */
    apr_int64_t pgrowth[PW_IVL_POOLS];
} pw_interval_t;

typedef struct pw_window_t {
    pw_interval_t iv[PW_WINDOW];
    apr_uint32_t next;
    apr_uint32_t count;
} pw_window_t;

void pw_window_add(pw_window_t *w, const pw_interval_t *iv);

/* The n-th oldest interval, n < count. */
const pw_interval_t *pw_window_at(const pw_window_t *w, apr_uint32_t n);

typedef struct pw_attr_key_t {
    apr_uint32_t key;
    apr_uint32_t gen;
    pw_detect_result_t res[PW_IVL_SIGNALS];
    double coef[PW_IVL_SIGNALS]; /* regression estimate, bytes/request */
    /* its standard error where it decided (a LEAK of a key that shared
     * intervals), else -1; HUGE_VAL when it cannot be told: too few
     * intervals, or its column a combination of others' */
    double se[PW_IVL_SIGNALS];
    unsigned int held; /* bit per signal: LEAK held at SUSPECT (coef not
                          clear of its error, or its intervals did not
                          grow by PW_ATTR_OWN of it) */
    double share;      /* the key's requests / all requests, in its intervals */
    int exact;         /* every interval it was in had only its requests */
    int top_pool;      /* pool id that grew most in its intervals, or -1 */
    /* the series each signal was judged on (the most recent points) */
    unsigned int npts[PW_IVL_SIGNALS];
    pw_point_t pts[PW_IVL_SIGNALS][PW_DETECT_MAX_POINTS];
} pw_attr_key_t;

/* Judges every key in the window. params[s] per signal. Returns the number
 * of entries written to out (at most max_out). */
unsigned int pw_attr_judge(const pw_window_t *w,
                           const pw_detect_params_t *params, pw_attr_key_t *out,
                           unsigned int max_out);

/* The number of standard errors a key's estimate must stand above zero
 * with nu residual degrees of freedom: PW_ATTR_Z for many, more for few
 * (Student's t at the same tail probability); HUGE_VAL for none. */
double pw_attr_t(unsigned int nu);

/* Solves (A + ridge I) x = b for a symmetric positive semi-definite A of
 * order n (row-major, overwritten). Returns 0 on success. Exposed for
 * tests. */
int pw_attr_solve(double *a, double *b, unsigned int n, double ridge);

#endif /* PW_ATTR_H */
