"""Hostile requests against a real apache2 under prefork, worker and event.

* 8 KiB paths (just under LimitRequestLine) and longer ones (414);
* invalid UTF-8 and control bytes in keys, raw and %-encoded, in the path
  (PoolWatchKey path) and in the query (PoolWatchKey query);
* a flood of distinct keys (wrk with a Lua script: every request a new
  path): the key table stays at PoolWatchMaxKeys, every key that found
  no room is counted (keys_evicted, keys_overflow), the shared segment
  keeps its size and the children's RSS stays bounded.

After each, /poolwatch?json must be strict UTF-8 without raw control bytes
and parse as JSON, every key at most PW_KEY_MAX - 1 bytes before escaping;
?format=prometheus must pass the strict reader (t/promtext.py) and, when
installed, promtool check metrics.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import harness
from harness import Deadline, child_of
from promtext import Exposition

PW_KEY_MAX = 128
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
FLOOD_SECONDS = int(os.environ.get("PW_FLOOD_SECONDS", "10"))
FLOOD_TARGET = 100000
MAX_KEYS = 16
# RSS a child may gain over a flood of distinct keys (nothing per key is
# kept outside the fixed table; apache's own per-connection buffers and
# malloc arenas move a little)
RSS_SLACK = 8 << 20


def raw_request(port, request_bytes, timeout=10):
    """Sends bytes as they are (no client-side checks); returns the status
    line's code, or None when the server closed without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request_bytes)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def check_json(body):
    """Strict UTF-8, no raw control bytes, parses; returns the document."""
    text = body.decode("utf-8")  # strict: raises on invalid UTF-8
    bad = [hex(ord(c)) for c in text[:-1] if ord(c) < 0x20 or ord(c) == 0x7f]
    assert not bad, f"raw control bytes in the JSON: {bad[:10]}"
    doc = json.loads(text)
    for ch in doc["children"]:
        for k in ch.get("keys", []):
            key = k["key"]
            # each source byte gives at most one character (U+FFFD for a
            # byte that is not UTF-8): count characters, not bytes
            assert len(key) <= PW_KEY_MAX - 1, (len(key), key[:80])
            assert not any(ord(c) < 0x20 or ord(c) == 0x7f for c in key), key
    return doc


def check_prometheus(body):
    e = Exposition(body)  # strict: raises on any format error
    if os.path.exists(PROMTOOL):
        res = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=60)
        assert res.returncode == 0 and not res.stdout.strip(), res.stdout
    return e


def read_all(srv):
    with srv.client() as c:
        r = c.get("/poolwatch?json")
        assert r.status == 200, r.status
        doc = check_json(r.body)
        r = c.get("/poolwatch?format=prometheus")
        assert r.status == 200, r.status
        check_prometheus(r.body)
    return doc


# -- long paths ----------------------------------------------------------------

@pytest.mark.parametrize("key_by", ["path", "query"])
def test_long_paths(httpd_factory, mpm, key_by):
    srv = httpd_factory(mpm, poolwatch=True, extra=f"PoolWatchKey {key_by}")
    with srv.client() as c:
        pid = c.leak("none")
        # 8 KiB of path (the request line stays under LimitRequestLine)
        long_path = "/" + "p" * 8000
        r = c.get(long_path + "?" + "q" * 100)
        # a file name over NAME_MAX: 403 (or 404), never a crash
        assert r.status in (403, 404), r.status
        r = c.get("/index.html?" + "x" * 8000)
        assert r.status == 200, r.status
        doc = c.poolwatch()
    me = child_of(doc, pid)
    long_keys = [k["key"] for k in me["keys"] if "ppp" in k["key"]
                 or "xxx" in k["key"]]
    assert len(long_keys) == (2 if key_by == "query" else 1), [
        k["key"] for k in me["keys"]]
    for k in long_keys:
        assert len(k.encode()) == PW_KEY_MAX - 1, (len(k), k)
    # over LimitRequestLine: refused by httpd, the module still fine
    status = raw_request(srv.port, b"GET /" + b"z" * 9000 +
                         b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414, status
    read_all(srv)


# -- invalid UTF-8 and control bytes ------------------------------------------

HOSTILE_TARGETS = [
    b"/%ff%fe%c0%af%ed%a0%80",            # invalid UTF-8, %-encoded
    b"/\xff\xfe\xc3\x28\xe2\x82",          # raw, invalid
    b"/%01%02%1b[31m%7f%0d%0a",           # control bytes, %-encoded
    b"/a%22b%5cc\"d\\e",                 # JSON's quote and backslash
    b"/index.html?q=\xff\xc0\xaf%00%0a\x7f",
    b"/x?\x1b[2J\xef\xbf\xbf\xf4\x90\x80\x80",
    b"/\xf0\x9f\x92\xa9?snowman=\xe2\x98\x83",  # valid UTF-8 must survive
]


@pytest.mark.parametrize("key_by", ["path", "query"])
def test_invalid_utf8_and_control_bytes(httpd_factory, mpm, key_by):
    srv = httpd_factory(mpm, poolwatch=True, extra=f"PoolWatchKey {key_by}")
    statuses = []
    for target in HOSTILE_TARGETS:
        for _ in range(3):
            statuses.append(raw_request(
                srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1"
                b"\r\nConnection: close\r\n\r\n"))
    # httpd refuses some (400) and serves others: it must answer them all
    assert None not in statuses, statuses
    doc = read_all(srv)
    keys = [k["key"] for ch in doc["children"] for k in ch.get("keys", [])]
    assert any("\U0001f4a9" in k for k in keys), keys
    assert any("\ufffd" in k for k in keys), keys
    if key_by == "query":
        assert any("\u2603" in k for k in keys), keys


# -- a flood of distinct keys --------------------------------------------------

WRK_SCRIPT = """
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/k/" .. id .. "/" .. n)
end
"""


def child_pids(srv):
    parent = srv.parent_pid()
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)],
                         stdout=subprocess.PIPE, text=True).stdout
    return [int(p) for p in out.split()]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_distinct_key_flood(httpd_factory, mpm, tmp_path):
    if not os.path.exists(WRK):
        pytest.fail(f"{WRK} missing: build/deps --install")
    srv = httpd_factory(mpm, poolwatch=True,
                        extra=f"PoolWatchMaxKeys {MAX_KEYS}")
    script = tmp_path / "distinct.lua"
    script.write_text(WRK_SCRIPT)
    # warm every child up with the same kind of traffic, then measure
    subprocess.run([WRK, "-t1", "-c4", "-d1s", "-s", str(script),
                    f"http://127.0.0.1:{srv.port}/"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=30)
    before = read_all(srv)
    rss_before = {p: rss_kib(p) for p in child_pids(srv)}
    res = subprocess.run([WRK, "-t2", "-c16", f"-d{FLOOD_SECONDS}s",
                          "-s", str(script), f"http://127.0.0.1:{srv.port}/"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=FLOOD_SECONDS + 60)
    m = re.search(r"(\d+) requests in", res.stdout)
    assert res.returncode == 0 and m, res.stdout
    sent = int(m.group(1))
    rss_after = {p: rss_kib(p) for p in child_pids(srv)}
    after = read_all(srv)

    assert after["server"]["shm_bytes"] == before["server"]["shm_bytes"]
    counted = live = 0
    for ch in after["children"]:
        assert len(ch.get("keys", [])) <= MAX_KEYS, (ch["pid"],
                                                     len(ch["keys"]))
        if ch["state"] == "running":
            counted += ch["keys_overflow"] + ch["keys_evicted"]
            live += len(ch["keys"])
    was = sum(ch["keys_overflow"] + ch["keys_evicted"]
              for ch in before["children"] if ch["state"] == "running")
    grown = {p: rss_after[p] - rss_before[p] for p in rss_after
             if p in rss_before}
    print(f"\n{mpm}: {sent} distinct keys in {FLOOD_SECONDS}s "
          f"({sent // FLOOD_SECONDS}/s); evicted+overflow {counted - was}, "
          f"live {live}; shm {after['server']['shm_bytes']} B; "
          f"RSS growth KiB {grown}")
    # every distinct key either holds an entry or was counted
    assert counted - was + live >= sent * 0.99, (sent, counted - was, live)
    if not harness.SANITIZE:  # ASan's quarantine keeps freed memory
        for pid, kib in grown.items():
            assert kib * 1024 <= RSS_SLACK, (
                f"child {pid} RSS grew {kib} KiB over {sent} distinct keys")
    r = srv.get("/index.html")
    assert r.status == 200


# -- a hostile key that leaks: its labels in Prometheus --------------------------

def pipelined(port, targets, timeout=30):
    """Sends every target on ONE connection (so one child serves them all),
    pipelined, the last with Connection: close; returns the status codes."""
    req = b"".join(b"GET " + t + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                   (b"Connection: close\r\n" if i == len(targets) - 1
                    else b"") + b"\r\n"
                   for i, t in enumerate(targets))
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req)
        deadline = Deadline(timeout)
        while not deadline.expired():
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def test_hostile_leaking_key_in_prometheus(httpd_factory, mpm):
    """/leak/<hostile bytes>?what=pchild is served by mod_pwtest (the
    <Location /leak> prefix) and leaks: its key, cut from invalid UTF-8
    and control bytes, is flagged and must come out as a well-formed
    label (promtool agrees), and as valid JSON."""
    srv = httpd_factory(mpm, poolwatch=True, extra="PoolWatchWarmup 0\n"
                        "PoolWatchSampleEvery 1\nPoolWatchKey path")
    target = b"/leak/\xff\xfe%01%22q%5c%1b?what=pchild&n=512"
    statuses = pipelined(srv.port, [target] * 40)
    assert statuses == [200] * 40, statuses
    doc = read_all(srv)
    flagged = [k for k in doc["keys"] if k["verdict"] in ("leak", "suspect")]
    assert flagged, [(k["key"], k["verdict"]) for k in doc["keys"]]
    key = flagged[0]["key"]
    assert key == 'GET 127.0.0.1 /leak/\ufffd\ufffd?"q\\?', key
    with srv.client() as c:
        r = c.get("/poolwatch?format=prometheus")
    e = check_prometheus(r.body)
    labels = [lab["key"] for lab, _ in e.samples("poolwatch_key_leak")]
    assert key in labels, labels
