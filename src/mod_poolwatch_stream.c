/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * mod_poolwatch streams: a leak that grows during ONE request.
 *
 * httpd 2.0.53's core_input_filter made a new brigade from c->pool on every
 * read of a long proxied stream: one request, growing without bound, never
 * seen by anything that samples between requests. So a light connection
 * output filter counts response bytes and, every PW_STREAM_STEP of them,
 * measures c->pool from the thread that runs the connection; the points
 * (MiB sent, c->pool bytes) go to pw_detect, which flags a pool that keeps
 * growing per MiB and does not level off. The first time on a connection
 * the error_log says so while the stream still runs (PW00040); when the
 * request ends, log_transaction hands the verdict to its key and names the
 * request (PW00041).
 *
 * A connection filter does not know its request, and learning it would cost
 * every request a post_read_request hook and a cleanup: the response's
 * bytes are instead those passed since the previous request ended
 * (pw_stream_end() starts the count again).
 *
 * Cost: the filter adds up bucket lengths on every pass (a few buckets)
 * and measures the pool every 256 KiB: nothing more for small responses.
 */
#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "util_filter.h"

#include "mod_poolwatch.h"
#include "pw_detect.h"

APLOG_USE_MODULE(poolwatch);

#define PW_STREAM_FILTER "POOLWATCH_STREAM"
#define PW_MIB           (1024.0 * 1024.0)

static ap_filter_rec_t *stream_filter;

static void judge(ap_filter_t *f, pw_stream_t *s)
{
    pw_point_t pts[PW_STREAM_POINTS];
    pw_detect_params_t p;
    pw_detect_result_t res;
    apr_uint32_t i;

    for (i = 0; i < s->n; i++) {
        const apr_uint32_t k =
            (s->next + PW_STREAM_POINTS - s->n + i) % PW_STREAM_POINTS;

        pts[i].x = s->pts[k].x;
        pts[i].y = s->pts[k].y;
    }
    pw_detect_defaults(&p);
    p.min_slope = 64.0; /* bytes per MiB: a brigade per 8 KiB read is 7 KiB */
    pw_detect(pts, s->n, &p, &res);
    if (res.verdict == PW_VERDICT_WARMUP) {
        return;
    }
    s->verdict = res.verdict;
    s->points = res.points;
    s->per_mib = res.slope > 0 ? (apr_uint64_t)res.slope : 0;
    if (res.verdict == PW_VERDICT_LEAK && !s->warned) {
        s->warned = 1;
        ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, f->c,
                      "PW00040: pid %u: connection pool grows about %.0f "
                      "bytes per MiB during one response (%.1f MiB so far); "
                      "PW00041 names the request when it ends",
                      (unsigned int)getpid(), res.slope,
                      (double)s->bytes / PW_MIB);
    }
}

/* Off the fast path: a measurement every PW_STREAM_STEP bytes, then the
 * brigade passed on. Not inlined, and reached by a tail call, so that the
 * filter itself needs no stack frame. */
static apr_status_t __attribute__((noinline))
measure(ap_filter_t *f, apr_bucket_brigade *bb, pw_stream_t *s)
{
    pw_pool_size_t sz;

    s->next_at = s->bytes + PW_STREAM_STEP;
    /* this thread runs the connection: its pool is ours to read */
    if (pw_pool_size(f->c->pool, &sz) != APR_SUCCESS) {
        return ap_pass_brigade(f->next, bb);
    }
    s->pts[s->next].x = (double)s->bytes / PW_MIB;
    s->pts[s->next].y = (double)sz.bytes;
    s->next = (s->next + 1) % PW_STREAM_POINTS;
    if (s->n < PW_STREAM_POINTS) {
        s->n++;
    }
    if (++s->since_judge >= 4 && s->n >= 8) {
        s->since_judge = 0;
        judge(f, s);
    }
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t stream_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    pw_stream_t *s = &((pw_conn_t *)f->ctx)->stream;
    apr_uint64_t bytes = s->bytes;
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (b->length != (apr_size_t)-1) {
            bytes += b->length;
        }
    }
    s->bytes = bytes;
    if (bytes >= s->next_at) {
        return measure(f, bb, s);
    }
    return ap_pass_brigade(f->next, bb);
}

void pw_stream_end(request_rec *r, pw_conn_t *pc, pw_keyrec_t *rec)
{
    pw_stream_t *s = &pc->stream;

    if (s->verdict != 0 && rec != NULL) {
        apr_atomic_set64(&rec->stream_per_mib, s->per_mib);
        apr_atomic_set32(&rec->stream_points, s->points);
        apr_atomic_set32(&rec->stream_verdict, s->verdict);
    }
    if (s->warned) {
        char key[PW_KEY_MAX];

        pw_request_key(r, key);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PW00041: pid %u: the response whose connection pool "
                      "grew about %" APR_UINT64_T_FMT " bytes per MiB (%.1f "
                      "MiB) was \"%s\", key \"%s\"",
                      (unsigned int)getpid(), s->per_mib,
                      (double)s->bytes / PW_MIB,
                      ap_escape_logitem(r->pool, r->uri),
                      ap_escape_logitem(r->pool, key));
    }
    /* the points are overwritten before they are read again */
    s->next_at = PW_STREAM_STEP;
    s->n = s->next = s->since_judge = s->warned = s->verdict = s->points = 0;
    s->per_mib = 0;
}

void pw_stream_register(void)
{
    stream_filter = ap_register_output_filter(PW_STREAM_FILTER, stream_out,
                                              NULL, AP_FTYPE_CONNECTION);
}

void pw_stream_add_filter(conn_rec *c, pw_conn_t *pc)
{
    pc->stream.next_at = PW_STREAM_STEP;
    ap_add_output_filter_handle(stream_filter, pc, NULL, c);
}
