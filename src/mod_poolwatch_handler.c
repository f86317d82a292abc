/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * The /poolwatch handler.
 *
 *   <Location /poolwatch>
 *       SetHandler poolwatch
 *       Require local
 *   </Location>
 *
 *   GET /poolwatch          a small HTML table of the children
 *   GET /poolwatch?json     everything, as JSON (schema in the README)
 *   GET /poolwatch?format=prometheus   Prometheus text format 0.0.4
 *   GET /poolwatch?format=json         the same as ?json
 *
 * The child that serves the page samples itself first, then copies the
 * shared segment into r->pool and renders from the copy: no lock is held
 * while the response is written, and nothing is allocated from a pool
 * that outlives the request.
 */
#include <string.h>

#include <apr_strings.h>

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_poolwatch.h"
#include "pw_prom.h"

APLOG_USE_MODULE(poolwatch);

typedef enum { PW_FMT_HTML = 0, PW_FMT_JSON, PW_FMT_PROM } pw_format_e;

typedef struct pw_query_t {
    pw_format_e format;
} pw_query_t;

/* Each argument the handler accepts; anything else is a 400. */
typedef struct pw_arg_t {
    const char *name;
    int takes_value;
    pw_format_e format;
} pw_arg_t;

static const pw_arg_t pw_args[] = {
    {"json", 0, PW_FMT_JSON}, {"format", 1, PW_FMT_PROM}, {NULL, 0, 0}};

/* Parses r->args into q. Returns NULL or a message for the 400. */
static const char *parse_query(apr_pool_t *p, const char *args, pw_query_t *q)
{
    char *copy, *tok, *last;

    memset(q, 0, sizeof(*q));
    if (args == NULL || *args == '\0') {
        return NULL;
    }
    copy = apr_pstrdup(p, args);
    for (tok = apr_strtok(copy, "&", &last); tok;
         tok = apr_strtok(NULL, "&", &last)) {
        const pw_arg_t *a;
        char *eq = strchr(tok, '=');

        if (eq) {
            *eq = '\0';
        }
        for (a = pw_args; a->name; a++) {
            if (!strcmp(a->name, tok)) {
                break;
            }
        }
        if (a->name == NULL) {
            return "unknown query argument (accepted: json, format)";
        }
        if (eq && !a->takes_value) {
            return apr_pstrcat(p, "query argument '", a->name,
                               "' takes no value", NULL);
        }
        q->format = a->format;
        if (a->takes_value) { /* format=: the only one with a value */
            if (eq && !strcmp(eq + 1, "prometheus")) {
                q->format = PW_FMT_PROM;
            } else if (eq && !strcmp(eq + 1, "json")) {
                q->format = PW_FMT_JSON;
            } else {
                return "format takes json or prometheus";
            }
        }
    }
    return NULL;
}

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

static void html_u64(emit_ctx_t *e, apr_uint64_t v)
{
    char buf[32];

    apr_snprintf(buf, sizeof(buf), "<td>%" APR_UINT64_T_FMT "</td>", v);
    emit(e, buf, strlen(buf));
}

static void html_text(emit_ctx_t *e, const char *s)
{
    const char *esc = ap_escape_html2(e->r->pool, s ? s : "", 1);

    emit(e, esc, strlen(esc));
}

/* A literal or any string: no hand-counted lengths. */
static void emit_str(emit_ctx_t *e, const char *s)
{
    emit(e, s, strlen(s));
}

static void render_html(emit_ctx_t *e, const pw_snapshot_t *snap)
{
    apr_uint32_t i;

    emit_str(e, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                "<title>Pool Watch</title></head><body>\n"
                "<h1>Pool Watch</h1>\n<p>Server: ");
    html_text(e, snap->server.version);
    emit_str(e, "<br>MPM: ");
    html_text(e, snap->server.mpm);
    emit_str(e, "<br>Pool walk: ");
    html_text(e, pw_walk_name(snap->server.walk));
    emit_str(e, " (");
    html_text(e, snap->server.walk_reason);
    emit_str(e, ")</p>\n<table border=\"1\"><tr><th>pid</th><th>slot</th>"
                "<th>state</th><th>requests</th><th>pool bytes</th>"
                "<th>heap bytes</th><th>RSS bytes</th></tr>\n");
    for (i = 0; i < snap->nchildren; i++) {
        const pw_slot_t *s = snap->children[i];

        emit_str(e, "<tr>");
        html_u64(e, s->owner);
        html_u64(e, snap->slot_of[i]);
        emit_str(e, "<td>");
        html_text(e, pw_state_name(s->state));
        emit_str(e, "</td>");
        html_u64(e, s->requests);
        html_u64(e, s->pool_bytes);
        html_u64(e, s->heap_bytes);
        html_u64(e, s->rss_bytes);
        emit_str(e, "</tr>\n");
    }
    emit_str(e, "</table>\n<p><a href=\"?json\">JSON</a></p>\n"
                "</body></html>\n");
}

int pw_handler(request_rec *r)
{
    pw_query_t q;
    pw_snapshot_t snap;
    const char *err;
    emit_ctx_t e;

    if (r->handler == NULL || strcmp(r->handler, "poolwatch")) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    err = parse_query(r->pool, r->args, &q);
    if (err) {
        r->status = HTTP_BAD_REQUEST;
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_rprintf(r, "400 Bad Request: %s\n", err);
        return OK;
    }
    if (!pw_effective_config()->enabled) {
        r->status = HTTP_SERVICE_UNAVAILABLE;
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_rputs("mod_poolwatch is disabled (PoolWatch Off)\n", r);
        return OK;
    }
    pw_sample_now(r);
    pw_sample_snapshot(r, &snap);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");

    e.r = r;
    e.bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (q.format == PW_FMT_PROM) {
        pw_out_t out = {emit, &e};

        ap_set_content_type(r, PW_PROM_CONTENT_TYPE);
        if (!r->header_only) {
            pw_prom_render(&out, &snap);
        }
    } else if (q.format == PW_FMT_JSON) {
        pw_out_t out = {emit, &e};

        ap_set_content_type(r, "application/json");
        if (!r->header_only) {
            pw_json_render(&out, &snap);
        }
    } else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        if (!r->header_only) {
            render_html(&e, &snap);
        }
    }
    return finish(r, e.bb);
}
