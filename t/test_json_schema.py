"""/poolwatch?json from each MPM validates against doc/poolwatch.schema.json
(JSON Schema draft 2020-12, Debian's python3-jsonschema), and the schema is
strict: it refuses a document with a field added, removed or mistyped.

The traffic before the read makes every part of the document appear: a
pool leak and a malloc leak (keys with verdicts and signals), a hostile
key (quotes, a backslash, a byte that is not UTF-8), a long response
(the stream signal, per MiB), and a keep-alive connection.
"""

import copy
import json

import pytest

from harness import TOP, Deadline

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = TOP / "doc" / "poolwatch.schema.json"


def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(v, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in v.iter_errors(doc)]


def test_json_matches_schema(httpd_factory, mpm):
    v = validator()
    srv = httpd_factory(mpm, extra="PoolWatchKey query\nPoolWatchStreams On",
                        poolwatch=True)
    deadline = Deadline(60)
    with srv.client() as c:
        for path in ("/leak?what=pchild&n=1024", "/leak?what=malloc&n=512",
                     "/leak/%22q%5Cb%ff%0a?what=conn&n=16"):
            for _ in range(50):
                deadline.check("traffic")
                assert c.get(path).status == 200, path
        assert c.get("/leak?what=stream&n=2").status == 200
        doc = c.poolwatch()
    problems = errors(v, doc)
    assert not problems, "\n".join(problems[:40])

    # the read-out held what the schema is about, not an empty shell
    assert doc["keys"] and doc["children"]
    me = [ch for ch in doc["children"] if ch["keys"]][0]
    assert me["pools"] and me["history"]
    assert {k["verdict"] for k in doc["keys"]} & {"leak", "suspect"}
    assert any("\ufffd" in k["key"] for k in doc["keys"]), doc["keys"]


def test_schema_is_strict():
    """Hand-made departures from a valid document are all refused."""
    v = validator()
    sig = {"verdict": "ok", "bytes_per_request": 0.0, "low": 0.0,
           "high": 0.0, "points": 0, "held": False}
    good = {
        "server": {"version": "Apache/2.4.71", "mpm": "event",
                   "threaded": True, "generation": 1, "walk": "locked",
                   "walk_reason": "", "apr_version": "1.7.2", "slots": 4,
                   "slots_overflow": 0, "max_pools": 64, "max_keys": 32,
                   "warmup": 10, "key_by": "path", "shm_bytes": 1,
                   "sample_every": 4, "sample_interval_ms": 10,
                   "rss_interval_ms": 1000, "streams": "auto", "resets": 0,
                   "pid": 1},
        "keys": [{"key": "GET h /", "requests": 1, "verdict": "ok",
                  "bytes_per_request": 0.0, "per": "request",
                  "signal": "pool", "pool": "", "attribution": "exact",
                  "held": False, "pid": 2, "children": 1, "children_affected": 0}],
        "children": [{
            "pid": 2, "slot": 0, "generation": 1, "state": "running",
            "torn": False, "started": 1, "updated": 1.5, "resets": 0, "reset_at": 0,
            "requests": 1,
            "connections": 1, "samples": 1, "rss_bytes": 1,
            "heap_bytes": 1, "pool_bytes": 1, "pool_reserved_bytes": 1,
            "pools_seen": 1, "pools_opaque": 0, "pools_new": 0,
            "pools_overflow": 0, "walk_errors": 0, "walk": "locked",
            "walk_reason": "", "walk_ns": 1,
            "heap_ns": 0, "heap_skipped": 0, "self_samples": 0, "self_ns_mean": 0, "self_ns_max": 0,
            "self_ns_p50": 0, "self_ns_p99": 0, "self_ns_request_p99": 0,
            "sampler": "requests",
            "last_interval": {"requests": 1, "pool_growth": -8,
                              "heap_growth": 0, "rss_growth": 0},
            "connection": {"tag": "t", "path": "p", "bytes": 1,
                           "reserved_bytes": 1, "requests": 1,
                           "clears": 0},
            "pools": [{"tag": "t", "path": "p", "bytes": 1,
                       "reserved_bytes": 1, "nodes": 1, "clears": 0,
                       "growth": -1, "depth": 1, "connection": False,
                       "opaque": False, "new": False}],
            "keys_overflow": 0, "keys_evicted": 0, "judged": 0,
            "keys": [{"key": "GET h /", "requests": 1, "verdict": "ok",
                      "bytes_per_request": 0.0, "per": "request",
                      "signal": "pool", "pool": "",
                      "attribution": "exact", "held": False, "share": 1.0,
                      "points": 0,
                      "conn_requests": 0,
                      "signals": {s: dict(sig) for s in
                                  ("pool", "conn", "heap", "rss",
                                   "stream")},
                      "series_signal": "pool", "series": [[1.0, 8.0]]}],
            "history": [[0, 1, 2, 3, 4]]}]}
    assert not errors(v, good), errors(v, good)

    def bad(change):
        doc = copy.deepcopy(good)
        change(doc)
        return errors(v, doc)

    child = lambda d: d["children"][0]  # noqa: E731
    departures = {
        "extra top field": lambda d: d.update(extra=1),
        "extra server field": lambda d: d["server"].update(x=1),
        "server field gone": lambda d: d["server"].pop("pid"),
        "extra child field": lambda d: child(d).update(x=1),
        "unknown verdict": lambda d: d["keys"][0].update(verdict="maybe"),
        "unknown signal": lambda d: child(d)["keys"][0].update(signal="x"),
        "signal gone": lambda d: child(d)["keys"][0]["signals"].pop("rss"),
        "negative bytes": lambda d: child(d).update(heap_bytes=-1),
        "float count": lambda d: child(d).update(requests=1.5),
        "bool as int": lambda d: child(d)["pools"][0].update(depth=True),
        "state free": lambda d: child(d).update(state="free"),
        "short history row": lambda d: child(d).update(history=[[1, 2]]),
        "long history row": lambda d: child(d).update(
            history=[[1, 2, 3, 4, 5, 6]]),
        "extra pool field": lambda d: child(d)["pools"][0].update(x=1),
        "connection field gone": lambda d: child(d)["connection"].pop(
            "clears"),
    }
    passed = [name for name, change in departures.items()
              if not bad(change)]
    assert not passed, f"the schema accepts: {passed}"
