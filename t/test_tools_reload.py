"""poolwatch-reload (tools/): the reload test as one command, against a real
apache2 with mod_poolwatch and mod_pwtest, under prefork and event.

Truth comes from mod_pwtest: what=pchild&n=1000 adds align8(1000) bytes to
pchild per request, what=none adds nothing.  Both verdicts are checked, each
on its own: the module's (the server's key) and the tool's (pw_detect on the
growth the tool read), and the exit status (0 no leak, 1 leak, 2 error).
Request counts are small and every run has a time limit.
"""

import json
import os
import subprocess

import pytest

import harness
from harness import align8

TOOL = harness.TOP / "tools" / "poolwatch-reload"
KEY_QUERY = "PoolWatchKey query"
THREADED = ("event",)
RUN_TIMEOUT = 90


@pytest.fixture(autouse=True)
def _tool_built():
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is not built: run make")


def run(*args, timeout=RUN_TIMEOUT):
    res = subprocess.run([str(TOOL), *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=timeout)
    return res


def run_json(*args):
    res = run("--json", *args)
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        raise AssertionError(f"--json output is not JSON (exit "
                             f"{res.returncode}):\n{res.stdout[:2000]}\n"
                             f"stderr: {res.stderr[-2000:]}")
    return res, doc


def leak_url(srv, what, n):
    return f"http://127.0.0.1:{srv.port}/leak?what={what}&n={n}"


def within(got, truth, frac=0.10):
    return truth * (1 - frac) <= got <= truth * (1 + frac)


@pytest.fixture(params=("prefork",) + THREADED)
def mpm2(request):
    return request.param


def test_pchild_leak_exit_1(httpd_factory, mpm2):
    srv = httpd_factory(mpm2, extra=KEY_QUERY, poolwatch=True)
    res, doc = run_json("-n", 60, leak_url(srv, "pchild", 1000))
    assert res.returncode == 1, (res.returncode, res.stderr, doc)
    assert doc["exit"] == 1 and doc["leak"] is True, doc
    truth = align8(1000)
    mod = doc["module"]
    assert mod["found"], mod
    assert mod["key"] == f"GET 127.0.0.1 /leak?what=pchild&n=1000", mod
    assert mod["verdict"] == "leak", mod
    assert mod["signal"] == "pool" and mod["pool"].endswith("/pchild"), mod
    assert within(mod["bytes_per_request"], truth), mod
    obs = doc["observed"]
    assert obs["verdict"] == "leak", obs
    assert obs["signal"] == "pool" and obs["pool"].endswith("/pchild"), obs
    assert within(obs["bytes_per_request"], truth), obs
    assert obs["signals"]["pool"]["verdict"] == "leak", obs["signals"]
    # the steps add up to what the server grew by, per request sent
    assert doc["completed"] == 60
    assert doc["steps"][-1]["requests"] == 60
    total = sum(s["pool_growth"] for s in doc["steps"])
    assert within(total, 60 * truth, 0.2), total


def test_none_exit_0(httpd_factory, mpm2):
    srv = httpd_factory(mpm2, extra=KEY_QUERY, poolwatch=True)
    res, doc = run_json("-n", 60, leak_url(srv, "none", 64))
    assert res.returncode == 0, (res.returncode, res.stderr, doc)
    assert doc["leak"] is False and doc["exit"] == 0
    assert doc["module"]["found"], doc["module"]
    assert doc["module"]["verdict"] in ("ok", "suspect"), doc["module"]
    assert doc["observed"]["verdict"] in ("ok", "suspect"), doc["observed"]
    for sig in ("pool", "heap", "rss"):
        # judged, not left in warm-up: "not leak" must mean something
        assert doc["observed"]["signals"][sig]["points"] >= 8, doc["observed"]


def test_text_output_names_both_verdicts(httpd_factory):
    srv = httpd_factory("prefork", extra=KEY_QUERY, poolwatch=True)
    res = run("-n", 40, "--every", 4, leak_url(srv, "pchild", 512))
    assert res.returncode == 1, (res.stdout, res.stderr)
    out = res.stdout
    assert "module verdict (the server's own" in out, out
    assert "tool verdict (this tool's" in out, out
    assert "result: LEAK (exit 1)" in out, out
    rows = [line.split() for line in out.splitlines()
            if line.strip() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(4, 41, 4)), out
    assert any("/pchild" in line for line in out.splitlines()
               if line.strip().startswith("40 ")), out


def test_new_connections_and_concurrency(httpd_factory):
    """Each request on its own connection, three in flight: the children
    that served them are summed, so the tool still sees the leak."""
    srv = httpd_factory("prefork", extra=KEY_QUERY, poolwatch=True)
    res, doc = run_json("-n", 90, "--new-connection", "-c", 3,
                        leak_url(srv, "pchild", 2048))
    assert res.returncode == 1, (res.stderr, doc)
    assert doc["keepalive"] is False and doc["concurrency"] == 3
    obs = doc["observed"]
    assert obs["verdict"] == "leak", obs
    assert within(obs["bytes_per_request"], align8(2048), 0.25), obs


def test_post_with_headers(httpd_factory, tmp_path):
    """A body and headers are sent; mod_pwtest answers POST with 405, so
    the run needs --allow-http-errors and counts the errors."""
    srv = httpd_factory("prefork", extra=KEY_QUERY, poolwatch=True)
    body = tmp_path / "body"
    body.write_bytes(b"x" * 100)
    res, doc = run_json("-n", 30, "-X", "POST", "--data-file", body,
                        "-H", "X-Test: 1", "--allow-http-errors",
                        leak_url(srv, "none", 64))
    assert res.returncode == 0, (res.stderr, doc)
    assert doc["method"] == "POST" and doc["http_errors"] == 30, doc
    assert doc["module"]["key"].startswith("POST 127.0.0.1 /leak?"), doc


def test_key_by_path_and_explicit_key(httpd_factory):
    """Default PoolWatchKey path: the key has no query; --key names one
    exactly, and an unknown one is reported as not found (no error)."""
    srv = httpd_factory("prefork", poolwatch=True)
    url = leak_url(srv, "pchild", 1000)
    res, doc = run_json("-n", 40, url)
    assert res.returncode == 1, (res.stderr, doc)
    assert doc["server"]["key_by"] == "path", doc["server"]
    assert doc["module"]["key"] == "GET 127.0.0.1 /leak", doc["module"]
    assert doc["module"]["verdict"] == "leak", doc["module"]
    res, doc = run_json("-n", 20, "--key", "GET 127.0.0.1 /leak", url)
    assert doc["module"]["found"] and doc["module"]["verdict"] == "leak", doc
    res, doc = run_json("-n", 20, "--key", "GET nowhere /x",
                        leak_url(srv, "none", 64))
    assert res.returncode == 0, (res.stderr, doc)
    assert doc["module"] == {"key": "GET nowhere /x", "found": False,
                             "verdict": None}, doc["module"]


def test_json_shape(httpd_factory):
    srv = httpd_factory("prefork", extra=KEY_QUERY, poolwatch=True)
    res, doc = run_json("-n", 20, "-e", 5, leak_url(srv, "none", 64))
    assert res.returncode == 0, res.stderr
    for field in ("tool", "format", "url", "status_url", "method", "requests",
                  "completed", "concurrency", "keepalive", "every", "warmup",
                  "elapsed_s", "http_errors", "server", "steps", "module",
                  "observed", "leak", "exit", "error"):
        assert field in doc, (field, sorted(doc))
    assert doc["tool"] == "poolwatch-reload" and doc["format"] == 1
    assert doc["status_url"] == f"http://127.0.0.1:{srv.port}/poolwatch?json"
    assert [s["requests"] for s in doc["steps"]] == [5, 10, 15, 20]
    for s in doc["steps"]:
        assert set(s) == {"requests", "pool_growth", "heap_growth",
                          "rss_growth", "pools"}, s
    assert set(doc["observed"]["signals"]) == {"pool", "heap", "rss"}
    assert doc["server"]["mpm"] == "prefork", doc["server"]


# -- errors: exit 2 ------------------------------------------------------------

def test_unreachable_server():
    port = harness.free_port()
    res = run("-n", 5, "--connect-timeout", 2, f"http://127.0.0.1:{port}/")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "error" in res.stderr, res.stderr


def test_unreachable_server_json():
    port = harness.free_port()
    res, doc = run_json("-n", 5, f"http://127.0.0.1:{port}/")
    assert res.returncode == 2 and doc["exit"] == 2, doc
    assert doc["error"], doc


def test_no_poolwatch_on_server(httpd_factory):
    srv = httpd_factory("prefork", poolwatch=False)
    res = run("-n", 5, f"http://127.0.0.1:{srv.port}/index.html")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "404" in res.stderr, res.stderr


def test_status_not_json(httpd_factory):
    srv = httpd_factory("prefork", poolwatch=True)
    res = run("-n", 5, "--status", f"http://127.0.0.1:{srv.port}/index.html",
              f"http://127.0.0.1:{srv.port}/index.html")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "not mod_poolwatch's JSON" in res.stderr, res.stderr


def test_http_errors(httpd_factory):
    srv = httpd_factory("prefork", poolwatch=True)
    url = f"http://127.0.0.1:{srv.port}/missing.html"
    res = run("-n", 5, url)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "HTTP 404" in res.stderr, res.stderr
    res, doc = run_json("-n", 20, "--allow-http-errors", url)
    assert res.returncode == 0, (res.stderr, doc)
    assert doc["http_errors"] == 20, doc


@pytest.mark.parametrize("args", [
    [],                                     # no URL, no -n
    ["http://127.0.0.1:1/"],                # no -n
    ["-n", "0", "http://127.0.0.1:1/"],
    ["-n", "x", "http://127.0.0.1:1/"],
    ["-n", "5", "-c", "0", "http://127.0.0.1:1/"],
    ["-n", "5", "--every", "-1", "http://127.0.0.1:1/"],
    ["-n", "5", "-H", "no colon", "http://127.0.0.1:1/"],
    ["-n", "5", "--no-such-option", "http://127.0.0.1:1/"],
    ["-n", "5", "ftp://127.0.0.1/"],
    ["-n", "5", "not a url"],
    ["-n", "5", "--data-file", "/nonexistent/file", "http://127.0.0.1:1/"],
    ["-n", "5", "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"],
])
def test_bad_arguments(args):
    res = run(*args, timeout=20)
    assert res.returncode == 2, (args, res.stdout, res.stderr)
    assert res.stderr.strip(), args
    assert not res.stdout.strip(), (args, res.stdout)


def test_help():
    res = run("--help", timeout=20)
    assert res.returncode == 0
    for word in ("-n", "--every", "--status", "--json", "Exit status"):
        assert word in res.stdout, word


@pytest.mark.parametrize("args,named", [
    (["-n", "x"], "-n/--requests"),
    (["-n", "5", "-c", "0"], "-c/--concurrency"),
    (["-n", "5", "--timeout", "0"], "--timeout"),
    (["-n", "nan"], "-n/--requests"),
])
def test_bad_value_names_the_option(args, named):
    res = run(*args, "http://127.0.0.1:1/", timeout=20)
    assert res.returncode == 2, (args, res.stderr)
    assert f"{named}: bad value" in res.stderr, res.stderr
