/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * The /poolwatch handler and the /server-status section.
 *
 *   <Location /poolwatch>
 *       SetHandler poolwatch
 *       Require local
 *   </Location>
 *
 *   GET /poolwatch                  the page (tables, SVG graphs)
 *   GET /poolwatch?pid=N            ... with child N's pool tree
 *   GET /poolwatch?notable          ... plain, no tables or graphs
 *   GET /poolwatch?refresh=N        ... with a Refresh: N header
 *   GET /poolwatch?json             everything, as JSON (README)
 *   GET /poolwatch?auto             "Key: value" lines (also format=auto)
 *   GET /poolwatch?format=prometheus  Prometheus text format 0.0.4
 *   POST /poolwatch  reset=1        reset the statistics, 303 to the page
 *
 * This file only dispatches: the query parser (pw_query) and the
 * renderers (pw_html, pw_auto, pw_json) are the pure core. The child that
 * serves the page samples itself first, then copies the shared segment
 * into r->pool and renders from the copy: no lock is held while the
 * response is written, and nothing is allocated from a pool that outlives
 * the request.
 *
 * GET never changes anything: a reset is a POST (a link prefetched by a
 * browser or a crawler must not wipe what an operator is looking at), and
 * it only bumps a counter in the segment's header; each child clears its
 * own figures when it sees the counter move (one writer per slot).
 */
#include <string.h>

#include <apr_strings.h>

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "mod_status.h"

#include "mod_poolwatch.h"
#include "pw_auto.h"
#include "pw_html.h"
#include "pw_prom.h"
#include "pw_query.h"

APLOG_USE_MODULE(poolwatch);

typedef struct emit_ctx_t {
    request_rec *r;
    apr_bucket_brigade *bb;
} emit_ctx_t;

static void emit(void *baton, const char *data, apr_size_t len)
{
    emit_ctx_t *e = baton;

    /* buffered: the brigade flushes down the filters when it fills */
    apr_brigade_write(e->bb, ap_filter_flush, e->r->output_filters, data, len);
}

static int finish(request_rec *r, apr_bucket_brigade *bb)
{
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS
               ? OK
               : AP_FILTER_ERROR;
}

/* A short plain-text answer. msg is one of our own literals. */
static int say(request_rec *r, int status, const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "%d %s: %s\n", status, ap_get_status_line(status) + 4, msg);
    return OK;
}

/* A POST from a page of another origin is refused: the form is for this
 * page only (a browser sends Origin with every cross-site POST). */
static int same_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *p;

    if (origin == NULL) {
        return 1; /* curl, scripts: not a browser's cross-site form */
    }
    p = ap_strstr_c(origin, "://");
    return p && host && !strcasecmp(p + 3, host);
}

/* Reads a small form body into *body (NUL-terminated). */
static int read_form(request_rec *r, const char **body)
{
    char *buf = apr_palloc(r->pool, PW_QUERY_MAX + 1);
    apr_size_t len = 0;
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    int rv;

    *body = "";
    if ((rv = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return rv;
    }
    if (!ap_should_client_block(r)) {
        return OK;
    }
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    for (;;) {
        char chunk[512];
        long n = ap_get_client_block(r, chunk, sizeof(chunk));

        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
        if (n == 0) {
            break;
        }
        if (len + (apr_size_t)n > PW_QUERY_MAX) {
            /* drain nothing more: the connection is closed */
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        memcpy(buf + len, chunk, (apr_size_t)n);
        len += (apr_size_t)n;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        return HTTP_BAD_REQUEST;
    }
    *body = buf;
    return OK;
}

static int do_reset(request_rec *r, const pw_query_t *q)
{
    pw_query_t form;
    const char *body, *err;
    apr_uint32_t gen;
    int rv;

    if (!same_origin(r)) {
        return say(r, HTTP_FORBIDDEN, "a reset must come from this page");
    }
    if ((rv = read_form(r, &body)) != OK) {
        return rv == HTTP_UNSUPPORTED_MEDIA_TYPE
                   ? say(r, rv,
                         "the form is "
                         "application/x-www-form-urlencoded")
                   : rv;
    }
    if ((err = pw_query_parse(body, &form)) != NULL) {
        return say(r, HTTP_BAD_REQUEST, err);
    }
    if (form.format_given || form.refresh || form.pid || form.notable) {
        return say(r, HTTP_BAD_REQUEST, "the form takes reset=1 only");
    }
    if (!q->reset && !form.reset) {
        return say(r, HTTP_BAD_REQUEST, "POST is for reset=1 only");
    }
    if (!pw_effective_config()->enabled) {
        return say(r, HTTP_SERVICE_UNAVAILABLE,
                   "mod_poolwatch is disabled (PoolWatch Off)");
    }
    gen = pw_sample_request_reset();
    /* this child at once; the others at their next sample */
    pw_sample_now(r);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "PW00050: statistics reset %u asked for by %s",
                  (unsigned int)gen, r->useragent_ip);
    apr_table_setn(
        r->headers_out, "Location",
        ap_construct_url(r->pool, ap_escape_uri(r->pool, r->uri), r));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    r->status = HTTP_SEE_OTHER;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rprintf(r,
               "reset %u asked for: each child clears its keys, verdicts "
               "and history at its next sample\n",
               (unsigned int)gen);
    return OK;
}

static int has_child(const pw_snapshot_t *snap, apr_uint32_t pid)
{
    apr_uint32_t i;

    for (i = 0; i < snap->nchildren; i++) {
        if (snap->children[i]->owner == pid) {
            return 1;
        }
    }
    return 0;
}

/* Serves /poolwatch. Not inlined: every request passes pw_handler(), and
 * this frame is large. */
static int __attribute__((noinline)) serve(request_rec *r)
{
    pw_query_t q;
    pw_snapshot_t snap;
    const char *err;
    emit_ctx_t e;
    pw_out_t out;
    /* the Allow header of a 405 is made from allowed_methods */
    r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, -1);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    err = pw_query_parse(r->args, &q);
    if (err) {
        return say(r, HTTP_BAD_REQUEST, err);
    }
    if (r->method_number == M_POST) {
        return do_reset(r, &q);
    }
    if (q.reset) {
        return say(r, HTTP_BAD_REQUEST,
                   "reset only by POST (GET never changes anything)");
    }
    if (!pw_effective_config()->enabled) {
        return say(r, HTTP_SERVICE_UNAVAILABLE,
                   "mod_poolwatch is disabled (PoolWatch Off)");
    }
    pw_sample_now(r);
    pw_sample_snapshot(r, &snap);
    if (q.pid && !has_child(&snap, q.pid)) {
        return say(r, HTTP_NOT_FOUND, "no child with that pid");
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (q.refresh) {
        apr_table_setn(r->headers_out, "Refresh",
                       apr_psprintf(r->pool, "%d", q.refresh));
    }

    e.r = r;
    e.bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    out.emit = emit;
    out.baton = &e;
    switch (q.format) {
        case PW_FORMAT_JSON:
            ap_set_content_type(r, "application/json");
            if (!r->header_only) {
                pw_json_render(&out, &snap);
            }
            break;
        case PW_FORMAT_PROMETHEUS:
            ap_set_content_type(r, PW_PROM_CONTENT_TYPE);
            if (!r->header_only) {
                pw_prom_render(&out, &snap);
            }
            break;
        case PW_FORMAT_AUTO:
            /* as mod_status's ?auto */
            ap_set_content_type(r, "text/plain; charset=ISO-8859-1");
            if (!r->header_only) {
                pw_auto_render(&out, &snap, 0);
            }
            break;
        default: {
            pw_html_opts_t o;

            memset(&o, 0, sizeof(o));
            o.self = r->uri;
            o.notable = q.notable;
            o.refresh = q.refresh;
            o.pid = q.pid;
            ap_set_content_type(r, "text/html; charset=utf-8");
            if (!r->header_only) {
                pw_html_render(&out, &snap, &o);
            }
            break;
        }
    }
    return finish(r, e.bb);
}

int pw_handler(request_rec *r)
{
    if (r->handler == NULL || r->handler[0] != 'p' ||
        strcmp(r->handler, "poolwatch")) {
        return DECLINED;
    }
    return serve(r);
}

static void emit_rwrite(void *baton, const char *data, apr_size_t len)
{
    ap_rwrite(data, (int)len, baton);
}

int pw_status_hook(request_rec *r, int flags)
{
    pw_snapshot_t snap;
    pw_out_t out;

    if (!pw_effective_config()->enabled) {
        return OK;
    }
    /* as /poolwatch: the serving child as of now, judged */
    pw_sample_now(r);
    if (pw_sample_snapshot(r, &snap) != APR_SUCCESS) {
        return OK;
    }
    /* mod_status writes with ap_rputs: so do we, in its order */
    out.emit = emit_rwrite;
    out.baton = r;
    if (flags & AP_STATUS_SHORT) {
        pw_auto_render(&out, &snap, 1);
    } else {
        pw_html_status(&out, &snap, (flags & AP_STATUS_NOTABLE) != 0);
    }
    return OK;
}
