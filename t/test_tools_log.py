"""poolwatch-log (tools/): APR pool-debug logs to per-pool verdicts.

Two kinds of input:

* logs written here with known answers (PoolDebugLog below writes lines
  the way apr_pool_log_event does, in the APR 1.7, 1.5 and 1.2 formats):
  a pool that grows by a fixed amount per request is a leak of exactly that
  per request (and that divided by the events of a request, per event); a
  pool cleared every request is not; two processes interleaved, a line torn
  by another process's line, garbage lines: counted, and the verdicts stay;
* the two real logs of Debian's httpd in t/data/ (no leak: a static file).

The exit status is the contract: 0 no leak, 1 leak, 2 error.
"""

import lzma
import os
import random
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import harness
from harness import align8

TOOL = harness.TOP / "tools" / "poolwatch-log"
DATA = Path(os.environ.get("PW_POOL_DEBUG_DATA", harness.TOP / "t" / "data"))
LOG_X = DATA / "apr-pool-debug-b-nokeepalive-X.log.xz"
LOG_PREFORK = DATA / "apr-pool-debug-e-prefork3-concurrent.log.xz"
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _tool_built():
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is not built: run make")


def run(*args, stdin=None, timeout=TIMEOUT):
    return subprocess.run([str(TOOL), *map(str, args)], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def text(res):
    return res.stdout.decode("utf-8", "replace")


# -- a pool-debug log writer ---------------------------------------------------

class PoolDebugLog:
    """Lines as APR writes them, for one process.  fmt: "1.7" (thread id
    and parent), "1.5" (thread id, no parent), "1.2" (no thread id, no
    parent, 0x%08X addresses)."""

    def __init__(self, pid, fmt="1.7", tid=140540411389824):
        self.pid, self.fmt, self.tid = pid, fmt, tid
        self.size = {}
        self.allocs = {}
        self.total_allocs = {}
        self.clears = {}
        self.tags = {}
        self.total = 0
        self.lines = []

    def _emit(self, ev, addr, site, parent=0x1000):
        who = (f"[{self.pid}]" if self.fmt == "1.2"
               else f"[{self.pid}/{self.tid}]")
        a = (f"0x{addr:08X}" if self.fmt == "1.2" else f"0x{addr:x}")
        size = self.size.get(addr, 0)
        line = (f"POOL DEBUG: {who} {ev:>7} ({size:10d}/{size:10d}/"
                f"{self.total:10d}) {a} \"{self.tags.get(addr, 'undefined')}\""
                f" <{site}> ")
        if self.fmt == "1.7":
            line += f"0x{parent:x} "
        line += (f"({self.allocs.get(addr, 0)}/"
                 f"{self.total_allocs.get(addr, 0)}/"
                 f"{self.clears.get(addr, 0)}) ")
        self.lines.append(line)

    def header(self):
        self.lines.append(
            "POOL DEBUG: [PID/TID] ACTION  (SIZE      /POOL SIZE /TOTAL SIZE) "
            "POOL       \"TAG\" <__FILE__:__LINE__> PARENT     "
            "(ALLOCS/TOTAL ALLOCS/CLEARS)")

    def create(self, addr, tag):
        self.size[addr] = 0
        self.allocs[addr] = self.total_allocs[addr] = self.clears[addr] = 0
        self.tags[addr] = "undefined"
        self._emit("CREATE", addr, "undefined")
        self.tags[addr] = tag

    def palloc(self, addr, n, site):
        n = align8(n)
        self.size[addr] += n
        self.total += n
        self.allocs[addr] += 1
        self.total_allocs[addr] += 1
        self._emit("PALLOC", addr, site)

    def _clear(self, addr):
        self.total -= self.size[addr]
        self.size[addr] = 0
        self.allocs[addr] = 0
        self.clears[addr] += 1
        self._emit("CLEARED", addr, "undefined")

    def clear(self, addr):
        self._emit("CLEAR", addr, "undefined")
        self._clear(addr)

    def destroy(self, addr):
        self._emit("DESTROY", addr, "undefined")
        self._clear(addr)


PCHILD, TRANS, REQ = 0x55f926ffc970, 0x55f927000210, 0x55f926ff0360
EVENTS_PER_REQUEST = 9  # with a leak; see server()


def server(pid, requests, leak=0, fmt="1.7", header=True):
    """A child: start-up, then requests.  Each request: create the request
    pool, two allocations in it, the leak (if any) from pchild, one
    allocation in the connection's pool, destroy the request pool, clear
    the connection's pool."""
    log = PoolDebugLog(pid, fmt)
    if header:
        log.header()
    log.create(PCHILD, "pchild")
    for i in range(40):
        log.palloc(PCHILD, 64 + i, f"server/config.c:{100 + i}")
    log.create(TRANS, "transaction")
    for _ in range(requests):
        log.create(REQ, "request")
        log.palloc(REQ, 200, "server/protocol.c:1010")
        log.palloc(REQ, 300, "server/request.c:2020")
        if leak:
            log.palloc(PCHILD, leak, "modules/mod_leaky.c:42")
        log.palloc(TRANS, 100, "server/connection.c:77")
        log.destroy(REQ)
        log.clear(TRANS)
    return log


def write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


POOL_LINE = re.compile(
    r"^\s+(warmup|ok|suspect|leak)\s+(-?[\d.]+) B/(\S+)\s+([+-]\d+) B\s+"
    r"0x([0-9a-f]+) \"([^\"]*)\"")
PROC_LINE = re.compile(r"^process (\d+): (\d+) events")
TOTAL_LINE = re.compile(r"^\s+total\s+(\w+)\s+([+-]\d+) B in the window,\s+"
                        r"(-?[\d.]+) B/")


def summary(out):
    """{pid: {"total": (verdict, slope), "pools": {tag: (verdict, slope)}}}"""
    procs, cur = {}, None
    for line in out.splitlines():
        m = PROC_LINE.match(line)
        if m:
            cur = procs.setdefault(int(m.group(1)), {"pools": {}})
            continue
        m = TOTAL_LINE.match(line)
        if m and cur is not None:
            cur["total"] = (m.group(1), float(m.group(3)))
            continue
        m = POOL_LINE.match(line)
        if m and cur is not None:
            cur["pools"][m.group(6)] = (m.group(1), float(m.group(2)))
    return procs


def header_counts(out):
    m = re.search(r": (\d+) lines, (\d+) records, (\d+) unparsable.*?"
                  r"(\d+) torn, (\d+) process", out)
    assert m, out[:500]
    return dict(zip(("lines", "records", "bad", "torn", "procs"),
                    map(int, m.groups())))


# -- known answers ---------------------------------------------------------------

def test_fixed_growth_per_request_is_a_leak_of_that_size(tmp_path):
    leak = 96
    log = write(tmp_path, "leak.log", server(4242, 120, leak=leak).lines)
    res = run("--per", "request", log)
    out = text(res)
    assert res.returncode == 1, out + res.stderr.decode()
    p = summary(out)[4242]
    verdict, slope = p["pools"]["pchild"]
    assert verdict == "leak", out
    # exact: Theil-Sen on a staircase sampled at whole requests
    assert slope == pytest.approx(align8(leak), abs=0.005), out
    assert p["total"][0] == "leak", out
    assert "modules/mod_leaky.c:42" in out, out
    assert "verdict: leak" in out


def test_fixed_growth_per_event(tmp_path):
    leak = 96
    log = write(tmp_path, "leak.log", server(4242, 120, leak=leak).lines)
    res = run(log)
    out = text(res)
    assert res.returncode == 1, out
    verdict, slope = summary(out)[4242]["pools"]["pchild"]
    assert verdict == "leak", out
    assert slope == pytest.approx(align8(leak) / EVENTS_PER_REQUEST,
                                  rel=0.05), out


def test_pool_cleared_every_request_is_no_leak(tmp_path):
    log = write(tmp_path, "clean.log", server(4242, 120, leak=0).lines)
    for args in ([], ["--per", "request"]):
        res = run(*args, log)
        out = text(res)
        assert res.returncode == 0, (args, out)
        p = summary(out)[4242]
        assert p["total"][0] in ("ok", "suspect"), out
        for tag, (verdict, _) in p["pools"].items():
            assert verdict != "leak", (tag, out)
        assert "verdict: no leak" in out


@pytest.mark.parametrize("fmt", ["1.7", "1.5", "1.2"])
def test_apr_formats(tmp_path, fmt):
    log = write(tmp_path, f"leak-{fmt}.log",
                server(77, 100, leak=200, fmt=fmt).lines)
    res = run("--per", "request", log)
    out = text(res)
    assert res.returncode == 1, out
    h = header_counts(out)
    assert h["bad"] == 0 and h["procs"] == 1, out
    verdict, slope = summary(out)[77]["pools"]["pchild"]
    assert verdict == "leak" and slope == pytest.approx(200, rel=0.02), out


def test_interleaved_processes_torn_line_and_garbage(tmp_path):
    a = server(1111, 100, leak=48, header=True).lines
    b = server(2222, 100, leak=0, header=False).lines
    rnd = random.Random(5)
    lines, ia, ib = [], 0, 0
    while ia < len(a) or ib < len(b):
        if ib >= len(b) or (ia < len(a) and rnd.random() < 0.5):
            lines.append(a[ia])
            ia += 1
        else:
            lines.append(b[ib])
            ib += 1
    # another process's write lands in the middle of a line of 1111 (an
    # allocation in a request pool, far from the start)
    k = next(i for i in range(len(lines) // 2, len(lines))
             if lines[i].startswith("POOL DEBUG: [1111/")
             and "PALLOC" in lines[i] and '"request"' in lines[i]
             and lines[i + 1].startswith("POOL DEBUG: [2222/"))
    torn, whole = lines[k], lines[k + 1]
    cut = len(torn) // 2
    lines[k:k + 2] = [torn[:cut] + whole, torn[cut:]]
    garbage = ["[Mon Nov 23 16:50:00 2026] [notice] resuming normal operations",
               "POOL DEBUG: [1111/1] PALLOC (garbage",
               "\x1b[0m random bytes \t"]
    for g in garbage:
        lines.insert(rnd.randrange(len(lines)), g)
    log = write(tmp_path, "mixed.log", lines)
    res = run("--per", "request", log)
    out = text(res)
    assert res.returncode == 1, out
    h = header_counts(out)
    assert h["procs"] == 2, out
    # the garbage, the torn prefix and its orphaned rest
    assert h["bad"] == len(garbage) + 2, out
    assert h["torn"] == 1, out
    # every record but the torn one is read (the header is no record)
    assert h["records"] == len(a) + len(b) - 2, out
    s = summary(out)
    assert s[1111]["pools"]["pchild"][0] == "leak", out
    assert s[1111]["pools"]["pchild"][1] == pytest.approx(48, rel=0.02), out
    for tag, (verdict, _) in s[2222]["pools"].items():
        assert verdict != "leak", (tag, out)
    assert s[2222]["total"][0] != "leak", out


def test_stdin_and_xz(tmp_path):
    lines = server(31, 80, leak=64).lines
    raw = ("\n".join(lines) + "\n").encode()
    plain = run("--per", "request", "-", stdin=raw)
    xz = run("--per", "request", "-", stdin=lzma.compress(raw))
    p = tmp_path / "leak.log.xz"
    p.write_bytes(lzma.compress(raw))
    xzfile = run("--per", "request", p)
    assert plain.returncode == 1, text(plain)
    strip = lambda r: re.sub(r"^poolwatch-log: \S+: ", "", text(r))  # noqa
    assert strip(xz) == strip(plain), (text(xz), text(plain))
    assert strip(xzfile) == strip(plain)


def test_damaged_xz_is_an_error(tmp_path):
    data = lzma.compress(("\n".join(server(31, 50).lines) + "\n").encode())
    p = tmp_path / "cut.log.xz"
    p.write_bytes(data[: len(data) // 2])
    res = run(p)
    assert res.returncode == 2, text(res)
    assert b"xz" in res.stderr, res.stderr


def test_csv_and_svg(tmp_path):
    log = write(tmp_path, "leak.log", server(4242, 60, leak=96).lines
                + server(4343, 60, header=False).lines)
    svg, csvdir = tmp_path / "svg", tmp_path / "csv"
    svg.mkdir()
    csvdir.mkdir()
    res = run("--per", "request", "--svg", svg, "--csv", csvdir, log)
    assert res.returncode == 1, text(res)
    for pid in (4242, 4343):
        c = (csvdir / f"pid-{pid}.csv").read_text().splitlines()
        assert c[0] == "pid,pool,tag,x_units,bytes,marks", c[0]
        rows = [r.split(",") for r in c[1:]]
        assert all(r[0] == str(pid) for r in rows)
        assert any(r[1] == "total" for r in rows)
        root = ET.parse(svg / f"pid-{pid}.svg").getroot()
        assert root.tag.endswith("svg")
        body = (svg / f"pid-{pid}.svg").read_text()
        assert "<script" not in body and "pchild" in body or pid == 4343
    # the leaking pool's last CSV level is its start-up size plus the leak
    rows = [r.split(",") for r in
            (csvdir / "pid-4242.csv").read_text().splitlines()[1:]]
    pch = [r for r in rows if r[2] == '"pchild"']
    startup = sum(align8(64 + i) for i in range(40))
    assert int(pch[-1][4]) == startup + 60 * align8(96), pch[-1]
    one = tmp_path / "all.csv"
    res = run("--csv", one, log)
    lines = one.read_text().splitlines()
    assert lines[0] == "pid,pool,tag,x_events,bytes,marks"
    assert {r.split(",")[0] for r in lines[1:]} == {"4242", "4343"}


def test_bounded_memory_on_many_pools(tmp_path):
    """100 000 pools that are never destroyed, kept to 64 records: the
    evictions are reported and the resident size stays small."""
    p = tmp_path / "many.log"
    with open(p, "w") as f:
        log = PoolDebugLog(9)
        for i in range(100000):
            addr = 0x7f0000000000 + i * 0x100
            log.create(addr, "leaky")
            log.palloc(addr, 32, "x.c:1")
            if len(log.lines) >= 10000:
                f.write("\n".join(log.lines) + "\n")
                log.lines = []
        f.write("\n".join(log.lines) + "\n")
    res = run("--stats", "--max-pools", "64", p)
    out, err = text(res), res.stderr.decode()
    assert res.returncode in (0, 1), out + err
    assert "live pools evicted (--max-pools)" in out, out[:2000]
    # the tool's own peak (VmHWM): records, index and one 1 MiB block
    peak = int(re.search(r"peak RSS (\d+) KiB", err).group(1))
    assert 0 < peak < 16 * 1024, err


def test_real_logs_single_process():
    if not LOG_X.exists():
        pytest.skip(f"{LOG_X} not found (PW_POOL_DEBUG_DATA)")
    for args in ([], ["--per", "request"]):
        res = run(*args, LOG_X)
        out = text(res)
        assert res.returncode == 0, (args, out)
        h = header_counts(out)
        assert h["bad"] == 0 and h["torn"] == 0 and h["procs"] == 1, out
        assert h["records"] == h["lines"] - 1, out  # the header line
    assert re.search(r", 40 request\n", out), out  # ab -n40


def test_real_logs_prefork_interleaved():
    if not LOG_PREFORK.exists():
        pytest.skip(f"{LOG_PREFORK} not found (PW_POOL_DEBUG_DATA)")
    res = run("--per", "request", LOG_PREFORK)
    out = text(res)
    assert res.returncode == 0, out
    h = header_counts(out)
    assert h["bad"] == 0 and h["procs"] == 4, out
    served = [int(n) for n in re.findall(r", (\d+) request\n", out)]
    assert sum(served) == 60 and len(served) == 4, out  # ab -n60, 3 children


# -- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    [],
    ["/nonexistent/log"],
    ["--warmup", "x", "-"],
    ["--min-slope", "0", "-"],
    ["--max-pools", "1", "-"],
    ["--svg", "/nonexistent/dir", "-"],
    ["--no-such-option", "-"],
    ["a.log", "b.log"],
])
def test_bad_arguments(args):
    res = run(*args, stdin=b"")
    assert res.returncode == 2, (args, text(res), res.stderr)
    assert res.stderr.strip(), args


def test_no_records_is_an_error():
    res = run("-", stdin=b"hello\nworld\n")
    assert res.returncode == 2, text(res)
    assert b"no APR pool-debug record" in res.stderr


def test_help():
    res = run("--help")
    assert res.returncode == 0
    for word in (b"--per", b"--csv", b"--svg", b"Exit status"):
        assert word in res.stdout, word


@pytest.mark.parametrize("args,named", [
    (["--warmup", "x"], "-w/--warmup"),
    (["--min-slope", "0"], "--min-slope"),
    (["--max-pools", "1"], "--max-pools"),
])
def test_bad_value_names_the_option(args, named):
    res = run(*args, "-", stdin=b"")
    assert res.returncode == 2, (args, text(res))
    assert f"{named}: bad value".encode() in res.stderr, res.stderr
