"""/poolwatch?json has the contract's shape, and bad input is refused.

Each test runs under prefork, worker and event (the mpm fixture).
"""

import json

from harness import Httpd, child_of, connection_pool

SERVER_FIELDS = {
    "version": str, "mpm": str, "threaded": bool, "generation": int,
    "walk": str, "walk_reason": str, "apr_version": str, "slots": int,
    "slots_overflow": int, "max_pools": int, "shm_bytes": int,
    "sample_every": int, "sample_interval_ms": int, "rss_interval_ms": int,
    "streams": str, "resets": int,
    "pid": int,
}
CHILD_FIELDS = {
    "pid": int, "slot": int, "generation": int, "state": str,
    "started": int, "updated": (int, float), "resets": int,
    "reset_at": (int, float), "requests": int,
    "connections": int, "samples": int, "rss_bytes": int, "heap_bytes": int,
    "pool_bytes": int, "pool_reserved_bytes": int, "pools_seen": int,
    "pools_opaque": int, "pools_new": int, "pools_overflow": int,
    "walk": str, "walk_reason": str, "walk_ns": int,
    "heap_ns": int, "heap_skipped": int, "self_samples": int, "self_ns_mean": int, "self_ns_max": int,
    "self_ns_p50": int, "self_ns_p99": int, "self_ns_request_p99": int,
    "sampler": str,
    "last_interval": dict, "connection": dict, "pools": list,
    "history": list,
}
INTERVAL_FIELDS = {"requests": int, "pool_growth": int, "heap_growth": int,
                   "rss_growth": int}
CONNECTION_FIELDS = {"tag": str, "path": str, "bytes": int,
                     "reserved_bytes": int, "requests": int, "clears": int}
POOL_FIELDS = {"tag": str, "path": str, "bytes": int, "reserved_bytes": int,
               "nodes": int, "clears": int, "growth": int, "depth": int,
               "connection": bool, "new": bool}
EXPECTED_WALK = {"prefork": "exact", "worker": "locked", "event": "locked"}


def check_fields(obj, fields, where, problems):
    """Appends to problems every field missing or of the wrong type."""
    if not isinstance(obj, dict):
        problems.append(f"{where} is not an object: {obj!r}")
        return
    for key, typ in fields.items():
        if key not in obj:
            problems.append(f"{where}.{key} missing")
            continue
        val = obj[key]
        # bool is an int in Python: an int field must not be a bool
        if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            problems.append(f"{where}.{key} = {val!r} is not {typ.__name__}"
                            if isinstance(typ, type) else
                            f"{where}.{key} = {val!r} has the wrong type")


def test_json_shape(server, mpm):
    with server.client() as c:
        pid = c.leak("none")
        r = c.get("/poolwatch?json")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    doc = json.loads(r.body)

    problems = []
    check_fields(doc["server"], SERVER_FIELDS, "server", problems)
    srv = doc["server"]
    assert srv["mpm"] == mpm
    assert srv["threaded"] is (mpm != "prefork")
    assert srv["walk"] in ("exact", "locked", "off")
    assert srv["walk"] == EXPECTED_WALK[mpm], srv
    assert srv["pid"] == server.parent_pid()
    assert srv["version"].startswith("Apache/2.4")
    assert srv["generation"] >= 0
    assert srv["slots"] >= 1
    assert 8 <= srv["max_pools"] <= 4096

    assert isinstance(doc["children"], list) and doc["children"]
    for ch in doc["children"]:
        where = f"children[pid {ch.get('pid')}]"
        check_fields(ch, CHILD_FIELDS, where, problems)
        assert ch["state"] in ("running", "exited"), where
        check_fields(ch["last_interval"], INTERVAL_FIELDS,
                     where + ".last_interval", problems)
        check_fields(ch["connection"], CONNECTION_FIELDS,
                     where + ".connection", problems)
        for i, pool in enumerate(ch["pools"]):
            check_fields(pool, POOL_FIELDS, f"{where}.pools[{i}]", problems)
            assert pool["bytes"] >= 0
            assert pool["reserved_bytes"] >= pool["bytes"] or \
                pool["reserved_bytes"] == 0, pool
        for row in ch["history"]:
            assert isinstance(row, list) and len(row) == 5, row
            assert all(isinstance(x, (int, float)) for x in row), row

    me = child_of(doc, pid)
    assert me["walk"] == EXPECTED_WALK[mpm], me["walk_reason"]
    assert me["requests"] >= 1
    assert me["samples"] >= 1
    assert me["rss_bytes"] > 0
    assert me["heap_bytes"] > 0
    assert me["pool_bytes"] > 0
    paths = [p["path"] for p in me["pools"]]
    assert "process/pconf" in paths, paths
    assert any(p.endswith("/pchild") for p in paths), paths
    assert all(isinstance(p, str) and p for p in paths), paths
    if mpm == "prefork":
        conn = connection_pool(me)
        assert conn["path"].endswith("/pchild/transaction"), conn
        assert me["connection"]["path"] == conn["path"], me["connection"]
    # Field types last, so that a type slip does not hide the checks above.
    assert not problems, "\n".join(problems)


def test_json_readings_follow_requests(server, mpm):
    """A reading on the same connection sees this child's request count."""
    with server.client() as c:
        pid = c.leak("none")
        first = child_of(c.poolwatch(), pid)
        for _ in range(10):
            c.leak("none")
        second = child_of(c.poolwatch(), pid)
    assert second["requests"] - first["requests"] == 11
    assert second["updated"] >= first["updated"]
    assert second["samples"] > first["samples"]


def test_bad_query_is_400(server):
    for query in ("bogus", "json&bogus", "json=2x"):
        r = server.get(f"/poolwatch?{query}")
        assert r.status == 400, (query, r.status, r.text[:200])


BAD_DIRECTIVES = [
    ("PoolWatch", "PoolWatch maybe"),
    ("PoolWatchSampleEvery", "PoolWatchSampleEvery 0"),
    ("PoolWatchSampleEvery", "PoolWatchSampleEvery 1000001"),
    ("PoolWatchSampleEvery", "PoolWatchSampleEvery ten"),
    ("PoolWatchSampleInterval", "PoolWatchSampleInterval soon"),
    ("PoolWatchSampleInterval", "PoolWatchSampleInterval 3601s"),
    ("PoolWatchSampleInterval", "PoolWatchSampleInterval -5ms"),
    ("PoolWatchRSSInterval", "PoolWatchRSSInterval soon"),
    ("PoolWatchRSSInterval", "PoolWatchRSSInterval 3601s"),
    ("PoolWatchRSSInterval", "PoolWatchRSSInterval -1s"),
    ("PoolWatchMaxPools", "PoolWatchMaxPools abc"),
    ("PoolWatchMaxPools", "PoolWatchMaxPools 7"),
    ("PoolWatchMaxPools", "PoolWatchMaxPools 4097"),
    ("PoolWatchSlots", "PoolWatchSlots -1"),
    ("PoolWatchSlots", "PoolWatchSlots 65537"),
    ("PoolWatchWalk", "PoolWatchWalk sometimes"),
]

GOOD_DIRECTIVES = """
PoolWatch On
PoolWatchSampleEvery 1000000
PoolWatchSampleInterval 250ms
PoolWatchRSSInterval 500ms
PoolWatchMaxPools 4096
PoolWatchSlots 0
PoolWatchWalk off
PoolWatchStreams on
"""


def test_bad_directive_fails_configtest(request, need_poolwatch):
    wrong = []
    for i, (name, line) in enumerate(BAD_DIRECTIVES):
        srv = Httpd(f"{request.node.name}-{i}", "event", extra=line,
                    poolwatch=True)
        rc, out = srv.configtest()
        if rc == 0 or name not in out:
            wrong.append((line, rc, out.strip()[-300:]))
    assert not wrong, "\n".join(map(repr, wrong))


def test_good_directives_pass_configtest(request, mpm, need_poolwatch):
    srv = Httpd(request.node.name, mpm, extra=GOOD_DIRECTIVES,
                poolwatch=True)
    rc, out = srv.configtest()
    assert rc == 0 and "Syntax OK" in out, out

