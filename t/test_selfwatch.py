"""mod_poolwatch under its own eye: its request path must not grow any
long-lived pool.

A child serves 500 /poolwatch?json readings (and ?format=prometheus) and
500 plain requests (static files, 404s, /leak?what=none, distinct keys
that churn the key table), after a warm-up of the same mix.  Every
long-lived pool it reports (process, pconf, pchild and the rest the walk
measures; not connection pools) must hold the same bytes before and
after: a module that allocated from pconf or pchild per request or per
reading would be the leak it looks for.

prefork runs as apache2 -X (one process: every request sampled, exact
walk); worker and event run normally, all requests on one keep-alive
connection so one child serves them.  A second test does the same with
PoolWatchTrace On (a log line per request, built in r->pool).
"""

import pytest

from harness import Deadline, child_of

READINGS = 500
PLAIN = 500
WARMUP = 100


def long_lived(child):
    """{path: bytes} of the measured long-lived pools of a child."""
    return {p["path"]: p["bytes"] for p in child["pools"]
            if not p["connection"] and not p["opaque"]}


def mix(c, i, pid):
    """One plain request of the mix, then one reading; returns its doc."""
    kind = i % 5
    if kind == 0:
        r = c.get("/index.html")
    elif kind == 1:
        r = c.get(f"/missing/{i}")
    elif kind == 2:
        r = c.get("/static.txt")
    elif kind == 3:
        assert c.leak("none", i) == pid
        r = None
    else:
        r = c.get(f"/static.txt?k={i}")
    if r is not None:
        assert r.status in (200, 404), r.status
    if i % 10 == 9:
        r = c.get("/poolwatch?format=prometheus")
        assert r.status == 200
        return None
    return c.poolwatch()


def run(srv, pid_hint=None):
    deadline = Deadline(120)
    with srv.client() as c:
        pid = c.leak("none")
        for i in range(WARMUP):
            deadline.check("warm-up")
            mix(c, i, pid)
        before = child_of(c.poolwatch(), pid)
        doc = None
        for i in range(max(READINGS, PLAIN)):
            deadline.check("self-watch run")
            doc = mix(c, WARMUP + i, pid) or doc
        after = child_of(c.poolwatch(), pid)
    return before, after


def assert_flat(before, after):
    b, a = long_lived(before), long_lived(after)
    assert b, f"no long-lived pools measured: {before['walk_reason']}"
    assert any(p.endswith("/pchild") for p in b), b
    assert "process/pconf" in b, b
    grew = {p: a[p] - b[p] for p in b if p in a and a[p] != b[p]}
    new = sorted(set(a) - set(b))
    assert not grew and not new, (
        f"long-lived pools changed over {READINGS} readings and {PLAIN} "
        f"requests: grew {grew}, new {new}")
    assert after["requests"] - before["requests"] >= READINGS + PLAIN


@pytest.mark.parametrize("key_by", ["path", "query"])
def test_module_does_not_grow_long_lived_pools(httpd_factory, mpm, key_by):
    srv = httpd_factory(mpm, poolwatch=True, single=(mpm == "prefork"),
                        extra=f"PoolWatchKey {key_by}\nPoolWatchMaxKeys 8")
    before, after = run(srv)
    assert_flat(before, after)


def test_trace_does_not_grow_long_lived_pools(httpd_factory):
    srv = httpd_factory("prefork", poolwatch=True, single=True,
                        extra="PoolWatchTrace On\nLogLevel notice")
    before, after = run(srv)
    assert_flat(before, after)
    assert "PW00030" in srv.log_text()
