"""The /poolwatch page in a real browser: headless Chromium.

A server with a flagged leak (mod_pwtest /leak?what=pchild&n=1000 on one
keep-alive connection, as in test_verdicts.py), then Chromium loads the page
twice: --dump-dom gives the DOM as the browser built it (parsed here with
html.parser: tables present, one <svg> per graph, every graph titled and its
axes labelled), and --screenshot saves a PNG under the test's directory in
t/out/ for a human to look at.

Chromium comes from Debian's `chromium` package (build/deps installs it).
Not installed: skipped when not root (a developer's machine), a failure as
root (CI, where build/deps --install must have put it there).
"""

import os
import shutil
import subprocess

import pytest

from test_page import Dom, KEY_QUERY, LEAK_N, expected_graphs, leak_run

CHROMIUM = next((p for p in (os.environ.get("PW_CHROMIUM"),
                             shutil.which("chromium"),
                             shutil.which("chromium-browser"))
                 if p), None)


def need_chromium():
    if CHROMIUM:
        return
    why = "chromium is not installed (apt-get install chromium)"
    if os.geteuid() == 0:
        pytest.fail(why + "; as root build/deps --install should have "
                    "installed it")
    pytest.skip(why)


def chromium(srv, *args, timeout=90):
    profile = srv.root / "chromium"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root
    env = dict(os.environ, HOME=str(profile))
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=timeout, env=env)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    return res.stdout


def test_page_in_chromium(httpd_factory):
    need_chromium()
    srv = httpd_factory("event", extra=KEY_QUERY, poolwatch=True)
    with srv.client() as c:
        leak_run(c)
        doc = c.poolwatch()
    key = f"GET 127.0.0.1 /leak?what=pchild&n={LEAK_N}"
    assert any(k["key"] == key and k["verdict"] == "leak"
               for k in doc["keys"]), doc["keys"]

    url = f"http://127.0.0.1:{srv.port}/poolwatch"
    dump = chromium(srv, "--dump-dom", url).decode("utf-8", "strict")
    dom = Dom()
    dom.feed(dump)
    dom.close()
    assert dom.classes.get("table.keys") == 1, dump[:2000]
    assert dom.classes.get("table.children") == 1
    want, children, flagged = expected_graphs(dom)
    assert flagged, "the leak is not in the keys table as the browser sees it"
    assert children
    assert want >= 4
    assert dom.count("svg") == want, (dom.count("svg"), want)
    assert dom.classes.get("figure.graph") == want
    assert dom.count("title") == want + 1  # the page's and one per graph
    assert dom.classes.get("text.xlabel") == want
    assert dom.classes.get("text.ylabel") == want
    assert dom.classes.get("line.fit", 0) == len(flagged)
    assert dom.count("script") == 0
    keyrows = [r for r in dom.rows if r[0] == "keys" and r[2][0] != "key"]
    assert keyrows[0][2][0] == key and keyrows[0][2][2] == "leak"

    shot = srv.root / "poolwatch.png"
    chromium(srv, f"--screenshot={shot}", "--window-size=1280,2400",
             "--hide-scrollbars", url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(data) > 20000, len(data)  # a page, not a blank
