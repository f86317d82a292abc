/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_detect: is this series of memory levels a leak?
 *
 * Input: points (x = requests of one key so far, y = bytes attributed to
 * it so far) after warm-up. Output: a verdict, a bytes-per-request
 * estimate and how sure it is. Method and its reasons in pw_detect.c.
 * Pure C (APR types only): unit-tested with synthetic series.
 */
#ifndef PW_DETECT_H
#define PW_DETECT_H

#include <apr.h>

typedef enum {
    PW_VERDICT_WARMUP = 0,
    PW_VERDICT_OK = 1,
    PW_VERDICT_SUSPECT = 2,
    PW_VERDICT_LEAK = 3
} pw_verdict_e;

#define PW_DETECT_MAX_POINTS 64

typedef struct pw_point_t {
    double x; /* requests */
    double y; /* bytes */
} pw_point_t;

typedef struct pw_detect_params_t {
    unsigned int min_points; /* fewer: still warmup */
    double min_slope;        /* bytes/request that count as growth */
    unsigned int segments;   /* persistence test: the window is cut in this
                                many parts whose medians must all rise */
} pw_detect_params_t;

typedef struct pw_detect_result_t {
    pw_verdict_e verdict;
    double slope;    /* Theil-Sen estimate, bytes per request */
    double slope_lo; /* a rough 90% interval of the pairwise slopes */
    double slope_hi;
    double scatter;      /* median distance from the fitted line, bytes */
    double recent;       /* Theil-Sen slope over the last segment */
    unsigned int rising; /* segments whose median rose over the previous */
    unsigned int points;
} pw_detect_result_t;

/* Defaults: 8 points, 4 bytes/request, 4 segments. */
void pw_detect_defaults(pw_detect_params_t *p);

/* Judges the window pts[0..n) (x increasing). n is capped at
 * PW_DETECT_MAX_POINTS: callers keep the most recent points. */
void pw_detect(const pw_point_t *pts, unsigned int n,
               const pw_detect_params_t *p, pw_detect_result_t *out);

const char *pw_verdict_name(pw_verdict_e v);

#endif /* PW_DETECT_H */
