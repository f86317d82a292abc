/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_detect: the leak test on one series.
 *
 * The series is the level of one signal (bytes) against the requests of
 * one key, over a window of the most recent points after warm-up. Two
 * questions, answered separately because each alone is fooled:
 *
 * 1. How fast does it grow? The Theil-Sen slope: the median of the slopes
 *    between every pair of points. Half the points can be outliers (a
 *    one-off 64 KiB allocation, a dip after a clear) before it moves, and
 *    on exact data (pool bytes) it is the exact per-request leak. A least
 *    squares slope is dragged by a single step; "N increases in a row"
 *    (node-memwatch) misses a leak at the first dip; Mann-Kendall counts
 *    signs only and gives false alarms on step data full of ties (RSS in
 *    4 KiB pages, a cache that fills and stops).
 *
 * 2. Does it keep growing? Cut the window into segments and require the
 *    median level of every segment to rise above the one before by at
 *    least half of what min_slope would add. A plateau (a cache that is
 *    full) fails the last segments; a sawtooth (a pool cleared now and
 *    then) fails somewhere in the middle; isolated dips move no median.
 *
 * And a slope through noise is not growth: the rise over the window must
 * be at least three times the median distance of the points from the
 * fitted line.
 *
 * 3. Is it growing now? The slope over the last segment alone must be at
 *    least half of min_slope, or the verdict is ok: a cache that filled and
 *    stopped turns ok within about half a segment, not a whole window.
 *
 * Verdict: leak when all say yes; suspect when it grows, and grows now,
 * but not in every segment; ok otherwise; warmup until
 * there are min_points points. The trap: a slope alone is not a leak — a
 * cache that filled during the window has a positive slope until the
 * window has slid past it, which is why growth must be persistent.
 */
#include <string.h>

#include "pw_detect.h"

void pw_detect_defaults(pw_detect_params_t *p)
{
    p->min_points = 8;
    p->min_slope = 4.0;
    p->segments = 4;
}

const char *pw_verdict_name(pw_verdict_e v)
{
    switch (v) {
        case PW_VERDICT_OK:
            return "ok";
        case PW_VERDICT_SUSPECT:
            return "suspect";
        case PW_VERDICT_LEAK:
            return "leak";
        default:
            return "warmup";
    }
}

/* k-th smallest of a[0..n) (Hoare's selection); reorders a. */
static double select_kth(double *a, unsigned int n, unsigned int k)
{
    unsigned int lo = 0, hi = n - 1;

    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        unsigned int i = lo, j = hi;

        while (i <= j) {
            while (a[i] < pivot) {
                i++;
            }
            while (a[j] > pivot) {
                j--;
            }
            if (i <= j) {
                double t = a[i];

                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) {
                    break;
                }
                j--;
            }
        }
        if (k <= j) {
            hi = j;
        } else if (k >= i) {
            lo = i;
        } else {
            break;
        }
    }
    return a[k];
}

/* The median; leaves a partitioned around n / 2 (select_kth does: all
 * before it no larger, all after it no smaller), which the callers use. */
static double median(double *a, unsigned int n)
{
    double hi, lo;
    unsigned int i;

    if (n == 0) {
        return 0.0;
    }
    hi = select_kth(a, n, n / 2);
    if (n & 1) {
        return hi;
    }
    /* the one below the middle is the largest of the lower half */
    lo = a[0];
    for (i = 1; i < n / 2; i++) {
        if (a[i] > lo) {
            lo = a[i];
        }
    }
    return (lo + hi) / 2.0;
}

void pw_detect(const pw_point_t *pts, unsigned int n,
               const pw_detect_params_t *p, pw_detect_result_t *out)
{
    double slopes[PW_DETECT_MAX_POINTS * (PW_DETECT_MAX_POINTS - 1) / 2];
    double seg[PW_DETECT_MAX_POINTS], prev_y = 0.0, prev_x = 0.0;
    unsigned int i, j, m = 0, q, segs;

    memset(out, 0, sizeof(*out));
    if (n > PW_DETECT_MAX_POINTS) {
        pts += n - PW_DETECT_MAX_POINTS; /* the most recent */
        n = PW_DETECT_MAX_POINTS;
    }
    out->points = n;
    out->verdict = PW_VERDICT_WARMUP;
    if (n < p->min_points || n < 2) {
        return;
    }
    segs = p->segments < 2 ? 2 : p->segments;
    if (segs > n / 2) {
        segs = n / 2; /* at least two points a segment */
    }

    /* A level that never moved (a key that allocates nothing that stays:
     * most keys, most of the time) has every statistic below at 0: the
     * pairwise slopes, their interval, the segments' rises, the scatter
     * and the recent slope. Found in one pass instead of the n^2 slopes
     * and the medians that make a judgement cost. */
    for (i = 1; i < n && pts[i].y == pts[0].y && pts[i].x >= pts[i - 1].x;
         i++) {
    }
    if (i == n) {
        if (pts[n - 1].x > pts[0].x) {
            goto verdict;
        }
        return; /* no requests between the points: nothing to judge */
    }

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            double dx = pts[j].x - pts[i].x;

            if (dx > 0) {
                slopes[m++] = (pts[j].y - pts[i].y) / dx;
            }
        }
    }
    if (m == 0) {
        return; /* no requests between the points: nothing to judge */
    }
    out->slope = median(slopes, m);
    /* the 5% and 95% slopes lie in the halves median() left: select
     * within each, at half the cost of the whole */
    out->slope_lo =
        m / 20 < m / 2 ? select_kth(slopes, m / 2, m / 20) : slopes[m / 20];
    out->slope_hi =
        select_kth(slopes + m / 2, m - m / 2, m - 1 - m / 20 - m / 2);

    for (q = 0; q < segs; q++) {
        unsigned int a = q * n / segs, b = (q + 1) * n / segs, k;
        double med_y, med_x;

        for (k = a; k < b; k++) {
            seg[k - a] = pts[k].y;
        }
        med_y = median(seg, b - a);
        for (k = a; k < b; k++) {
            seg[k - a] = pts[k].x;
        }
        med_x = median(seg, b - a);
        if (q > 0 && med_y - prev_y >= 0.5 * p->min_slope * (med_x - prev_x) &&
            med_y > prev_y) {
            out->rising++;
        }
        prev_y = med_y;
        prev_x = med_x;
    }

    /* growth over the window against the scatter around the fitted
     * line: a slope through noise (random allocations that are freed
     * later) is not growth */
    for (i = 0; i < n; i++) {
        seg[i] = pts[i].y - out->slope * pts[i].x;
    }
    {
        double mid = median(seg, n);

        for (i = 0; i < n; i++) {
            seg[i] = seg[i] > mid ? seg[i] - mid : mid - seg[i];
        }
        out->scatter = median(seg, n);
    }
    /* has it grown lately? the slope over the last segment alone: a cache
     * that filled and stopped is flat there well before the window forgets
     * its growth */
    {
        unsigned int a = (segs - 1) * n / segs, r = 0, k;

        for (i = a; i < n; i++) {
            for (k = i + 1; k < n; k++) {
                double dx = pts[k].x - pts[i].x;

                if (dx > 0) {
                    slopes[r++] = (pts[k].y - pts[i].y) / dx;
                }
            }
        }
        out->recent = r ? median(slopes, r) : out->slope;
    }

verdict:
    if (out->slope < p->min_slope ||
        out->slope * (pts[n - 1].x - pts[0].x) < 3.0 * out->scatter ||
        out->recent < 0.5 * p->min_slope) {
        out->verdict = PW_VERDICT_OK;
    } else if (out->rising == segs - 1) {
        out->verdict = PW_VERDICT_LEAK;
    } else {
        /* growing now, but not in every part of the window: a leak that
         * just began, or growth that comes and goes */
        out->verdict = PW_VERDICT_SUSPECT;
    }
}
