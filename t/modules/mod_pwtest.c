/*
 * mod_pwtest: leaks memory on demand, so that mod_poolwatch's tests and demo
 * have something known to look at.  Test use only: never load it on a server
 * that matters.
 *
 *   LoadModule pwtest_module t/modules/.libs/mod_pwtest.so
 *   <Location /leak>
 *       SetHandler pwtest
 *   </Location>
 *
 * GET /leak?what=WHAT&n=BYTES   (n defaults to 64, at most 1 MiB)
 *
 *   none     allocate nothing (the baseline)
 *   conn     n bytes from c->pool: grows while a keep-alive connection lives
 *   pchild   n bytes from the child's pool: grows for the child's lifetime
 *   pconf    n bytes from pconf: the same, one level up
 *   malloc   malloc(n), never freed: invisible to a pool walk
 *   cache    n bytes from pchild for the first 100 requests of the child,
 *            then nothing: a plateau, which a detector must not call a leak
 *   rpool    a random 0..n bytes from r->pool: noise that is freed
 *   freebig  malloc(100 KiB), free it, then leak malloc(n): the trap where a
 *            freed block hides the leak from coarse signals for a while
 *   stream   an n MiB response in 8 KiB writes, each from a NEW brigade made
 *            from c->pool: httpd 2.0.53's core_input_filter leak, growing
 *            during one request
 *   streamok the same response from one reused r->pool brigade: no growth
 *   fragment n pairs of 64-byte mallocs, one of each freed and the other
 *            kept: n free chunks in the heap, which make glibc's mallinfo2()
 *            slow (it walks them all)
 *
 * The answer is text/plain "pid=<pid>\nwhat=<what>\n..." so that a test can
 * tell which child served it and read that child's figures afterwards.
 *
 * Every allocation is written to (memset) so that it is resident, as a real
 * leak would be.  pconf and pchild are shared by all threads of a worker or
 * event child and pools are not thread-safe: allocations from them, the
 * malloc list and the cache counter are serialized with one mutex created in
 * child_init.
 */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

module AP_MODULE_DECLARE_DATA pwtest_module;

#define PWTEST_N_DEFAULT 64
#define PWTEST_N_MAX     (1024 * 1024)
#define PWTEST_CACHE_MAX 100
#define PWTEST_FREEBIG   (100 * 1024)
#define PWTEST_FILL      0xa5

typedef enum {
    PWTEST_NONE,
    PWTEST_CONN,
    PWTEST_PCHILD,
    PWTEST_PCONF,
    PWTEST_MALLOC,
    PWTEST_CACHE,
    PWTEST_RPOOL,
    PWTEST_FREEBIG_LEAK,
    PWTEST_STREAM,
    PWTEST_STREAMOK,
    PWTEST_FRAGMENT
} pwtest_what_e;

static const struct {
    const char *name;
    pwtest_what_e what;
} pwtest_whats[] = {
    {"none", PWTEST_NONE},         {"conn", PWTEST_CONN},
    {"pchild", PWTEST_PCHILD},     {"pconf", PWTEST_PCONF},
    {"malloc", PWTEST_MALLOC},     {"cache", PWTEST_CACHE},
    {"rpool", PWTEST_RPOOL},       {"freebig", PWTEST_FREEBIG_LEAK},
    {"stream", PWTEST_STREAM},     {"streamok", PWTEST_STREAMOK},
    {"fragment", PWTEST_FRAGMENT},
};

/* Process-wide state.  pconf is the same pool object in both passes of the
 * configuration (it is cleared, not destroyed, in between), and the DSO is
 * reloaded between the passes, so the value saved by the last post_config is
 * the one the children inherit. */
static apr_pool_t *pwtest_pconf;
static apr_pool_t *pwtest_pchild;
static apr_thread_mutex_t *pwtest_mutex;
static void *pwtest_malloc_head; /* leaked blocks, chained through word 0 */
static apr_size_t pwtest_malloc_count;
static apr_size_t pwtest_cache_entries;

static int pwtest_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    pwtest_pconf = pconf;
    return OK;
}

static void pwtest_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    pwtest_pchild = pchild;
    rv = apr_thread_mutex_create(&pwtest_mutex, APR_THREAD_MUTEX_DEFAULT,
                                 pchild);
    if (rv != APR_SUCCESS) {
        /* Leaking from shared pools unserialized would crash threaded
         * children: refuse those requests instead (see pwtest_locked). */
        pwtest_mutex = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "PWT001: cannot create mutex; shared leaks disabled");
    }
}

/* Keeps a malloc'd block reachable for ever: a leak that valgrind would call
 * "still reachable", which is how long-lived caches really leak.  The link
 * lives inside the block so that each leak is exactly one malloc. */
static void *pwtest_malloc_leak(apr_size_t n)
{
    apr_size_t size = n < sizeof(void *) ? sizeof(void *) : n;
    void *p = malloc(size);

    if (p == NULL) {
        return NULL;
    }
    memset(p, PWTEST_FILL, size);
    memcpy(p, &pwtest_malloc_head, sizeof(void *));
    pwtest_malloc_head = p;
    pwtest_malloc_count++;
    return p;
}

static void *pwtest_palloc(apr_pool_t *p, apr_size_t n)
{
    void *mem = apr_palloc(p, n);

    memset(mem, PWTEST_FILL, n);
    return mem;
}

/* Cheap, stateless randomness for "rpool": no shared generator state, so
 * threads need no lock, and the noise need not be good. */
static apr_size_t pwtest_random(request_rec *r, apr_size_t n)
{
    apr_uint64_t x = (apr_uint64_t)apr_time_now();

    x ^= (apr_uint64_t)(apr_uintptr_t)r;
    x ^= (apr_uint64_t)r->connection->id << 32;
    x ^= x >> 33;
    x *= APR_UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return n ? (apr_size_t)(x % (n + 1)) : 0;
}

/* Parses "what=...&n=..." into *what and *n; returns NULL or a reason. */
static const char *pwtest_parse(request_rec *r, pwtest_what_e *what,
                                const char **name, apr_size_t *n)
{
    char *args, *pair, *last;

    *what = PWTEST_NONE;
    *name = "none";
    *n = PWTEST_N_DEFAULT;
    if (r->args == NULL || *r->args == '\0') {
        return NULL;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &last); pair != NULL;
         pair = apr_strtok(NULL, "&", &last)) {
        char *val = strchr(pair, '=');

        if (val == NULL) {
            return "parameter without a value";
        }
        *val++ = '\0';
        if (strcmp(pair, "what") == 0) {
            apr_size_t i;

            for (i = 0; i < sizeof(pwtest_whats) / sizeof(pwtest_whats[0]);
                 i++) {
                if (strcmp(val, pwtest_whats[i].name) == 0) {
                    break;
                }
            }
            if (i == sizeof(pwtest_whats) / sizeof(pwtest_whats[0])) {
                return "unknown what";
            }
            *what = pwtest_whats[i].what;
            *name = pwtest_whats[i].name;
        } else if (strcmp(pair, "n") == 0) {
            char *end;
            apr_int64_t v;

            /* Digits only: strtoi64 would accept signs and spaces. */
            if (*val < '0' || *val > '9') {
                return "n is not a number";
            }
            errno = 0;
            v = apr_strtoi64(val, &end, 10);
            if (errno != 0 || *end != '\0' || v > PWTEST_N_MAX) {
                return "n is not a number of at most 1048576";
            }
            *n = (apr_size_t)v;
        } else {
            return "unknown parameter";
        }
    }
    return NULL;
}

/* Leaks n bytes of the kind asked for; returns the bytes actually taken
 * (rpool draws a random size, cache stops at its limit), or -1 when the
 * allocation could not be made. */
static apr_int64_t pwtest_leak(request_rec *r, pwtest_what_e what, apr_size_t n)
{
    apr_int64_t taken = (apr_int64_t)n;
    void *big;

    switch (what) {
        case PWTEST_NONE:
            return 0;
        case PWTEST_CONN:
            /* The connection is owned by this thread while it runs: no lock */
            pwtest_palloc(r->connection->pool, n);
            return taken;
        case PWTEST_RPOOL:
            taken = (apr_int64_t)pwtest_random(r, n);
            pwtest_palloc(r->pool, (apr_size_t)taken);
            return taken;
        default:
            break;
    }

    if (pwtest_mutex == NULL || pwtest_pchild == NULL || pwtest_pconf == NULL ||
        apr_thread_mutex_lock(pwtest_mutex) != APR_SUCCESS) {
        return -1;
    }
    switch (what) {
        case PWTEST_PCHILD:
            pwtest_palloc(pwtest_pchild, n);
            break;
        case PWTEST_PCONF:
            pwtest_palloc(pwtest_pconf, n);
            break;
        case PWTEST_MALLOC:
            if (pwtest_malloc_leak(n) == NULL) {
                taken = -1;
            }
            break;
        case PWTEST_CACHE:
            if (pwtest_cache_entries < PWTEST_CACHE_MAX) {
                pwtest_palloc(pwtest_pchild, n);
                pwtest_cache_entries++;
            } else {
                taken = 0;
            }
            break;
        case PWTEST_FRAGMENT: {
            /* all holes first: freed one by one, each would be handed
             * back to the next malloc(64) */
            void **holes = malloc(n * sizeof(void *));
            apr_size_t i;

            if (holes == NULL) {
                taken = -1;
                break;
            }
            for (i = 0; i < n; i++) {
                holes[i] = malloc(64);
                if (pwtest_malloc_leak(64) == NULL) {
                    taken = -1;
                }
            }
            for (i = 0; i < n; i++) {
                free(holes[i]);
            }
            free(holes);
            break;
        }
        case PWTEST_FREEBIG_LEAK:
            /* Below the mmap threshold, so the freed block stays in the heap
             * and the leak that follows is carved out of it. */
            big = malloc(PWTEST_FREEBIG);
            if (big != NULL) {
                memset(big, PWTEST_FILL, PWTEST_FREEBIG);
                free(big);
            }
            if (pwtest_malloc_leak(n) == NULL) {
                taken = -1;
            }
            break;
        default:
            break;
    }
    apr_thread_mutex_unlock(pwtest_mutex);
    return taken;
}

/* Sends n MiB in 8 KiB writes; "leak" makes every write's brigade from
 * c->pool, as core_input_filter did in 2.0.53. */
static int pwtest_stream(request_rec *r, apr_size_t mib, int leak)
{
    static char chunk[8192];
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, c->bucket_alloc);
    apr_size_t i, writes = mib * 128;

    if (mib == 0 || mib > 1024) {
        return HTTP_BAD_REQUEST;
    }
    memset(chunk, 'x', sizeof(chunk));
    ap_set_content_type(r, "application/octet-stream");
    ap_set_content_length(r, (apr_off_t)(writes * sizeof(chunk)));
    for (i = 0; i < writes; i++) {
        if (leak) {
            bb = apr_brigade_create(c->pool, c->bucket_alloc);
        }
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(
                                        chunk, sizeof(chunk), c->bucket_alloc));
        if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
            return AP_FILTER_ERROR; /* the client went away */
        }
        apr_brigade_cleanup(bb);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS
               ? OK
               : AP_FILTER_ERROR;
}

static int pwtest_handler(request_rec *r)
{
    pwtest_what_e what;
    const char *name, *why;
    apr_size_t n;
    apr_int64_t taken;

    if (r->handler == NULL || strcmp(r->handler, "pwtest") != 0) {
        return DECLINED;
    }
    /* r->allowed alone does not reach the Allow header of a 405 */
    r->allowed |= (AP_METHOD_BIT << M_GET);
    ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    why = pwtest_parse(r, &what, &name, &n);
    if (why != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "PWT002: bad query '%s': %s", r->args, why);
        return HTTP_BAD_REQUEST;
    }

    if (what == PWTEST_STREAM || what == PWTEST_STREAMOK) {
        return pwtest_stream(r, n, what == PWTEST_STREAM);
    }
    taken = pwtest_leak(r, what, n);
    if (taken < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PWT003: could not leak %" APR_SIZE_T_FMT " bytes (%s)",
                      n, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    ap_set_content_type(r, "text/plain");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    ap_rprintf(r,
               "pid=%" APR_PID_T_FMT "\nwhat=%s\nn=%" APR_SIZE_T_FMT
               "\nbytes=%" APR_INT64_T_FMT "\n",
               getpid(), name, n, taken);
    return OK;
}

static void pwtest_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pwtest_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pwtest_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(pwtest_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

/* clang-format off */
AP_DECLARE_MODULE(pwtest) = {
    STANDARD20_MODULE_STUFF,
    NULL,                  /* per-directory config creator */
    NULL,                  /* per-directory config merger */
    NULL,                  /* server config creator */
    NULL,                  /* server config merger */
    NULL,                  /* no directives */
    pwtest_register_hooks,
    AP_MODULE_FLAG_NONE
};
/* clang-format on */
