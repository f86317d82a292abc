/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_svg: a static SVG (no script, no external style) of one process,
 * in the spirit of the graphs in "APR Memory Pools Rock": bytes in use
 * against the log's progress.
 *
 * Readable without colour: each pool has its own dash pattern and is named
 * by a label at its line's end and in the legend, and events are shapes
 * (a circle for a create, a triangle for a clear, a cross for a destroy),
 * not hues. Two panels, because the process total is orders of magnitude
 * above any one pool and would flatten it. The judged window is shaded
 * and its ends are dashed lines: what is outside it was not judged.
 */
#include <string.h>

#include "plog_svg.h"

#define W      900.0
#define PANEL  220.0
#define LEFT   90.0
#define RIGHT  190.0
#define TOP1   50.0
#define TOP2   (TOP1 + PANEL + 60.0)
#define HEIGHT (TOP2 + PANEL + 70.0)

static const char *const dashes[] = {"",         "8 4", "2 3", "10 3 2 3",
                                     "14 4 4 4", "4 4", "1 6", "12 2"};

typedef struct frame_t {
    double x0, x1, y0, y1; /* data */
    double top;            /* panel's top in pixels */
} frame_t;

static double px(const frame_t *f, double x)
{
    double span = f->x1 > f->x0 ? f->x1 - f->x0 : 1.0;

    return LEFT + (x - f->x0) / span * (W - LEFT - RIGHT);
}

static double py(const frame_t *f, double y)
{
    double span = f->y1 > f->y0 ? f->y1 - f->y0 : 1.0;

    return f->top + PANEL - (y - f->y0) / span * PANEL;
}

/* Escapes a tag for SVG text. */
static void text(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
            case '<':
                fputs("&lt;", out);
                break;
            case '>':
                fputs("&gt;", out);
                break;
            case '&':
                fputs("&amp;", out);
                break;
            case '"':
                fputs("&quot;", out);
                break;
            default:
                if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) {
                    fputc(*s, out);
                } else {
                    fputc('?', out);
                }
        }
    }
}

static void human(char *buf, apr_size_t n, double v)
{
    const char *unit = "B";
    double a = v < 0 ? -v : v;

    if (a >= 1048576.0 * 10) {
        v /= 1048576.0;
        unit = "MiB";
    } else if (a >= 1024.0 * 10) {
        v /= 1024.0;
        unit = "KiB";
    }
    snprintf(buf, n, "%.*f %s", (v == (apr_int64_t)v) ? 0 : 1, v, unit);
}

static void axes(FILE *out, const frame_t *f, const char *title,
                 const char *xunit)
{
    int i;
    char b[64];

    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#000\"/>\n",
            LEFT, f->top, W - LEFT - RIGHT, PANEL);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", LEFT,
            f->top - 8);
    text(out, title);
    fputs("</text>\n", out);
    for (i = 0; i <= 4; i++) {
        double y = f->y0 + (f->y1 - f->y0) * i / 4.0;
        double x = f->x0 + (f->x1 - f->x0) * i / 4.0;

        human(b, sizeof(b), y);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#bbb\" stroke-width=\"0.5\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                LEFT, py(f, y), W - RIGHT, py(f, y), LEFT - 4, py(f, y) + 4, b);
        fprintf(out,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f"
                "</text>\n",
                px(f, x), f->top + PANEL + 15, x);
    }
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
            LEFT + (W - LEFT - RIGHT) / 2, f->top + PANEL + 32, xunit);
}

static void window(FILE *out, const frame_t *f, double a, double b)
{
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"#000\" fill-opacity=\"0.06\"/>\n"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#000\" stroke-dasharray=\"3 3\"/>\n"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#000\" stroke-dasharray=\"3 3\"/>\n",
            px(f, a), f->top, px(f, b) - px(f, a), PANEL, px(f, a), f->top,
            px(f, a), f->top + PANEL, px(f, b), f->top, px(f, b),
            f->top + PANEL);
}

/* A series as a step line, with its event marks; a pool still alive at
 * the end keeps its level to the end (extend: that x, or < 0). */
static void line(FILE *out, const frame_t *f, const plog_series_t *s,
                 const char *dash, double width, double extend)
{
    apr_uint32_t i;

    fprintf(out,
            "<polyline fill=\"none\" stroke=\"#000\" stroke-width=\"%.1f\"%s%s"
            "%s points=\"",
            width, *dash ? " stroke-dasharray=\"" : "", dash,
            *dash ? "\"" : "");
    for (i = 0; i < s->n; i++) {
        double x = px(f, (double)s->x[i]), y = py(f, (double)s->y[i]);

        if (i > 0) {
            fprintf(out, "%.1f,%.1f ", x, py(f, (double)s->y[i - 1]));
        }
        fprintf(out, "%.1f,%.1f ", x, y);
    }
    if (s->n && extend > (double)s->x[s->n - 1]) {
        fprintf(out, "%.1f,%.1f", px(f, extend), py(f, (double)s->y[s->n - 1]));
    }
    fputs("\"/>\n", out);
    for (i = 0; i < s->n; i++) {
        double x = px(f, (double)s->x[i]), y = py(f, (double)s->y[i]);

        if (s->mark[i] & PLOG_MARK_DESTROY) {
            fprintf(out,
                    "<path d=\"M%.1f %.1fl6 6m0 -6l-6 6\" stroke=\"#000\"/>\n",
                    x - 3, y - 3);
        } else if (s->mark[i] & PLOG_MARK_CLEAR) {
            fprintf(out,
                    "<path d=\"M%.1f %.1fl4 7h-8z\" fill=\"none\" "
                    "stroke=\"#000\"/>\n",
                    x, y - 4);
        } else if (s->mark[i] & PLOG_MARK_CREATE) {
            fprintf(out,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"none\" "
                    "stroke=\"#000\"/>\n",
                    x, y);
        }
    }
}

static void range(const plog_series_t *s, double *lo, double *hi)
{
    apr_uint32_t i;

    for (i = 0; i < s->n; i++) {
        if ((double)s->y[i] < *lo) {
            *lo = (double)s->y[i];
        }
        if ((double)s->y[i] > *hi) {
            *hi = (double)s->y[i];
        }
    }
}

void plog_svg_write(FILE *out, const plog_model_t *m, const plog_proc_t *pr,
                    const plog_pool_t *const *top, unsigned int ntop)
{
    frame_t f1, f2;
    double a, b, lo, hi;
    unsigned int i;
    char title[160];
    const char *xunit = m->o.per_tag ? m->o.per_tag : "events";
    char xlabel[96];

    plog_proc_window(m, pr, &a, &b);
    snprintf(xlabel, sizeof(xlabel), "%s of process %" APR_UINT64_T_FMT,
             m->o.per_tag ? "pools tagged" : "events", pr->pid);
    if (m->o.per_tag) {
        snprintf(xlabel, sizeof(xlabel),
                 "pools tagged \"%.40s\" created in process %" APR_UINT64_T_FMT,
                 xunit, pr->pid);
    }
    fprintf(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
        "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
        "font-size=\"11\">\n"
        "<title>APR pools of process %" APR_UINT64_T_FMT "</title>\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
        "<text x=\"%.1f\" y=\"22\" font-size=\"14\" font-weight=\"bold\">"
        "APR pool bytes in use, process %" APR_UINT64_T_FMT
        " (shaded: judged window)</text>\n",
        W, HEIGHT, W, HEIGHT, pr->pid, LEFT, pr->pid);

    f1.x0 = f2.x0 = 0;
    f1.x1 = f2.x1 = (double)(m->o.per_tag ? pr->units : pr->events);
    lo = 1e300;
    hi = -1e300;
    range(&pr->total, &lo, &hi);
    f1.y0 = lo < hi ? lo : 0;
    f1.y1 = lo < hi ? hi : lo + 1;
    f1.top = TOP1;
    snprintf(title, sizeof(title), "process total (all pools)");
    axes(out, &f1, title, xlabel);
    window(out, &f1, a, b);
    line(out, &f1, &pr->total, "", 1.5, f1.x1);

    lo = 0;
    hi = 1;
    for (i = 0; i < ntop; i++) {
        range(&top[i]->s, &lo, &hi);
    }
    f2.y0 = lo;
    f2.y1 = hi;
    f2.top = TOP2;
    axes(out, &f2, ntop ? "pools that grew most in the window" : "no pool grew",
         xlabel);
    window(out, &f2, a, b);
    for (i = 0; i < ntop; i++) {
        const plog_series_t *s = &top[i]->s;
        const char *dash = dashes[i % (sizeof(dashes) / sizeof(dashes[0]))];
        double ly = TOP2 + 14 * i + 4;

        line(out, &f2, s, dash, 1.2, top[i]->dead ? -1.0 : f2.x1);
        /* legend: a sample of the pattern and the name */
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#000\" stroke-width=\"1.2\"%s%s%s/>\n"
                "<text x=\"%.1f\" y=\"%.1f\">%u. ",
                W - RIGHT + 30, ly, W - RIGHT + 60, ly,
                *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "",
                W - RIGHT + 64, ly + 4, i + 1);
        text(out, top[i]->tag);
        fputs("</text>\n", out);
        if (s->n) {
            /* the number at the line's end, stacked when ends meet */
            fprintf(
                out, "<text x=\"%.1f\" y=\"%.1f\">%u</text>\n",
                (top[i]->dead ? px(&f2, (double)s->x[s->n - 1]) : W - RIGHT) +
                    3 + 9 * (i % 2),
                py(&f2, (double)s->y[s->n - 1]) - 3, i + 1);
        }
    }
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\">marks: circle = create, triangle = "
            "clear, cross = destroy; lines are numbered as in the legend"
            "</text>\n</svg>\n",
            LEFT, HEIGHT - 12);
}
