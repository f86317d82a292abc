"""mod_pwtest, the leaking test module, answers as the other tests expect.

These need no mod_poolwatch (it is loaded when built, and must not change the
answers).
"""

from harness import Deadline

WHATS = ("none", "conn", "pchild", "pconf", "malloc", "cache", "rpool",
         "freebig")


def test_every_kind_answers(pwtest_server):
    with pwtest_server.client() as c:
        pids = set()
        for what in WHATS:
            r = c.get(f"/leak?what={what}&n=100")
            assert r.status == 200, (what, r.status, r.text)
            assert r.headers["Content-Type"].startswith("text/plain")
            f = r.fields()
            assert f["what"] == what
            assert f["n"] == "100"
            taken = int(f["bytes"])
            if what == "none":
                assert taken == 0
            elif what == "rpool":
                assert 0 <= taken <= 100
            else:
                assert taken == 100, f
            pids.add(int(f["pid"]))
        # One keep-alive connection is served by one child throughout.
        assert len(pids) == 1


def test_defaults_and_bounds(pwtest_server):
    with pwtest_server.client() as c:
        f = c.get("/leak").fields()
        assert (f["what"], f["n"], f["bytes"]) == ("none", "64", "0")
        f = c.get("/leak?what=conn").fields()
        assert (f["what"], f["n"]) == ("conn", "64")
        f = c.get("/leak?what=conn&n=0").fields()
        assert f["bytes"] == "0"
        r = c.get("/leak?what=rpool&n=1048576")
        assert r.status == 200


BAD_QUERIES = (
    "what=bogus", "what=", "n=-1", "n=abc", "n=1048577", "n=12x", "n=",
    "n=+5", "n=%2040", "n=99999999999999999999999", "foo=1", "what",
    "what=conn&n=1048577",
)


def test_bad_query_is_400(httpd_factory):
    srv = httpd_factory("event")
    wrong = []
    for query in BAD_QUERIES:
        r = srv.get(f"/leak?{query}")
        if r.status != 400:
            wrong.append((query, r.status, r.text[:200]))
    assert not wrong


def test_only_get(httpd_factory):
    srv = httpd_factory("prefork")
    with srv.client() as c:
        c.conn.request("POST", "/leak?what=conn", body=b"x")
        resp = c.conn.getresponse()
        resp.read()
        assert resp.status == 405
        assert "GET" in resp.headers.get("Allow", "")


def test_cache_stops_at_100(pwtest_server):
    """The cache takes n bytes per request for a child's first 100 requests,
    then nothing: counted on one connection, so one child."""
    deadline = Deadline(30)
    taken = []
    with pwtest_server.client() as c:
        for _ in range(130):
            deadline.check()
            f = c.get("/leak?what=cache&n=32").fields()
            taken.append(int(f["bytes"]))
    assert taken[:100] == [32] * 100
    assert taken[100:] == [0] * 30
