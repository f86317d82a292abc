"""/poolwatch?format=prometheus against its consumers.

* The exposition from a real apache2 (prefork, worker, event) with leaking
  keys, hostile ones among them, parsed strictly (t/promtext.py): exact
  values that match what the server was made to do, and Debian's
  `promtool check metrics` finds nothing to say.
* conf/poolwatch-alerts.yml passes `promtool check rules` and the rule unit
  tests in t/prometheus/*.test.yml (`promtool test rules`).
* A real Prometheus server (Debian's, on 127.0.0.1, data under the test's
  tmp dir) scrapes a test apache2 and answers queries about it.
* Debian's prometheus-apache-exporter still reads /server-status?auto
  with mod_poolwatch loaded.

Every child process is started in its own session and stopped by its pid,
every wait is bounded in time and count.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from harness import TOP, Deadline, child_of, free_port
from promtext import Exposition

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
EXPORTER = (shutil.which("prometheus-apache-exporter")
            or "/usr/bin/prometheus-apache-exporter")
ALERTS = TOP / "conf" / "poolwatch-alerts.yml"
RULE_TESTS = sorted((TOP / "t" / "prometheus").glob("*.test.yml"))
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROM_URL = "/poolwatch?format=prometheus"
HOST = "127.0.0.1"
EXPECTED_WALK = {"prefork": "exact", "worker": "locked", "event": "locked"}
FFFD = "\ufffd"

# Hostile keys: a path with a double quote, a backslash, a byte that is not
# UTF-8 (0xff, then 0xfe) and a newline (pw_key_make turns control bytes
# into '?'), then braces.  A and B differ only in the invalid byte, so they
# are one label value once escaped: B (more requests) is kept, A dropped.
HOSTILE_A = "/leak/%22q%5Cb%ff%0a%7B%7D?what=pchild&n=1024"
HOSTILE_B = "/leak/%22q%5Cb%fe%0a%7B%7D?what=pchild&n=1024"
HOSTILE_LABEL = (f'GET {HOST} /leak/"q\\b{FFFD}?{{}}'
                 f"?what=pchild&n=1024")
HOSTILE_A_REQUESTS, HOSTILE_B_REQUESTS = 50, 60
PCONF = "/leak?what=pconf&n=24"
PCONF_LABEL = f"GET {HOST} {PCONF}"


def need(path):
    if not os.path.exists(path):
        pytest.fail(f"{path} missing: build/deps --install")


def within(got, truth, rel=0.10):
    return truth * (1 - rel) <= got <= truth * (1 + rel)


def leak_run(srv):
    """The hostile and pconf leaks on one keep-alive connection, then the
    exposition and the JSON read on it.  Returns (pid, prom response,
    json doc)."""
    deadline = Deadline(90)
    pids = set()
    with srv.client() as c:
        for path, count in ((HOSTILE_A, HOSTILE_A_REQUESTS),
                            (HOSTILE_B, HOSTILE_B_REQUESTS), (PCONF, 50)):
            for _ in range(count):
                deadline.check("leak run")
                r = c.get(path)
                assert r.status == 200, (path, r.status, r.text)
                pids.add(int(r.fields()["pid"]))
        prom = c.get(PROM_URL)
        doc = c.get("/poolwatch?json").json()
    assert len(pids) == 1, f"one connection, several children: {pids}"
    return pids.pop(), prom, doc


def promtool_check_metrics(body):
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60)
    return res.returncode, res.stdout.decode("utf-8", "replace")


# -- the exposition ------------------------------------------------------------

def test_exposition_with_hostile_leaks(httpd_factory, mpm):
    need(PROMTOOL)
    srv = httpd_factory(mpm, extra="PoolWatchKey query", poolwatch=True)
    pid, r, doc = leak_run(srv)
    assert r.status == 200, r.text[:300]
    assert r.headers["Content-Type"] == CONTENT_TYPE
    assert r.headers.get("Cache-Control") == "no-store"

    rc, out = promtool_check_metrics(r.body)
    assert rc == 0 and out.strip() == "", f"promtool check metrics:\n{out}"

    e = Exposition(r.body)
    (info, one), = e.samples("poolwatch_info")
    assert one == 1
    assert info["mpm"] == mpm and info["walk"] == EXPECTED_WALK[mpm], info
    assert info["key_by"] == "query" and info["version"].startswith(
        "Apache/2.4"), info
    assert e.value("poolwatch_generation") == doc["server"]["generation"]
    assert e.value("poolwatch_slots") == doc["server"]["slots"]
    assert e.value("poolwatch_shm_bytes") == doc["server"]["shm_bytes"]

    # per child: the reading's own request is counted after it was served,
    # so the JSON read right after sees one more
    me = child_of(doc, pid)
    slot = me["slot"]
    assert e.value("poolwatch_child_requests_total", pid=pid, slot=slot) \
        == me["requests"] - 1
    assert e.value("poolwatch_child_state", pid=pid, slot=slot,
                   state="running") == 1
    assert e.value("poolwatch_child_state", pid=pid, slot=slot,
                   state="exited") == 0
    for fam in ("poolwatch_child_pool_bytes", "poolwatch_child_heap_bytes",
                "poolwatch_child_rss_bytes"):
        assert e.value(fam, pid=pid, slot=slot) > 0, fam
    running = [c for c in doc["children"] if c["state"] == "running"]
    assert e.value("poolwatch_children", state="running") == len(running)
    assert len(e.samples("poolwatch_child_requests_total")) == \
        len(doc["children"])

    # keys: the two hostile ones and pconf leak; one label for the hostile
    verdicts = [k["verdict"] for k in doc["keys"]]
    for v in ("leak", "suspect", "ok", "warmup"):
        assert e.value("poolwatch_keys", verdict=v) == verdicts.count(v), v
    assert verdicts.count("leak") == 3, [
        (k["key"], k["verdict"]) for k in doc["keys"]]
    assert e.value("poolwatch_keys_flagged_dropped") == 1

    leaks = e.samples("poolwatch_key_leak")
    assert sorted(lab["key"] for lab, _ in leaks) == sorted(
        [HOSTILE_LABEL, PCONF_LABEL]), leaks
    assert e.value("poolwatch_key_leak", key=HOSTILE_LABEL) == 1
    (lab, _), = e.samples("poolwatch_key_leak", key=HOSTILE_LABEL)
    assert lab["signal"] == "pool" and lab["pool"].endswith("/pchild"), lab
    grow = e.value("poolwatch_key_growth_bytes_per_request",
                   key=HOSTILE_LABEL)
    assert within(grow, 1024), grow
    assert e.value("poolwatch_key_requests_total", key=HOSTILE_LABEL) \
        == HOSTILE_B_REQUESTS
    assert e.value("poolwatch_key_children_affected", key=HOSTILE_LABEL) == 1

    (lab, _), = e.samples("poolwatch_key_leak", key=PCONF_LABEL)
    assert lab == {"key": PCONF_LABEL, "signal": "pool",
                   "pool": "process/pconf"}, lab
    grow = e.value("poolwatch_key_growth_bytes_per_request", key=PCONF_LABEL)
    assert within(grow, 24), grow

    # the pools the flagged keys name, in the child that flagged them
    pchild = e.value("poolwatch_pool_bytes", pid=pid, slot=slot,
                     pool=lab["pool"])
    assert pchild > 0
    pchild = [s for s in e.samples("poolwatch_pool_bytes", pid=pid)
              if s[0]["pool"].endswith("/pchild")]
    assert len(pchild) == 1 and pchild[0][1] >= 1024 * (
        HOSTILE_A_REQUESTS + HOSTILE_B_REQUESTS), pchild


def test_format_argument(server):
    with server.client() as c:
        a = c.get("/poolwatch?format=json")
        b = c.get("/poolwatch?json")
        p = c.get("/poolwatch?format=prometheus")
    assert a.status == 200 and b.status == 200 and p.status == 200
    assert a.headers["Content-Type"].startswith("application/json")
    assert a.json().keys() == b.json().keys()
    assert p.headers["Content-Type"] == CONTENT_TYPE
    Exposition(p.body)
    for query in ("format", "format=", "format=xml", "format=Prometheus",
                  "json=prometheus"):
        r = server.get(f"/poolwatch?{query}")
        assert r.status == 400, (query, r.status, r.text[:200])


# -- alert rules ---------------------------------------------------------------

def test_alert_rules_check_and_unit_tests():
    need(PROMTOOL)
    assert RULE_TESTS, "no t/prometheus/*.test.yml"
    res = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60)
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout
    res = subprocess.run([PROMTOOL, "test", "rules"] + [str(p)
                                                        for p in RULE_TESTS],
                         cwd=TOP / "t" / "prometheus",
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120)
    assert res.returncode == 0 and "FAILED" not in res.stdout, res.stdout


# -- daemons -------------------------------------------------------------------

class Daemon:
    """A process in its own session, output to a file, stopped by pid."""

    def __init__(self, argv, log):
        self.log = Path(log)
        self._f = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._f, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._f.close()


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def promql(port, query):
    url = (f"http://127.0.0.1:{port}/api/v1/query?"
           + urllib.parse.urlencode({"query": query}))
    _, body = http_get(url)
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


# -- a real Prometheus server --------------------------------------------------

def test_prometheus_server_scrapes(httpd_factory, tmp_path):
    need(PROMETHEUS)
    srv = httpd_factory("event", extra="PoolWatchKey query", poolwatch=True)
    with srv.client() as c:
        for _ in range(50):
            c.get(PCONF)
    port = free_port()
    (tmp_path / "data").mkdir()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {ALERTS}
scrape_configs:
  - job_name: poolwatch
    metrics_path: /poolwatch
    params:
      format: [prometheus]
    static_configs:
      - targets: ["127.0.0.1:{srv.port}"]
""")
    prom = Daemon([PROMETHEUS, f"--config.file={conf}",
                   f"--storage.tsdb.path={tmp_path / 'data'}",
                   f"--web.listen-address=127.0.0.1:{port}",
                   "--storage.tsdb.retention.time=1h",
                   "--log.level=warn"], tmp_path / "prometheus.log")
    try:
        deadline = Deadline(30)
        up = leak = None
        while not deadline.expired():
            assert prom.alive(), f"prometheus exited:\n{prom.text()}"
            try:
                up = promql(port, 'up{job="poolwatch"}')
                leak = promql(port, "poolwatch_key_leak")
            except (OSError, urllib.error.URLError, ValueError):
                up = leak = None
            if up and up[0]["value"][1] == "1" and leak:
                break
            time.sleep(0.5)
        assert up and up[0]["value"][1] == "1", (up, prom.text()[-2000:])
        assert len(leak) == 1, leak
        assert leak[0]["metric"]["key"] == PCONF_LABEL, leak
        assert leak[0]["metric"]["pool"] == "process/pconf", leak
        assert leak[0]["value"][1] == "1", leak
        assert leak[0]["metric"]["instance"] == f"127.0.0.1:{srv.port}"

        # what Prometheus stored is what the server counted
        got = promql(port, "sum(poolwatch_child_requests_total)")
        assert got and float(got[0]["value"][1]) >= 50, got
        got = promql(port, 'poolwatch_keys{verdict="leak"}')
        assert got and got[0]["value"][1] == "1", got

        # the target is healthy, the scrapes clean, the rules loaded
        _, body = http_get(f"http://127.0.0.1:{port}/api/v1/targets")
        targets = json.loads(body)["data"]["activeTargets"]
        assert len(targets) == 1 and targets[0]["health"] == "up", targets
        assert targets[0]["lastError"] == "", targets
        _, body = http_get(f"http://127.0.0.1:{port}/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert rules and all(r["health"] != "err" for r in rules), rules
        assert "PoolWatchLeak" in {r["name"] for r in rules}, rules
        _, own = http_get(f"http://127.0.0.1:{port}/metrics")
        for line in own.splitlines():
            if line.startswith(("prometheus_target_scrapes_sample_duplicate",
                                "prometheus_target_scrapes_sample_out_of")):
                assert line.endswith(" 0"), line
    finally:
        prom.stop()
    assert "level=error" not in prom.text(), prom.text()[-3000:]


# -- prometheus-apache-exporter reads /server-status?auto ----------------------

def exporter_samples(text):
    """{(name, labels text): value} of an exporter's /metrics (which also
    holds Go runtime summaries: read loosely, line by line)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, val = line.rpartition(" ")
        name, _, labels = head.partition("{")
        out[(name, labels.rstrip("}"))] = float(val)
    return out


def test_apache_exporter_reads_server_status(httpd_factory, mpm, tmp_path):
    need(EXPORTER)
    srv = httpd_factory(mpm, extra="ExtendedStatus On", poolwatch=True)
    with srv.client() as c:
        for _ in range(20):
            assert c.get("/index.html").status == 200
    r = srv.get("/server-status?auto")
    assert r.status == 200 and "Scoreboard:" in r.text, r.text[:500]

    port = free_port()
    exp = Daemon([EXPORTER,
                  f"--scrape_uri=http://127.0.0.1:{srv.port}"
                  f"/server-status?auto",
                  f"--telemetry.address=127.0.0.1:{port}"],
                 tmp_path / "exporter.log")
    try:
        deadline = Deadline(20)
        metrics = None
        while not deadline.expired():
            assert exp.alive(), f"exporter exited:\n{exp.text()}"
            try:
                _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        assert metrics is not None, exp.text()
        # a second scrape, after the first one's request was counted
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    finally:
        exp.stop()
    got = exporter_samples(metrics)
    # apache_up stays 1 when a line fails to parse (the exporter then logs
    # "Error scraping apache", counts a failure and stops before the
    # workers): the failure count and the log say whether it parsed
    assert got.get(("apache_up", "")) == 1, metrics
    assert got.get(("apache_exporter_scrape_failures_total", ""), 0) == 0, \
        metrics
    assert got.get(("apache_workers", 'state="busy"'), 0) >= 1, metrics
    assert ("apache_workers", 'state="idle"') in got, metrics
    states = {lab for name, lab in got if name == "apache_scoreboard"}
    for st in ("idle", "reply", "keepalive", "open_slot"):
        assert f'state="{st}"' in states, states
    # every request so far, with the first scrape's (ExtendedStatus On)
    assert got.get(("apache_accesses_total", ""), 0) >= 22, metrics
    assert ("apache_uptime_seconds_total", "") in got, metrics
    log = exp.text()
    bad = [line for line in log.splitlines()
           if "level=error" in line or "level=warn" in line
           or "rror" in line]
    assert not bad, log
