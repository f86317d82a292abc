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
 * growing per MiB and does not level off. The verdict goes to the key of
 * the request being served and, the first time on a connection, to the
 * error_log while the stream still runs.
 *
 * Cost: the filter adds up bucket lengths on every pass (a few buckets)
 * and measures the pool every 256 KiB: nothing for small responses.
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
#define PW_STREAM_STEP   (256 * 1024)
#define PW_MIB           (1024.0 * 1024.0)

static ap_filter_rec_t *stream_filter;

static apr_status_t clear_cur_r(void *data)
{
    pw_conn_t *pc = data;

    pc->cur_r = NULL; /* the request's memory goes now */
    return APR_SUCCESS;
}

int pw_stream_post_read_request(request_rec *r)
{
    pw_conn_t *pc;

    if (r->main || r->connection->master) {
        return DECLINED;
    }
    pc = ap_get_module_config(r->connection->conn_config, &poolwatch_module);
    if (pc) {
        pc->cur_r = r;
        apr_pool_cleanup_register(r->pool, pc, clear_cur_r,
                                  apr_pool_cleanup_null);
    }
    return DECLINED;
}

static void judge(ap_filter_t *f, pw_conn_t *pc)
{
    pw_stream_t *s = &pc->stream;
    pw_point_t pts[PW_STREAM_POINTS];
    pw_detect_params_t p;
    pw_detect_result_t res;
    pw_keyrec_t *rec;
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
    if (pc->cur_r == NULL || res.verdict == PW_VERDICT_WARMUP) {
        return;
    }
    rec = pw_verdict_key(pc->cur_r);
    if (rec) {
        apr_atomic_set64(&rec->stream_per_mib,
                         res.slope > 0 ? (apr_uint64_t)res.slope : 0);
        apr_atomic_set32(&rec->stream_points, res.points);
        apr_atomic_set32(&rec->stream_verdict, res.verdict);
    }
    if (res.verdict == PW_VERDICT_LEAK && !s->warned) {
        s->warned = 1;
        ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, f->c,
                      "PW00040: pid %u: connection pool grows about %.0f "
                      "bytes per MiB during one response (%.1f MiB so far) "
                      "of \"%s\"",
                      (unsigned int)getpid(), res.slope,
                      (double)s->bytes / PW_MIB,
                      ap_escape_logitem(pc->cur_r->pool, pc->cur_r->uri));
    }
}

static apr_status_t stream_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    pw_conn_t *pc = f->ctx;
    pw_stream_t *s = &pc->stream;
    apr_bucket *b;
    apr_uint64_t len = 0;

    if (pc->cur_r == NULL) {
        return ap_pass_brigade(f->next, bb); /* between requests */
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (b->length != (apr_size_t)-1) {
            len += b->length;
        }
    }
    if (s->request != pc->requests + 1) {
        /* a new response on this connection: the points are overwritten
         * before they are read, so only the counters start again */
        s->request = pc->requests + 1;
        s->bytes = 0;
        s->next_at = PW_STREAM_STEP;
        s->n = s->next = s->since_judge = s->warned = 0;
    }
    s->bytes += len;
    if (s->bytes >= s->next_at) {
        pw_pool_size_t sz;

        s->next_at = s->bytes + PW_STREAM_STEP;
        /* this thread runs the connection: its pool is ours to read */
        if (pw_pool_size(f->c->pool, &sz) == APR_SUCCESS) {
            s->pts[s->next].x = (double)s->bytes / PW_MIB;
            s->pts[s->next].y = (double)sz.bytes;
            s->next = (s->next + 1) % PW_STREAM_POINTS;
            if (s->n < PW_STREAM_POINTS) {
                s->n++;
            }
            if (++s->since_judge >= 4 && s->n >= 8) {
                s->since_judge = 0;
                judge(f, pc);
            }
        }
    }
    return ap_pass_brigade(f->next, bb);
}

void pw_stream_register(void)
{
    stream_filter = ap_register_output_filter(PW_STREAM_FILTER, stream_out,
                                              NULL, AP_FTYPE_CONNECTION);
}

void pw_stream_add_filter(conn_rec *c, pw_conn_t *pc)
{
    ap_add_output_filter_handle(stream_filter, pc, NULL, c);
}
