"""Leak verdicts against a real apache2, under prefork, worker and event.

Each leak run is one keep-alive connection (so one child) to mod_pwtest's
/leak, keyed by its query string (PoolWatchKey query), then the serving
child's /poolwatch?json key entry is checked: verdict, signal, pool and
bytes per request within 10 %. The teardown scans error_log for crashes.
"""

import re

import pytest

import harness
from harness import Deadline, child_of

EXTRA = "PoolWatchKey query\n"


def key_of(child, what, n):
    want = f"GET 127.0.0.1 /leak?what={what}&n={n}"
    for k in child["keys"]:
        if k["key"] == want:
            return k
    raise AssertionError(f"no key {want!r} in child {child['pid']}: "
                         f"{[k['key'] for k in child['keys']]}")


def run(srv, what, n, count):
    """count identical requests on one connection; the key's entry after."""
    deadline = Deadline(90)
    with srv.client() as c:
        pid = c.leak(what, n)
        for _ in range(count - 1):
            deadline.check("leak run")
            assert c.leak(what, n) == pid, "the connection changed child"
        doc = c.poolwatch()
    return doc, key_of(child_of(doc, pid), what, n)


def within(got, want, pct=10):
    return abs(got - want) <= want * pct / 100.0


@pytest.mark.parametrize("what,n,signal,pool", [
    ("pchild", 1024, "pool", "/pchild"),
    ("pconf", 24, "pool", "process/pconf"),
    ("conn", 32, "conn", "transaction"),
])
def test_pool_leaks_are_flagged(httpd_factory, mpm, what, n, signal, pool):
    srv = httpd_factory(mpm, extra=EXTRA)
    doc, k = run(srv, what, n, 50)
    assert k["verdict"] == "leak", k
    assert k["signal"] == signal, k
    assert k["pool"].endswith(pool), k
    assert within(k["bytes_per_request"], harness.align8(n)), k
    # the aggregate lists it, worst first
    assert doc["keys"][0]["verdict"] == "leak", doc["keys"][:3]
    agg = [a for a in doc["keys"] if a["key"] == k["key"]]
    assert agg and agg[0]["children_affected"] >= 1, agg


def test_malloc_leak_is_a_heap_leak(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=EXTRA)
    _, k = run(srv, "freebig", 5120, 50)
    assert k["verdict"] == "leak", k
    assert k["signal"] == "heap", k
    # glibc adds a 16-byte chunk header to each malloc
    assert 5120 * 0.9 <= k["bytes_per_request"] <= 5120 + 32, k


@pytest.mark.parametrize("what,n,count", [
    ("none", 0, 60),
    ("rpool", 65536, 200),
    ("cache", 64, 300),
])
def test_no_leak_is_not_flagged(httpd_factory, mpm, what, n, count):
    srv = httpd_factory(mpm, extra=EXTRA)
    _, k = run(srv, what, n, count)
    assert k["verdict"] in ("ok", "suspect"), k
    assert k["verdict"] != "leak"


def test_conn_growth_without_keepalive_is_not_a_leak(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=EXTRA)
    deadline = Deadline(60)
    for _ in range(60):
        deadline.check("close run")
        r = srv.get("/leak?what=conn&n=4096")
        assert r.status == 200
    doc = srv.get("/poolwatch?json").json()
    seen = [k for c in doc["children"] for k in c["keys"]
            if k["key"] == "GET 127.0.0.1 /leak?what=conn&n=4096"]
    assert seen, "the key was not counted"
    assert all(k["verdict"] != "leak" for k in seen), seen


def test_one_warning_per_leaking_key(httpd_factory):
    srv = httpd_factory("prefork", extra=EXTRA)
    run(srv, "pchild", 1024, 60)
    run(srv, "none", 0, 60)
    lines = [l for l in srv.log_text().splitlines() if "PW00020" in l]
    pchild = [l for l in lines if "what=pchild" in l]
    assert len(pchild) == 1, lines
    assert "signal pool" in pchild[0] and "pchild" in pchild[0], pchild
    assert not [l for l in lines if "what=none" in l], lines


def test_trace_says_what_grew(httpd_factory):
    srv = httpd_factory("prefork", extra=EXTRA + "PoolWatchTrace On\n")
    with srv.client() as c:
        for _ in range(4):
            c.leak("pchild", 1000)
    lines = [l for l in srv.log_text().splitlines() if "PW00030" in l]
    assert any("process/pconf/pchild +1000" in l for l in lines), lines[-3:]


def test_stream_leak_is_flagged_per_mib(httpd_factory):
    srv = httpd_factory("event", extra=EXTRA)
    with srv.client(timeout=60) as c:
        r = c.get("/leak?what=stream&n=64")
        assert r.status == 200 and len(r.body) == 64 << 20
        r = c.get("/leak?what=streamok&n=64")
        assert r.status == 200
        doc = c.poolwatch()
    keys = {k["key"]: k for ch in doc["children"] for k in ch["keys"]}
    bad = keys["GET 127.0.0.1 /leak?what=stream&n=64"]
    good = keys["GET 127.0.0.1 /leak?what=streamok&n=64"]
    assert bad["verdict"] == "leak" and bad["signal"] == "stream", bad
    assert bad["per"] == "MiB" and bad["bytes_per_request"] > 0, bad
    assert good["verdict"] != "leak", good
    assert "PW00040" in srv.log_text()


def test_key_by_env(httpd_factory):
    extra = ("LoadModule setenvif_module "
             "/usr/lib/apache2/modules/mod_setenvif.so\n"
             "SetEnvIf Request_URI ^/leak PW_KEY=leaky\n"
             "PoolWatchKey env=PW_KEY\n")
    srv = httpd_factory("prefork", extra=extra)
    with srv.client() as c:
        pid = c.leak("none", 0)
        c.leak("pchild", 8)
        doc = c.poolwatch()
    keys = [k["key"] for k in child_of(doc, pid)["keys"]]
    assert "GET 127.0.0.1 $leaky" in keys, keys


def test_key_table_overflow_is_counted(httpd_factory):
    srv = httpd_factory("prefork", extra="PoolWatchKey query\n"
                        "PoolWatchMaxKeys 4\n")
    with srv.client() as c:
        pid = c.leak("none", 0)
        for i in range(50):
            c.leak("none", i)
        doc = c.poolwatch()
    ch = child_of(doc, pid)
    assert len(ch["keys"]) <= 4, ch["keys"]
    assert ch["keys_overflow"] > 0 or ch["keys_evicted"] > 0, ch


@pytest.mark.parametrize("line", [
    "PoolWatchKey bogus", "PoolWatchMaxKeys 2", "PoolWatchMaxKeys 5000",
    "PoolWatchMaxKeys abc", "PoolWatchWarmup -1", "PoolWatchTrace maybe",
])
def test_bad_verdict_directives_fail_configtest(httpd_factory, line):
    srv = httpd_factory("prefork", extra=line + "\n", start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert re.search(line.split()[0], out), out
