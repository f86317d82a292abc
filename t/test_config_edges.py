"""Configurations a production server may have that the template does not.

  - no mod_status at all (no status_module LoadModule): mod_poolwatch must
    not depend on it, only offer to it
  - ExtendedStatus Off: the module keys and judges requests itself, so
    verdicts must not depend on the scoreboard's request details
  - mod_poolwatch loaded twice (the same file, or a copy under another
    name, as a2enmod plus a hand-written LoadModule would do): httpd skips
    the second with "AH01574: module poolwatch_module is already loaded,
    skipping"; the one loaded must work and nothing may crash
  - PoolWatch Off: loaded, samples nothing, /poolwatch says it is disabled
    (503, in every format), and PoolWatch Off and On across graceful
    restarts (the shared segment is kept in the process pool between
    generations, so this is where a stale pointer would show)

Each server is made by the httpd_factory fixture, which fails the test on
any crash line or core; the rendered configuration is edited before start.
"""

import json
import os
import re
import shutil
import signal
import time

import pytest

import harness
from harness import Deadline

LEAK = "/leak?what=pchild&n=1000"
SKIPPED = "module poolwatch_module is already loaded, skipping"


def edit_config(srv, fn):
    """Makes srv render its config through fn(text) -> text."""
    render = srv.render

    def edited(port):
        path = render(port)
        path.write_text(fn(path.read_text()))
        return path
    srv.render = edited
    return srv


def module_line():
    return f"LoadModule poolwatch_module {harness.MODULE_SO}"


def leak_verdict(srv, requests=160):
    """Leaks from pchild on one keep-alive connection until that child
    says "leak" for the key; returns the key's entry (fails otherwise)."""
    with srv.client() as c:
        pid = None
        for n in range(1, requests + 1):
            p = c.leak("pchild", 1000)
            pid = pid or p
            if n >= 40 and n % 8 == 0:
                child = harness.child_of(c.poolwatch(), pid)
                for k in child["keys"]:
                    if "/leak" in k["key"] and k["verdict"] == "leak":
                        return k
    raise AssertionError(f"no leak verdict in pid {pid} after {requests} "
                         f"requests")


def assert_serves_poolwatch(srv):
    r = srv.get("/poolwatch?json")
    assert r.status == 200, (r.status, r.text[:300])
    doc = r.json()
    assert doc["children"], doc
    r = srv.get("/poolwatch?format=prometheus")
    assert r.status == 200 and b"poolwatch_generation" in r.body
    r = srv.get("/poolwatch")
    assert r.status == 200 and b"<html" in r.body.lower()
    return doc


def test_without_mod_status(httpd_factory, need_poolwatch, mpm):
    srv = httpd_factory(mpm, poolwatch=True, start=False)
    edit_config(srv, lambda t: re.sub(r"(?m)^LoadModule status_module .*\n",
                                      "", t))
    srv.start()
    assert "status_module" not in srv.conf.read_text()
    assert_serves_poolwatch(srv)
    # the server-status handler has no module now: httpd's own answer
    assert srv.get("/server-status").status in (404, 500)
    key = leak_verdict(srv)
    assert key["signal"] == "pool", key


@pytest.mark.parametrize("mpm_name", ["prefork", "event"])
def test_extended_status_off(httpd_factory, need_poolwatch, mpm_name):
    srv = httpd_factory(mpm_name, poolwatch=True,
                        extra="ExtendedStatus Off\n")
    assert_serves_poolwatch(srv)
    r = srv.get("/server-status?auto")
    assert r.status == 200 and b"ServerMPM" in r.body
    key = leak_verdict(srv)
    assert key["signal"] == "pool" and key["pool"].endswith("pchild"), key


@pytest.mark.parametrize("copy", [False, True], ids=["same", "copy"])
def test_loaded_twice(httpd_factory, need_poolwatch, mpm, copy):
    srv = httpd_factory(mpm, poolwatch=True, start=False)
    second = module_line()
    if copy:
        dup = srv.root / "mod_poolwatch_copy.so"
        shutil.copy(harness.MODULE_SO, dup)
        second = f"LoadModule poolwatch_module {dup}"
    edit_config(srv, lambda t: t.replace(module_line(),
                                         module_line() + "\n" + second))
    code, out = srv.configtest()
    assert code == 0, out
    assert SKIPPED in out, out
    srv.start()
    assert len(re.findall(r"(?m)^LoadModule poolwatch_module ",
                          srv.conf.read_text())) == 2
    doc = assert_serves_poolwatch(srv)
    assert doc["server"]["mpm"] == mpm
    assert SKIPPED in srv.log_text(), srv.log_text()[-2000:]
    leak_verdict(srv)
    # a graceful restart reads the config (and the warning) again
    mark = srv.log_mark()
    os.kill(srv.parent_pid(), signal.SIGUSR1)
    wait_generation(srv, doc["server"]["generation"] + 1)
    assert SKIPPED in srv.log_text(mark)
    assert_serves_poolwatch(srv)


def wait_generation(srv, gen, seconds=20):
    """Polls /poolwatch?json on new connections until it shows gen."""
    dl = Deadline(seconds)
    last = None
    while not dl.expired():
        try:
            r = srv.get("/poolwatch?json", timeout=5)
            if r.status == 200:
                last = r.json()["server"]["generation"]
                if last == gen:
                    return r.json()
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"generation {gen} not seen, last {last}")


def assert_disabled(srv):
    for path in ("/poolwatch", "/poolwatch?json",
                 "/poolwatch?format=prometheus"):
        r = srv.get(path)
        assert r.status == 503, (path, r.status, r.text[:300])
        assert "disabled" in r.text, (path, r.text)
    # a bad query is still a bad query
    assert srv.get("/poolwatch?nonsense").status == 400


def test_poolwatch_off(httpd_factory, need_poolwatch, mpm):
    srv = httpd_factory(mpm, poolwatch=True, extra="PoolWatch Off\n")
    for _ in range(50):
        assert srv.get(LEAK).status == 200
    assert srv.get("/static.txt").status == 200
    assert_disabled(srv)
    # disabled means silent: no module line at all in error_log
    assert "[poolwatch:" not in srv.log_text(), srv.log_text()[-2000:]


def test_poolwatch_off_on_across_restarts(httpd_factory, need_poolwatch):
    """On -> Off -> On by graceful restarts, with the module's figures
    readable again after the last one and a leak found there."""
    srv = httpd_factory("event", poolwatch=True)
    doc = assert_serves_poolwatch(srv)
    gen = doc["server"]["generation"]
    parent = srv.parent_pid()
    for enabled in (False, True, False, True):
        srv.extra = "" if enabled else "PoolWatch Off\n"
        srv.render(srv.port)
        mark = srv.log_mark()
        os.kill(parent, signal.SIGUSR1)
        gen += 1
        dl = Deadline(20)
        while srv.log_text(mark).count("resuming normal operations") < 1:
            dl.check("graceful restart")
            time.sleep(0.05)
        if enabled:
            doc = wait_generation(srv, gen)
            assert_serves_poolwatch(srv)
        else:
            time.sleep(0.3)
            assert_disabled(srv)
        assert srv.parent_pid() == parent and srv.alive()
    key = leak_verdict(srv)
    assert key["signal"] == "pool", key
    json.dumps(doc)
