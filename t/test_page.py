"""The /poolwatch page, ?auto, the /server-status section and the reset.

Each test runs under prefork, worker and event (the mpm fixture) unless it
says otherwise.  A leak run uses ONE keep-alive connection, so one child
serves it and the page read on that connection is rendered by that child
right after it sampled and judged itself (see test_verdicts.py).

The page is checked through Python's html.parser, not by string search
alone: tables, rows, <figure class="graph"> and <svg> are counted as
elements.
"""

import http.client
import re
import socket
from html.parser import HTMLParser

import pytest

import harness
from harness import child_of

KEY_QUERY = "PoolWatchKey query"
LEAK_N = 1000
LEAK_COUNT = 60  # test_verdicts: 50 on one connection make a verdict


class Dom(HTMLParser):
    """Counts elements and collects rows and text of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = {}
        self.classes = {}
        self.text = []
        self.rows = []  # (table class, row class, [cell texts])
        self._table = []
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        cls = a.get("class")
        if cls:
            key = f"{tag}.{cls}"
            self.classes[key] = self.classes.get(key, 0) + 1
        if tag == "table":
            self._table.append(cls or "")
        elif tag == "tr":
            self._row = (self._table[-1] if self._table else "",
                         cls or "", [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self._row[2].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def count(self, tag):
        return self.tags.get(tag, 0)


def parse(body):
    dom = Dom()
    dom.feed(body.decode("utf-8", "strict"))
    dom.close()
    return dom


def leak_run(client, what="pchild", n=LEAK_N, count=LEAK_COUNT):
    pid = None
    for _ in range(count):
        got = client.leak(what, n)
        pid = pid or got
    return pid


def request(client, method, path, body=None, headers=None):
    """A request of any method on a harness.Client's connection."""
    client.conn.request(method, path, body=body, headers=headers or {})
    resp = client.conn.getresponse()
    data = resp.read()
    return harness.Response(resp, data)


def expected_graphs(dom):
    """Graphs the page must draw, from its own tables: 3 per running child
    (pool, heap, RSS) and one per suspect or leaking key."""
    children = [r for r in dom.rows if r[0] == "children"
                and r[2][0] != "pid" and "running" in r[2][7]]
    flagged = [r for r in dom.rows if r[0] == "keys"
               and r[1] in ("leak", "suspect")]
    return 3 * min(len(children), 16) + min(len(flagged), 16), \
        children, flagged


# -- the page ----------------------------------------------------------------

def test_page_tables_and_graphs(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=KEY_QUERY, poolwatch=True)
    with srv.client() as c:
        pid = leak_run(c)
        r = c.get("/poolwatch")
        doc = c.poolwatch()
    assert r.status == 200, r.text[:300]
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers.get("Cache-Control") == "no-store"
    assert "Refresh" not in r.headers
    dom = parse(r.body)
    text = " ".join(dom.text)

    assert dom.count("table") >= 2
    assert dom.classes.get("table.keys") == 1
    assert dom.classes.get("table.children") == 1
    want, children, flagged = expected_graphs(dom)
    assert dom.count("svg") == want, (dom.count("svg"), want)
    assert dom.classes.get("figure.graph", 0) == want
    assert dom.classes.get("line.fit", 0) == len(flagged)

    # header, like mod_status's
    assert "Server Version: Apache/2.4" in text
    assert f"Server MPM: {mpm}" in text
    assert "Parent Server Config. Generation:" in text
    assert "Server uptime:" in text
    walk = "exact" if mpm == "prefork" else "locked"
    assert f"Pool walk: {walk}" in text

    # the leak is named: summary, keys table (worst first), its graph
    key = f"GET 127.0.0.1 /leak?what=pchild&n={LEAK_N}"
    leaks = [k for k in doc["keys"] if k["verdict"] == "leak"]
    assert any(k["key"] == key for k in leaks), doc["keys"]
    assert re.search(r"\d+ keys? leaks?, \d+ suspect", text), text[:2000]
    assert f"child {pid}" in text or str(pid) in text
    assert "process/pconf/pchild" in text
    keyrows = [r for r in dom.rows if r[0] == "keys" and r[2][0] != "key"]
    assert keyrows[0][2][0] == key, keyrows[:3]
    assert keyrows[0][2][2] == "leak"
    assert float(keyrows[0][2][3]) == pytest.approx(LEAK_N, rel=0.1)
    assert keyrows[0][2][5] == "pool"
    # every running child of the JSON has a row
    running = {c["pid"] for c in doc["children"] if c["state"] == "running"}
    assert running <= {int(r[2][0]) for r in children}, (running, children)
    # the reset form posts
    assert 'method="post"' in r.text
    assert 'name="reset"' in r.text


def test_head_has_no_body(server):
    with server.client() as c:
        c.conn.request("HEAD", "/poolwatch")
        resp = c.conn.getresponse()
        body = resp.read()
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert body == b""


def test_pool_tree_of_a_child(server, mpm):
    with server.client() as c:
        pid = c.leak("none")
        r = c.get(f"/poolwatch?pid={pid}")
        other = c.get("/poolwatch?pid=2147483647")
    assert r.status == 200, r.text[:300]
    dom = parse(r.body)
    assert dom.classes.get("table.pools") == 1
    pools = [row[2] for row in dom.rows
             if row[0] == "pools" and row[2][0] != "tag"]
    paths = [p[1] for p in pools]
    assert "process/pconf" in paths, paths
    assert any(p.endswith("/pchild") for p in paths), paths
    for p in pools:
        assert int(p[2]) >= 0 and int(p[3]) >= 0 and int(p[4]) >= 0, p
        float(p[6])  # growth per request is a number
    assert f"Pools of child {pid}" in r.text
    assert other.status == 404, other.text


def test_refresh_header(server):
    r = server.get("/poolwatch?refresh=7")
    assert r.status == 200
    assert r.headers.get("Refresh") == "7"
    r = server.get("/poolwatch?auto&refresh=2")
    assert r.status == 200 and r.headers.get("Refresh") == "2"
    for bad in ("refresh=0", "refresh=3601", "refresh=abc", "refresh"):
        assert server.get(f"/poolwatch?{bad}").status == 400, bad


def test_notable_is_plain(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=KEY_QUERY, poolwatch=True)
    with srv.client() as c:
        leak_run(c, count=20)
        r = c.get("/poolwatch?notable")
    assert r.status == 200
    dom = parse(r.body)
    assert dom.count("table") == 0
    assert dom.count("svg") == 0
    assert dom.count("style") == 0
    assert dom.count("dl") >= 2  # keys and children as lists
    assert f"/leak?what=pchild&amp;n={LEAK_N}" in r.text


# -- ?auto -------------------------------------------------------------------

AUTO_LINE = re.compile(r"^PoolWatch[A-Za-z]+: [\x20-\x7e]*$")
AUTO_NUMBERS = ("PoolWatchGeneration", "PoolWatchUptime", "PoolWatchChildren",
                "PoolWatchRequests", "PoolWatchPoolBytes",
                "PoolWatchHeapBytes", "PoolWatchRSSBytes", "PoolWatchKeys",
                "PoolWatchLeaks", "PoolWatchSuspects", "PoolWatchSlots",
                "PoolWatchResets", "PoolWatchFlaggedChildren")


def auto_fields(text):
    out = {}
    for line in text.splitlines():
        assert AUTO_LINE.match(line), repr(line)
        name, _, val = line.partition(": ")
        out.setdefault(name, []).append(val)
    return out


def test_auto(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=KEY_QUERY, poolwatch=True)
    with srv.client() as c:
        pid = leak_run(c)
        r = c.get("/poolwatch?auto")
        same = c.get("/poolwatch?format=auto")
        doc = c.poolwatch()
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/plain; charset=ISO-8859-1"
    f = auto_fields(r.text)
    for name in AUTO_NUMBERS:
        assert name in f and f[name][0].isdigit(), (name, f.get(name))
    assert f["PoolWatchMPM"] == [mpm]
    assert f["PoolWatchWalk"] == [doc["server"]["walk"]]
    running = [c for c in doc["children"] if c["state"] == "running"]
    assert int(f["PoolWatchChildren"][0]) == len(running)
    assert int(f["PoolWatchLeaks"][0]) >= 1
    me = child_of(doc, pid)
    assert int(f["PoolWatchRequests"][0]) >= me["requests"] - 2
    lines = f["PoolWatchKey"]
    want = f"GET 127.0.0.1 /leak?what=pchild&n={LEAK_N}"
    mine = [ln for ln in lines if ln.endswith(" " + want)]
    assert mine, lines
    verdict, bpr, per, signal, pool, affected = mine[0].split(" ")[:6]
    assert verdict == "leak" and per == "request" and signal == "pool"
    assert float(bpr) == pytest.approx(LEAK_N, rel=0.1)
    assert pool.endswith("/pchild") and int(affected) >= 1
    assert same.status == 200 and "PoolWatchLeaks: " in same.text


# -- the /server-status section ----------------------------------------------

def test_status_hook_section(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=KEY_QUERY, poolwatch=True)
    with srv.client() as c:
        leak_run(c)
        html = c.get("/server-status")
        auto = c.get("/server-status?auto")
        notable = c.get("/server-status?notable")
    assert html.status == 200
    assert "<h2>Pool Watch</h2>" in html.text
    assert "Server uptime" in html.text  # mod_status's own page around it
    dom = parse(html.body)
    assert any(r[1] == "leak" for r in dom.rows), dom.rows
    assert auto.status == 200
    ours = [ln for ln in auto.text.splitlines() if ln.startswith("PoolWatch")]
    f = auto_fields("\n".join(ours))
    assert int(f["PoolWatchLeaks"][0]) >= 1
    assert "PoolWatchChildren" in f
    assert "Total Accesses:" in auto.text  # mod_status's lines stay
    # no name of ours is one of mod_status's
    theirs = {ln.partition(":")[0] for ln in auto.text.splitlines()
              if not ln.startswith("PoolWatch")}
    assert not theirs & set(f), theirs & set(f)
    assert "<h2>Pool Watch</h2>" in notable.text
    assert "<table" not in notable.text.split("<h2>Pool Watch</h2>")[1]


class NoStatusHttpd(harness.Httpd):
    """The test server without mod_status (and its <Location>)."""

    def render(self, port):
        conf = super().render(port)
        text = conf.read_text()
        text = re.sub(r"(?m)^LoadModule status_module .*$", "", text)
        text = re.sub(r"<Location /server-status>.*?</Location>", "", text,
                      flags=re.S)
        conf.write_text(text)
        return conf


def test_without_mod_status(request, need_poolwatch):
    srv = NoStatusHttpd(request.node.name, "event", extra=KEY_QUERY)
    srv.start()
    try:
        with srv.client() as c:
            leak_run(c, count=12)
            r = c.get("/poolwatch")
            a = c.get("/poolwatch?auto")
        assert r.status == 200 and "<svg" in r.text
        assert a.status == 200 and "PoolWatchLeaks: " in a.text
        assert "mod_status.so" not in srv.conf.read_text()
        assert srv.get("/server-status?auto").status == 404
    finally:
        srv.stop()
    assert not srv.crashes(), srv.crashes()


# -- methods, bad arguments ----------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_405(server, method):
    with server.client() as c:
        r = request(c, method, "/poolwatch", body=b"x" if method in (
            "PUT", "PATCH") else None)
    assert r.status == 405, (method, r.status, r.text[:200])
    allow = r.headers.get("Allow", "")
    assert "GET" in allow and "POST" in allow, allow


BAD_QUERIES = [
    "bogus", "json&bogus", "json=2x", "refresh=abc", "refresh=-1", "pid=-1",
    "pid=0", "pid=abc", "pid=1&pid=2", "json&json", "json&auto",
    "format=xml", "format=", "notable=1", "&json", "json&", "=1",
    # 8 KiB of junk, within httpd's LimitRequestLine (8190 with the
    # method and protocol): refused by us, not by the core's 414
    "A" * 8100, "json&" + "x" * 8100, "pid=" + "9" * 8000,
]


def test_bad_query_400(server):
    wrong = []
    for q in BAD_QUERIES:
        # one connection each: httpd closes the connection after a 400
        r = server.get(f"/poolwatch?{q}")
        if r.status != 400 or not r.text.startswith("400 "):
            wrong.append((q[:40], r.status, r.text[:100]))
        # the message is ours: never the client's bytes
        if "AAAA" in r.text or "xxxx" in r.text:
            wrong.append((q[:40], "echoed", r.text[:100]))
    assert not wrong, wrong
    assert server.get("/poolwatch?json").status == 200


# -- reset ---------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def my_keys(doc, pid):
    return {k["key"]: k for k in child_of(doc, pid).get("keys", [])}


def once(srv, method, path, body=None, headers=None):
    """One request on a connection of its own: httpd closes a connection
    after a 400, and the leak run's connection must stay open."""
    with srv.client() as c:
        return request(c, method, path, body=body,
                       headers=dict(headers or {}, Connection="close"))


def test_reset_only_by_post(httpd_factory, mpm):
    srv = httpd_factory(mpm, extra=KEY_QUERY, poolwatch=True)
    key = f"GET 127.0.0.1 /leak?what=pchild&n={LEAK_N}"
    with srv.client() as c:
        pid = leak_run(c)
        before = c.poolwatch()
        assert my_keys(before, pid)[key]["verdict"] == "leak"

        # GET never resets, whatever it asks
        for q in ("reset", "reset=1"):
            r = once(srv, "GET", f"/poolwatch?{q}")
            assert r.status == 400, (q, r.status)
        # a foreign page's form is refused
        r = once(srv, "POST", "/poolwatch", body="reset=1",
                 headers=dict(FORM, Origin="http://evil.example"))
        assert r.status == 403, r.text
        # bad forms
        for body in ("reset=2", "pid=1", "bogus", "reset=1&reset=1"):
            r = once(srv, "POST", "/poolwatch", body=body, headers=FORM)
            assert r.status == 400, (body, r.status, r.text)
        r = once(srv, "POST", "/poolwatch", body="")
        assert r.status == 400, r.text  # POST without reset
        r = once(srv, "POST", "/poolwatch", body="reset=1",
                 headers={"Content-Type": "text/plain"})
        assert r.status == 415, r.text
        unchanged = c.poolwatch()
        assert key in my_keys(unchanged, pid)
        assert len(child_of(unchanged, pid)["history"]) >= \
            len(child_of(before, pid)["history"])
        assert auto_fields(c.get("/poolwatch?auto").text)[
            "PoolWatchResets"] == ["0"]

        # the form's POST resets: 303 back to the page
        r = request(c, "POST", "/poolwatch", body="reset=1",
                    headers=dict(FORM, Origin=f"http://127.0.0.1:{srv.port}"))
        assert r.status == 303, (r.status, r.text)
        assert r.headers["Location"].endswith("/poolwatch")
        after = c.poolwatch()
        auto = auto_fields(c.get("/poolwatch?auto").text)
        # ?reset in the URL with an empty body also works
        r2 = request(c, "POST", "/poolwatch?reset")
        assert r2.status == 303
        auto2 = auto_fields(c.get("/poolwatch?auto").text)
    me = child_of(after, pid)
    # this child applied it at once: keys, verdicts and history are gone
    assert key not in my_keys(after, pid), my_keys(after, pid)
    assert len(me["history"]) <= 2, me["history"]
    assert me["requests"] >= LEAK_COUNT  # counters are not statistics
    # the samples' timing is statistics: its histogram went with the count
    assert child_of(before, pid)["self_ns_p50"] > 0
    assert me["self_samples"] <= 2, me
    assert (me["self_samples"] == 0) == (me["self_ns_p50"] == 0), me
    assert auto["PoolWatchResets"] == ["1"]
    assert auto2["PoolWatchResets"] == ["2"]
    # and in the JSON: asked for (server), applied (child) and when
    assert child_of(before, pid)["resets"] == 0
    assert child_of(before, pid)["reset_at"] == 0
    assert before["server"]["resets"] == 0
    assert after["server"]["resets"] == 1 and me["resets"] == 1, me
    assert me["reset_at"] >= child_of(before, pid)["updated"], me
    log = srv.log_text()
    assert log.count("PW00050") == 2, log[-2000:]


# -- hostile keys ----------------------------------------------------------------

HOSTILE_UA = (b"<script>alert(\"ua\")</script>\t'&amp;\xff\xfe"
              b"\xc3\x28 <img src=x onerror=alert(1)>")
HOSTILE_PATH = b"/leak/<script>alert('p')</script>\"\xff"


class RawClient:
    """Keep-alive requests with bytes http.client refuses to send."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def get(self, target, headers=b""):
        self.sock.sendall(b"GET " + target + b" HTTP/1.1\r\n"
                          b"Host: 127.0.0.1\r\n" + headers + b"\r\n")
        resp = http.client.HTTPResponse(self.sock)
        resp.begin()
        body = resp.read()
        return resp.status, body

    def close(self):
        self.sock.close()


def test_hostile_keys_are_escaped(httpd_factory, mpm):
    extra = ("LoadModule setenvif_module "
             "/usr/lib/apache2/modules/mod_setenvif.so\n"
             "SetEnvIf User-Agent \"^(.+)$\" PW_KEY=$1\n"
             "PoolWatchKey env=PW_KEY\n")
    srv = httpd_factory(mpm, extra=extra, poolwatch=True)
    raw = RawClient(srv.port)
    try:
        for _ in range(LEAK_COUNT):
            st, _ = raw.get(b"/leak?what=pchild&n=1000",
                            b"User-Agent: " + HOSTILE_UA + b"\r\n")
            assert st == 200
        for _ in range(3):
            st, body = raw.get(HOSTILE_PATH + b"?what=none")
            assert st == 200, body[:200]
        pages = {}
        for q in (b"", b"?notable", b"?auto", b"?json"):
            st, body = raw.get(b"/poolwatch" + q)
            assert st == 200, (q, st)
            pages[q] = body
        st, status_html = raw.get(b"/server-status")
        st2, status_auto = raw.get(b"/server-status?auto")
    finally:
        raw.close()

    for q in (b"", b"?notable"):
        body = pages[q]
        text = body.decode("utf-8", "strict")  # valid UTF-8 throughout
        assert "<script" not in text.lower(), q
        assert "<img" not in text.lower(), q
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), q
        assert "&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;" in text
        assert "&lt;script&gt;alert(&#39;p&#39;)" in text, q
        assert "&amp;amp;" in text  # the key's "&amp;" shown as written
        assert "\ufffd" in text or "&#xFFFD;" in text
        parse(body)
    # the hostile key leaks: it is flagged in the summary lines too
    auto = pages[b"?auto"]
    assert all(0x20 <= b < 0x7f for b in auto.replace(b"\n", b"")), auto
    lines = auto.decode("ascii").splitlines()
    for ln in lines:
        assert AUTO_LINE.match(ln), ln
    keyl = [ln for ln in lines if ln.startswith("PoolWatchKey: leak ")]
    assert any("<script>alert(\"ua\")</script>" in ln and "\\xff" in ln
               for ln in keyl), keyl
    import json
    json.loads(pages[b"?json"])  # still valid JSON
    assert st == 200 and st2 == 200
    shtml = status_html.decode("utf-8", "replace")
    section = shtml.split("<h2>Pool Watch</h2>")[1]
    assert "<script" not in section.lower()
    assert "&lt;script&gt;" in section
    sauto = [ln for ln in status_auto.split(b"\n")
             if ln.startswith(b"PoolWatch")]
    assert sauto and all(all(0x20 <= b < 0x7f for b in ln) for ln in sauto)
