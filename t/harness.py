"""A private apache2 for the integration tests, and a keep-alive client.

Each server gets a fresh server root under t/out/<name>/ filled from
t/conf/httpd.conf.in, listens on 127.0.0.1 on a free port and runs in the
foreground of its own process group (so it can be stopped, and if need be
killed, without touching anything else).  Stopping sends SIGTERM to the pid in
the PidFile, waits a bounded time, then kills the group.  The error_log is
scanned for crashes; tests fail on any (see Httpd.crashes).

Standard library only: the tests run with Debian's /usr/bin/python3 -m pytest.

Environment hooks (`make sanitize` and `make valgrind` use them):
  PW_MODULE=PATH          load this mod_poolwatch.so (e.g. an ASan build)
  PW_SERVER_PRELOAD=LIB   LD_PRELOAD for apache2 only (libasan), never for
                          pytest itself
  PW_SANITIZE=1           give apache2 ASAN_OPTIONS/UBSAN_OPTIONS that log
                          to <root>/logs/asan.* and ubsan.*; any such file
                          that is not empty is a crash (Httpd.crashes)
  PW_SERVER_WRAP="CMD"    run apache2 under CMD (e.g. valgrind ...), split
                          on blanks; {root} is replaced by the server root
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
OUT = TOP / "t" / "out"
TEMPLATE = TOP / "t" / "conf" / "httpd.conf.in"
MODULE_SO = Path(os.environ.get("PW_MODULE") or
                 TOP / ".libs" / "mod_poolwatch.so").resolve()
TESTMOD_SO = TOP / "t" / "modules" / ".libs" / "mod_pwtest.so"
APACHE2 = os.environ.get("PW_APACHE2", "/usr/sbin/apache2")
MPMS = ("prefork", "worker", "event")
# Children may dump core into <root>/run (CoreDumpDirectory; apache2 makes
# them dumpable after setuid).  A core is a crash even when the parent had no
# time to log it before it was stopped.  PW_CORE=0 turns this off.
CORES = os.environ.get("PW_CORE", "1") not in ("", "0")

# Lines of error_log that mean a crash or a module complaint.  Matched per
# line; "[x:emerg]" style covers the core and every module.
CRASH_PATTERNS = [
    re.compile(p)
    for p in (
        r"exit signal",
        r"Segmentation fault",
        r"AH0005[12]",  # child pid N exit signal ...
        r"AH00060",  # seg fault or similar nasty error in the parent
        r"\[[a-z_]*:(emerg|alert|crit)\]",
        r"\[(poolwatch|pwtest):(error|crit|alert|emerg)\]",
        r"double free|free\(\): invalid|corrupted|malloc\(\): ",
        r"stack smashing|Aborted",
        r"AddressSanitizer|LeakSanitizer|runtime error: ",
    )
]
SANITIZE = os.environ.get("PW_SANITIZE", "") not in ("", "0")
# Exit-time allocations of apache2 and APR are not the module's: no leak
# check here (valgrind's test looks at leaks, with stacks).  Reports go to
# files in the server's logs/ (children cannot write to pytest's stderr).
ASAN_OPTIONS = ("detect_leaks=0:abort_on_error=0:halt_on_error=0:"
                "allow_user_segv_handler=1:log_exe_name=1:log_path={root}/logs/asan")
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=0:log_path={root}/logs/ubsan"


def server_env(root):
    """The environment apache2 runs in: ours plus the sanitizer hooks."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    pre = os.environ.get("PW_SERVER_PRELOAD", "")
    if pre:
        env["LD_PRELOAD"] = pre
    if SANITIZE:
        env["ASAN_OPTIONS"] = ASAN_OPTIONS.format(root=root)
        env["UBSAN_OPTIONS"] = UBSAN_OPTIONS.format(root=root)
    return env


def server_wrap(root):
    wrap = os.environ.get("PW_SERVER_WRAP", "")
    return [w.replace("{root}", str(root)) for w in wrap.split()]


def align8(n):
    return (n + 7) & ~7


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poolwatch_wanted():
    """Load mod_poolwatch unless told not to (PW_WITHOUT_POOLWATCH=1)."""
    return os.environ.get("PW_WITHOUT_POOLWATCH", "") in ("", "0")


def poolwatch_available():
    return poolwatch_wanted() and MODULE_SO.exists()


def safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120]


def _allow_core():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class StartError(Exception):
    pass


class Httpd:
    """One private apache2: configure, start, stop, read its error_log."""

    def __init__(self, name, mpm, extra="", poolwatch=True, files=None):
        if mpm not in MPMS:
            raise ValueError(f"unknown MPM {mpm}")
        self.name = safe_name(name)
        self.mpm = mpm
        self.extra = extra
        self.poolwatch = poolwatch
        self.root = OUT / self.name
        self.conf = self.root / "conf" / "httpd.conf"
        self.pidfile = self.root / "run" / "httpd.pid"
        self.error_log = self.root / "logs" / "error_log"
        self.port = None
        self.proc = None
        self.files = {"index.html": "<html><body>pwtest</body></html>\n",
                      "static.txt": "x" * 4096 + "\n"}
        self.files.update(files or {})
        self._make_root()

    # -- setup ---------------------------------------------------------------

    def _make_root(self):
        if self.root.exists():
            shutil.rmtree(self.root)
        for sub in ("conf", "run", "logs", "htdocs"):
            (self.root / sub).mkdir(parents=True)
        for name, text in self.files.items():
            (self.root / "htdocs" / name).write_text(text)
        # Children run as nobody: they must read htdocs and, under -X or a
        # module that writes there, the run and logs directories.
        for sub in ("run", "logs"):
            os.chmod(self.root / sub, 0o777)
        for d in (self.root, OUT):
            os.chmod(d, os.stat(d).st_mode | 0o055)

    def render(self, port):
        if self.poolwatch:
            if not MODULE_SO.exists():
                raise StartError(f"{MODULE_SO} is not built")
            module = f"LoadModule poolwatch_module {MODULE_SO}"
        else:
            module = "# mod_poolwatch not loaded"
        text = TEMPLATE.read_text()
        for key, val in (("@ROOT@", str(self.root)), ("@PORT@", str(port)),
                         ("@MPM@", self.mpm), ("@MODULE@", module),
                         ("@TESTMOD@", str(TESTMOD_SO)),
                         ("@EXTRA@", self.extra + self._core_directive())):
            text = text.replace(key, val)
        self.conf.write_text(text)
        return self.conf

    def _core_directive(self):
        if not CORES:
            return ""
        return f'\nCoreDumpDirectory "{self.root}/run"\n'

    def cores(self):
        return sorted(str(p) for p in (self.root / "run").glob("core*"))

    def configtest(self):
        """apache2 -t on the rendered config: (returncode, output)."""
        self.render(self.port or free_port())
        res = subprocess.run(
            [APACHE2, "-t", "-f", str(self.conf), "-d", str(self.root)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=60, env=server_env(self.root))
        return res.returncode, res.stdout

    # -- start and stop ------------------------------------------------------

    def start(self, timeout=20.0, single=False):
        """single: apache2 -X (one process, no children)."""
        last = ""
        self.single = single
        for _attempt in range(3):
            self.port = free_port()
            self.render(self.port)
            if self.pidfile.exists():
                self.pidfile.unlink()
            self._stdout = open(self.root / "logs" / "stdout", "ab")
            self.proc = subprocess.Popen(
                server_wrap(self.root) +
                [APACHE2, "-f", str(self.conf), "-d", str(self.root),
                 "-D", "FOREGROUND"] + (["-X"] if single else []),
                env=server_env(self.root),
                stdin=subprocess.DEVNULL, stdout=self._stdout,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_allow_core if CORES else None)
            if self._wait_ready(timeout):
                return self
            last = self._tail()
            self._kill_group()
            if "Address already in use" not in last:
                break
        raise StartError(f"apache2 ({self.mpm}) did not start:\n{last}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=2)
                conn.request("GET", "/index.html")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200 and self.pidfile.exists():
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def parent_pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout=10.0):
        if self.proc is None:
            return
        pid = self.parent_pid() or self.proc.pid
        # Graceful stop (SIGWINCH), bounded by GracefulShutdownTimeout in the
        # template.  SIGTERM right after a keep-alive connection closed
        # crashes Debian's 2.4.71 event children now and then in
        # close_worker_sockets (apr_os_sock_get on a freed socket), with or
        # without mod_poolwatch loaded: seen 2 in 150 and 1 in 300 stops
        # without it.  A graceful stop lets workers finish first.
        # -X has no children to wait for: SIGTERM at once
        sigs = ((signal.SIGTERM,) if getattr(self, "single", False)
                else (signal.SIGWINCH, signal.SIGTERM))
        for sig in sigs:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            self._kill_group()
        # Children left behind by a parent that died would hold the port.
        self._kill_group()
        self._stdout.close()
        self.proc = None

    def _kill_group(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- error_log -----------------------------------------------------------

    def log_text(self, since=0):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        try:
            return self.error_log.stat().st_size
        except FileNotFoundError:
            return 0

    def crashes(self, since=0):
        lines = []
        for line in self.log_text(since).splitlines():
            if any(p.search(line) for p in CRASH_PATTERNS):
                lines.append(line)
        lines.extend(self.sanitizer_reports())
        return lines

    def sanitizer_reports(self):
        """First lines of every ASan/UBSan report file of this server, and
        sanitizer lines in its stdout (where apache2 -X writes stderr)."""
        out = []
        logs = self.root / "logs"
        for f in sorted(list(logs.glob("asan*")) + list(logs.glob("ubsan*"))):
            text = f.read_text(errors="replace")
            if text.strip():
                out.append(f"{f}:\n" + "\n".join(text.splitlines()[:40]))
        try:
            text = (self.root / "logs" / "stdout").read_text(errors="replace")
        except OSError:
            text = ""
        out.extend(line for line in text.splitlines()
                   if re.search(r"AddressSanitizer|runtime error: ", line))
        return out

    def _tail(self, n=30):
        text = self.log_text()
        try:
            text += (self.root / "logs" / "stdout").read_text(errors="replace")
        except OSError:
            pass
        return "\n".join(text.splitlines()[-n:])

    # -- requests ------------------------------------------------------------

    def client(self, timeout=10.0):
        return Client(self.port, timeout)

    def get(self, path, timeout=10.0, headers=None):
        """One request on a connection of its own (Connection: close)."""
        with Client(self.port, timeout) as c:
            return c.get(path, headers=dict(headers or {}, Connection="close"))


class Response:
    def __init__(self, resp, body):
        self.status = resp.status
        self.headers = resp.headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def fields(self):
        """key=value lines of a mod_pwtest answer."""
        out = {}
        for line in self.text.splitlines():
            key, _, val = line.partition("=")
            out[key] = val
        return out


class Client:
    """One keep-alive connection that refuses to reconnect silently.

    http.client reopens a closed connection on the next request; a leak run
    must see the same connection (and so the same child) throughout, so the
    socket is remembered and any change is an error.
    """

    def __init__(self, port, timeout=10.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port,
                                               timeout=timeout)
        self.sock = None
        self.requests = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    def get(self, path, headers=None):
        self.conn.request("GET", path, headers=headers or {})
        if self.sock is None:
            self.sock = self.conn.sock
        elif self.conn.sock is not self.sock:
            raise AssertionError(f"keep-alive connection was reopened "
                                 f"before request {self.requests + 1}")
        resp = self.conn.getresponse()
        body = resp.read()
        self.requests += 1
        return Response(resp, body)

    def leak(self, what, n=64):
        """One mod_pwtest request; returns the serving child's pid."""
        r = self.get(f"/leak?what={what}&n={n}")
        assert r.status == 200, (r.status, r.text)
        f = r.fields()
        assert f["what"] == what, f
        return int(f["pid"])

    def poolwatch(self):
        r = self.get("/poolwatch?json")
        assert r.status == 200, (r.status, r.text[:500])
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("application/json"), ctype
        return r.json()


# -- JSON helpers ------------------------------------------------------------

def child_of(doc, pid):
    """The children[] entry of a running child pid."""
    found = [c for c in doc["children"]
             if c["pid"] == pid and c.get("state", "running") == "running"]
    assert found, (f"child {pid} not in /poolwatch?json children "
                   f"{[(c['pid'], c.get('state')) for c in doc['children']]}")
    return found[0]


def pool_where(child, pred, what):
    found = [p for p in child["pools"] if pred(p)]
    assert len(found) == 1, (
        f"expected one pool {what} in child {child['pid']}, got "
        f"{[p['path'] for p in found]} of "
        f"{[p['path'] for p in child['pools']]}")
    return found[0]


def pchild_pool(child):
    return pool_where(child, lambda p: p["path"].endswith("/pchild"),
                      "ending in /pchild")


def pconf_pool(child):
    return pool_where(child, lambda p: p["path"] == "process/pconf",
                      "process/pconf")


def connection_pool(child):
    """c->pool in pools[] (prefork): the shallowest pool with
    connection=true; its subpools (request, ...) carry the flag too."""
    conn = [p for p in child["pools"] if p.get("connection") is True]
    assert conn, (f"no pool with connection=true in child {child['pid']}: "
                  f"{[p['path'] for p in child['pools']]}")
    top = min(p["depth"] for p in conn)
    return pool_where(child, lambda p: p.get("connection") is True
                      and p["depth"] == top, "with connection=true on top")


class Deadline:
    """Bounds a loop in time as well as in count."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def expired(self):
        return time.monotonic() >= self.end

    def check(self, what="loop"):
        if self.expired():
            raise AssertionError(f"{what} ran out of time")
