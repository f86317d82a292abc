/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_attr: attribution of interval growth to request keys (pw_attr.h).
 *
 * Model: growth_i = sum_k b_k * n_ik + b_other * other_i, one equation
 * per interval i of the window in which no key was in its warm-up (set-up
 * costs are lumpy: they would leak into every coefficient). No
 * intercept: with one key and a fixed sampling interval, n_ik is the same
 * every time and an intercept would take the whole leak. Solved by the
 * normal equations with a tiny ridge (Cholesky), a few microseconds for
 * a handful of keys.
 *
 * The trap is to judge the regression's own estimate: a mean of growth
 * says nothing of whether growth persists. So the estimate is only used
 * to subtract the OTHER keys' share from each interval, and what is left
 * is a series for pw_detect, which judges slope and persistence itself.
 *
 * The other trap is the opposite: to trust a rebuilt series whose key
 * cannot be told from its neighbours. Keys served in near-fixed
 * proportions make the design nearly collinear; least squares then shares
 * one key's growth among all of them, and each rebuilt series rises. So
 * the estimate does gate the verdict: a key that shared its intervals is
 * a leak only if its coefficient stands clear of zero by pw_attr_t()
 * standard errors and its own intervals grew by PW_ATTR_OWN of what the
 * coefficient claims (else suspect, "held").
 */
#include <math.h>
#include <string.h>

#include "pw_attr.h"

/* Columns of the design: steady and warm-up per key, and other. */
#define PW_ATTR_COLS (2 * PW_ATTR_KEYS + 1)

void pw_window_add(pw_window_t *w, const pw_interval_t *iv)
{
    w->iv[w->next] = *iv;
    w->next = (w->next + 1) % PW_WINDOW;
    if (w->count < PW_WINDOW) {
        w->count++;
    }
}

const pw_interval_t *pw_window_at(const pw_window_t *w, apr_uint32_t n)
{
    apr_uint32_t first = (w->next + PW_WINDOW - w->count) % PW_WINDOW;

    return n < w->count ? &w->iv[(first + n) % PW_WINDOW] : NULL;
}

/* Cholesky: A + ridge I = L L^T, L in the lower triangle of a. */
static int factor(double *a, unsigned int n, double ridge)
{
    unsigned int i, j, k;

    for (i = 0; i < n; i++) {
        a[i * n + i] += ridge;
    }
    for (j = 0; j < n; j++) {
        double d = a[j * n + j];

        for (k = 0; k < j; k++) {
            d -= a[j * n + k] * a[j * n + k];
        }
        if (!(d > 0.0)) {
            return -1;
        }
        d = sqrt(d);
        a[j * n + j] = d;
        for (i = j + 1; i < n; i++) {
            double s = a[i * n + j];

            for (k = 0; k < j; k++) {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    return 0;
}

/* Solves L L^T x = b in place, L from factor(). */
static void backsolve(const double *l, double *b, unsigned int n)
{
    unsigned int i, k;

    for (i = 0; i < n; i++) { /* L y = b */
        double s = b[i];

        for (k = 0; k < i; k++) {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for (i = n; i-- > 0;) { /* L^T x = y */
        double s = b[i];

        for (k = i + 1; k < n; k++) {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/* Element c of the diagonal of (L L^T)^-1: |L^-1 e_c|^2, by forward
 * substitution from row c (the rows above are zero). */
static double inverse_diag(const double *l, unsigned int n, unsigned int c)
{
    double y[PW_ATTR_COLS], sum;
    unsigned int i, k;

    y[c] = 1.0 / l[c * n + c];
    sum = y[c] * y[c];
    for (i = c + 1; i < n; i++) {
        double s = 0.0;

        for (k = c; k < i; k++) {
            s -= l[i * n + k] * y[k];
        }
        y[i] = s / l[i * n + i];
        sum += y[i] * y[i];
    }
    return sum;
}

/* How many standard errors an estimate must stand above zero, with nu
 * residual degrees of freedom: Student's t at the one-sided tail of
 * PW_ATTR_Z normal standard errors (3.2e-5). A standard error estimated
 * from a few residuals is itself unsure: from 5 it takes 12.3 of them, not
 * 4 (a window of 20-40 intervals shared by 6-15 keys, with growth that
 * fell at random, called a key a leak in 0.4 % of windows at 4). The
 * table was computed offline, by integrating t's density numerically;
 * beyond 30, the Cornish-Fisher expansion (within 0.01 of it). */
double pw_attr_t(unsigned int nu)
{
    static const double t[30] = {
        10050.3, 125.64, 32.616, 17.448, 12.281, 9.844, 8.467, 7.595,
        6.999,   6.567,  6.242,  5.988,  5.785,  5.619, 5.480, 5.364,
        5.264,   5.177,  5.102,  5.036,  4.977,  4.924, 4.877, 4.834,
        4.795,   4.760,  4.728,  4.698,  4.670,  4.645};
    const double z = PW_ATTR_Z;

    if (nu == 0) {
        return HUGE_VAL;
    }
    if (nu <= 30) {
        return t[nu - 1];
    }
    return z + (z * z * z + z) / (4.0 * nu) +
           (5 * z * z * z * z * z + 16 * z * z * z + 3 * z) / (96.0 * nu * nu);
}

int pw_attr_solve(double *a, double *b, unsigned int n, double ridge)
{
    if (factor(a, n, ridge) != 0) {
        return -1;
    }
    backsolve(a, b, n);
    return 0;
}

/* Column of (key, gen) in the design, or -1 (then it counts as other). */
static int column(const pw_attr_key_t *keys, unsigned int nkeys,
                  apr_uint32_t key, apr_uint32_t gen)
{
    unsigned int c;

    for (c = 0; c < nkeys; c++) {
        if (keys[c].key == key && keys[c].gen == gen) {
            return (int)c;
        }
    }
    return -1;
}

/* An interval as the regression sees it: its non-zero columns only (a
 * steady and a warm-up column per counted key, and other: at most 2 *
 * PW_IVL_KEYS + 1 of the 2 * PW_ATTR_KEYS + 1). Built once per judgement;
 * every pass after reads these instead of the interval, so that the
 * passes cost what an interval holds, not keys x columns. */
#define PW_ROW_NZ (2 * PW_IVL_KEYS + 1)

typedef struct pw_row_t {
    const pw_interval_t *iv;
    unsigned int nz;
    unsigned char col[PW_ROW_NZ];
    double val[PW_ROW_NZ];
} pw_row_t;

static void row_add(pw_row_t *r, unsigned int col, double v)
{
    unsigned int i;

    if (v == 0.0) {
        return;
    }
    for (i = 0; i < r->nz && r->col[i] != col; i++) {
    }
    if (i == r->nz) {
        r->col[r->nz] = (unsigned char)col;
        r->val[r->nz++] = 0.0;
    }
    r->val[i] += v;
}

/* Whether any key was in its warm-up in iv. Such an interval is left out
 * of the regression and of every key's series: set-up costs are lumpy (a
 * first request may build a cache), and no average of them, subtracted,
 * leaves the other keys' levels clean. */
static int warm_in(const pw_interval_t *iv)
{
    apr_uint32_t j;

    for (j = 0; j < iv->nk && j < PW_IVL_KEYS; j++) {
        if (iv->warm[j]) {
            return 1;
        }
    }
    return 0;
}

/* Requests of interval iv per column: nkeys steady columns, then nkeys
 * warm-up columns (a key's warm-up has its own coefficient: set-up cost
 * is neither charged to its steady state nor to other keys), then other. */
static void row(const pw_interval_t *iv, const pw_attr_key_t *keys,
                unsigned int nkeys, pw_row_t *r)
{
    apr_uint32_t j;

    r->iv = iv;
    r->nz = 0;
    row_add(r, 2 * nkeys, iv->other);
    for (j = 0; j < iv->nk && j < PW_IVL_KEYS; j++) {
        int c = column(keys, nkeys, iv->key[j], iv->kgen[j]);
        apr_uint32_t warm = iv->warm[j] < iv->cnt[j] ? iv->warm[j] : iv->cnt[j];

        if (c >= 0) {
            row_add(r, (unsigned int)c, iv->cnt[j] - warm);
            row_add(r, nkeys + (unsigned int)c, warm);
        } else {
            row_add(r, 2 * nkeys, iv->cnt[j]);
        }
    }
    /* in column order: sums over a row then add in the order a dense row
     * would, to the last bit */
    for (j = 1; j < r->nz; j++) {
        unsigned char col = r->col[j];
        double v = r->val[j];
        apr_uint32_t i = j;

        for (; i > 0 && r->col[i - 1] > col; i--) {
            r->col[i] = r->col[i - 1];
            r->val[i] = r->val[i - 1];
        }
        r->col[i] = col;
        r->val[i] = v;
    }
}

/* The steady requests of column c in r (0 if none). */
static double row_get(const pw_row_t *r, unsigned int c)
{
    unsigned int i;

    for (i = 0; i < r->nz; i++) {
        if (r->col[i] == c) {
            return r->val[i];
        }
    }
    return 0.0;
}

unsigned int pw_attr_judge(const pw_window_t *w,
                           const pw_detect_params_t *params, pw_attr_key_t *out,
                           unsigned int max_out)
{
    double ata[PW_ATTR_COLS * PW_ATTR_COLS];
    double atg[PW_IVL_SIGNALS][PW_ATTR_COLS];
    double coef[PW_IVL_SIGNALS][PW_ATTR_COLS];
    double resid[PW_IVL_SIGNALS] = {0.0}, diag[PW_ATTR_COLS], tr = 0.0;
    pw_row_t rows[PW_WINDOW];
    /* the rows each key's steady column is in, in window order */
    unsigned char in[PW_ATTR_KEYS][PW_WINDOW];
    unsigned int nin[PW_ATTR_KEYS];
    pw_point_t pts[PW_WINDOW];
    unsigned int nkeys = 0, nrows = 0, n, i, c, d, s, active = 0, nu;
    int solved;

    if (max_out > PW_ATTR_KEYS) {
        max_out = PW_ATTR_KEYS;
    }
    /* the keys, in order of first appearance */
    for (i = 0; i < w->count; i++) {
        const pw_interval_t *iv = pw_window_at(w, i);
        apr_uint32_t j;

        for (j = 0; j < iv->nk && j < PW_IVL_KEYS; j++) {
            if (iv->cnt[j] && nkeys < max_out &&
                column(out, nkeys, iv->key[j], iv->kgen[j]) < 0) {
                memset(&out[nkeys], 0, sizeof(out[nkeys]));
                out[nkeys].key = iv->key[j];
                out[nkeys].gen = iv->kgen[j];
                out[nkeys].top_pool = -1;
                nkeys++;
            }
        }
    }
    if (nkeys == 0) {
        return 0;
    }
    n = 2 * nkeys + 1;

    /* the rows: intervals with a key in warm-up are left out (see
     * warm_in()), of the regression and of every series alike */
    memset(nin, 0, sizeof(nin));
    for (i = 0; i < w->count; i++) {
        const pw_interval_t *iv = pw_window_at(w, i);
        pw_row_t *r = &rows[nrows];

        if (warm_in(iv)) {
            continue;
        }
        row(iv, out, nkeys, r);
        for (d = 0; d < r->nz; d++) {
            if (r->col[d] < nkeys) {
                in[r->col[d]][nin[r->col[d]]++] = (unsigned char)nrows;
            }
        }
        nrows++;
    }

    /* normal equations, all signals at once */
    memset(ata, 0, n * n * sizeof(double));
    memset(atg, 0, sizeof(atg));
    for (i = 0; i < nrows; i++) {
        const pw_row_t *r = &rows[i];

        for (c = 0; c < r->nz; c++) {
            double xc = r->val[c];

            for (d = 0; d < r->nz; d++) {
                ata[r->col[c] * n + r->col[d]] += xc * r->val[d];
            }
            for (s = 0; s < PW_IVL_SIGNALS; s++) {
                atg[s][r->col[c]] += xc * (double)r->iv->g[s];
            }
        }
    }
    /* one factorisation serves every signal and the standard errors */
    for (c = 0; c < n; c++) {
        diag[c] = ata[c * n + c];
        tr += diag[c];
        active += diag[c] > 0.0;
    }
    /* a column of zeros (no "other" requests) needs the ridge too */
    solved = factor(ata, n, 1e-9 * tr / n + 1e-9) == 0;
    for (s = 0; s < PW_IVL_SIGNALS; s++) {
        memcpy(coef[s], atg[s], n * sizeof(double));
        if (solved) {
            backsolve(ata, coef[s], n);
        } else {
            memset(coef[s], 0, sizeof(coef[s]));
        }
    }
    /* residual variance per signal, for the standard errors */
    for (i = 0; i < nrows; i++) {
        const pw_row_t *r = &rows[i];

        for (s = 0; s < PW_IVL_SIGNALS; s++) {
            double e = (double)r->iv->g[s];

            for (d = 0; d < r->nz; d++) {
                e -= coef[s][r->col[d]] * r->val[d];
            }
            resid[s] += e * e;
        }
    }
    nu = nrows > active ? nrows - active : 0; /* residual degrees of freedom */

    for (c = 0; c < nkeys; c++) {
        pw_attr_key_t *k = &out[c];
        double mine = 0.0, all = 0.0, pg[PW_IVL_POOLS * PW_WINDOW];
        double own[PW_IVL_SIGNALS] = {0.0}; /* growth of its intervals */
        apr_uint32_t pid[PW_IVL_POOLS * PW_WINDOW], np = 0, j;
        double invd = -1.0; /* its element of (X'X)^-1, once needed */
        int exact = 1;

        /* its share, whether it ran alone, and the pools that grew while
         * it ran, weighted by its part of each interval */
        for (i = 0; i < nin[c]; i++) {
            const pw_row_t *r = &rows[in[c][i]];
            const pw_interval_t *iv = r->iv;
            double xc = row_get(r, c);

            mine += xc;
            all += iv->requests;
            for (s = 0; s < PW_IVL_SIGNALS; s++) {
                own[s] += (double)iv->g[s];
            }
            if (xc != (double)iv->requests || iv->other) {
                exact = 0;
            }
            for (j = 0; j < iv->npool && j < PW_IVL_POOLS; j++) {
                apr_uint32_t q;
                double wgt = iv->requests ? xc / iv->requests : 0;

                for (q = 0; q < np && pid[q] != iv->pool[j]; q++) {
                    ;
                }
                if (q == np) {
                    pid[np] = iv->pool[j];
                    pg[np++] = 0.0;
                }
                pg[q] += wgt * (double)iv->pgrowth[j];
            }
        }
        for (s = 0; s < PW_IVL_SIGNALS; s++) {
            double cx = 0.0, cy = 0.0;
            unsigned int npts = 0;

            k->coef[s] = coef[s][c];
            /* its level alone: each interval's growth less what the
             * other keys are estimated to have added */
            for (i = 0; i < nin[c]; i++) {
                const pw_row_t *r = &rows[in[c][i]];
                double others = 0.0, xc = 0.0;

                for (d = 0; d < r->nz; d++) {
                    if (r->col[d] != c) {
                        others += coef[s][r->col[d]] * r->val[d];
                    } else {
                        xc = r->val[d];
                    }
                }
                cx += xc;
                cy += (double)r->iv->g[s] - others;
                pts[npts].x = cx;
                pts[npts].y = cy;
                npts++;
            }
            pw_detect(pts, npts, &params[s], &k->res[s]);
            k->se[s] = -1.0;
            if (!exact && k->res[s].verdict == PW_VERDICT_LEAK) {
                /* a series that rises, rebuilt from estimates: a leak only
                 * if the key's own estimate stands clear of its error.
                 * Keys always served together (fixed proportions) cannot
                 * be told apart: least squares shares one's growth among
                 * all, and their errors are large. */
                if (invd < 0.0 && solved) {
                    invd = inverse_diag(ata, n, c);
                }
                /* keys in exactly fixed proportions fit exact growth
                 * with no residual at all: the ridge alone tells them
                 * apart, and their element of the inverse is huge */
                k->se[s] = solved && nu > 0 && invd * diag[c] < PW_ATTR_VIF_MAX
                               ? sqrt(resid[s] / nu * invd)
                               : HUGE_VAL;
                /* and only if the intervals it ran in grew by at least
                 * part of what the estimate claims: a fit of many keys to
                 * few intervals can pin growth that fell elsewhere on it,
                 * balanced by negative estimates for the others (seen in
                 * a soak: a key whose intervals mostly grew by nothing,
                 * "leaking" 208 B/request at a standard error of 1e-5) */
                if (!(k->coef[s] >= pw_attr_t(nu) * k->se[s]) ||
                    !(own[s] >= PW_ATTR_OWN * k->coef[s] * mine)) {
                    k->res[s].verdict = PW_VERDICT_SUSPECT;
                    k->held |= 1u << s;
                }
            }
            {
                /* the points pw_detect judged: the last ones */
                unsigned int keep =
                    npts < PW_DETECT_MAX_POINTS ? npts : PW_DETECT_MAX_POINTS;

                memcpy(k->pts[s], pts + (npts - keep), keep * sizeof(*pts));
                k->npts[s] = keep;
            }
        }
        k->share = all > 0 ? mine / all : 0.0;
        k->exact = exact;
        {
            double best = 0.0;

            for (j = 0; j < np; j++) {
                if (pg[j] > best) {
                    best = pg[j];
                    k->top_pool = (int)pid[j];
                }
            }
        }
    }
    return nkeys;
}
