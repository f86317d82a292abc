"""Soak under faults: one private apache2 per MPM, mixed traffic, graceful
restarts, killed and recycled children, concurrent /poolwatch readers.

Why this exists: unit and integration tests start a server, do one thing and
stop it.  A production server lives through many graceful restarts (each
re-reads the config, clears pconf, reloads every DSO and forks new
children), children killed by the kernel or by an operator, and children
recycled by MaxConnectionsPerChild, all while monitoring reads /poolwatch.
A module that keeps a pointer across a DSO reload, frees a shared slot
twice, or allocates from a pool that outlives a generation fails only
there.  This file drives that life in a bounded time and checks:

  crashes      every "exit signal" line of error_log is a SIGSEGV this
               script sent (identified by pid); any other is attributed
               with a core's backtrace (module frames = the module's)
  parent       the parent keeps its pid and runs to the end
  readers      every /poolwatch?json and ?format=prometheus read answers
               200 and parses; each JSON read is consistent (pids and
               slots unique, slots in range, requests never go down for a
               pid, generations within what the restarts allow, children
               this script killed are not shown running)
  generations  each graceful restart raises server.generation by one
  verdicts     in every generation a leaking key turns "leak" again in a
               child of that generation
  growth       the parent does not grow across restarts because of the
               module: pconf bytes per generation (the parent's pconf as
               the new generation's children inherit it) stay flat, and
               the parent's RSS trend is compared with the same soak
               without the module

It is used by build/soak (minutes, all MPMs) and t/test_soak.py (seconds).
Standard library and t/harness.py only: the server is started from the same
template as every test.
"""

import http.client
import json
import os
import random
import re
import signal
import struct
import subprocess
import threading
import time

import harness
import promtext

LEAK_PATH = "/leak?what=pchild&n=1000"
LEAK_KEY_PART = "/leak?what=pchild&n=1000"
VERDICT_MAX_REQUESTS = 400  # per attempt; ~60 are needed in one child
VERDICT_ATTEMPTS = 4
MAX_RECONNECTS = 5000
EXIT_SIGNAL = re.compile(r"child pid (\d+) exit signal (.*?) \((\d+)\)")
RESUMING = re.compile(r"resuming normal operations")
# the module's leak warning, for keys the soak's traffic does not leak on
FALSE_LEAK = re.compile(r'PW00020: pid \d+: key "GET \S+ (\S+)" leaks about '
                        r'\d+ bytes per request \(signal (\w+)')

# The server a soak runs: more room than the tests' template (an old
# generation's children finish while the new one starts) and children that
# are recycled after a hundred connections.
SOAK_CONF = {
    # five clients hold a prefork child each on keep-alive: room for the
    # connection-per-request ones, or they starve and nothing recycles
    "prefork": "StartServers 3\nMinSpareServers 2\nMaxSpareServers 4\n"
               "ServerLimit 10\nMaxRequestWorkers 10\n",
    "worker": "StartServers 2\nServerLimit 4\nThreadsPerChild 8\n"
              "MinSpareThreads 4\nMaxSpareThreads 24\nMaxRequestWorkers 32\n",
    "event": "StartServers 2\nServerLimit 4\nThreadsPerChild 8\n"
             "MinSpareThreads 4\nMaxSpareThreads 24\nMaxRequestWorkers 32\n",
}
# The module's default sample interval (the tests' template sets 0): a
# soak runs what production runs, threaded children with their sampling
# thread through restarts, kills and recycling.
POOLWATCH_CONF = ("<IfModule poolwatch_module>\n"
                  "    PoolWatchKey query\n"
                  "    PoolWatchSampleInterval 10ms\n"
                  "</IfModule>\n")


class SoakError(AssertionError):
    pass


# -- process helpers --------------------------------------------------------

def children_of(ppid):
    """Pids whose parent is ppid (/proc scan: no ps, no race-free API)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            out.append(int(d))
    return out


def proc_status(pid):
    """VmRSS, RssAnon, VmData of pid in KiB (missing fields are 0)."""
    want = {"VmRSS": 0, "RssAnon": 0, "VmData": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key in want:
                    want[key] = int(val.split()[0])
    except OSError:
        return None
    return want


def core_pid(path):
    """The pid in an ELF core's NT_PRPSINFO note (x86_64 layout: pr_pid at
    offset 24), or None.  core_pattern here is plain "core": every crash
    writes the same file name, so the pid inside says whose it was."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        off = phoff + i * phentsize
        ptype, = struct.unpack_from("<I", data, off)
        if ptype != 4:  # PT_NOTE
            continue
        noff, = struct.unpack_from("<Q", data, off + 8)
        nsize, = struct.unpack_from("<Q", data, off + 32)
        pos, end = noff, min(noff + nsize, len(data))
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            desc = pos + 12 + ((namesz + 3) & ~3)
            if ntype == 3 and descsz >= 28:  # NT_PRPSINFO
                return struct.unpack_from("<i", data, desc + 24)[0]
            pos = desc + ((descsz + 3) & ~3)
    return None


def backtrace(core):
    """gdb's backtrace of every thread of a core (bounded), or ''."""
    try:
        res = subprocess.run(
            ["gdb", "-batch", "-nx", "-ex", "thread apply all bt 30",
             harness.APACHE2, core], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout


def slope(ys):
    """Least-squares slope per step of a short series (0 for < 2 points)."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(ys) / n
    num = sum((i - mx) * (y - my) for i, y in enumerate(ys))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


# -- the soak ---------------------------------------------------------------

class Soak:
    """One server, one MPM, with or without mod_poolwatch, for `seconds`."""

    def __init__(self, mpm, poolwatch=True, seconds=60.0, restarts=20,
                 kills=None, max_conn=None, name=None, debug=False):
        self.mpm = mpm
        self.debug = debug
        self.poolwatch = poolwatch
        self.seconds = seconds
        self.restarts = restarts
        # one fault per generation by default: SIGKILL, SIGSEGV, alternating
        if kills is None:
            kills = [signal.SIGKILL if i % 2 == 0 else signal.SIGSEGV
                     for i in range(restarts + 1)]
        self.kills = kills
        # prefork spreads the connections over its many idle children, and
        # every restart starts them afresh: with a few seconds per
        # generation, only a small limit recycles any
        if max_conn is None:
            max_conn = 10 if mpm == "prefork" else 100
        self.max_conn = max_conn
        extra = SOAK_CONF[mpm] + f"MaxConnectionsPerChild {max_conn}\n"
        if poolwatch:
            extra += POOLWATCH_CONF
            if debug:
                # a leak warning then comes with its numbers (PW00021/22)
                extra += "LogLevel poolwatch:debug\n"
        self.srv = harness.Httpd(
            name or f"soak-{mpm}-{'pw' if poolwatch else 'nopw'}", mpm,
            extra=extra, poolwatch=poolwatch)
        self.lock = threading.Lock()
        self.core_lock = threading.Lock()
        self.stop = threading.Event()
        self.counts = {}
        self.errors = []          # criterion failures (strings)
        self.threads = []
        self.gen0 = None          # generation of the first read
        self.expected = None      # generation the driver has asked for
        self.sent = {}            # pid -> signal number sent
        self.dead = {}            # pid -> monotonic time its death was seen
        self.gens = []            # per-generation figures (dicts)
        self.pconf = {}           # generation -> min pconf bytes seen
        self.process = {}         # generation -> min process pool bytes
        self.verdict_pid = None
        self.reads = {"json": 0, "prometheus": 0}
        self.crash_report = []
        self.own_cores = 0
        self.own_cores_of = {}
        self.hung = []            # children that outlived our signal
        self.own_exits = 0        # "exit signal" lines of our SIGSEGVs
        self.exited = set()       # pids shown exited while their
                                  # generation was current, not killed
        self.vanished = {}        # pid -> generation current when it left
        self.pid_gen = {}         # pid -> its generation (JSON)

    # -- bookkeeping ---------------------------------------------------------

    def count(self, kind, n=1):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def fail(self, what):
        with self.lock:
            if len(self.errors) < 50 and what not in self.errors:
                self.errors.append(what)

    def spawn(self, kind, fn, *args):
        def run():
            try:
                fn(kind, *args)
            except Exception as e:  # a client's failure is a soak failure
                self.fail(f"{kind}: {type(e).__name__}: {e}")
        t = threading.Thread(target=run, name=kind, daemon=True)
        self.threads.append(t)
        t.start()

    # -- clients -------------------------------------------------------------

    def _request(self, conn, path):
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp, resp.read()

    def client_loop(self, kind, paths, keepalive, pause, check=None):
        """Requests until stopped.  Restarts, recycling and kills close
        connections under a client: those are reconnected (bounded) and
        counted, never errors.  A status other than 200 is an error."""
        conn = None
        reconnects = 0
        i = 0
        while not self.stop.is_set():
            path = paths[i % len(paths)]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                                  timeout=15)
            started = time.monotonic()
            try:
                resp, body = self._request(conn, path)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                reconnects += 1
                self.count("reconnects")
                if reconnects > MAX_RECONNECTS:
                    raise
                time.sleep(0.01)
                continue
            if resp.status != 200:
                self.fail(f"{kind}: {path} answered {resp.status}: "
                          f"{body[:200]!r}")
            elif check:
                check(kind, resp, body, started)
            self.count(kind)
            i += 1
            if not keepalive or resp.will_close:
                conn.close()
                conn = None
            if pause:
                time.sleep(pause)
        if conn is not None:
            conn.close()

    # -- consistency of one read ---------------------------------------------

    def check_json(self, kind, resp, body, started, seen=None):
        ctype = resp.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            self.fail(f"{kind}: Content-Type {ctype}")
            return None
        try:
            doc = json.loads(body)
        except ValueError as e:
            self.fail(f"{kind}: JSON does not parse: {e}: {body[:300]!r}")
            return None
        with self.lock:
            self.reads["json"] += 1
        for c in doc.get("children", []):
            # a child that served requests is past child_init, where its
            # sampling thread starts
            if c.get("state") == "running" and c.get("requests"):
                self.count("sampler_" + str(c.get("sampler")))
        self.consistent(kind, doc, started,
                        seen if seen is not None else self._seen(kind))
        return doc

    def _seen(self, kind):
        """Per reader: pid -> last requests seen (reads are sequential
        within one reader, so requests must never go down there)."""
        attr = f"_seen_{kind}"
        if not hasattr(self, attr):
            setattr(self, attr, {})
        return getattr(self, attr)

    def consistent(self, kind, doc, started, seen):
        srv = doc["server"]
        gen = srv["generation"]
        with self.lock:
            if self.gen0 is None:
                self.gen0 = gen
                self.expected = gen
            expected = self.expected
        # a read started just before a restart may still be answered by a
        # child of the generation before
        if not expected - 1 <= gen <= expected:
            self.fail(f"{kind}: server.generation {gen}, expected "
                      f"{expected - 1}..{expected}")
        nslots = srv["slots"]
        pids, slots = set(), set()
        for c in doc["children"]:
            pid, slot = c["pid"], c["slot"]
            if pid in pids:
                self.fail(f"{kind}: pid {pid} twice in children[]")
            if slot in slots:
                self.fail(f"{kind}: slot {slot} twice in children[]")
            pids.add(pid)
            slots.add(slot)
            if not 0 <= slot < nslots:
                self.fail(f"{kind}: slot {slot} of pid {pid} outside "
                          f"0..{nslots - 1}")
            if not self.gen0 <= c["generation"] <= expected:
                self.fail(f"{kind}: child {pid} generation "
                          f"{c['generation']} outside {self.gen0}..{expected}")
            now = (c["requests"], slot, c["generation"], c["torn"],
                   c["state"])
            last = seen.get(pid)
            if last is not None and c["requests"] < last[0]:
                self.fail(f"{kind}: pid {pid} requests went down: "
                          f"(requests, slot, generation, torn, state) "
                          f"{last} -> {now}")
            seen[pid] = now
            self.pid_gen[pid] = c["generation"]
            died = self.dead.get(pid)
            if (c["state"] == "running" and died is not None
                    and died < started):
                self.fail(f"{kind}: pid {pid} shown running, but it was "
                          f"killed and reaped before the read")
            if c["state"] == "running":
                self._note_pools(c)
            elif (c["generation"] == gen == expected
                  and pid not in self.sent):
                with self.lock:
                    self.exited.add(pid)

    def _note_pools(self, c):
        """The smallest pconf and process pool a child of generation g
        showed: the parent's, as g's children inherited them at fork."""
        g = c["generation"]
        for p in c["pools"]:
            for path, table in (("process/pconf", self.pconf),
                                ("process", self.process)):
                if p["path"] == path:
                    with self.lock:
                        if g not in table or p["bytes"] < table[g]:
                            table[g] = p["bytes"]

    def check_prom(self, kind, resp, body, started):
        ctype = resp.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            self.fail(f"{kind}: Content-Type {ctype}")
            return
        try:
            expo = promtext.Exposition(body)
            gen = expo.value("poolwatch_generation")
            states = expo.samples("poolwatch_child_state")
        except (AssertionError, ValueError, KeyError) as e:
            self.fail(f"{kind}: exposition: {e}")
            return
        with self.lock:
            self.reads["prometheus"] += 1
            expected = self.expected
        if expected is not None and not expected - 1 <= gen <= expected:
            self.fail(f"{kind}: poolwatch_generation {gen}, expected "
                      f"{expected - 1}..{expected}")
        ones = [lab["pid"] for lab, v in states if v == 1]
        if len(ones) != len(set(ones)):
            self.fail(f"{kind}: a pid has two states: {sorted(ones)}")

    # -- verdicts ------------------------------------------------------------

    def verdict(self, gen):
        """A keep-alive client leaks 1000 B/request from pchild until its
        child (of generation gen) says "leak" for that key.  Returns
        (pid, requests) or raises SoakError."""
        last = None
        for _attempt in range(VERDICT_ATTEMPTS):
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                              timeout=15)
            seen = {}
            last_key = None
            me = None
            try:
                pid = None
                for n in range(1, VERDICT_MAX_REQUESTS + 1):
                    resp, body = self._request(conn, LEAK_PATH)
                    if resp.status != 200:
                        raise SoakError(f"leak request: {resp.status}")
                    fields = dict(line.partition("=")[::2] for line in
                                  body.decode().splitlines())
                    if pid is None:
                        pid = int(fields["pid"])
                        self.verdict_pid = pid
                    elif int(fields["pid"]) != pid:
                        raise SoakError("keep-alive connection changed child")
                    if n < 40 or n % 8:
                        continue
                    started = time.monotonic()
                    resp, body = self._request(conn, "/poolwatch?json")
                    if resp.status != 200:
                        self.fail(f"verdict: /poolwatch {resp.status}")
                        continue
                    doc = self.check_json("verdict", resp, body, started,
                                          seen)
                    if doc is None:
                        continue
                    me = [c for c in doc["children"] if c["pid"] == pid]
                    if not me or me[0]["generation"] != gen:
                        continue
                    for k in me[0]["keys"]:
                        if LEAK_KEY_PART in k["key"]:
                            last_key = k
                            if k["verdict"] == "leak":
                                return pid, n
                child = me[0] if me else {}
                keys = [(k["key"][-30:], k["verdict"])
                        for k in child.get("keys", [])]
                raise SoakError(
                    f"no leak verdict in pid {pid} after "
                    f"{VERDICT_MAX_REQUESTS} requests; last: "
                    f"{json.dumps(last_key)[:1500]}; child: requests "
                    f"{child.get('requests')} samples "
                    f"{child.get('samples')} keys {keys}")
            except (OSError, http.client.HTTPException) as e:
                # the child was recycled or stopped under us: try again
                self.count("verdict_retries")
                last = e
            finally:
                conn.close()
                self.verdict_pid = None
        raise SoakError(f"verdict: {VERDICT_ATTEMPTS} attempts broke off, "
                        f"last {last!r}")

    # -- faults --------------------------------------------------------------

    def kill_one(self, sig, parent):
        """Sends sig to one child (not the verdict client's) and waits until
        the parent reaped it.  Returns the pid or None."""
        pids = [p for p in children_of(parent) if p != self.verdict_pid]
        if not pids:
            return None
        pid = random.choice(pids)
        with self.lock:
            self.sent[pid] = sig
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return None
        for _ in range(200):
            if not os.path.exists(f"/proc/{pid}"):
                with self.lock:
                    self.dead[pid] = time.monotonic()
                break
            time.sleep(0.025)
        else:
            self.hung_child(pid, sig)
        self.count(signal.Signals(sig).name)
        if sig == signal.SIGSEGV:
            for _ in range(100):
                self._collect_core(wait=False)
                if self.own_cores_of.get(pid):
                    break
                time.sleep(0.05)
        return pid

    def hung_child(self, pid, sig):
        """A child still there 5 s after our signal: its threads' stacks
        say where it hangs (gdb attaches as root).  Seen after SIGSEGV in
        worker children with and without the module: httpd's own fatal
        signal handler may block there."""
        try:
            res = subprocess.run(
                ["gdb", "-batch", "-nx", "-p", str(pid), "-ex",
                 "thread apply all bt 25"], stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=60)
            bt = res.stdout
        except (OSError, subprocess.TimeoutExpired):
            bt = ""
        frames = [ln for ln in bt.splitlines() if ln.startswith("#")]
        with self.lock:
            self.hung.append({
                "pid": pid, "signal": signal.Signals(sig).name,
                "module": "poolwatch" in bt,
                "frames": [re.sub(r"0x[0-9a-f]+ in ", "", f)[:160]
                           for f in frames
                           if re.search(r"sig|lock|wait|pool|poolwatch|pw_",
                                        f)][:12]})

    def core_watch(self, kind, parent):
        """Collects run/core as soon as it appears: the next crash would
        replace it, and a foreign crash may come with no error_log line
        (httpd reaps children silently while it restarts).  Also notes
        which children vanish, and in which generation: one that leaves
        while its own generation is current, unsignalled, was recycled
        (or reaped as a spare); a reader may never see its exited slot,
        which the next child takes first."""
        alive = set()
        while not self.stop.is_set():
            self._collect_core(wait=False)
            now = set(children_of(parent))
            with self.lock:
                for pid in alive - now:
                    self.vanished[pid] = self.expected
            alive = now
            time.sleep(0.1)

    def _collect_core(self, wait=True):
        with self.core_lock:
            self._collect_core_locked(wait)

    def _collect_core_locked(self, wait):
        """Moves run/core to run/core.<pid> (each crash overwrites "core");
        cores of SIGSEGVs we sent are deleted, others kept for gdb."""
        core = self.srv.root / "run" / "core"
        for _ in range(100 if wait else 1):
            if core.exists():
                break
            time.sleep(0.05)
        if not core.exists():
            return
        time.sleep(0.1)  # the kernel may still be writing it
        pid = core_pid(core)
        if pid is not None and self.sent.get(pid) == signal.SIGSEGV:
            core.unlink()
            self.own_cores += 1
            self.own_cores_of[pid] = True
        else:
            core.rename(core.with_name(f"core.{pid}"))

    # -- generations ---------------------------------------------------------

    def wait_generation(self, parent, restarts_done, deadline):
        """After a SIGUSR1: waits for the parent's "resuming normal
        operations" (one per start and restart) and, with the module, for a
        /poolwatch read on a new connection to show the new generation."""
        while time.monotonic() < deadline:
            text = self.srv.log_text()
            if len(RESUMING.findall(text)) >= restarts_done + 1:
                break
            time.sleep(0.05)
        else:
            raise SoakError(f"restart {restarts_done}: parent did not resume")
        if not self.poolwatch:
            return None
        while time.monotonic() < deadline:
            try:
                r = self.srv.get("/poolwatch?json", timeout=5)
                if r.status == 200:
                    gen = r.json()["server"]["generation"]
                    if gen == self.expected:
                        return gen
                    if gen > self.expected:
                        raise SoakError(f"generation jumped to {gen}, "
                                        f"expected {self.expected}")
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise SoakError(f"generation {self.expected} never seen")

    @staticmethod
    def parent_figures(parent, g):
        st = proc_status(parent) or {}
        return {"gen": g, "rss_kib": st.get("VmRSS"),
                "anon_kib": st.get("RssAnon"), "data_kib": st.get("VmData")}

    # -- the run -------------------------------------------------------------

    def run(self):
        """Runs the soak; returns a result dict.  Never leaves the server
        running."""
        t0 = time.monotonic()
        self.srv.start()
        try:
            return self._run(t0)
        finally:
            self.stop.set()
            for t in self.threads:
                t.join(timeout=30)
            self.srv.stop()

    def _run(self, t0):
        srv = self.srv
        parent = srv.parent_pid()
        period = max(1.0, (self.seconds - 4.0) / (self.restarts + 1))
        if self.poolwatch:
            doc = srv.get("/poolwatch?json").json()
            self.gen0 = self.expected = doc["server"]["generation"]
        self.spawn("cores", self.core_watch, parent)
        mixed = ["/leak?what=none", "/static.txt", "/leak?what=rpool&n=512",
                 "/index.html"]
        for i in range(2):
            self.spawn(f"keepalive{i}", self.client_loop, mixed, True, 0.002)
        self.spawn("short", self.client_loop,
                   mixed + ["/leak?what=pchild&n=64"], False, 0.01)
        if self.poolwatch:
            self.spawn("json", self.client_loop, ["/poolwatch?json"], True,
                       0.02, self.check_json)
            self.spawn("json_short", self.client_loop, ["/poolwatch?json"],
                       False, 0.05, self.check_json)
            self.spawn("prometheus", self.client_loop,
                       ["/poolwatch?format=prometheus"], True, 0.05,
                       self.check_prom)
        verdicts = []
        g = self.gen0 if self.gen0 is not None else 0
        start = time.monotonic()
        for step in range(self.restarts + 1):
            # generations end on a fixed schedule: one that ran long (a slow
            # restart, a verdict retried) shortens the next, not the soak
            end = start + (step + 1) * period
            t_start = time.monotonic()
            if step > 0:
                with self.lock:
                    self.expected = (self.expected or 0) + 1
                os.kill(parent, signal.SIGUSR1)
                self.count("graceful_restarts")
                got = self.wait_generation(parent, step,
                                           time.monotonic() + 30)
                g = got if got is not None else g + 1
            t_restart = time.monotonic()
            time.sleep(0.3)
            figs = self.parent_figures(parent, g)
            if self.poolwatch:
                try:
                    pid, n = self.verdict(g)
                    verdicts.append((g, pid, n))
                except SoakError as e:
                    self.fail(f"generation {g}: {e}")
            t_verdict = time.monotonic()
            if step < len(self.kills) and self.kills[step]:
                self.kill_one(self.kills[step], parent)
            figs["phases_s"] = (round(t_restart - t_start, 2),
                                round(t_verdict - t_restart, 2),
                                round(time.monotonic() - t_verdict, 2))
            self.gens.append(figs)
            if self.errors:
                break
            while time.monotonic() < end and not self.stop.is_set():
                time.sleep(0.05)
            if not srv.alive() or srv.parent_pid() != parent:
                self.fail("the parent died or changed pid")
                break
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        hung = [t.name for t in self.threads if t.is_alive()]
        if hung:
            self.fail(f"client threads did not stop: {hung}")
        if not srv.alive():
            self.fail("the parent is not running at the end")
        time.sleep(0.5)
        self._collect_core(wait=False)
        crashes = self.attribute_crashes()
        false_leaks, explained = {}, []
        log = srv.log_text()
        for m in FALSE_LEAK.finditer(log):
            if "what=pchild" in m.group(1):
                continue
            k = f"{m.group(1)} ({m.group(2)})"
            false_leaks[k] = false_leaks.get(k, 0) + 1
            # with debug: the explanation that follows the warning, from
            # the same child (other processes' lines may come between)
            line_end = log.find("\n", m.end())
            who = re.search(r'pid (\d+): (key "[^"]*")', m.group(0))
            for code in ("PW00021", "PW00022"):
                e = re.compile(rf"{code}: pid {who.group(1)}: "
                               rf"{re.escape(who.group(2))}.*")
                got = e.search(log, line_end if line_end >= 0 else m.end())
                if got:
                    explained.append(got.group(0))
        for gfig in self.gens:
            gfig["pconf"] = self.pconf.get(gfig["gen"])
            gfig["process"] = self.process.get(gfig["gen"])
        return {
            "mpm": self.mpm, "poolwatch": self.poolwatch,
            "seconds": round(time.monotonic() - t0, 1),
            "restarts": self.counts.get("graceful_restarts", 0),
            "sigkill": self.counts.get("SIGKILL", 0),
            "sigsegv": self.counts.get("SIGSEGV", 0),
            "own_cores": self.own_cores, "own_exits": self.own_exits,
            "exited_alone": len(self.exited | self._recycled()),
            "children_seen": self._children_seen(),
            "counts": dict(self.counts),
            "reads": dict(self.reads), "verdicts": verdicts,
            "gens": self.gens, "crashes": crashes,
            "false_leaks": false_leaks, "explained": explained,
            "hung": list(self.hung),
            "errors": list(self.errors),
        }

    def _recycled(self):
        """Children that vanished, unsignalled, while their generation was
        the current one."""
        with self.lock:
            return {pid for pid, g in self.vanished.items()
                    if pid not in self.sent and g is not None
                    and self.pid_gen.get(pid) == g}

    def _children_seen(self):
        """Distinct child pids the readers saw (every child claims a slot):
        with MaxConnectionsPerChild small, most of them were recycled."""
        seen = set()
        for attr in dir(self):
            if attr.startswith("_seen_"):
                seen.update(getattr(self, attr))
        return len(seen)

    def attribute_crashes(self):
        """Every "exit signal" line: ours (a SIGSEGV we sent to that pid)
        or not.  A foreign one is the module's if its core's backtrace has
        a mod_poolwatch frame, httpd's if the backtrace has none, and
        unattributed without a core (which fails the soak: no evidence
        either way)."""
        out = []
        text = self.srv.log_text()
        for line in text.splitlines():
            m = EXIT_SIGNAL.search(line)
            if m:
                pid, signo = int(m.group(1)), int(m.group(3))
                if self.sent.get(pid) == signo:
                    self.own_exits += 1
                    continue
                core = self.srv.root / "run" / f"core.{pid}"
                who, top = "unattributed (no core)", ""
                if core.exists():
                    bt = backtrace(str(core))
                    frames = [ln for ln in bt.splitlines()
                              if ln.startswith("#")]
                    top = " | ".join(frames[:6])
                    if "poolwatch" in bt or re.search(r"\bpw_\w+ \(", bt):
                        who = "module"
                    else:
                        who = "httpd (no mod_poolwatch frame)"
                out.append({"pid": pid, "signal": m.group(2),
                            "attributed": who, "line": line, "top": top})
            elif any(p.search(line) for p in harness.CRASH_PATTERNS):
                out.append({"pid": None, "signal": "", "line": line,
                            "attributed": "log line", "top": ""})
        for core in sorted((self.srv.root / "run").glob("core.*")):
            pid = core.name.split(".", 1)[1]
            if not any(str(c["pid"]) == pid for c in out):
                out.append({"pid": pid, "signal": "core without log line",
                            "attributed": "unattributed core",
                            "line": str(core), "top": ""})
        return out


# -- verdict over runs ------------------------------------------------------

def growth_verdict(with_pw, without_pw, rss_tol_kib=16.0, pool_tol=256,
                   pool_slope=4.0):
    """Judges growth across restarts.  Generation figures before the first
    restart are skipped (the first start reads the config twice and loads
    the DSOs for the first time), and so is the first restart (first-time
    allocations of a restart path).  Pool bytes are exact but move by a
    few dozen bytes between children of one generation (the smallest is
    kept): flat means within pool_tol bytes, or a slope of at most
    pool_slope bytes per restart (a leak of 16 B per restart fails after
    16 restarts).  RSS is coarse: its slope may exceed the baseline's by
    rss_tol_kib per restart.  Returns (ok, lines)."""
    lines = []
    ok = True
    gens = with_pw["gens"][2:]
    rss = [g["rss_kib"] for g in gens if g["rss_kib"] is not None]
    if with_pw["poolwatch"]:
        for name in ("pconf", "process"):
            vals = [g[name] for g in gens if g[name] is not None]
            if len(vals) < 2:
                ok = False
                lines.append(f"{name}: too few generations measured "
                             f"({len(vals)})")
                continue
            s = slope(vals)
            good = max(vals) - min(vals) <= pool_tol or s <= pool_slope
            ok &= good
            lines.append(f"{name} pool bytes per generation: min "
                         f"{min(vals)} max {max(vals)} slope {s:+.1f} "
                         f"B/restart: {'flat' if good else 'GROWS'}")
    s_with = slope(rss)
    line = f"parent RSS slope with the module {s_with:+.1f} KiB/restart"
    if without_pw is not None:
        rss0 = [g["rss_kib"] for g in without_pw["gens"][2:]
                if g["rss_kib"] is not None]
        s_without = slope(rss0)
        good = s_with - s_without <= rss_tol_kib
        line += (f", without {s_without:+.1f} KiB/restart: "
                 f"{'no growth of its own' if good else 'GROWS'}")
    else:
        good = s_with <= rss_tol_kib
        line += f" (no baseline, tolerance {rss_tol_kib} KiB): " + \
            ("ok" if good else "GROWS")
    ok &= good
    lines.append(line)
    return ok, lines


def judge(res, verdicts_needed=True, scan_check=True):
    """Pass/fail lines of one run (crashes, parent, readers, verdicts).
    scan_check: the soak's own SIGSEGVs must have left some line and some
    core (off for runs with one or two: httpd may leave neither)."""
    problems = list(res["errors"])
    for c in res["crashes"]:
        if c["attributed"] != "httpd (no mod_poolwatch frame)":
            problems.append(f"crash: {c['attributed']}: {c['line']} "
                            f"{c['top']}")
    # httpd logs no "exit signal" for a child it reaps while restarting
    # (seen without the module too), so not every SIGSEGV has its line;
    # but the scan must see some, and every one must have left a core
    if scan_check and res["sigsegv"] and not res["own_exits"]:
        problems.append(f"error_log shows none of the {res['sigsegv']} "
                        f"SIGSEGVs sent: the crash scan sees nothing")
    # a child already on its way out (recycled, or of a generation before)
    # may leave neither a line nor a core for our SIGSEGV, with or without
    # the module (seen 1-2 in 10 under worker); but the collector must have
    # seen cores, or it would miss foreign ones too
    if scan_check and res["sigsegv"] and not res["own_cores"]:
        problems.append(f"no core for any of the {res['sigsegv']} SIGSEGVs "
                        f"sent: foreign crashes would go unseen")
    for h in res["hung"]:
        if h["module"] or h["signal"] != "SIGSEGV":
            problems.append(f"child {h['pid']} did not die of {h['signal']}"
                            f" (module frame: {h['module']}): "
                            f"{' | '.join(h['frames'])}")
    if res["poolwatch"]:
        if res["exited_alone"] == 0:
            problems.append("no child exited on its own: recycling "
                            "(MaxConnectionsPerChild) was not exercised")
        if res["reads"]["json"] == 0 or res["reads"]["prometheus"] == 0:
            problems.append(f"too few /poolwatch reads: {res['reads']}")
        if verdicts_needed and len(res["verdicts"]) != res["restarts"] + 1:
            problems.append(f"leak verdicts in {len(res['verdicts'])} of "
                            f"{res['restarts'] + 1} generations")
    return problems


def format_run(res):
    not_requests = ("reconnects", "graceful_restarts", "SIGKILL", "SIGSEGV",
                    "verdict_retries")
    requests = sum(v for k, v in res["counts"].items()
                   if k not in not_requests)
    out = [f"== {res['mpm']} {'with' if res['poolwatch'] else 'without'} "
           f"mod_poolwatch: {res['seconds']} s, {res['restarts']} graceful "
           f"restarts, {res['sigkill']} SIGKILL, {res['sigsegv']} SIGSEGV "
           f"sent ({res['own_exits']} \"exit signal\" lines and "
           f"{res['own_cores']} cores of ours), "
           f"requests {requests}, "
           f"reconnects {res['counts'].get('reconnects', 0)}, "
           f"/poolwatch reads {res['reads']}"]
    if res["poolwatch"]:
        out.append(f"   children seen by readers {res['children_seen']}, "
                   f"{res['exited_alone']} exited on their own in their "
                   f"generation (MaxConnectionsPerChild, spare reaping); "
                   f"leak verdicts (gen, pid, requests): {res['verdicts']}")
    out.append("   gen  parent_rss_kib  rss_anon_kib  vm_data_kib  "
               "pconf_bytes  process_bytes  restart/verdict/fault s")
    for g in res["gens"]:
        out.append(f"   {g['gen']:>3}  {g['rss_kib']!s:>14}  "
                   f"{g['anon_kib']!s:>12}  {g['data_kib']!s:>11}  "
                   f"{g.get('pconf')!s:>11}  {g.get('process')!s:>13}  "
                   f"{'/'.join(str(x) for x in g.get('phases_s', ()))}")
    if res.get("false_leaks"):
        out.append(f"   leak warnings (PW00020) for keys that do not leak: "
                   f"{res['false_leaks']}")
        for line in res.get("explained", ()):
            out.append(f"      {line}")
    for h in res["hung"]:
        out.append(f"   child {h['pid']} still there 5 s after {h['signal']}"
                   f" (mod_poolwatch frame: {h['module']}):")
        for f in h["frames"]:
            out.append(f"      {f}")
    for c in res["crashes"]:
        out.append(f"   crash: {c['attributed']}: {c['line']}")
        if c["top"]:
            out.append(f"      {c['top']}")
    for e in res["errors"]:
        out.append(f"   ERROR {e}")
    return "\n".join(out)
