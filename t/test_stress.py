"""Threaded MPMs under concurrent load while /poolwatch?json is read.

For a bounded time (PW_STRESS_SECONDS, default 20) and a bounded number of
requests, under worker and event:
  - keep-alive clients alternate /leak?what=none and a static file,
  - short clients send one request per connection (Connection: close),
  - two readers fetch /poolwatch?json over and over; every answer must parse.
Afterwards the error_log must show no crash (checked by the fixture) and the
server must still answer.

A second test adds clients that leak from pchild and pconf while the readers
run: the sampler walks those pools under APR's allocator mutex while a
request thread pallocs from them (under mod_pwtest's own mutex), which is
what a real per-request leak from a shared pool looks like.
"""

import http.client
import json
import os
import threading
import time

import pytest

from harness import Client, Deadline

SECONDS = float(os.environ.get("PW_STRESS_SECONDS", "20"))
REQUEST_CAP = 200000
MAX_RECONNECTS = 2000


class Load:
    """Runs client loops in threads until time or the request cap is up."""

    def __init__(self, srv, seconds):
        self.srv = srv
        self.deadline = Deadline(seconds)
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []
        self.threads = []
        self.stop = threading.Event()
        self.empty = []  # /poolwatch?json answers without children

    def done(self):
        return self.stop.is_set() or self.deadline.expired()

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if sum(self.counts.values()) >= REQUEST_CAP:
                self.stop.set()

    def fail(self, kind, err):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(f"{kind}: {err!r}")
        self.stop.set()

    def spawn(self, kind, fn, *args):
        def run():
            try:
                fn(kind, *args)
            except Exception as e:  # reported by the test, not the thread
                self.fail(kind, e)
        t = threading.Thread(target=run, name=kind, daemon=True)
        self.threads.append(t)
        t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=max(1.0, self.deadline.left()) + 30)
        hung = [t.name for t in self.threads if t.is_alive()]
        assert not hung, f"client threads did not finish: {hung}"

    # -- client loops ------------------------------------------------------

    def keepalive(self, kind, paths, check=None):
        """A keep-alive client.  The server may close an idle keep-alive
        connection between requests: event does so when a process is over
        its connection limit ("Too many open connections" at LogLevel
        debug), and a retiring child closes its connections.  So reconnects
        are allowed, a bounded number; crashes are caught by the error_log
        scan, not here."""
        c = Client(self.srv.port, timeout=10)
        reconnects = 0
        try:
            i = 0
            while not self.done():
                path = paths[i % len(paths)]
                try:
                    r = c.get(path)
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError):
                    reconnects += 1
                    if reconnects > MAX_RECONNECTS:
                        raise
                    c.close()
                    c = Client(self.srv.port, timeout=10)
                    self.count("reconnects")
                    continue
                if r.status != 200:
                    raise AssertionError(f"{path}: {r.status}")
                if check:
                    check(r)
                self.count(kind)
                i += 1
        finally:
            c.close()

    def short(self, kind, paths):
        i = 0
        while not self.done():
            path = paths[i % len(paths)]
            r = self.srv.get(path, timeout=10)
            if r.status != 200:
                raise AssertionError(f"{path}: {r.status}")
            self.count(kind)
            i += 1

    def reader(self, kind):
        self.keepalive(kind, ["/poolwatch?json"], self.check_json)

    def check_json(self, r):
        """Every answer parses; the child that rendered it sampled itself
        just before, so children[] cannot be empty."""
        doc = json.loads(r.body)
        if not doc["children"]:
            with self.lock:
                self.empty.append(r.text[:1000])
        time.sleep(0.002)


def run_load(srv, seconds, extra_clients=()):
    load = Load(srv, seconds)
    mixed = ["/leak?what=none", "/static.txt"]
    for i in range(3):
        load.spawn(f"keepalive{i}", load.keepalive, mixed)
    for i in range(2):
        load.spawn(f"short{i}", load.short,
                   mixed + ["/leak?what=rpool&n=512"])
    readers = 2 if srv.poolwatch else 0
    for i in range(readers):
        load.spawn(f"json{i}", load.reader)
    for kind, paths in extra_clients:
        load.spawn(kind, load.keepalive, paths)
    load.join()
    print(f"{srv.mpm}: {sum(load.counts.values())} requests {load.counts}")
    assert not load.errors, "\n".join(load.errors)
    reads = load.counts.get("json0", 0) + load.counts.get("json1", 0)
    assert not load.empty, (
        f"{len(load.empty)} of {reads} /poolwatch?json answers had no "
        f"children, e.g.\n{load.empty[0]}")
    for kind in ("keepalive0", "short0", "json0", "json1")[:2 + readers]:
        assert load.counts.get(kind, 0) > 0, (kind, load.counts)
    return load


@pytest.mark.parametrize("mpm_name", ["worker", "event"])
def test_stress(httpd_factory, mpm_name):
    # Without a built mod_poolwatch this still loads mod_pwtest (no readers).
    srv = httpd_factory(mpm_name)
    run_load(srv, SECONDS)
    assert srv.alive()
    if srv.poolwatch:
        r = srv.get("/poolwatch?json")
        assert r.status == 200
        json.loads(r.body)
    assert srv.get("/static.txt").status == 200


@pytest.mark.parametrize("mpm_name", ["worker", "event"])
def test_stress_shared_pool_leaks(httpd_factory, mpm_name):
    srv = httpd_factory(mpm_name, poolwatch=True,
                        extra="PoolWatchSampleEvery 1")
    leaks = [("pchild", ["/leak?what=pchild&n=40", "/leak?what=none"]),
             ("pconf", ["/leak?what=pconf&n=24", "/static.txt"])]
    run_load(srv, SECONDS / 2, leaks)
    assert srv.alive()
    r = srv.get("/poolwatch?json")
    assert r.status == 200
    json.loads(r.body)
