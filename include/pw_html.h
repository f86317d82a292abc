/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_html: the /poolwatch page and the /server-status section, as HTML
 * with inline SVG graphs (no script, no external asset).
 *
 * Like pw_json it renders a snapshot (copies of the slots) through a
 * pw_out_t and needs no httpd header. Every dynamic string goes through
 * pw_html_escape: keys come from clients, tags from other modules'
 * memory, and a torn copy may hold anything.
 */
#ifndef PW_HTML_H
#define PW_HTML_H

#include "pw_json.h"

typedef struct pw_html_opts_t {
    const char *self; /* the page's path (r->uri), for links and the form */
    int notable;      /* plain: no tables, graphs or style (mod_status) */
    int refresh;      /* seconds, 0 = none: only said in the header */
    apr_uint32_t pid; /* pool tree of this child, 0 = none */
} pw_html_opts_t;

/* The page. */
void pw_html_render(pw_out_t *out, const pw_snapshot_t *snap,
                    const pw_html_opts_t *o);

/* The section mod_status shows in /server-status (its status_hook). */
void pw_html_status(pw_out_t *out, const pw_snapshot_t *snap, int notable);

/* Writes s escaped for HTML text and attribute values: & < > " ' as
 * entities; control characters and invalid UTF-8 as U+FFFD, so the page
 * stays valid UTF-8 whatever the bytes. */
void pw_html_escape(pw_out_t *out, const char *s);

/* One line graph as an <svg> element: points (x[i], y[i]) joined by a
 * solid line with a marker per point, and if fit, the line
 * y = slope * x + intercept dashed and labelled. Axes are labelled with
 * their quantity and unit; y is scaled to B, KiB, MiB or GiB. Readable
 * without colour: one series per graph, line styles and labels. */
typedef struct pw_chart_t {
    const char *title;  /* also the svg's <title> */
    const char *xlabel; /* e.g. "requests" */
    const char *ylabel; /* quantity; the unit is appended, e.g. "pool" */
    const double *x, *y;
    unsigned int n;
    int fit;
    double slope, intercept;
    const char *fit_unit; /* e.g. "B/request" */
} pw_chart_t;

void pw_svg_chart(pw_out_t *out, const pw_chart_t *c);

/* The Theil-Sen companion of a slope: median of y - slope * x (0 when
 * n is 0). Exposed for tests. */
double pw_fit_intercept(const double *x, const double *y, unsigned int n,
                        double slope);

#endif /* PW_HTML_H */
