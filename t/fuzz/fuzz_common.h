/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_common: what the libFuzzer targets of t/fuzz share: APR set up
 * once, a growing output buffer for the renderers, a UTF-8 check, and
 * FUZZ_CHECK, which aborts (a crash libFuzzer keeps as a reproducer) when
 * an invariant fails. Built only by build/fuzz-core, with clang
 * -fsanitize=fuzzer,address,undefined.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant failed: %s: ", #cond);                  \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

static apr_pool_t *fuzz_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&fuzz_pool, NULL);
    return 0;
}

/* A NUL-terminated heap copy of exactly n bytes (+ NUL): ASan sees any
 * read past it. */
static inline char *fuzz_cstr(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);

    memcpy(s, d, n);
    s[n] = '\0';
    return s;
}

typedef struct fuzz_buf_t {
    char *buf;
    size_t len, cap;
} fuzz_buf_t;

static inline void fuzz_emit(void *baton, const char *data, apr_size_t len)
{
    fuzz_buf_t *b = baton;

    FUZZ_CHECK(data != NULL || len == 0, "NULL emit");
    if (b->len + len + 1 > b->cap) {
        b->cap = 2 * (b->len + len + 1);
        b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0. */
static inline size_t fuzz_utf8_len(const unsigned char *s, size_t n)
{
    size_t k, i;
    uint32_t cp;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        k = 2, cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        k = 3, cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        k = 4, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (k > n) {
        return 0;
    }
    for (i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        return 0;
    }
    return k;
}

/* Whether s[0..n) is valid UTF-8; *at is the offset of the first bad byte. */
static inline int fuzz_utf8_valid(const char *s, size_t n, size_t *at)
{
    size_t i = 0, k;

    while (i < n) {
        k = fuzz_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            *at = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

#endif /* FUZZ_COMMON_H */
