/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog: the pool-debug line parser (plog.h has the formats).
 *
 * A cursor walks the line once; numbers are read digit by digit, the tag
 * and the call site are found with memchr. No sscanf: it would re-scan the
 * format per line and cost more than everything else the tool does. Every
 * step checks the end of the buffer, so a torn line fails cleanly where it
 * was cut instead of running into the next one.
 */
#include <string.h>

#include "plog.h"

typedef struct cur_t {
    const char *p, *e;
} cur_t;

static int skip_blanks(cur_t *c)
{
    while (c->p < c->e && *c->p == ' ') {
        c->p++;
    }
    return c->p < c->e;
}

static int expect(cur_t *c, char ch)
{
    if (c->p < c->e && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* Decimal, at least one digit; at most 19 so it cannot overflow. */
static int decimal(cur_t *c, apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    const char *start = c->p;

    while (c->p < c->e && (unsigned char)(*c->p - '0') < 10 &&
           c->p - start < 19) {
        v = v * 10 + (apr_uint64_t)(*c->p - '0');
        c->p++;
    }
    *out = v;
    return c->p > start;
}

/* "0x" then hex digits of either case (1.2 printed %08X). */
static int address(cur_t *c, apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    const char *start;

    if (c->e - c->p < 3 || c->p[0] != '0' ||
        (c->p[1] != 'x' && c->p[1] != 'X')) {
        return 0;
    }
    c->p += 2;
    start = c->p;
    while (c->p < c->e && c->p - start < 16) {
        unsigned int ch = (unsigned char)*c->p, d;

        if (ch - '0' < 10u) {
            d = ch - '0';
        } else if ((ch | 0x20u) - 'a' < 6u) {
            d = (ch | 0x20u) - 'a' + 10;
        } else {
            break;
        }
        v = (v << 4) | d;
        c->p++;
    }
    *out = v;
    return c->p > start;
}

static int event_name(const char *w, apr_size_t n, plog_ev_e *ev)
{
    static const struct {
        const char *name;
        apr_size_t len;
        plog_ev_e ev;
    } names[] = {
        {"PALLOC", 6, PLOG_EV_PALLOC},   {"PCALLOC", 7, PLOG_EV_PCALLOC},
        {"CREATE", 6, PLOG_EV_CREATE},   {"CREATEU", 7, PLOG_EV_CREATEU},
        {"CLEAR", 5, PLOG_EV_CLEAR},     {"CLEARED", 7, PLOG_EV_CLEARED},
        {"DESTROY", 7, PLOG_EV_DESTROY}, {"GLOBAL", 6, PLOG_EV_GLOBAL},
        {"LIFE", 4, PLOG_EV_LIFE},       {"THREAD", 6, PLOG_EV_THREAD},
    };
    apr_size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].len == n && !memcmp(names[i].name, w, n)) {
            *ev = names[i].ev;
            return 1;
        }
    }
    return 0;
}

const char *plog_ev_name(plog_ev_e ev)
{
    static const char *const names[PLOG_EV_COUNT] = {
        "PALLOC",  "PCALLOC", "CREATE", "CREATEU", "CLEAR",
        "CLEARED", "DESTROY", "GLOBAL", "LIFE",    "THREAD"};

    return ev < PLOG_EV_COUNT ? names[ev] : "?";
}

const char *plog_find_prefix(const char *p, apr_size_t len)
{
    const char *e = p + len;

    while (p < e) {
        const char *q = memchr(p, 'P', (apr_size_t)(e - p));

        if (q == NULL || (apr_size_t)(e - q) < PLOG_PREFIX_LEN) {
            return NULL;
        }
        if (!memcmp(q, PLOG_PREFIX, PLOG_PREFIX_LEN)) {
            return q;
        }
        p = q + 1;
    }
    return NULL;
}

/* "<site>": the site ends at the first '>' followed by a blank or the end
 * (a site never holds "> "; a function name may hold '>' only in C++). */
static int site(cur_t *c, plog_event_t *ev)
{
    const char *q;

    if (!expect(c, '<')) {
        return 0;
    }
    q = c->p;
    for (;;) {
        q = memchr(q, '>', (apr_size_t)(c->e - q));
        if (q == NULL) {
            return 0;
        }
        if (q + 1 == c->e || q[1] == ' ') {
            break;
        }
        q++;
    }
    ev->site = c->p;
    ev->site_len = (apr_size_t)(q - c->p);
    c->p = q + 1;
    return 1;
}

plog_kind_e plog_parse(const char *line, apr_size_t len, plog_event_t *ev,
                       const char **end)
{
    cur_t c;
    const char *w;
    apr_uint64_t v;

    c.p = line;
    c.e = line + len;
    *end = line;
    if (len < PLOG_PREFIX_LEN || memcmp(line, PLOG_PREFIX, PLOG_PREFIX_LEN)) {
        return PLOG_BAD;
    }
    c.p += PLOG_PREFIX_LEN;
    memset(ev, 0, sizeof(*ev));
    if (!expect(&c, '[')) {
        goto bad;
    }
    if (c.e - c.p >= 3 && !memcmp(c.p, "PID", 3)) {
        /* the header: nothing in it to keep, but it must be whole */
        w = memchr(c.p, ')', (apr_size_t)(c.e - c.p));
        if (w == NULL || plog_find_prefix(c.p, (apr_size_t)(c.e - c.p))) {
            goto bad;
        }
        *end = c.e;
        return PLOG_HEADER;
    }
    if (!decimal(&c, &ev->pid)) {
        goto bad;
    }
    if (expect(&c, '/')) {
        if (!decimal(&c, &ev->tid)) {
            goto bad;
        }
        ev->has_tid = 1;
    }
    if (!expect(&c, ']') || !skip_blanks(&c)) {
        goto bad;
    }
    w = c.p;
    while (c.p < c.e && *c.p >= 'A' && *c.p <= 'Z') {
        c.p++;
    }
    if (!event_name(w, (apr_size_t)(c.p - w), &ev->ev) || !skip_blanks(&c)) {
        goto bad;
    }
    if (*c.p != '(') {
        /* short form: address and site */
        if (!address(&c, &ev->pool) || !expect(&c, ' ') || !site(&c, ev)) {
            goto bad;
        }
        goto done;
    }
    c.p++;
    ev->has_sizes = 1;
    if (!skip_blanks(&c) || !decimal(&c, &ev->size) || !expect(&c, '/') ||
        !skip_blanks(&c) || !decimal(&c, &ev->size_tree) || !expect(&c, '/') ||
        !skip_blanks(&c) || !decimal(&c, &ev->size_total) || !expect(&c, ')') ||
        !expect(&c, ' ') || !address(&c, &ev->pool) || !expect(&c, ' ') ||
        !expect(&c, '"')) {
        goto bad;
    }
    /* the tag ends at the first '"' followed by " <": a tag may hold
     * quotes (APR does not escape them), only one holding '" <' is cut */
    w = c.p;
    for (;;) {
        const char *q = memchr(w, '"', (apr_size_t)(c.e - w));

        if (q == NULL) {
            goto bad;
        }
        if (c.e - q >= 3 && q[1] == ' ' && q[2] == '<') {
            ev->tag = c.p;
            ev->tag_len = (apr_size_t)(q - c.p);
            c.p = q + 2;
            break;
        }
        w = q + 1;
    }
    if (!site(&c, ev) || !expect(&c, ' ')) {
        goto bad;
    }
    if (c.p < c.e && *c.p == '0') {
        if (!address(&c, &ev->parent) || !expect(&c, ' ')) {
            goto bad;
        }
        ev->has_parent = 1;
    }
    if (!expect(&c, '(') || !decimal(&c, &v) || !expect(&c, '/')) {
        goto bad;
    }
    ev->allocs = (apr_uint32_t)v;
    if (!decimal(&c, &v) || !expect(&c, '/')) {
        goto bad;
    }
    ev->total_allocs = (apr_uint32_t)v;
    if (!decimal(&c, &v) || !expect(&c, ')')) {
        goto bad;
    }
    ev->clears = (apr_uint32_t)v;
done:
    while (c.p < c.e && (*c.p == ' ' || *c.p == '\r')) {
        c.p++;
    }
    *end = c.p;
    return PLOG_RECORD;
bad:
    *end = c.p;
    return PLOG_BAD;
}
