/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_model: records to bounded series, and their verdicts (plog_model.h
 * has the bounds).
 *
 * Identity: a pool is its address within a process. A CREATE at an
 * address starts a new instance there (pools are recycled at the same
 * address, request after request); a DESTROY ends it, and what APR logs
 * until the CLEARED that ends the destroy (cleanups may still allocate)
 * belongs to the dead instance. A pool first met in
 * an allocation (created before the log began, or in the parent before a
 * fork) starts an instance then.
 *
 * What is judged: the window of a process runs from the end of warm-up
 * (start-up allocates a lot, once) to its teardown, taken as the last
 * time the process created a pool (a server creates pools for every
 * request; a process that exits only clears and destroys them), or with
 * per_tag the end of the last unit but one. Without that cut every pool
 * "comes back" at exit and no leak would ever be found. A pool
 * is judged over the part of that window it lived in, if it covers at
 * least min_span of it: a request pool grows during its request and must
 * not be judged on that alone.
 *
 * Records are held by calloc'd arrays (untouched records cost no resident
 * memory), not by the APR pool: the model must not grow with the log.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plog_model.h"

void plog_opts_default(plog_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->max_procs = 64;
    o->max_pools = 512;
    o->per_tag = NULL;
    o->warmup = 0.10;
    o->warmup_frac = 1;
    o->min_span = 0.25;
    pw_detect_defaults(&o->detect);
    o->detect.min_slope = 1.0;
}

void plog_model_init(plog_model_t *m, const plog_opts_t *o, apr_pool_t *p)
{
    memset(m, 0, sizeof(*m));
    m->o = *o;
    m->pool = p;
    m->procs = apr_pcalloc(p, sizeof(*m->procs) * o->max_procs);
}

/* ---- series ------------------------------------------------------------ */

/* Merges buckets after the stride doubled: keep the last point of each. */
static void series_compact(plog_series_t *s)
{
    apr_uint32_t i, n = 0;

    for (i = 0; i < s->n; i++) {
        if (n > 0 && s->x[i] / s->stride == s->x[n - 1] / s->stride) {
            s->x[n - 1] = s->x[i];
            s->y[n - 1] = s->y[i];
            s->mark[n - 1] |= s->mark[i];
        } else {
            s->x[n] = s->x[i];
            s->y[n] = s->y[i];
            s->mark[n] = s->mark[i];
            n++;
        }
    }
    s->n = n;
}

void plog_series_add(plog_series_t *s, apr_uint64_t x, apr_int64_t y,
                     unsigned char mark)
{
    apr_uint32_t guard;

    if (s->stride == 0) {
        s->stride = 1;
    }
    if (s->n > 0 && x / s->stride == s->x[s->n - 1] / s->stride) {
        s->x[s->n - 1] = x;
        s->y[s->n - 1] = y;
        s->mark[s->n - 1] |= mark;
        return;
    }
    /* at most 64 doublings: the stride is a 64-bit number */
    for (guard = 0; s->n == PLOG_SERIES && guard < 64; guard++) {
        s->stride *= 2;
        series_compact(s);
    }
    if (s->n > 0 && x / s->stride == s->x[s->n - 1] / s->stride) {
        s->x[s->n - 1] = x;
        s->y[s->n - 1] = y;
        s->mark[s->n - 1] |= mark;
        return;
    }
    if (s->n < PLOG_SERIES) {
        s->x[s->n] = x;
        s->y[s->n] = y;
        s->mark[s->n] = mark;
        s->n++;
    }
}

double plog_series_at(const plog_series_t *s, double x)
{
    apr_uint32_t lo = 0, hi = s->n;

    if (s->n == 0) {
        return 0.0;
    }
    if (x < (double)s->x[0]) {
        return (double)s->y[0];
    }
    /* the last point with x_i <= x */
    while (hi - lo > 1) {
        apr_uint32_t mid = lo + (hi - lo) / 2;

        if ((double)s->x[mid] <= x) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return (double)s->y[lo];
}

/* ---- processes and pools ------------------------------------------------ */

static plog_proc_t *proc_get(plog_model_t *m, apr_uint64_t pid)
{
    apr_uint32_t i;
    plog_proc_t *pr;

    if (m->last && m->last->pid == pid) {
        return m->last;
    }
    for (i = 0; i < m->nprocs; i++) {
        if (m->procs[i].pid == pid) {
            m->last = &m->procs[i];
            return m->last;
        }
    }
    if (m->nprocs == m->o.max_procs) {
        return NULL;
    }
    pr = &m->procs[m->nprocs];
    pr->pools = calloc(m->o.max_pools, sizeof(*pr->pools));
    pr->index_size = 1;
    while (pr->index_size < 2 * m->o.max_pools) {
        pr->index_size *= 2;
    }
    pr->index = calloc(pr->index_size, sizeof(*pr->index));
    pr->deadq = calloc(m->o.max_pools, sizeof(*pr->deadq));
    if (!pr->pools || !pr->index || !pr->deadq) {
        free(pr->pools);
        free(pr->index);
        free(pr->deadq);
        memset(pr, 0, sizeof(*pr));
        return NULL;
    }
    pr->pid = pid;
    pr->first_line = m->lines;
    m->nprocs++;
    m->last = pr;
    return pr;
}

static apr_uint32_t addr_hash(apr_uint64_t a)
{
    a ^= a >> 33;
    a *= 0xff51afd7ed558ccdull;
    a ^= a >> 33;
    return (apr_uint32_t)a;
}

/* Slot of addr in the index: its record, or the empty slot to put it. */
static apr_uint32_t index_slot(const plog_proc_t *pr, apr_uint64_t addr)
{
    apr_uint32_t mask = pr->index_size - 1, i = addr_hash(addr) & mask, k;

    for (k = 0; k < pr->index_size; k++, i = (i + 1) & mask) {
        apr_uint32_t r = pr->index[i];

        if (r == 0 || pr->pools[r - 1].addr == addr) {
            return i;
        }
    }
    return 0; /* not reached: the index is at most half full */
}

/* Removes addr from the index (backward shift: no tombstones, so probe
 * chains stay short however many pools come and go). */
static void index_remove(plog_proc_t *pr, apr_uint64_t addr)
{
    apr_uint32_t mask = pr->index_size - 1, i = index_slot(pr, addr), j, k;

    if (pr->index[i] == 0) {
        return;
    }
    pr->index[i] = 0;
    j = i;
    for (k = 0; k < pr->index_size; k++) {
        apr_uint32_t home;

        j = (j + 1) & mask;
        if (pr->index[j] == 0) {
            return;
        }
        home = addr_hash(pr->pools[pr->index[j] - 1].addr) & mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            pr->index[i] = pr->index[j];
            pr->index[j] = 0;
            i = j;
        }
    }
}

static void pool_reset(plog_pool_t *pl, apr_uint64_t addr, apr_uint64_t x,
                       apr_uint64_t touched)
{
    apr_uint64_t gen = pl->addr == addr ? pl->gen + 1 : 0;

    memset(pl, 0, sizeof(*pl));
    pl->addr = addr;
    pl->gen = gen;
    pl->first_x = pl->last_x = x;
    pl->touched = touched;
    memcpy(pl->tag, "?", 2);
}

/* A record for a new pool at addr: an unused one, a recycled dead one, or
 * the least recently touched live one. */
static plog_pool_t *pool_new(plog_model_t *m, plog_proc_t *pr,
                             apr_uint64_t addr, apr_uint64_t x)
{
    apr_uint32_t r = 0, i, slot;
    plog_pool_t *pl;

    if (pr->npools < m->o.max_pools) {
        r = pr->npools++;
    } else {
        int found = 0;

        while (pr->dq_len > 0) {
            apr_uint32_t c = pr->deadq[pr->dq_head];

            pr->dq_head = (pr->dq_head + 1) % m->o.max_pools;
            pr->dq_len--;
            if (pr->pools[c].dead) {
                r = c;
                found = 1;
                pr->recycled++;
                break;
            }
        }
        if (!found) {
            apr_uint64_t oldest = ~(apr_uint64_t)0;

            for (i = 0; i < pr->npools; i++) {
                if (pr->pools[i].touched < oldest) {
                    oldest = pr->pools[i].touched;
                    r = i;
                }
            }
            pr->evicted++;
        }
        index_remove(pr, pr->pools[r].addr);
    }
    pl = &pr->pools[r];
    pool_reset(pl, addr, x, pr->events);
    pl->addr = addr;
    slot = index_slot(pr, addr);
    pr->index[slot] = r + 1;
    return pl;
}

static void pool_dies(plog_model_t *m, plog_proc_t *pr, plog_pool_t *pl)
{
    apr_uint32_t r = (apr_uint32_t)(pl - pr->pools);

    pl->dead = 1;
    if (pr->dq_len < m->o.max_pools) {
        pr->deadq[(pr->dq_head + pr->dq_len) % m->o.max_pools] = r;
        pr->dq_len++;
    }
}

static apr_uint32_t site_hash(const char *s, apr_size_t n)
{
    apr_uint32_t h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

static void site_add(plog_pool_t *pl, const char *s, apr_size_t n,
                     apr_uint64_t bytes)
{
    apr_uint32_t h = site_hash(s, n), i, min = 0;
    plog_site_t *st;

    for (i = 0; i < pl->nsites; i++) {
        if (pl->sites[i].hash == h) {
            pl->sites[i].bytes += bytes;
            pl->sites[i].count++;
            return;
        }
        if (pl->sites[i].bytes < pl->sites[min].bytes) {
            min = i;
        }
    }
    if (pl->nsites < PLOG_SITES) {
        st = &pl->sites[pl->nsites++];
        st->bytes = st->count = st->err_bytes = st->err_count = 0;
    } else {
        st = &pl->sites[min]; /* space-saving: inherit its counts */
        st->err_bytes = st->bytes;
        st->err_count = st->count;
    }
    st->hash = h;
    st->bytes += bytes;
    st->count++;
    if (n >= sizeof(st->text)) {
        n = sizeof(st->text) - 1;
    }
    memcpy(st->text, s, n);
    st->text[n] = '\0';
}

static int tag_is(const plog_pool_t *pl, const char *t, apr_size_t n)
{
    return n < PLOG_TAG_MAX && !memcmp(pl->tag, t, n) && pl->tag[n] == '\0';
}

static void set_tag(plog_pool_t *pl, const char *t, apr_size_t n)
{
    if (n >= PLOG_TAG_MAX) {
        n = PLOG_TAG_MAX - 1;
    }
    memcpy(pl->tag, t, n);
    pl->tag[n] = '\0';
}

static void model_record(plog_model_t *m, const plog_event_t *ev)
{
    plog_proc_t *pr = proc_get(m, ev->pid);
    plog_pool_t *pl = NULL;
    apr_uint32_t slot, r;
    apr_uint64_t x;
    unsigned char mark = 0;

    m->records++;
    if (pr == NULL) {
        m->procs_dropped++;
        return;
    }
    pr->events++;
    pr->last_line = m->lines;
    if (!ev->has_sizes) {
        return; /* GLOBAL, LIFE, THREAD: no sizes, no tag */
    }
    x = m->o.per_tag ? pr->units : pr->events;
    plog_series_add(&pr->total, x, (apr_int64_t)ev->size_total, 0);

    slot = index_slot(pr, ev->pool);
    r = pr->index[slot];
    if (r) {
        pl = &pr->pools[r - 1];
    }
    switch (ev->ev) {
        case PLOG_EV_CREATE:
        case PLOG_EV_CREATEU:
            pr->creates++;
            pr->last_create_x = pr->events;
            mark = PLOG_MARK_CREATE;
            if (pl) {
                pool_reset(pl, ev->pool, x, pr->events);
            } else {
                pl = pool_new(m, pr, ev->pool, x);
            }
            pl->creates++;
            break;
        case PLOG_EV_DESTROY:
            pr->destroys++;
            mark = PLOG_MARK_DESTROY;
            break;
        case PLOG_EV_CLEAR:
            pr->clears++;
            break;
        case PLOG_EV_CLEARED:
            mark = PLOG_MARK_CLEAR;
            if (pl && pl->dying) {
                pl->dying = 0; /* the clear a destroy does: it is gone */
                return;
            }
            break;
        default:
            break;
    }
    if (pl && pl->dying && mark != PLOG_MARK_CREATE) {
        return; /* cleanups allocating while the pool is destroyed */
    }
    if (pl == NULL) {
        pl = pool_new(m, pr, ev->pool, x);
    } else if (pl->dead) {
        pool_reset(pl, ev->pool, x, pr->events); /* a missed CREATE */
    }
    pl->touched = pr->events;
    pl->events++;
    pl->last_x = x;
    if (ev->has_parent) {
        pl->parent = ev->parent;
    }
    if (!tag_is(pl, ev->tag, ev->tag_len)) {
        set_tag(pl, ev->tag, ev->tag_len);
        if (m->o.per_tag && !pl->counted &&
            tag_is(pl, m->o.per_tag, strlen(m->o.per_tag))) {
            pl->counted = 1;
            pr->units++;
        }
    }
    if ((ev->ev == PLOG_EV_PALLOC || ev->ev == PLOG_EV_PCALLOC) && pl->known &&
        ev->size > pl->level) {
        site_add(pl, ev->site, ev->site_len, ev->size - pl->level);
    }
    if (ev->ev == PLOG_EV_CLEAR) {
        pl->clears++;
    }
    pl->level = ev->size;
    pl->known = 1;
    if (pl->level > pl->max_level) {
        pl->max_level = pl->level;
    }
    plog_series_add(&pl->s, x, (apr_int64_t)ev->size, mark);
    if (ev->ev == PLOG_EV_DESTROY) {
        pl->destroys++;
        pl->end_x = x;
        pl->dying = 1;
        pool_dies(m, pr, pl);
    }
}

void plog_model_line(plog_model_t *m, const char *line, apr_size_t len)
{
    const char *p = line, *e = line + len, *end;
    plog_event_t ev;
    int guard, torn = 0;

    m->lines++;
    m->bytes += len + 1;
    /* a line holds at most len / PLOG_PREFIX_LEN records */
    for (guard = 0; p < e && guard <= (int)(len / PLOG_PREFIX_LEN); guard++) {
        plog_kind_e k = plog_parse(p, (apr_size_t)(e - p), &ev, &end);

        if (k == PLOG_RECORD && (end == e || torn)) {
            model_record(m, &ev);
            if (torn) {
                m->torn++;
            }
            if (end == e) {
                return;
            }
        } else if (k == PLOG_HEADER) {
            m->headers++;
            return;
        } else if (k == PLOG_RECORD) {
            /* whole, but something follows: another record began */
            model_record(m, &ev);
        }
        if (k != PLOG_RECORD) {
            if (!torn) {
                m->bad++;
                if (m->bad_first_line == 0) {
                    m->bad_first_line = m->lines;
                }
            }
            torn = 1;
        }
        p = plog_find_prefix(p + 1, (apr_size_t)(e - p - 1));
        if (p == NULL) {
            return;
        }
    }
}

/* ---- verdicts ------------------------------------------------------------ */

static double proc_x_end(const plog_model_t *m, const plog_proc_t *pr)
{
    return (double)(m->o.per_tag ? pr->units : pr->events);
}

static double proc_x0(const plog_model_t *m, const plog_proc_t *pr)
{
    double end = proc_x_end(m, pr);

    return m->o.warmup_frac ? m->o.warmup * end : m->o.warmup;
}

void plog_proc_window(const plog_model_t *m, const plog_proc_t *pr, double *x0,
                      double *x1)
{
    double end = proc_x_end(m, pr), cut;

    *x0 = proc_x0(m, pr);
    /* the teardown: after the last pool the process created (per unit:
     * the last unit, which holds the exit) */
    cut = m->o.per_tag ? end - 1 : (double)pr->last_create_x;
    *x1 = cut > *x0 ? cut : end;
}

void plog_judge(const plog_model_t *m, const plog_series_t *s, double from,
                double to, double x0, double x1, plog_judged_t *out)
{
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    double a = from > x0 ? from : x0, b = to < x1 ? to : x1, step;
    unsigned int n, i, k;

    memset(out, 0, sizeof(*out));
    out->x0 = a;
    out->x1 = b;
    out->r.verdict = PW_VERDICT_WARMUP;
    if (s->n == 0 || b <= a || (b - a) < m->o.min_span * (x1 - x0)) {
        return;
    }
    out->judged = 1;
    /* one point per x-unit at most: a step function sampled finer only
     * repeats itself */
    n = PW_DETECT_MAX_POINTS;
    if (b - a + 1 < n) {
        n = (unsigned int)(b - a + 1);
    }
    if (n < 2) {
        n = 2;
    }
    /* whole x-units (events and units are counts): a staircase sampled
     * between its steps would bend an exact slope */
    step = (b - a) / (double)(n - 1);
    for (i = 0, k = 0; i < n; i++) {
        double x = floor(i == n - 1 ? b : a + step * i);

        if (k > 0 && x <= pts[k - 1].x) {
            continue;
        }
        pts[k].x = x;
        pts[k].y = plog_series_at(s, x);
        k++;
    }
    out->growth = pts[k - 1].y - pts[0].y;
    pw_detect(pts, k, &m->o.detect, &out->r);
}

void plog_judge_pool(const plog_model_t *m, const plog_proc_t *pr,
                     const plog_pool_t *pl, plog_judged_t *out)
{
    double x0, x1, to;

    plog_proc_window(m, pr, &x0, &x1);
    /* a live pool keeps its level to the end; a dead one is judged up
     * to, not after, its destroy */
    to = pl->dead ? (double)pl->end_x - 1 : x1;
    plog_judge(m, &pl->s, (double)pl->first_x, to, x0, x1, out);
}
