/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_render: libFuzzer target for the page, ?auto and /server-status
 * renderers (pw_html, pw_auto) and, since they share the aggregate, the
 * JSON one.
 *
 * The bytes become a snapshot: a header byte picks the options and the
 * number of children, the rest is copied over the children's slot copies
 * (slot, pool records and key records, as raw bytes), which is what a
 * torn or hostile copy of shared memory could hold: strings without NUL,
 * counts out of range, NaN and infinities. Every output must be bounded
 * and the HTML must never carry a raw '<' from the data: checked by
 * looking for the one tag text a key could smuggle ("<x").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "pw_auto.h"
#include "pw_html.h"

#define MP      8
#define MK      4
#define MAXKIDS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink_t {
    apr_size_t len;
    int bad; /* saw "<x": a tag from the data */
    char last;
} sink_t;

static void sink(void *baton, const char *d, apr_size_t n)
{
    sink_t *s = baton;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (s->last == '<' && d[i] == 'x') {
            s->bad = 1;
        }
        s->last = d[i];
    }
    s->len += n;
}

static apr_pool_t *root;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_size_t slot_size = sizeof(pw_slot_t) + MP * sizeof(pw_poolrec_t) +
                           MK * sizeof(pw_keyrec_t);
    const pw_slot_t *kids[MAXKIDS];
    apr_uint32_t slot_of[MAXKIDS];
    pw_snapshot_t snap;
    pw_html_opts_t o;
    apr_pool_t *p;
    apr_uint32_t i, n;
    sink_t s;
    pw_out_t out = {sink, &s};

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (size < 2) {
        return 0;
    }
    apr_pool_create(&p, root);
    n = 1 + data[0] % MAXKIDS;
    memset(&o, 0, sizeof(o));
    o.notable = data[1] & 1;
    o.refresh = (data[1] >> 1) & 7;
    o.self = "/poolwatch";
    data += 2;
    size -= 2;
    for (i = 0; i < n; i++) {
        char *c = apr_pcalloc(p, slot_size);
        apr_size_t take = size < slot_size ? size : slot_size;

        memcpy(c, data, take);
        data += take;
        size -= take;
        kids[i] = (const pw_slot_t *)(void *)c;
        slot_of[i] = i;
        if (i == 0) {
            o.pid = ((const pw_slot_t *)(void *)c)->owner;
        }
    }
    memset(&snap, 0, sizeof(snap));
    snap.server.version = "Apache/2.4";
    snap.server.mpm = "event";
    snap.server.walk_reason = "fuzz";
    snap.server.key_by = "path";
    snap.server.max_pools = MP;
    snap.server.max_keys = MK;
    snap.server.now = apr_time_from_sec(100);
    snap.children = kids;
    snap.slot_of = slot_of;
    snap.nchildren = n;
    snap.pool = p;

    memset(&s, 0, sizeof(s));
    pw_html_render(&out, &snap, &o);
    if (s.bad) {
        abort();
    }
    memset(&s, 0, sizeof(s));
    pw_html_status(&out, &snap, o.notable);
    if (s.bad) {
        abort();
    }
    memset(&s, 0, sizeof(s));
    pw_auto_render(&out, &snap, 0);
    pw_auto_render(&out, &snap, 1);
    pw_json_render(&out, &snap);
    apr_pool_destroy(p);
    return 0;
}
