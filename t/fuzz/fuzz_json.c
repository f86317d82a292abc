/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_json: the JSON and Prometheus renderers (src/pw_json.c,
 * src/pw_prom.c) over snapshots made of fuzz bytes.
 *
 * The module renders copies of shared memory that other processes write,
 * and a copy may be torn: so every byte of each slot (counts, indexes,
 * strings without NUL, doubles that are NaN or huge, key records, pool
 * records, history) comes from the input, as do the server strings.
 * Invariants: the JSON is valid UTF-8 and parses (a strict RFC 8259
 * recognizer below: no raw control bytes, only JSON escapes, numbers in
 * JSON's grammar); every Prometheus line is a HELP, a TYPE or a sample
 * "name{label="value",...} number" with only the format's escapes, valid
 * UTF-8, and the text ends with a newline.
 */
#include <math.h>

#include <apr_strings.h>

#include "fuzz_common.h"
#include "pw_json.h"
#include "pw_prom.h"

#define MAX_CHILDREN 3

/* -- a strict JSON recognizer ---------------------------------------------- */

typedef struct jcur_t {
    const char *p, *e;
    int depth;
} jcur_t;

static int j_value(jcur_t *c);

static void j_ws(jcur_t *c)
{
    while (c->p < c->e &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) {
        c->p++;
    }
}

static int j_lit(jcur_t *c, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(c->e - c->p) < n || memcmp(c->p, w, n)) {
        return 0;
    }
    c->p += n;
    return 1;
}

static int j_string(jcur_t *c)
{
    if (c->p >= c->e || *c->p != '"') {
        return 0;
    }
    c->p++;
    while (c->p < c->e) {
        unsigned char ch = (unsigned char)*c->p;

        if (ch == '"') {
            c->p++;
            return 1;
        }
        if (ch < 0x20) {
            return 0; /* raw control byte */
        }
        if (ch == '\\') {
            c->p++;
            if (c->p >= c->e) {
                return 0;
            }
            if (*c->p == 'u') {
                int i;

                for (i = 1; i <= 4; i++) {
                    if (c->p + i >= c->e ||
                        !strchr("0123456789abcdefABCDEF", c->p[i]) ||
                        c->p[i] == '\0') {
                        return 0;
                    }
                }
                c->p += 5;
            } else if (strchr("\"\\/bfnrt", *c->p) && *c->p) {
                c->p++;
            } else {
                return 0;
            }
            continue;
        }
        c->p++;
    }
    return 0;
}

static int j_digits(jcur_t *c)
{
    const char *s = c->p;

    while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > s;
}

static int j_number(jcur_t *c)
{
    if (c->p < c->e && *c->p == '-') {
        c->p++;
    }
    if (c->p < c->e && *c->p == '0') {
        c->p++;
    } else if (!j_digits(c)) {
        return 0;
    }
    if (c->p < c->e && *c->p == '.') {
        c->p++;
        if (!j_digits(c)) {
            return 0;
        }
    }
    if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->e && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!j_digits(c)) {
            return 0;
        }
    }
    return 1;
}

static int j_seq(jcur_t *c, char close, int object)
{
    c->p++;
    j_ws(c);
    if (c->p < c->e && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        j_ws(c);
        if (object) {
            if (!j_string(c)) {
                return 0;
            }
            j_ws(c);
            if (c->p >= c->e || *c->p != ':') {
                return 0;
            }
            c->p++;
        }
        if (!j_value(c)) {
            return 0;
        }
        j_ws(c);
        if (c->p < c->e && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->e && *c->p == close) {
            c->p++;
            return 1;
        }
        return 0;
    }
}

static int j_value(jcur_t *c)
{
    int ok;

    j_ws(c);
    if (c->p >= c->e || ++c->depth > 64) {
        return 0;
    }
    switch (*c->p) {
        case '{':
            ok = j_seq(c, '}', 1);
            break;
        case '[':
            ok = j_seq(c, ']', 0);
            break;
        case '"':
            ok = j_string(c);
            break;
        case 't':
            ok = j_lit(c, "true");
            break;
        case 'f':
            ok = j_lit(c, "false");
            break;
        case 'n':
            ok = j_lit(c, "null");
            break;
        default:
            ok = j_number(c);
    }
    c->depth--;
    return ok;
}

static void check_json(const char *s, size_t n)
{
    jcur_t c = {s, s + n, 0};
    size_t at;

    FUZZ_CHECK(fuzz_utf8_valid(s, n, &at), "JSON not UTF-8 at %zu", at);
    FUZZ_CHECK(j_value(&c), "JSON does not parse at %zu: %.60s",
               (size_t)(c.p - s), c.p);
    j_ws(&c);
    FUZZ_CHECK(c.p == c.e, "JSON has trailing bytes at %zu", (size_t)(c.p - s));
}

/* -- Prometheus lines -------------------------------------------------------- */

static const char *prom_name(const char *p, const char *e)
{
    const char *s = p;

    while (p < e && (((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || *p == '_' ||
                     *p == ':' || (p > s && *p >= '0' && *p <= '9'))) {
        p++;
    }
    return p > s ? p : NULL;
}

static int prom_value(const char *p, const char *e)
{
    char buf[64], *end;
    size_t n = (size_t)(e - p);

    if (n == 0 || n >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN")) {
        return 1;
    }
    strtod(buf, &end);
    return *end == '\0' && !strchr(buf, ' ');
}

static void check_prom_line(const char *p, const char *e)
{
    const char *q;

    if (e - p >= 7 && (!memcmp(p, "# HELP ", 7) || !memcmp(p, "# TYPE ", 7))) {
        q = prom_name(p + 7, e);
        FUZZ_CHECK(q && q < e && *q == ' ', "bad HELP/TYPE: %.*s", (int)(e - p),
                   p);
        return;
    }
    FUZZ_CHECK(p < e && *p != '#', "comment or empty line: %.*s", (int)(e - p),
               p);
    q = prom_name(p, e);
    FUZZ_CHECK(q != NULL, "no metric name: %.*s", (int)(e - p), p);
    if (q < e && *q == '{') {
        q++;
        while (q < e && *q != '}') {
            const char *n = prom_name(q, e);

            FUZZ_CHECK(n && n + 1 < e && n[0] == '=' && n[1] == '"',
                       "bad label at: %.*s", (int)(e - q), q);
            q = n + 2;
            while (q < e && *q != '"') {
                if (*q == '\\') {
                    FUZZ_CHECK(q + 1 < e &&
                                   (q[1] == '\\' || q[1] == '"' || q[1] == 'n'),
                               "bad escape: %.*s", (int)(e - q), q);
                    q++;
                }
                q++;
            }
            FUZZ_CHECK(q < e, "unterminated label value");
            q++;
            if (q < e && *q == ',') {
                q++;
            }
        }
        FUZZ_CHECK(q < e, "unterminated labels");
        q++;
    }
    FUZZ_CHECK(q < e && *q == ' ', "no blank before the value: %.*s",
               (int)(e - p), p);
    FUZZ_CHECK(prom_value(q + 1, e), "bad value: %.*s", (int)(e - p), p);
}

static void check_prom(const char *s, size_t n)
{
    const char *p = s, *e = s + n;
    size_t at;

    FUZZ_CHECK(fuzz_utf8_valid(s, n, &at), "exposition not UTF-8 at %zu", at);
    FUZZ_CHECK(n > 0 && s[n - 1] == '\n', "no final newline");
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));

        check_prom_line(p, nl);
        p = nl + 1;
    }
}

/* -- the snapshot ------------------------------------------------------------ */

/* Fills n bytes at dst with the input, from *off on, cycling. */
static void fill(void *dst, size_t n, const uint8_t *d, size_t size,
                 size_t *off)
{
    size_t i;

    for (i = 0; i < n; i++) {
        ((uint8_t *)dst)[i] = d[(*off)++ % size];
    }
}

static const char *fstr(apr_pool_t *p, const uint8_t *d, size_t size,
                        size_t *off)
{
    size_t n = d[(*off)++ % size] % 48;
    char *s = apr_palloc(p, n + 1);

    fill(s, n, d, size, off);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    pw_snapshot_t snap;
    const pw_slot_t *kids[MAX_CHILDREN];
    apr_uint32_t slot_of[MAX_CHILDREN], i, max_pools, max_keys;
    size_t off = 0, slot_size;
    fuzz_buf_t out = {NULL, 0, 0};
    pw_out_t o = {fuzz_emit, &out};

    if (size < 4) {
        return 0;
    }
    apr_pool_create(&p, fuzz_pool);
    memset(&snap, 0, sizeof(snap));
    max_pools = 1 + data[0] % 8;
    max_keys = 1 + data[1] % 8;
    snap.nchildren = data[2] % (MAX_CHILDREN + 1);
    off = 3;
    slot_size = pw_shm_size(2, max_pools, max_keys) -
                pw_shm_size(1, max_pools, max_keys);
    snap.server.version = fstr(p, data, size, &off);
    snap.server.mpm = fstr(p, data, size, &off);
    snap.server.walk_reason = fstr(p, data, size, &off);
    snap.server.apr_version = fstr(p, data, size, &off);
    snap.server.key_by = fstr(p, data, size, &off);
    fill(&snap.server.generation, sizeof(snap.server.generation), data, size,
         &off);
    fill(&snap.server.walk, sizeof(snap.server.walk), data, size, &off);
    fill(&snap.server.slots, sizeof(snap.server.slots), data, size, &off);
    fill(&snap.server.shm_bytes, sizeof(snap.server.shm_bytes), data, size,
         &off);
    snap.server.threaded = data[off++ % size] & 1;
    snap.server.max_pools = max_pools;
    snap.server.max_keys = max_keys;
    for (i = 0; i < snap.nchildren; i++) {
        pw_slot_t *s = apr_palloc(p, slot_size);
        pw_keyrec_t *k;
        apr_uint32_t j;

        fill(s, slot_size, data, size, &off);
        /* a live state and live keys now and then, or little would render */
        if (data[off++ % size] & 1) {
            s->state = PW_SLOT_RUNNING;
        }
        k = pw_slot_keys(s, max_pools);
        for (j = 0; j < max_keys; j++) {
            if (data[off++ % size] & 1) {
                k[j].hash = 7;
                k[j].ready = 1;
                k[j].key[data[off++ % size] % PW_KEY_MAX] = '\0';
                k[j].verdict = data[off++ % size] % 5;
                k[j].signal = data[off++ % size] % 6;
            }
        }
        kids[i] = s;
        slot_of[i] = i;
    }
    snap.children = kids;
    snap.slot_of = slot_of;
    snap.pool = p;

    pw_json_render(&o, &snap);
    check_json(out.buf, out.len);
    out.len = 0;
    pw_prom_render(&o, &snap);
    check_prom(out.buf, out.len);

    free(out.buf);
    apr_pool_destroy(p);
    return 0;
}
