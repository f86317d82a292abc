/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_keys: request keys (pw_key_make) and the key table (pw_key_get,
 * pw_key_victim, pw_key_evict) with hostile parts.
 *
 * Input: a flag byte (which parts are NULL), then method, host, path,
 * query and alt separated by NUL bytes; the rest of the input drives a
 * few more keys into a small table. Invariants: the key is
 * NUL-terminated inside its PW_KEY_MAX buffer (a heap block of exactly
 * that size: ASan sees one byte more), at most PW_KEY_MAX - 1 bytes, has
 * no control byte, and its hash is pw_key_hash() of its text and > 1; the
 * table finds what it stored and never holds a key twice.
 */
#include "fuzz_common.h"
#include "pw_detect.h"
#include "pw_keys.h"

#define NKEYS 8

static void check_key(const char *buf, apr_uint32_t hash)
{
    size_t n = strnlen(buf, PW_KEY_MAX), i;

    FUZZ_CHECK(n <= PW_KEY_MAX - 1, "no NUL in the key buffer");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];

        FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte %#x at %zu", c, i);
    }
    FUZZ_CHECK(hash > 1, "hash %u", hash);
    FUZZ_CHECK(hash == pw_key_hash(buf, n), "hash is not of the text");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *part[5] = {NULL, NULL, NULL, NULL, NULL};
    char *copy, *p, *end, *buf;
    pw_keyrec_t *table;
    apr_uint32_t hash;
    unsigned int flags, i;

    if (size < 1) {
        return 0;
    }
    flags = data[0];
    copy = fuzz_cstr(data + 1, size - 1);
    p = copy;
    end = copy + size - 1;
    for (i = 0; i < 5; i++) {
        if (!(flags & (1u << i))) {
            part[i] = p; /* NULL unless the flag bit is set */
        }
        p += strlen(p);
        if (p < end) {
            p++;
        }
    }
    buf = malloc(PW_KEY_MAX);
    memset(buf, 'Z', PW_KEY_MAX);
    hash = pw_key_make(buf, part[0], part[1], part[2], part[3],
                       (flags & 0x20) ? part[4] : NULL);
    check_key(buf, hash);

    /* the table: this key and keys made from slices of the input */
    table = calloc(NKEYS, sizeof(*table));
    FUZZ_CHECK(pw_key_get(table, NKEYS, buf, hash) != NULL, "empty table");
    for (i = 0; i + 1 < size && i < 64; i++) {
        char k[PW_KEY_MAX];
        char path[8];
        pw_keyrec_t *r;
        apr_uint32_t h, j, seen = 0;

        memcpy(path, data + 1 + i, size - 1 - i < 7 ? size - 1 - i : 7);
        path[size - 1 - i < 7 ? size - 1 - i : 7] = '\0';
        h = pw_key_make(k, "GET", "h", path, NULL, NULL);
        check_key(k, h);
        r = pw_key_get(table, NKEYS, k, h);
        if (r == NULL) {
            int v = pw_key_victim(table, NKEYS);

            FUZZ_CHECK(v >= 0 && v < NKEYS, "full table and no victim");
            pw_key_evict(&table[v]);
            r = pw_key_get(table, NKEYS, k, h);
            FUZZ_CHECK(r != NULL, "no room after an eviction");
        }
        FUZZ_CHECK(!strcmp(r->key, k) && r->hash == h, "wrong entry");
        r->last_used = i + 1;
        for (j = 0; j < NKEYS; j++) {
            if (table[j].hash > 1 && table[j].ready &&
                !strcmp(table[j].key, k)) {
                seen++;
            }
        }
        FUZZ_CHECK(seen == 1, "key %s held %u times", k, seen);
        FUZZ_CHECK(pw_key_get(table, NKEYS, k, h) == r, "not found again");
    }
    free(table);
    free(buf);
    free(copy);
    return 0;
}
