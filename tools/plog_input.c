/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_input: block reads, optional xz decoding (liblzma), memchr line
 * splitting. Lines are handed out of the block buffer where they lie; only
 * a line cut by the end of a block is copied (into a carry buffer of
 * PLOG_LINE_MAX), so the common case copies nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>

#include "plog_input.h"

#define BLOCK (1024 * 1024)

typedef struct splitter_t {
    plog_line_fn *fn;
    void *baton;
    char *carry;
    apr_size_t clen;
    int overlong; /* dropping the rest of a line past PLOG_LINE_MAX */
} splitter_t;

static void carry_add(splitter_t *sp, const char *p, apr_size_t n)
{
    if (sp->overlong) {
        return;
    }
    if (sp->clen + n > PLOG_LINE_MAX) {
        n = PLOG_LINE_MAX - sp->clen;
        sp->overlong = 1;
    }
    memcpy(sp->carry + sp->clen, p, n);
    sp->clen += n;
}

static void split(splitter_t *sp, const char *p, apr_size_t n)
{
    const char *e = p + n;

    while (p < e) {
        const char *nl = memchr(p, '\n', (apr_size_t)(e - p));

        if (nl == NULL) {
            carry_add(sp, p, (apr_size_t)(e - p));
            return;
        }
        if (sp->clen || sp->overlong) {
            carry_add(sp, p, (apr_size_t)(nl - p));
            sp->fn(sp->baton, sp->carry, sp->clen);
            sp->clen = 0;
            sp->overlong = 0;
        } else {
            sp->fn(sp->baton, p, (apr_size_t)(nl - p));
        }
        p = nl + 1;
    }
}

static int read_xz(FILE *f, splitter_t *sp, char *in, apr_size_t have,
                   char *out, char *err, apr_size_t errlen)
{
    lzma_stream z = LZMA_STREAM_INIT;
    lzma_ret ret;
    int eof = feof(f) ? 1 : 0; /* the first block was all there was */

    /* concatenated streams too, as xz -d does */
    ret = lzma_stream_decoder(&z, UINT64_MAX, LZMA_CONCATENATED);
    if (ret != LZMA_OK) {
        snprintf(err, errlen, "cannot start the xz decoder (%d)", (int)ret);
        return -1;
    }
    z.next_in = (const uint8_t *)in;
    z.avail_in = have;
    for (;;) {
        if (z.avail_in == 0 && !eof) {
            z.next_in = (const uint8_t *)in;
            z.avail_in = fread(in, 1, BLOCK, f);
            if (z.avail_in < BLOCK) {
                if (ferror(f)) {
                    snprintf(err, errlen, "read error: %s", strerror(errno));
                    lzma_end(&z);
                    return -1;
                }
                eof = 1;
            }
        }
        z.next_out = (uint8_t *)out;
        z.avail_out = BLOCK;
        ret = lzma_code(&z, eof ? LZMA_FINISH : LZMA_RUN);
        split(sp, out, BLOCK - z.avail_out);
        if (ret == LZMA_STREAM_END) {
            break;
        }
        if (ret != LZMA_OK) {
            snprintf(err, errlen, "xz data is damaged or truncated (%d)",
                     (int)ret);
            lzma_end(&z);
            return -1;
        }
    }
    lzma_end(&z);
    return 0;
}

int plog_read(FILE *f, plog_line_fn *fn, void *baton, char *err,
              apr_size_t errlen)
{
    static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
    splitter_t sp;
    char *in = malloc(BLOCK), *out = NULL;
    apr_size_t n;
    int rv = 0;

    memset(&sp, 0, sizeof(sp));
    sp.fn = fn;
    sp.baton = baton;
    sp.carry = malloc(PLOG_LINE_MAX);
    if (in == NULL || sp.carry == NULL) {
        snprintf(err, errlen, "out of memory");
        rv = -1;
        goto done;
    }
    n = fread(in, 1, BLOCK, f);
    if (n >= sizeof(xz_magic) && !memcmp(in, xz_magic, sizeof(xz_magic))) {
        out = malloc(BLOCK);
        if (out == NULL) {
            snprintf(err, errlen, "out of memory");
            rv = -1;
            goto done;
        }
        rv = read_xz(f, &sp, in, n, out, err, errlen);
    } else {
        while (n > 0) {
            split(&sp, in, n);
            n = fread(in, 1, BLOCK, f);
        }
        if (ferror(f)) {
            snprintf(err, errlen, "read error: %s", strerror(errno));
            rv = -1;
        }
    }
    if (rv == 0 && (sp.clen || sp.overlong)) {
        fn(baton, sp.carry, sp.clen); /* a last line without newline */
    }
done:
    free(in);
    free(out);
    free(sp.carry);
    return rv;
}
