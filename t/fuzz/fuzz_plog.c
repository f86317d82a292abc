/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_plog: the APR pool-debug log line parser (tools/plog.c), the way
 * poolwatch-log drives it: parse a record, look for the next
 * "POOL DEBUG: " in what is left, again, until the line is used up.
 *
 * The line is a heap copy of exactly the input (no NUL): ASan sees any
 * read past its end. Invariants: the end pointer moves forward inside the
 * line (so the loop ends); a record's tag and site lie inside the line;
 * the event is a known one; a found prefix is a prefix.
 */
#include "fuzz_common.h"
#include "plog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size ? size : 1);
    const char *p, *e, *end;
    unsigned int rounds = 0;

    memcpy(line, data, size);
    p = line;
    e = line + size;
    while (p < e) {
        plog_event_t ev;
        plog_kind_e kind;

        FUZZ_CHECK(++rounds <= size + 1, "no progress");
        kind = plog_parse(p, (apr_size_t)(e - p), &ev, &end);
        FUZZ_CHECK(end >= p && end <= e, "end outside the line");
        if (kind == PLOG_RECORD) {
            FUZZ_CHECK(ev.ev < PLOG_EV_COUNT, "event %d", (int)ev.ev);
            FUZZ_CHECK(strcmp(plog_ev_name(ev.ev), "?") != 0, "no name");
            FUZZ_CHECK(end > p, "a record of no bytes");
            if (ev.tag) {
                FUZZ_CHECK(ev.tag >= p && ev.tag + ev.tag_len <= end,
                           "tag outside the record");
            }
            if (ev.site) {
                FUZZ_CHECK(ev.site >= p && ev.site + ev.site_len <= end,
                           "site outside the record");
            }
            FUZZ_CHECK(ev.has_sizes || ev.tag == NULL, "tag without sizes");
        } else {
            FUZZ_CHECK(kind == PLOG_BAD || kind == PLOG_HEADER, "kind %d",
                       (int)kind);
        }
        /* on to the next record in what is left, as the tool does */
        {
            const char *from = end > p ? end : p + 1;
            const char *q = plog_find_prefix(from, (apr_size_t)(e - from));

            if (q == NULL) {
                break;
            }
            FUZZ_CHECK(q >= from && q + PLOG_PREFIX_LEN <= e &&
                           !memcmp(q, PLOG_PREFIX, PLOG_PREFIX_LEN),
                       "bad prefix");
            p = q;
        }
    }
    free(line);
    return 0;
}
