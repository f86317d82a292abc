/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_detect: the leak test (pw_detect) on synthetic series.
 *
 * A series is a level in bytes as a function of the request number, from a
 * small set of shapes (a steady leak, a cache that fills, a sawtooth, RSS
 * in 4 KiB pages, noise, a one-off step...). Two kinds of tests:
 *
 * - a table of final verdicts: the window of the last 32 or 64 points of a
 *   series, well after warm-up, must give the verdict and bytes/request of
 *   the table (exact for exact data: Theil-Sen on a straight line is the
 *   line's slope, to the last bit);
 * - streams: the window slides one request at a time, as the judge sees
 *   it, and the verdict must change where the design says it does (a
 *   cache is a leak while it fills and stops being one once the window has
 *   slid past the plateau's start).
 *
 * Noise comes from a hash of (seed, request), so a series is a pure
 * function and every run sees the same numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_detect.h"
#include "pw_unit.h"

#define BASE 1048576.0 /* a child's pools are not empty at warm-up */

/* ---- series ---------------------------------------------------------- */

typedef struct shape_t shape_t;
typedef double shape_fn(const shape_t *s, double x);

struct shape_t {
    shape_fn *fn;
    double a, b, c; /* see each function */
    apr_uint64_t seed;
};

/* splitmix64: a uniform double in [-1, 1) for (seed, x) */
static double noise(apr_uint64_t seed, double x)
{
    apr_uint64_t z = seed * 1000003u + (apr_uint64_t)x + 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* a bytes per request, plus noise of amplitude c */
static double linear(const shape_t *s, double x)
{
    return BASE + s->a * x + (s->c != 0.0 ? s->c * noise(s->seed, x) : 0.0);
}

/* a bytes per request until request b, then flat (a cache that fills, a
 * leak that stops) */
static double plateau(const shape_t *s, double x)
{
    return BASE + s->a * (x < s->b ? x : s->b);
}

/* flat until request b, then a bytes per request */
static double late(const shape_t *s, double x)
{
    return BASE + (x > s->b ? s->a * (x - s->b) : 0.0);
}

/* a bytes per request, cleared every b requests */
static double sawtooth(const shape_t *s, double x)
{
    return BASE + s->a * fmod(x, s->b);
}

/* a bytes per request, and every b-th request c bytes lower */
static double dips(const shape_t *s, double x)
{
    return BASE + s->a * x - (fmod(x, s->b) == 0.0 ? s->c : 0.0);
}

/* RSS: c bytes (a page) every b requests */
static double pages(const shape_t *s, double x)
{
    return BASE + s->c * floor(x / s->b);
}

/* one step of c bytes at request b */
static double step(const shape_t *s, double x)
{
    return BASE + (x >= s->b ? s->c : 0.0);
}

/* The window of n points ending at request `end`, one every xstep
 * requests. */
static void window(const shape_t *s, double end, unsigned int n, double xstep,
                   pw_point_t *pts)
{
    unsigned int i;

    for (i = 0; i < n; i++) {
        pts[i].x = end - (double)(n - 1 - i) * xstep;
        pts[i].y = s->fn(s, pts[i].x);
    }
}

static void judge(const shape_t *s, double end, unsigned int n, double xstep,
                  pw_detect_result_t *r)
{
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    pw_detect_params_t p;

    pw_detect_defaults(&p);
    window(s, end, n, xstep, pts);
    pw_detect(pts, n, &p, r);
}

/* ---- final verdicts -------------------------------------------------- */

#define V(v)       (1u << PW_VERDICT_##v)
#define V_OK(m, v) (((m) >> (v)) & 1u)
#define NOT_LEAK   (V(OK) | V(SUSPECT))
#define NOT_OK     (V(SUSPECT) | V(LEAK))
#define EXACT      0.0  /* tolerance: bit-exact */
#define ANY        -1.0 /* tolerance: slope not checked */
#define PCT(pc)    ((pc) / 100.0)

/* shapes, for the table: {fn, a, b, c, seed} without the braces */
#define LIN(a)         linear, (a), 0, 0, 0
#define NOISY(a, c, s) linear, (a), 0, (c), (s)
#define PLATEAU(a, b)  plateau, (a), (b), 0, 0
#define LATE(a, b)     late, (a), (b), 0, 0
#define SAW(a, b)      sawtooth, (a), (b), 0, 0
#define DIPS(a, b, c)  dips, (a), (b), (c), 0
#define PAGES(b, c)    pages, 0, (b), (c), 0
#define STEP(b, c)     step, 0, (b), (c), 0
/* windows: end, points, requests between points */
#define W64 1000, 64, 1
#define W32 1000, 32, 1

static const struct {
    const char *name;
    shape_t s;
    double end;
    unsigned int n;
    double xstep;
    unsigned int verdicts; /* V() mask */
    double slope;
    double tol; /* relative (PCT), EXACT or ANY */
} finals[] = {
    /* steady leaks, one point per request */
    {"8 B/request (slow)", {LIN(8)}, W64, V(LEAK), 8, EXACT},
    {"8 B/request, 32 points", {LIN(8)}, W32, V(LEAK), 8, EXACT},
    {"24 B/request", {LIN(24)}, W64, V(LEAK), 24, EXACT},
    {"32 B/request", {LIN(32)}, W64, V(LEAK), 32, EXACT},
    {"1 KiB/request", {LIN(1024)}, W64, V(LEAK), 1024, EXACT},
    {"5 KiB/request", {LIN(5120)}, W64, V(LEAK), 5120, EXACT},
    {"5 KiB/request, 32 points", {LIN(5120)}, W32, V(LEAK), 5120, EXACT},
    /* a sample every 4 requests: the slope is still per request */
    {"1 KiB/request, 4 apart", {LIN(1024)}, 1000, 64, 4, V(LEAK), 1024, EXACT},
    /* min_slope (4) is growth, below it is not */
    {"4 B/request (min_slope)", {LIN(4)}, W64, V(LEAK), 4, EXACT},
    {"3 B/request", {LIN(3)}, W64, V(OK), 3, EXACT},
    {"flat", {LIN(0)}, W64, V(OK), 0, EXACT},
    {"shrinking", {LIN(-1024)}, W64, V(OK), -1024, EXACT},
    /* a cache of 100 KiB, full after 100 requests; a leak that stopped */
    {"cache full after 100", {PLATEAU(1024, 100)}, W64, V(OK), 0, EXACT},
    {"growth stopped at 500", {PLATEAU(1024, 500)}, W64, V(OK), 0, EXACT},
    /* a pool cleared every 10 requests: grows, but never for long */
    {"sawtooth", {SAW(1024, 10)}, W64, NOT_LEAK, 0, ANY},
    {"sawtooth, 32", {SAW(1024, 10)}, 995, 32, 1, NOT_LEAK, 0, ANY},
    /* isolated dips (every 7th point 500 B lower) move no median */
    {"8 B/request, dips", {DIPS(8, 7, 500)}, W64, V(LEAK), 8, PCT(10)},
    {"1 KiB/request, dips", {DIPS(1024, 7, 500)}, W64, V(LEAK), 1024, PCT(10)},
    /* RSS: a 4 KiB page every 4 requests is 1 KiB/request, in steps */
    {"RSS", {PAGES(4, 4096)}, W64, V(LEAK), 1024, PCT(10)},
    {"RSS, phase 1", {PAGES(4, 4096)}, 1001, 64, 1, V(LEAK), 1024, PCT(10)},
    {"RSS, 32", {PAGES(4, 4096)}, W32, V(LEAK), 1024, PCT(10)},
    /* a leak under noise of 4 KiB */
    {"noisy leak 1", {NOISY(1024, 4096, 1)}, W64, V(LEAK), 1024, PCT(10)},
    {"noisy leak 2", {NOISY(1024, 4096, 2)}, W64, V(LEAK), 1024, PCT(10)},
    {"noisy leak 3", {NOISY(1024, 4096, 3)}, W64, V(LEAK), 1024, PCT(10)},
    /* one 8 KiB allocation that stays: a step, not a leak, wherever it
     * falls in the window (937..1000) */
    {"8 KiB once, middle", {STEP(969, 8192)}, W64, V(OK), 0, ANY},
    {"8 KiB once, first quarter", {STEP(945, 8192)}, W64, V(OK), 0, EXACT},
    {"8 KiB once, third quarter", {STEP(980, 8192)}, W64, V(OK), 0, EXACT},
    {"8 KiB once, before", {STEP(500, 8192)}, W64, V(OK), 0, EXACT},
    /* a leak that began in the middle of the window */
    {"1 KiB/request from the middle", {LATE(1024, 968)}, W64, NOT_OK, 0, ANY},
    {"8 B/request from the middle", {LATE(8, 968)}, W64, NOT_OK, 0, ANY},
};

START_TEST(test_final_verdict)
{
    const shape_t *s = &finals[_i].s;
    pw_detect_result_t r;

    judge(s, finals[_i].end, finals[_i].n, finals[_i].xstep, &r);
    ck_assert_msg(V_OK(finals[_i].verdicts, r.verdict),
                  "%s: verdict %s (slope %.3f, scatter %.1f, rising %u)",
                  finals[_i].name, pw_verdict_name(r.verdict), r.slope,
                  r.scatter, r.rising);
    ck_assert_uint_eq(r.points, finals[_i].n);
    if (finals[_i].tol == EXACT) {
        ck_assert_msg(r.slope == finals[_i].slope,
                      "%s: slope %.17g, want exactly %.17g", finals[_i].name,
                      r.slope, finals[_i].slope);
    } else if (finals[_i].tol > 0) {
        ck_assert_msg(fabs(r.slope - finals[_i].slope) <=
                          finals[_i].tol * fabs(finals[_i].slope),
                      "%s: slope %.3f, want %.3f within %.0f%%",
                      finals[_i].name, r.slope, finals[_i].slope,
                      finals[_i].tol * 100);
    }
}
END_TEST

/* On exact straight data every pairwise slope is the slope: the interval
 * is a point, nothing scatters, every segment rises (by more than half of
 * min_slope per request). */
START_TEST(test_exact_line)
{
    static const double slopes[] = {8, 24, 32, 1024, 5120, 0.5, 123456};
    unsigned int k;

    for (k = 0; k < sizeof(slopes) / sizeof(slopes[0]); k++) {
        shape_t s = {linear, slopes[k], 0, 0, 0};
        pw_detect_result_t r;

        judge(&s, 5000, 64, 3, &r);
        ck_assert_double_eq(r.slope, slopes[k]);
        ck_assert_double_eq(r.slope_lo, slopes[k]);
        ck_assert_double_eq(r.slope_hi, slopes[k]);
        ck_assert_double_eq(r.scatter, 0.0);
        /* a rise below min_slope is no rise */
        ck_assert_uint_eq(r.rising, slopes[k] >= 4 ? 3 : 0);
        ck_assert_uint_eq(r.points, 64);
        ck_assert_int_eq(r.verdict,
                         slopes[k] >= 4 ? PW_VERDICT_LEAK : PW_VERDICT_OK);
    }
}
END_TEST

/* ---- noise ----------------------------------------------------------- */

static const double noise_amps[] = {1024, 8192, 65536};
#define NOISE_SEEDS 12

/* Zero-mean noise of up to 64 KiB is no leak, whatever the seed; its
 * scatter is about half the amplitude (the median distance from the
 * center of a uniform distribution). */
START_TEST(test_noise_not_leak)
{
    apr_uint64_t seed = (apr_uint64_t)(_i % NOISE_SEEDS) + 1;
    double amp = noise_amps[_i / NOISE_SEEDS];
    shape_t s = {linear, 0, 0, amp, seed};
    double end;

    for (end = 200; end <= 1000; end += 100) {
        pw_detect_result_t r;

        judge(&s, end, 64, 1, &r);
        ck_assert_msg(r.verdict != PW_VERDICT_LEAK,
                      "noise %.0f seed %u end %.0f: leak, slope %.1f "
                      "scatter %.1f rising %u",
                      amp, (unsigned int)seed, end, r.slope, r.scatter,
                      r.rising);
        ck_assert_msg(r.scatter >= 0.25 * amp && r.scatter <= 0.75 * amp,
                      "noise %.0f seed %u: scatter %.1f", amp,
                      (unsigned int)seed, r.scatter);
        ck_assert_msg(fabs(r.slope) <= amp / 16,
                      "noise %.0f seed %u: slope %.1f", amp, (unsigned int)seed,
                      r.slope);
    }
}
END_TEST

/* ---- streams: the window slides one request at a time ----------------- */

/* The verdict on the last min(end, 64) points of a series that starts at
 * request `first`. */
static pw_verdict_e stream_at(const shape_t *s, double first, double end,
                              pw_detect_result_t *r)
{
    double have = end - first + 1;
    unsigned int n =
        have > PW_DETECT_MAX_POINTS ? PW_DETECT_MAX_POINTS : (unsigned int)have;

    judge(s, end, n, 1, r);
    return r->verdict;
}

/* A cache that grows for 100 requests and is then full: a leak while it
 * grows (the series has no other history), fine once the window of 64 is
 * past the plateau's start; never a leak again after that. */
START_TEST(test_stream_cache_plateau)
{
    shape_t s = {plateau, 1024, 100, 0, 0};
    pw_detect_result_t r;
    double end;
    int was_leak = 1;

    for (end = 1; end <= 1000; end++) {
        pw_verdict_e v = stream_at(&s, 1, end, &r);

        if (end < 8) {
            ck_assert_msg(v == PW_VERDICT_WARMUP, "end %.0f: %s", end,
                          pw_verdict_name(v));
            ck_assert_uint_eq(r.points, (unsigned int)end);
        } else if (end <= 100) {
            ck_assert_msg(v == PW_VERDICT_LEAK, "growing, end %.0f: %s", end,
                          pw_verdict_name(v));
            ck_assert_double_eq(r.slope, 1024);
        } else if (end >= 100 + PW_DETECT_MAX_POINTS) {
            ck_assert_msg(v == PW_VERDICT_OK, "full, end %.0f: %s", end,
                          pw_verdict_name(v));
            ck_assert_double_eq(r.slope, 0);
        }
        if (end > 100) {
            /* once it stops being a leak it stays so */
            ck_assert_msg(was_leak || v != PW_VERDICT_LEAK,
                          "leak again at %.0f", end);
            was_leak = was_leak && v == PW_VERDICT_LEAK;
        }
    }
    ck_assert_int_eq(stream_at(&s, 1, 1000, &r), PW_VERDICT_OK);
    ck_assert_uint_eq(r.points, 64);
}
END_TEST

/* A leak that stops after 500 requests: back to ok once the window has
 * slid past the stop, and it stays ok. */
START_TEST(test_stream_growth_stops)
{
    shape_t s = {plateau, 1024, 500, 0, 0};
    pw_detect_result_t r;
    double end, first_ok = 0;

    for (end = 100; end <= 1000; end++) {
        pw_verdict_e v = stream_at(&s, 1, end, &r);

        if (end <= 500) {
            ck_assert_msg(v == PW_VERDICT_LEAK, "end %.0f: %s", end,
                          pw_verdict_name(v));
        }
        if (v == PW_VERDICT_OK && first_ok == 0) {
            first_ok = end;
        }
        if (first_ok) {
            ck_assert_msg(v == PW_VERDICT_OK, "end %.0f after ok at %.0f: %s",
                          end, first_ok, pw_verdict_name(v));
        }
    }
    ck_assert_msg(first_ok > 500 && first_ok <= 500 + PW_DETECT_MAX_POINTS,
                  "ok from %.0f", first_ok);
}
END_TEST

/* A leak that begins at request 500 of a flat series: suspect or leak as
 * soon as it fills half the window, never ok again, a leak with the exact
 * slope once it fills the window. */
static const double late_slopes[] = {8, 32, 1024, 5120};

START_TEST(test_stream_late_leak)
{
    shape_t s = {late, late_slopes[_i], 500, 0, 0};
    pw_detect_result_t r;
    double end;

    for (end = 400; end <= 1000; end++) {
        pw_verdict_e v = stream_at(&s, 1, end, &r);

        if (end <= 500) {
            ck_assert_msg(v == PW_VERDICT_OK, "flat, end %.0f: %s", end,
                          pw_verdict_name(v));
        } else if (end >= 500 + PW_DETECT_MAX_POINTS / 2) {
            ck_assert_msg(v == PW_VERDICT_SUSPECT || v == PW_VERDICT_LEAK,
                          "%.0f B/request since 500, end %.0f: %s", s.a, end,
                          pw_verdict_name(v));
        }
        if (end >= 500 + PW_DETECT_MAX_POINTS) {
            ck_assert_msg(v == PW_VERDICT_LEAK, "end %.0f: %s", end,
                          pw_verdict_name(v));
            ck_assert_double_eq(r.slope, s.a);
        }
    }
    /* the middle of the window: the judge already doubts */
    ck_assert_int_ne(stream_at(&s, 1, 500 + PW_DETECT_MAX_POINTS / 2, &r),
                     PW_VERDICT_OK);
}
END_TEST

/* One 8 KiB allocation at request 500: ok at every position in the
 * window, before and after. */
START_TEST(test_stream_single_step)
{
    shape_t s = {step, 0, 500, 8192, 0};
    pw_detect_result_t r;
    double end;

    for (end = 400; end <= 1000; end++) {
        pw_verdict_e v = stream_at(&s, 1, end, &r);

        ck_assert_msg(v == PW_VERDICT_OK,
                      "step at 500, end %.0f: %s (slope %.1f, scatter "
                      "%.1f, rising %u)",
                      end, pw_verdict_name(v), r.slope, r.scatter, r.rising);
    }
}
END_TEST

/* A pool cleared every 10 requests: never a leak once the window holds
 * more than one tooth. */
START_TEST(test_stream_sawtooth)
{
    shape_t s = {sawtooth, 1024, 10, 0, 0};
    pw_detect_result_t r;
    double end;

    for (end = 30; end <= 1000; end++) {
        pw_verdict_e v = stream_at(&s, 1, end, &r);

        ck_assert_msg(v != PW_VERDICT_LEAK, "end %.0f: leak, slope %.1f", end,
                      r.slope);
    }
}
END_TEST

/* ---- the method against a reference ---------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double ref_median(double *a, unsigned int n)
{
    qsort(a, n, sizeof(*a), cmp_double);
    return n & 1 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2.0;
}

/* Random windows full of ties (levels in 4 KiB pages, some x repeated):
 * slope, its interval and the scatter must be those of a sort-based
 * Theil-Sen; the selection in pw_detect is where ties hurt. */
START_TEST(test_reference_theil_sen)
{
    static double slopes[PW_DETECT_MAX_POINTS * PW_DETECT_MAX_POINTS];
    static double res[PW_DETECT_MAX_POINTS];
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    pw_detect_params_t p;
    pw_detect_result_t r;
    apr_uint64_t seed = (apr_uint64_t)_i + 100;
    unsigned int n = 8 + (unsigned int)_i % (PW_DETECT_MAX_POINTS - 7);
    unsigned int i, j, m = 0;
    double x = 0, want, mid;

    for (i = 0; i < n; i++) {
        /* 0..2 requests between points: some pairs have dx == 0 */
        x += floor((noise(seed, 2 * i) + 1.0) * 1.5);
        pts[i].x = x;
        pts[i].y = 4096.0 * floor((noise(seed, 2 * i + 1) + 1.0) * 4 + x / 3);
    }
    pw_detect_defaults(&p);
    pw_detect(pts, n, &p, &r);

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (pts[j].x > pts[i].x) {
                slopes[m++] = (pts[j].y - pts[i].y) / (pts[j].x - pts[i].x);
            }
        }
    }
    ck_assert_uint_gt(m, 0);
    want = ref_median(slopes, m);
    ck_assert_msg(r.slope == want, "n %u m %u: slope %.17g, want %.17g", n, m,
                  r.slope, want);
    ck_assert_double_eq(r.slope_lo, slopes[m / 20]);
    ck_assert_double_eq(r.slope_hi, slopes[m - 1 - m / 20]);

    for (i = 0; i < n; i++) {
        res[i] = pts[i].y - r.slope * pts[i].x;
    }
    mid = ref_median(res, n);
    for (i = 0; i < n; i++) {
        res[i] = fabs(res[i] - mid);
    }
    want = ref_median(res, n);
    ck_assert_double_eq_tol(r.scatter, want, 1e-9 * (want + 1));
    ck_assert_uint_eq(r.points, n);
}
END_TEST

/* ---- edges ----------------------------------------------------------- */

START_TEST(test_warmup)
{
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    shape_t s = {linear, 1024, 0, 0, 0};
    pw_detect_params_t p;
    pw_detect_result_t r;
    unsigned int n;

    pw_detect_defaults(&p);
    window(&s, 1000, 8, 1, pts);
    for (n = 0; n < 8; n++) {
        memset(&r, 0xab, sizeof(r));
        pw_detect(pts, n, &p, &r);
        ck_assert_int_eq(r.verdict, PW_VERDICT_WARMUP);
        ck_assert_uint_eq(r.points, n);
        ck_assert_double_eq(r.slope, 0);
        ck_assert_uint_eq(r.rising, 0);
    }
    pw_detect(pts, 8, &p, &r);
    ck_assert_int_eq(r.verdict, PW_VERDICT_LEAK);
    ck_assert_double_eq(r.slope, 1024);

    /* a stricter warm-up */
    p.min_points = 32;
    window(&s, 1000, 31, 1, pts);
    pw_detect(pts, 31, &p, &r);
    ck_assert_int_eq(r.verdict, PW_VERDICT_WARMUP);
    window(&s, 1000, 32, 1, pts);
    pw_detect(pts, 32, &p, &r);
    ck_assert_int_eq(r.verdict, PW_VERDICT_LEAK);

    /* one point is never enough, whatever min_points says */
    p.min_points = 0;
    pw_detect(pts, 1, &p, &r);
    ck_assert_int_eq(r.verdict, PW_VERDICT_WARMUP);

    /* no request between the points: nothing to judge */
    for (n = 0; n < 16; n++) {
        pts[n].x = 77;
        pts[n].y = 1000.0 * n;
    }
    pw_detect_defaults(&p);
    pw_detect(pts, 16, &p, &r);
    ck_assert_int_eq(r.verdict, PW_VERDICT_WARMUP);
    ck_assert_uint_eq(r.points, 16);
    ck_assert_double_eq(r.slope, 0);
}
END_TEST

/* More points than the window: the most recent ones are judged. */
START_TEST(test_most_recent_points)
{
    pw_point_t pts[100];
    pw_detect_params_t p;
    pw_detect_result_t r, r64;
    unsigned int i;

    pw_detect_defaults(&p);
    /* a steep leak in the first 36, flat in the last 64 */
    for (i = 0; i < 100; i++) {
        pts[i].x = i + 1;
        pts[i].y = BASE + 65536.0 * (i < 36 ? i : 36);
    }
    pw_detect(pts, 100, &p, &r);
    ck_assert_uint_eq(r.points, PW_DETECT_MAX_POINTS);
    ck_assert_int_eq(r.verdict, PW_VERDICT_OK);
    ck_assert_double_eq(r.slope, 0);

    /* flat in the first 36, 1 KiB/request in the last 64 */
    for (i = 0; i < 100; i++) {
        pts[i].x = i + 1;
        pts[i].y = BASE + (i < 36 ? 0 : 1024.0 * (i - 36));
    }
    pw_detect(pts, 100, &p, &r);
    ck_assert_uint_eq(r.points, PW_DETECT_MAX_POINTS);
    ck_assert_int_eq(r.verdict, PW_VERDICT_LEAK);
    ck_assert_double_eq(r.slope, 1024);

    /* one wild point just before the window changes nothing */
    pts[35].y = -1e12;
    pw_detect(pts + 35, 65, &p, &r);
    pw_detect(pts + 36, 64, &p, &r64);
    ck_assert_int_eq(memcmp(&r, &r64, sizeof(r)), 0);
}
END_TEST

/* The persistence test has p->segments parts (at least 2, at most half
 * the points); on a steady leak every part but the first rose. */
START_TEST(test_segments)
{
    static const struct {
        unsigned int segments, n, rising;
    } cases[] = {{4, 64, 3}, {8, 64, 7},   {2, 64, 1},   {0, 64, 1},
                 {1, 64, 1}, {100, 10, 4}, {32, 64, 31}, {64, 64, 31}};
    shape_t s = {linear, 1024, 0, 0, 0};
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    pw_detect_params_t p;
    pw_detect_result_t r;
    unsigned int k;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        pw_detect_defaults(&p);
        p.segments = cases[k].segments;
        window(&s, 1000, cases[k].n, 1, pts);
        pw_detect(pts, cases[k].n, &p, &r);
        ck_assert_msg(r.rising == cases[k].rising,
                      "segments %u, %u points: rising %u, want %u",
                      cases[k].segments, cases[k].n, r.rising, cases[k].rising);
        ck_assert_int_eq(r.verdict, PW_VERDICT_LEAK);
    }
}
END_TEST

/* A level that never moved is judged in one pass: every statistic is
 * what the full computation gives. The same flat series with its first
 * two x swapped takes the full computation (x must not decrease for the
 * short cut) and must say the same. */
START_TEST(test_flat_short_cut)
{
    static const unsigned int sizes[] = {8, 13, 64, 70};
    pw_point_t fast[70], full[70];
    pw_detect_params_t p;
    pw_detect_result_t a, b;
    unsigned int s, i, slope;

    for (slope = 0; slope < 2; slope++) {
        pw_detect_defaults(&p);
        p.min_slope = slope ? p.min_slope : 0.0; /* then the rise rules */
        for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            unsigned int n = sizes[s];

            for (i = 0; i < n; i++) {
                fast[i].x = full[i].x = 1.0 + 3.0 * i;
                fast[i].y = full[i].y = 1234.5;
            }
            full[0].x = fast[1].x;
            full[1].x = fast[0].x;
            pw_detect(fast, n, &p, &a);
            pw_detect(full, n, &p, &b);
            ck_assert_int_eq(a.verdict, b.verdict);
            ck_assert_int_eq(a.verdict,
                             slope ? PW_VERDICT_OK : PW_VERDICT_SUSPECT);
            ck_assert(a.slope == b.slope && a.slope == 0.0);
            ck_assert(a.slope_lo == b.slope_lo && a.slope_hi == b.slope_hi);
            ck_assert(a.scatter == b.scatter && a.recent == b.recent);
            ck_assert_uint_eq(a.rising, b.rising);
            ck_assert_uint_eq(a.points, b.points);
        }
    }
    /* flat, but all at one x: nothing to judge, as before */
    for (i = 0; i < 8; i++) {
        fast[i].x = 5.0;
        fast[i].y = 1.0;
    }
    pw_detect_defaults(&p);
    pw_detect(fast, 8, &p, &a);
    ck_assert_int_eq(a.verdict, PW_VERDICT_WARMUP);
}
END_TEST

START_TEST(test_defaults)
{
    pw_detect_params_t p;

    memset(&p, 0xff, sizeof(p));
    pw_detect_defaults(&p);
    ck_assert_uint_eq(p.min_points, 8);
    ck_assert_double_eq(p.min_slope, 4.0);
    ck_assert_uint_eq(p.segments, 4);
}
END_TEST

START_TEST(test_verdict_names)
{
    ck_assert_str_eq(pw_verdict_name(PW_VERDICT_WARMUP), "warmup");
    ck_assert_str_eq(pw_verdict_name(PW_VERDICT_OK), "ok");
    ck_assert_str_eq(pw_verdict_name(PW_VERDICT_SUSPECT), "suspect");
    ck_assert_str_eq(pw_verdict_name(PW_VERDICT_LEAK), "leak");
    /* a value from a torn copy of shared memory still names something */
    ck_assert_str_eq(pw_verdict_name((pw_verdict_e)4), "warmup");
    ck_assert_str_eq(pw_verdict_name((pw_verdict_e)-1), "warmup");
    /* ordered by severity: the judge keeps the worst */
    ck_assert_int_lt(PW_VERDICT_WARMUP, PW_VERDICT_OK);
    ck_assert_int_lt(PW_VERDICT_OK, PW_VERDICT_SUSPECT);
    ck_assert_int_lt(PW_VERDICT_SUSPECT, PW_VERDICT_LEAK);
}
END_TEST

Suite *pw_detect_suite(void)
{
    Suite *s = suite_create("pw_detect");
    TCase *tc;

    tc = tcase_create("final");
    tcase_add_loop_test(tc, test_final_verdict, 0,
                        sizeof(finals) / sizeof(finals[0]));
    tcase_add_test(tc, test_exact_line);
    tcase_add_loop_test(tc, test_noise_not_leak, 0,
                        NOISE_SEEDS *
                            (sizeof(noise_amps) / sizeof(noise_amps[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, test_stream_cache_plateau);
    tcase_add_test(tc, test_stream_growth_stops);
    tcase_add_loop_test(tc, test_stream_late_leak, 0,
                        sizeof(late_slopes) / sizeof(late_slopes[0]));
    tcase_add_test(tc, test_stream_single_step);
    tcase_add_test(tc, test_stream_sawtooth);
    suite_add_tcase(s, tc);

    tc = tcase_create("method");
    tcase_add_loop_test(tc, test_reference_theil_sen, 0, 200);
    tcase_add_test(tc, test_warmup);
    tcase_add_test(tc, test_most_recent_points);
    tcase_add_test(tc, test_segments);
    tcase_add_test(tc, test_flat_short_cut);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_verdict_names);
    suite_add_tcase(s, tc);
    return s;
}
