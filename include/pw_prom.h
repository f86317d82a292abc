/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_prom: renders a snapshot in the Prometheus text exposition format
 * 0.0.4, for GET /poolwatch?format=prometheus.
 *
 * Like pw_json, it reads only the snapshot (slot copies), writes through a
 * pw_out_t and allocates only from snap->pool, so it needs no httpd header
 * and is unit-tested in a plain program. The metric names and their label
 * bounds are listed in the README ("Prometheus").
 *
 * The trap is cardinality: keys come from clients, so only flagged keys
 * (suspect or leak) get series of their own, at most PW_PROM_MAX_KEYS of
 * them, worst first; the rest are counted (poolwatch_keys by verdict,
 * poolwatch_keys_flagged_dropped). Per-child series are bounded by the
 * slot count, per-pool series by the flagged keys that name a pool.
 */
#ifndef PW_PROM_H
#define PW_PROM_H

#include "pw_json.h"

/* Flagged keys exported with their own series, per scrape. */
#define PW_PROM_MAX_KEYS 20

#define PW_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void pw_prom_render(pw_out_t *out, const pw_snapshot_t *snap);

/* Escapes s as a label value (backslash, double quote and line feed;
 * invalid UTF-8 becomes U+FFFD) into a string from p, quotes excluded. */
const char *pw_prom_label(apr_pool_t *p, const char *s);

#endif /* PW_PROM_H */
