/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_html: the /poolwatch page (pw_html.h), mod_status style.
 *
 *   header        server, MPM, generation, uptime, walk mode and why
 *   summary       one line: how many keys leak or are suspect, where
 *   keys          worst first (pw_keys_aggregate)
 *   children      one row each, with growth per request over the history
 *   pools         ?pid=N: that child's pool tree
 *   graphs        small multiples: each running child's pool, heap and
 *                 RSS over requests; each flagged key's series with its
 *                 fitted slope
 *   reset form    POST (the handler never resets on GET)
 *
 * Every string from the snapshot is copied with a bound first (slot
 * copies come from another process, possibly torn) and then escaped.
 * Numbers are formatted here with APR's formats; a non-finite double (a
 * torn copy) is drawn as 0. Output size is bounded by the snapshot's:
 * at most PW_HTML_CHILD_GRAPHS children and PW_HTML_KEY_GRAPHS keys are
 * drawn.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "pw_auto.h"
#include "pw_detect.h"
#include "pw_html.h"

#define PW_HTML_CHILD_GRAPHS 16
#define PW_HTML_KEY_GRAPHS   16
#define PW_HTML_KEY_ROWS     256

/* chart geometry, in SVG user units */
#define CW 320
#define CH 170
#define ML 62 /* room for y tick labels and the axis label */
#define MR 12
#define MT 12
#define MB 38 /* x tick labels and the axis label */

static void put(pw_out_t *out, const char *s)
{
    out->emit(out->baton, s, strlen(s));
}

/* Numbers and literals only: never a string from the snapshot. The
 * longest format here with every number at its widest stays below 512. */
static void putf(pw_out_t *out, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(out, buf);
}

static double fin(double v)
{
    return isfinite(v) ? v : 0.0;
}

/* A coordinate: finite and small enough that a range of two of them is
 * finite too (a torn copy may hold 1e308); 1e30 bytes is beyond any
 * machine. */
static double coord(double v)
{
    v = fin(v);
    return v > 1e30 ? 1e30 : v < -1e30 ? -1e30 : v;
}

static const char *html_esc(unsigned char c, char *buf, apr_size_t len)
{
    switch (c) {
        case '&':
            return "&amp;";
        case '<':
            return "&lt;";
        case '>':
            return "&gt;";
        case '"':
            return "&quot;";
        case '\'':
            return "&#39;";
        default:
            /* control bytes have no place in a page, escaped or not */
            return c < 0x20 || c == 0x7f ? "&#xFFFD;" : NULL;
    }
}

void pw_html_escape(pw_out_t *out, const char *str)
{
    pw_out_escaped(out, str, html_esc, "&#xFFFD;");
}

/* A fixed-size field of a slot copy, escaped: bounded first. */
static void esc_field(pw_out_t *out, const char *field, apr_size_t size)
{
    char buf[PW_PATH_MAX > PW_KEY_MAX ? PW_PATH_MAX : PW_KEY_MAX];

    if (size > sizeof(buf)) {
        size = sizeof(buf);
    }
    memcpy(buf, field, size);
    buf[size - 1] = '\0';
    pw_html_escape(out, buf);
}

#define ESC_FIELD(out, f) esc_field((out), (f), sizeof(f))

/* ---- numbers ----------------------------------------------------------- */

/* The unit a graph's axis uses for values up to max. */
static double unit_of(double max, const char **name)
{
    max = fabs(max);
    if (max >= 10.0 * 1024 * 1024 * 1024) {
        *name = "GiB";
        return 1024.0 * 1024 * 1024;
    }
    if (max >= 10.0 * 1024 * 1024) {
        *name = "MiB";
        return 1024.0 * 1024;
    }
    if (max >= 10.0 * 1024) {
        *name = "KiB";
        return 1024.0;
    }
    *name = "B";
    return 1.0;
}

static void td_u64(pw_out_t *out, apr_uint64_t v)
{
    putf(out, "<td class=\"n\">%" APR_UINT64_T_FMT "</td>", v);
}

/* Growth per request between the first and last of a child's history. */
static double hist_rate(const pw_slot_t *s, int which)
{
    const pw_sample_t *a, *b;
    apr_uint32_t n = s->hist_count < PW_HISTORY ? s->hist_count : PW_HISTORY;
    double d;

    if (n < 2) {
        return 0.0;
    }
    a = pw_slot_history_at(s, 0);
    b = pw_slot_history_at(s, n - 1);
    if (b->requests <= a->requests) {
        return 0.0;
    }
    d = which == 0   ? (double)b->pool_bytes - (double)a->pool_bytes
        : which == 1 ? (double)b->heap_bytes - (double)a->heap_bytes
                     : (double)b->rss_bytes - (double)a->rss_bytes;
    return d / (double)(b->requests - a->requests);
}

static void show_time(pw_out_t *out, apr_int64_t t)
{
    apr_time_exp_t tm;
    char buf[64];
    apr_size_t len;

    if (t <= 0 || apr_time_exp_gmt(&tm, t) != APR_SUCCESS ||
        apr_strftime(buf, &len, sizeof(buf), "%A, %d-%b-%Y %H:%M:%S UTC",
                     &tm) != APR_SUCCESS) {
        put(out, "-");
        return;
    }
    put(out, buf);
}

static void show_uptime(pw_out_t *out, apr_int64_t usec)
{
    apr_int64_t s = usec > 0 ? usec / APR_USEC_PER_SEC : 0;
    apr_int64_t d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60;

    if (d) {
        putf(out, "%" APR_INT64_T_FMT " day%s ", d, d == 1 ? "" : "s");
    }
    if (d || h) {
        putf(out, "%" APR_INT64_T_FMT " hour%s ", h, h == 1 ? "" : "s");
    }
    if (d || h || m) {
        putf(out, "%" APR_INT64_T_FMT " minute%s ", m, m == 1 ? "" : "s");
    }
    putf(out, "%" APR_INT64_T_FMT " second%s", s % 60, s % 60 == 1 ? "" : "s");
}

/* ---- graphs ------------------------------------------------------------ */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

double pw_fit_intercept(const double *x, const double *y, unsigned int n,
                        double slope)
{
    double r[PW_DETECT_MAX_POINTS];
    unsigned int i;

    if (n == 0) {
        return 0.0;
    }
    if (n > PW_DETECT_MAX_POINTS) {
        x += n - PW_DETECT_MAX_POINTS;
        y += n - PW_DETECT_MAX_POINTS;
        n = PW_DETECT_MAX_POINTS;
    }
    for (i = 0; i < n; i++) {
        r[i] = fin(y[i] - slope * x[i]);
    }
    qsort(r, n, sizeof(double), cmp_dbl);
    return n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2.0;
}

/* A tick label: whole numbers up to 6 digits, else 3 significant. */
static void tick_text(char *buf, apr_size_t len, double v)
{
    if (fabs(v) < 1e6 && fabs(v - floor(v + 0.5)) < 1e-9) {
        apr_snprintf(buf, len, "%.0f", v);
    } else if (fabs(v) < 1e6) {
        apr_snprintf(buf, len, "%.1f", v);
    } else {
        apr_snprintf(buf, len, "%.3g", v);
    }
}

void pw_svg_chart(pw_out_t *out, const pw_chart_t *c)
{
    double xmin = 0, xmax = 1, ymin = 0, ymax = 1, scale, pw, ph;
    const char *unit;
    unsigned int i, n = c->n;
    char a[32], b[32];

    for (i = 0; i < n; i++) {
        double x = coord(c->x[i]), y = coord(c->y[i]);

        if (i == 0 || x < xmin) {
            xmin = x;
        }
        if (i == 0 || x > xmax) {
            xmax = x;
        }
        if (i == 0 || y < ymin) {
            ymin = y;
        }
        if (i == 0 || y > ymax) {
            ymax = y;
        }
    }
    if (c->fit && n) {
        double y0 = coord(c->slope * xmin + c->intercept);
        double y1 = coord(c->slope * xmax + c->intercept);

        ymin = fmin(ymin, fmin(y0, y1));
        ymax = fmax(ymax, fmax(y0, y1));
    }
    if (!(xmax > xmin)) {
        xmax = xmin + 1.0;
    }
    if (!(ymax > ymin)) {
        /* a flat line: centre it in a band */
        double pad = fabs(ymin) * 0.05 > 1.0 ? fabs(ymin) * 0.05 : 1.0;

        ymin -= pad;
        ymax += pad;
    }
    scale = unit_of(fmax(fabs(ymin), fabs(ymax)), &unit);
    pw = CW - ML - MR;
    ph = CH - MT - MB;

#define PX(x) (ML + ((x)-xmin) / (xmax - xmin) * pw)
#define PY(y) (MT + ph - ((y)-ymin) / (ymax - ymin) * ph)

    putf(out,
         "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
         "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
         "font-family=\"sans-serif\" font-size=\"10\"><title>",
         CW, CH, CW, CH);
    pw_html_escape(out, c->title);
    put(out, "</title>");
    /* frame and axes */
    putf(out,
         "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
         "fill=\"none\" stroke=\"#999\"/>",
         ML, MT, pw, ph);
    tick_text(a, sizeof(a), ymin / scale);
    tick_text(b, sizeof(b), ymax / scale);
    putf(out,
         "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
         "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>",
         ML - 3, MT + (int)ph, a, ML - 3, MT + 8, b);
    tick_text(a, sizeof(a), xmin);
    tick_text(b, sizeof(b), xmax);
    putf(out,
         "<text x=\"%d\" y=\"%d\" text-anchor=\"start\">%s</text>"
         "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>",
         ML, MT + (int)ph + 12, a, CW - MR, MT + (int)ph + 12, b);
    put(out, "<text class=\"xlabel\" x=\"");
    putf(out, "%d\" y=\"%d\" text-anchor=\"middle\">", ML + (int)pw / 2,
         CH - 6);
    pw_html_escape(out, c->xlabel);
    putf(out,
         "</text><text class=\"ylabel\" x=\"12\" y=\"%d\" "
         "text-anchor=\"middle\" transform=\"rotate(-90 12 %d)\">",
         MT + (int)ph / 2, MT + (int)ph / 2);
    pw_html_escape(out, c->ylabel);
    putf(out, " (%s)</text>", unit);

    if (n == 0) {
        putf(out,
             "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no samples "
             "yet</text></svg>",
             ML + (int)pw / 2, MT + (int)ph / 2);
        return;
    }
    /* the fit under the data: dashed, labelled */
    if (c->fit) {
        double y0 = coord(c->slope * xmin + c->intercept);
        double y1 = coord(c->slope * xmax + c->intercept);

        putf(out,
             "<line class=\"fit\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
             "y2=\"%.1f\" stroke=\"#000\" stroke-width=\"1\" "
             "stroke-dasharray=\"6 3\"/>",
             PX(xmin), PY(y0), PX(xmax), PY(y1));
        putf(out,
             "<text class=\"fitlabel\" x=\"%d\" y=\"%d\">fit (dashed): "
             "%.1f ",
             ML + 4, MT + 11, coord(c->slope));
        pw_html_escape(out, c->fit_unit);
        put(out, "</text>");
    }
    put(out, "<polyline class=\"data\" fill=\"none\" stroke=\"#000\" "
             "stroke-width=\"1.5\" points=\"");
    for (i = 0; i < n; i++) {
        putf(out, "%s%.1f,%.1f", i ? " " : "", PX(coord(c->x[i])),
             PY(coord(c->y[i])));
    }
    put(out, "\"/>");
    if (n <= 64) {
        /* markers: the points stay visible where the lines overlap */
        for (i = 0; i < n; i++) {
            putf(out,
                 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#fff\" "
                 "stroke=\"#000\"/>",
                 PX(coord(c->x[i])), PY(coord(c->y[i])));
        }
    }
    put(out, "</svg>");
#undef PX
#undef PY
}

/* ---- page parts -------------------------------------------------------- */

static const char style[] =
    "<style>\n"
    "body{font-family:sans-serif;margin:1em 2em}\n"
    "table{border-collapse:collapse;margin-bottom:1em}\n"
    "th,td{border:1px solid #999;padding:2px 6px;text-align:left}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.leak td{font-weight:bold}\n"
    "tr.suspect td{font-style:italic}\n"
    ".graphs{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:8px}\n"
    "figure.graph{margin:0;border:1px solid #ccc;padding:4px}\n"
    "figcaption{font-size:small;max-width:320px;overflow-wrap:anywhere}\n"
    "</style>\n";

static void header(pw_out_t *out, const pw_snapshot_t *snap,
                   const pw_html_opts_t *o)
{
    const pw_server_info_t *sv = &snap->server;

    put(out, "<dl><dt>Server Version: ");
    pw_html_escape(out, sv->version);
    put(out, "</dt>\n<dt>Server MPM: ");
    pw_html_escape(out, sv->mpm);
    put(out, sv->threaded ? " (threaded)" : " (not threaded)");
    put(out, "</dt>\n<dt>APR: ");
    pw_html_escape(out, sv->apr_version);
    put(out, "</dt>\n</dl><hr><dl>\n<dt>Current Time: ");
    show_time(out, sv->now);
    put(out, "</dt>\n<dt>Restart Time: ");
    show_time(out, sv->restart_time);
    putf(out,
         "</dt>\n<dt>Parent Server Config. Generation: %u</dt>\n"
         "<dt>Parent Server PID: %u</dt>\n<dt>Server uptime: ",
         (unsigned int)sv->generation, (unsigned int)sv->pid);
    show_uptime(out, sv->now - sv->restart_time);
    put(out, "</dt>\n<dt>Pool walk: ");
    pw_html_escape(out, pw_walk_name(sv->walk));
    put(out, " (");
    pw_html_escape(out, sv->walk_reason);
    put(out, ")</dt>\n<dt>Keys by ");
    pw_html_escape(out, sv->key_by);
    putf(out, ", warm-up %u requests, a sample every %u requests",
         (unsigned int)sv->warmup, (unsigned int)sv->sample_every);
    if (sv->sample_interval_ms) {
        putf(out, " but at most one every %" APR_UINT64_T_FMT " ms",
             sv->sample_interval_ms);
    }
    putf(out,
         ", %u keys and %u pools per child, %u of %u slots overflowed; long "
         "responses watched: %s</dt>\n",
         (unsigned int)sv->max_keys, (unsigned int)sv->max_pools,
         (unsigned int)sv->slots_overflow, (unsigned int)sv->slots,
         sv->streams ? sv->streams : "off");
    if (o->refresh) {
        putf(out, "<dt>Refreshes every %d s</dt>\n", o->refresh);
    }
    if (sv->reset_gen) {
        putf(out, "<dt>Statistics reset %u time%s</dt>\n",
             (unsigned int)sv->reset_gen, sv->reset_gen == 1 ? "" : "s");
    }
    put(out, "</dl>\n");
}

static void summary_line(pw_out_t *out, const pw_summary_t *s)
{
    apr_uint32_t i;

    put(out, "<p class=\"summary\">");
    if (s->leaks == 0 && s->suspects == 0) {
        putf(out,
             "No leak or suspect among %u key%s in %u running "
             "child%s.",
             (unsigned int)s->keys, s->keys == 1 ? "" : "s",
             (unsigned int)s->children, s->children == 1 ? "" : "ren");
        put(out, "</p>\n");
        return;
    }
    putf(out, "<strong>%u key%s leak%s, %u suspect</strong> (of %u)",
         (unsigned int)s->leaks, s->leaks == 1 ? "" : "s",
         s->leaks == 1 ? "s" : "", (unsigned int)s->suspects,
         (unsigned int)s->keys);
    putf(out, "; in child%s ", s->nflagged_pids == 1 ? "" : "ren");
    for (i = 0; i < s->nflagged_pids; i++) {
        putf(out, "%s%u", i ? ", " : "", (unsigned int)s->flagged_pids[i]);
    }
    if (s->nflagged_pools) {
        put(out, "; pool");
        put(out, s->nflagged_pools == 1 ? " " : "s ");
        for (i = 0; i < s->nflagged_pools && i < 8; i++) {
            put(out, i ? ", " : "");
            pw_html_escape(out, s->flagged_pools[i]);
        }
        if (s->nflagged_pools > 8) {
            put(out, ", ...");
        }
    }
    put(out, ".</p>\n");
}

/* A suspect whose rising series the regression could not pin on it (it
 * always ran beside other keys): say why it is not a leak. */
#define HELD_NOTE " (not separable from other keys)"

static void key_cells(pw_out_t *out, const pw_keyagg_t *a, int notable)
{
    const pw_keyrec_t *k = a->worst;
    char pool[PW_PATH_MAX];

    memcpy(pool, k->pool, sizeof(pool));
    pool[sizeof(pool) - 1] = '\0';
    if (notable) {
        put(out, "<dt>");
        pw_html_escape(out, pw_verdict_name((pw_verdict_e)k->verdict));
        put(out, pw_key_held(k) ? HELD_NOTE ": " : ": ");
        pw_html_escape(out, k->key);
        putf(out,
             "</dt>\n<dd>%" APR_UINT64_T_FMT " requests, %.1f bytes per %s, "
             "signal ",
             a->requests, fin(k->bytes_per_request),
             k->signal == PW_SIG_STREAM ? "MiB" : "request");
        pw_html_escape(out, pw_signal_name(k->signal));
        put(out, ", pool ");
        pw_html_escape(out, pool[0] ? pool : "-");
        putf(out, ", %u of %u children affected (worst: pid %u)</dd>\n",
             (unsigned int)a->affected, (unsigned int)a->children,
             (unsigned int)a->worst_pid);
        return;
    }
    putf(out, "<tr class=\"%s\"><td>",
         pw_verdict_name((pw_verdict_e)k->verdict));
    pw_html_escape(out, k->key);
    put(out, "</td>");
    td_u64(out, a->requests);
    put(out, "<td>");
    pw_html_escape(out, pw_verdict_name((pw_verdict_e)k->verdict));
    if (pw_key_held(k)) {
        put(out, HELD_NOTE);
    }
    putf(out, "</td><td class=\"n\">%.1f</td><td>%s</td><td>",
         fin(k->bytes_per_request),
         k->signal == PW_SIG_STREAM ? "MiB" : "request");
    pw_html_escape(out, pw_signal_name(k->signal));
    put(out, "</td><td>");
    pw_html_escape(out, pool[0] ? pool : "-");
    putf(out,
         "</td><td class=\"n\">%u of %u</td><td class=\"n\">%u</td></tr>\n",
         (unsigned int)a->affected, (unsigned int)a->children,
         (unsigned int)a->worst_pid);
}

static void keys_part(pw_out_t *out, const pw_summary_t *s, int notable)
{
    apr_uint32_t i;

    put(out, "<h2>Keys</h2>\n");
    if (s->nagg == 0) {
        put(out, "<p>No request keys yet.</p>\n");
        return;
    }
    if (notable) {
        put(out, "<dl>\n");
    } else {
        put(out, "<table class=\"keys\"><tr><th>key</th><th>requests</th>"
                 "<th>verdict</th><th>bytes per</th><th>per</th>"
                 "<th>signal</th><th>pool</th>"
                 "<th>children affected</th><th>worst pid</th></tr>\n");
    }
    for (i = 0; i < s->nagg && i < PW_HTML_KEY_ROWS; i++) {
        key_cells(out, &s->agg[i], notable);
    }
    put(out, notable ? "</dl>\n" : "</table>\n");
    if (s->nagg > PW_HTML_KEY_ROWS) {
        putf(out, "<p>%u more keys in ?json.</p>\n",
             (unsigned int)(s->nagg - PW_HTML_KEY_ROWS));
    }
}

static void children_part(pw_out_t *out, const pw_snapshot_t *snap,
                          const pw_html_opts_t *o)
{
    apr_uint32_t i;

    put(out, "<h2>Children</h2>\n");
    if (!o->notable) {
        put(out, "<table class=\"children\"><tr><th>pid</th><th>slot</th>"
                 "<th>requests</th><th>pool bytes</th><th>heap bytes</th>"
                 "<th>RSS bytes</th>"
                 "<th>growth B/request<br>pool / heap / RSS</th>"
                 "<th>state</th><th>walk</th></tr>\n");
    } else {
        put(out, "<dl>\n");
    }
    for (i = 0; i < snap->nchildren; i++) {
        const pw_slot_t *s = snap->children[i];
        const char *state = pw_state_name(s->state);

        if (o->notable) {
            putf(out,
                 "<dt>pid %u (slot %u, %s%s)</dt>\n<dd>%" APR_UINT64_T_FMT
                 " requests, pool %" APR_UINT64_T_FMT " B, heap "
                 "%" APR_UINT64_T_FMT " B, RSS %" APR_UINT64_T_FMT
                 " B; growth per request: pool %.1f, heap %.1f, RSS "
                 "%.1f</dd>\n",
                 (unsigned int)s->owner, (unsigned int)snap->slot_of[i], state,
                 (s->seq & 1) ? ", torn" : "", s->requests, s->pool_bytes,
                 s->heap_bytes, s->rss_bytes, hist_rate(s, 0), hist_rate(s, 1),
                 hist_rate(s, 2));
            continue;
        }
        putf(out,
             "<tr><td class=\"n\"><a href=\"?pid=%u\">%u</a></td>"
             "<td class=\"n\">%u</td>",
             (unsigned int)s->owner, (unsigned int)s->owner,
             (unsigned int)snap->slot_of[i]);
        td_u64(out, s->requests);
        td_u64(out, s->pool_bytes);
        td_u64(out, s->heap_bytes);
        td_u64(out, s->rss_bytes);
        putf(out, "<td class=\"n\">%+.1f / %+.1f / %+.1f</td><td>%s%s</td><td>",
             hist_rate(s, 0), hist_rate(s, 1), hist_rate(s, 2), state,
             (s->seq & 1) ? " (torn)" : "");
        pw_html_escape(out, pw_walk_name(s->walk));
        put(out, "</td></tr>\n");
    }
    put(out, o->notable ? "</dl>\n" : "</table>\n");
}

static void pools_part(pw_out_t *out, const pw_snapshot_t *snap,
                       const pw_html_opts_t *o)
{
    const pw_slot_t *s = NULL;
    const pw_poolrec_t *pools;
    apr_uint32_t i, n;

    for (i = 0; i < snap->nchildren; i++) {
        if (snap->children[i]->owner == o->pid) {
            s = snap->children[i];
            break;
        }
    }
    putf(out, "<h2 id=\"pools\">Pools of child %u</h2>\n",
         (unsigned int)o->pid);
    if (s == NULL) {
        put(out, "<p>No such child.</p>\n");
        return;
    }
    pools = (const pw_poolrec_t *)(const void *)(s + 1);
    n = s->npools < snap->server.max_pools ? s->npools : snap->server.max_pools;
    putf(out,
         "<p>%u pools measured of %" APR_UINT64_T_FMT " met by the last "
         "walk; the last sample interval held %" APR_UINT64_T_FMT
         " requests.</p>\n",
         (unsigned int)n, s->pools_seen, s->last_requests);
    if (o->notable) {
        put(out, "<dl>\n");
    } else {
        put(out, "<table class=\"pools\"><tr><th>tag</th><th>path</th>"
                 "<th>bytes in use</th><th>reserved</th><th>nodes</th>"
                 "<th>clears</th><th>growth per request</th>"
                 "<th>notes</th></tr>\n");
    }
    for (i = 0; i < n; i++) {
        const pw_poolrec_t *p = &pools[i];
        double per = s->last_requests
                         ? (double)p->growth / (double)s->last_requests
                         : 0.0;
        const char *notes = (p->flags & PW_POOL_OPAQUE) ? "opaque"
                            : (p->flags & PW_POOL_CONN) ? "connection"
                            : (p->flags & PW_POOL_NEW)  ? "new"
                                                        : "";
        apr_uint32_t d, depth = p->depth < 32 ? p->depth : 32;

        if (o->notable) {
            put(out, "<dt>");
            ESC_FIELD(out, p->path);
            putf(out,
                 "</dt>\n<dd>%" APR_UINT64_T_FMT " bytes in use, "
                 "%" APR_UINT64_T_FMT " reserved, %" APR_UINT64_T_FMT
                 " nodes, %" APR_UINT64_T_FMT " clears, %.1f per request"
                 "%s%s</dd>\n",
                 p->bytes, p->reserved_bytes, p->nodes, p->clears, per,
                 notes[0] ? ", " : "", notes);
            continue;
        }
        put(out, "<tr><td>");
        for (d = 1; d < depth; d++) {
            put(out, "&nbsp;&nbsp;");
        }
        ESC_FIELD(out, p->tag);
        put(out, "</td><td>");
        ESC_FIELD(out, p->path);
        put(out, "</td>");
        td_u64(out, p->bytes);
        td_u64(out, p->reserved_bytes);
        td_u64(out, p->nodes);
        td_u64(out, p->clears);
        putf(out, "<td class=\"n\">%+.1f</td><td>%s</td></tr>\n", per, notes);
    }
    put(out, o->notable ? "</dl>\n" : "</table>\n");
}

static void figure(pw_out_t *out, const char *caption, const char *key,
                   const pw_chart_t *c)
{
    put(out, "<figure class=\"graph\">");
    pw_svg_chart(out, c);
    put(out, "<figcaption>");
    pw_html_escape(out, caption);
    if (key) {
        put(out, ": ");
        pw_html_escape(out, key);
    }
    put(out, "</figcaption></figure>\n");
}

static void child_graphs(pw_out_t *out, const pw_snapshot_t *snap,
                         apr_pool_t *p)
{
    static const char *const what[3] = {"pool", "heap", "RSS"};
    apr_uint32_t i, j, w, drawn = 0;

    for (i = 0; i < snap->nchildren && drawn < PW_HTML_CHILD_GRAPHS; i++) {
        const pw_slot_t *s = snap->children[i];
        apr_uint32_t n =
            s->hist_count < PW_HISTORY ? s->hist_count : PW_HISTORY;
        double *x, *y;

        if (s->state != PW_SLOT_RUNNING) {
            continue;
        }
        drawn++;
        /* a row per child: its three signals side by side */
        put(out, "<div class=\"graphs\">\n");
        x = apr_palloc(p, (n + 1) * sizeof(double));
        y = apr_palloc(p, (n + 1) * sizeof(double));
        for (w = 0; w < 3; w++) {
            pw_chart_t c;
            char title[96];

            for (j = 0; j < n; j++) {
                const pw_sample_t *h = pw_slot_history_at(s, j);

                x[j] = (double)h->requests;
                y[j] = (double)(w == 0   ? h->pool_bytes
                                : w == 1 ? h->heap_bytes
                                         : h->rss_bytes);
            }
            apr_snprintf(title, sizeof(title), "pid %u: %s bytes over requests",
                         (unsigned int)s->owner, what[w]);
            memset(&c, 0, sizeof(c));
            c.title = title;
            c.xlabel = "requests served by the child";
            c.ylabel = what[w];
            c.x = x;
            c.y = y;
            c.n = n;
            figure(out, title, NULL, &c);
        }
        put(out, "</div>\n");
    }
}

static void key_graphs(pw_out_t *out, const pw_summary_t *s)
{
    apr_uint32_t i, j, drawn = 0;

    for (i = 0; i < s->nagg && drawn < PW_HTML_KEY_GRAPHS; i++) {
        const pw_keyrec_t *k = s->agg[i].worst;
        double x[PW_KEY_SERIES], y[PW_KEY_SERIES];
        apr_uint32_t n =
            k->series_n < PW_KEY_SERIES ? k->series_n : PW_KEY_SERIES;
        pw_chart_t c;
        char title[128];

        if (k->verdict < PW_VERDICT_SUSPECT) {
            break; /* worst first */
        }
        drawn++;
        for (j = 0; j < n; j++) {
            x[j] = (double)k->series_x[j];
            y[j] = (double)k->series_y[j];
        }
        apr_snprintf(title, sizeof(title), "%s, signal %s, pid %u",
                     pw_verdict_name((pw_verdict_e)k->verdict),
                     pw_signal_name(k->series_signal),
                     (unsigned int)s->agg[i].worst_pid);
        memset(&c, 0, sizeof(c));
        c.title = title;
        c.xlabel = "requests of the key";
        c.ylabel = "growth";
        c.x = x;
        c.y = y;
        c.n = n;
        /* the slope is of the deciding signal; the series is that
         * signal's unless it is the stream's (per MiB, no series) */
        if (n >= 2 && k->series_signal == k->signal) {
            c.fit = 1;
            c.slope = fin(k->bytes_per_request);
            c.intercept = pw_fit_intercept(x, y, n, c.slope);
            c.fit_unit = "B/request";
        }
        figure(out, title, k->key, &c);
    }
}

static void reset_form(pw_out_t *out, const pw_html_opts_t *o)
{
    put(out, "<form method=\"post\" action=\"");
    pw_html_escape(out, o->self ? o->self : "");
    put(out, "\"><input type=\"hidden\" name=\"reset\" value=\"1\">"
             "<button type=\"submit\">Reset statistics</button> "
             "(every child forgets its keys, verdicts and history at its "
             "next sample)</form>\n");
}

void pw_html_render(pw_out_t *out, const pw_snapshot_t *snap,
                    const pw_html_opts_t *o)
{
    pw_summary_t s;

    pw_summary_make(snap, &s);
    put(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
             "<meta charset=\"utf-8\">\n<title>Pool Watch</title>\n");
    if (!o->notable) {
        put(out, style);
    }
    put(out, "</head><body>\n<h1>Apache Pool Watch</h1>\n");
    header(out, snap, o);
    summary_line(out, &s);
    keys_part(out, &s, o->notable);
    children_part(out, snap, o);
    if (o->pid) {
        pools_part(out, snap, o);
    }
    if (!o->notable) {
        put(out, "<h2>Graphs</h2>\n");
        if (s.leaks + s.suspects) {
            put(out, "<h3>Suspect and leaking keys</h3>\n<p>Bytes "
                     "attributed to the key over its requests (points, "
                     "solid) and the fitted slope (dashed).</p>\n"
                     "<div class=\"graphs\">\n");
            key_graphs(out, &s);
            put(out, "</div>\n");
        }
        put(out, "<h3>Children</h3>\n<p>Pool, heap and RSS bytes over the "
                 "requests a child served, one sample a point.</p>\n");
        child_graphs(out, snap, snap->pool);
    }
    put(out, "<hr>\n");
    reset_form(out, o);
    put(out, "<p><a href=\"?json\">JSON</a> | <a href=\"?auto\">auto</a> | "
             "<a href=\"?format=prometheus\">Prometheus</a> | "
             "<a href=\"?notable\">no tables</a> | "
             "<a href=\"?refresh=10\">refresh every 10 s</a></p>\n"
             "</body></html>\n");
}

void pw_html_status(pw_out_t *out, const pw_snapshot_t *snap, int notable)
{
    pw_summary_t s;
    apr_uint32_t i;

    pw_summary_make(snap, &s);
    put(out, "<hr>\n<h2>Pool Watch</h2>\n");
    summary_line(out, &s);
    putf(out,
         "<dl><dt>%u running children, %" APR_UINT64_T_FMT
         " requests; pools %" APR_UINT64_T_FMT " B, heap %" APR_UINT64_T_FMT
         " B, RSS %" APR_UINT64_T_FMT " B in all; pool walk ",
         (unsigned int)s.children, s.requests, s.pool_bytes, s.heap_bytes,
         s.rss_bytes);
    pw_html_escape(out, pw_walk_name(snap->server.walk));
    put(out, "</dt></dl>\n");
    if (s.leaks + s.suspects == 0) {
        return;
    }
    put(out, notable ? "<dl>\n"
                     : "<table><tr><th>key</th><th>requests</th>"
                       "<th>verdict</th><th>bytes per</th><th>per</th>"
                       "<th>signal</th><th>pool</th>"
                       "<th>children affected</th><th>worst pid</th></tr>\n");
    for (i = 0; i < s.nagg && i < 16; i++) {
        if (s.agg[i].worst->verdict < PW_VERDICT_SUSPECT) {
            break;
        }
        key_cells(out, &s.agg[i], notable);
    }
    put(out, notable ? "</dl>\n" : "</table>\n");
}
