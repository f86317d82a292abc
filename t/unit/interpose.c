/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * interpose: makes pw_pool_validate() meet a pool layout it must refuse.
 *
 * The test binary defines apr_pool_create_ex() and apr_pool_destroy(); the
 * linker binds pw_pool.c's calls to these, and they forward to libapr's
 * (dlsym RTLD_NEXT). Disarmed they change nothing. Armed, the next pool
 * created with an abort function - pw_pool_validate()'s probe, the only
 * such pool in the tests - gets some of its mirror fields overwritten right
 * after APR built it, as a foreign (e.g. pool-debug) layout would present
 * them, or apr_pool_allocator_get() lies about it. The real values are put
 * back before APR destroys the pool, so APR itself never sees the
 * corruption.
 *
 * The trap: the corrupted pointers lead to a PROT_NONE page, so a
 * validator that dereferenced before comparing values would SIGSEGV here
 * (reported by check as an error) instead of passing by luck.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>

#include <apr_pools.h>
#include <apr_allocator.h>

#include "pw_unit.h"

typedef apr_status_t create_fn(apr_pool_t **, apr_pool_t *, apr_abortfunc_t,
                               apr_allocator_t *);
typedef void destroy_fn(apr_pool_t *);

static pw_unit_corruption_t armed;
static int is_armed;
static int hits;
static apr_pool_t *victim;
static void *saved[PW_UNIT_NFIELDS];

static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);

    if (sym == NULL) {
        /* nothing sensible to fall back on: the binary cannot run */
        fprintf(stderr, "pw_unit: dlsym(RTLD_NEXT, %s) failed\n", name);
        abort();
    }
    return sym;
}

void pw_unit_corrupt_arm(const pw_unit_corruption_t *c)
{
    armed = *c;
    is_armed = 1;
    hits = 0;
}

void pw_unit_corrupt_disarm(void)
{
    is_armed = 0;
}

int pw_unit_corrupt_hits(void)
{
    return hits;
}

int pw_unit_corrupt_pending(void)
{
    return victim != NULL;
}

apr_status_t apr_pool_create_ex(apr_pool_t **newpool, apr_pool_t *parent,
                                apr_abortfunc_t abort_fn,
                                apr_allocator_t *allocator)
{
    static create_fn *real;
    apr_status_t rv;
    int i;

    if (real == NULL) {
        real = (create_fn *)next_symbol("apr_pool_create_ex");
    }
    rv = real(newpool, parent, abort_fn, allocator);
    if (rv != APR_SUCCESS || !is_armed || abort_fn == NULL || victim) {
        return rv;
    }
    victim = *newpool;
    for (i = 0; i < PW_UNIT_NFIELDS; i++) {
        void **field = (void **)(void *)victim + i;

        saved[i] = *field;
        if (armed.mask & (1u << i)) {
            *field = armed.value ? armed.value : (char *)*field + armed.delta;
        }
    }
    is_armed = 0; /* one probe per arm */
    hits++;
    return rv;
}

apr_allocator_t *apr_pool_allocator_get(apr_pool_t *p)
{
    static apr_allocator_t *(*real)(apr_pool_t *);

    if (real == NULL) {
        real = (apr_allocator_t * (*)(apr_pool_t *))
            next_symbol("apr_pool_allocator_get");
    }
    if (victim != NULL && p == victim && armed.lie_allocator) {
        return armed.value;
    }
    return real(p);
}

void apr_pool_destroy(apr_pool_t *p)
{
    static destroy_fn *real;

    if (real == NULL) {
        real = (destroy_fn *)next_symbol("apr_pool_destroy");
    }
    if (p == victim) {
        int i;

        for (i = 0; i < PW_UNIT_NFIELDS; i++) {
            if (armed.mask & (1u << i)) {
                ((void **)(void *)p)[i] = saved[i];
            }
        }
        victim = NULL;
    }
    real(p);
}
