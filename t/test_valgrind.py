"""valgrind memcheck of apache2 -X with mod_poolwatch: the module loses
no memory and makes no invalid access.

One process (prefork -X, every request sampled and judged; and event -X
with a PoolWatchSampleInterval, sampled by the child's own thread) under
memcheck serves a few hundred mixed requests: static files, 404s,
/poolwatch?json and ?format=prometheus readings, and mod_pwtest leaks
that produce verdicts (pchild, pconf, malloc, conn).  It is stopped with
SIGTERM; valgrind's report (--keep-debuginfo=yes: apache2 unloads DSOs
before exit, and their frames must still have names) is then read:

* no "definitely lost" block whose stack holds a mod_poolwatch frame
  (src/pw_*.c, src/mod_poolwatch_*.c, mod_poolwatch.c), except blocks
  leaked on purpose by mod_pwtest (a t/modules/mod_pwtest.c frame);
* no invalid read/write, use of uninitialised values or bad syscall
  argument with a mod_poolwatch frame.

Slow (valgrind runs apache2 some 30 times slower): bounded by a request
count and a deadline.  PW_VALGRIND=0 skips it; `make valgrind` runs it
alone.
"""

import os
import re
import shutil

import pytest

from harness import Deadline

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
REQUESTS = int(os.environ.get("PW_VALGRIND_REQUESTS", "300"))
OURS = re.compile(r"\((?:src/)?(?:pw_[a-z_]+|mod_poolwatch[a-z_]*)\.c:\d+\)"
                  r"|mod_poolwatch\.so")
PWTEST = re.compile(r"mod_pwtest\.c|mod_pwtest\.so")
ERROR_HEAD = re.compile(r"Invalid (read|write|free)|uninitialised|"
                        r"Syscall param|Mismatched free|"
                        r"Source and destination overlap")

pytestmark = pytest.mark.skipif(
    os.environ.get("PW_VALGRIND", "1") in ("0", ""),
    reason="PW_VALGRIND=0")


def records(text):
    """valgrind's report as records: lists of lines without the ==pid==
    prefix, split at blank lines."""
    out, cur = [], []
    for line in text.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if not body.strip():
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(body)
    if cur:
        out.append(cur)
    return out


def problems(text):
    lost, errors = [], []
    for rec in records(text):
        head, stack = rec[0], "\n".join(rec)
        if "definitely lost in loss record" in head:
            if OURS.search(stack) and not PWTEST.search(stack):
                lost.append(stack)
        elif ERROR_HEAD.search(head) and OURS.search(stack):
            errors.append(stack)
    return lost, errors


def test_problems_parser():
    """The control: the parser finds our frames and skips mod_pwtest's."""
    ours = ("==1== 64 bytes in 1 blocks are definitely lost in loss record "
            "1 of 9\n==1==    at 0x1: malloc (vg_replace_malloc.c:1)\n"
            "==1==    by 0x2: pw_key_get (pw_keys.c:12)\n\n")
    theirs = ours.replace("pw_key_get (pw_keys.c:12)",
                          "leak_handler (mod_pwtest.c:40)")
    err = ("==1== Invalid read of size 8\n==1==    at 0x3: walk "
           "(src/pw_pool.c:99)\n\n")
    lost, errors = problems(ours + theirs + err)
    assert len(lost) == 1 and "pw_keys.c" in lost[0]
    assert len(errors) == 1 and "pw_pool.c" in errors[0]


@pytest.mark.parametrize("mpm,extra", [
    ("prefork", ""),
    # a threaded child with an interval samples from its own thread: that
    # thread's start, samples, judgements and join at exit, checked too
    ("event", "PoolWatchSampleInterval 10ms\n"),
], ids=["prefork", "event-thread"])
def test_memcheck_apache2_X(httpd_factory, monkeypatch, mpm, extra):
    if not os.path.exists(VALGRIND):
        pytest.fail(f"{VALGRIND} missing: apt-get install valgrind")
    monkeypatch.setenv("PW_SERVER_WRAP", " ".join([
        VALGRIND, "--tool=memcheck", "--leak-check=full",
        "--show-leak-kinds=definite", "--keep-debuginfo=yes",
        "--num-callers=40", "--error-limit=no",
        "--log-file={root}/logs/valgrind.%p"]))
    srv = httpd_factory(mpm, poolwatch=True, single=True, timeout=180,
                        extra=extra + "PoolWatchKey query\nPoolWatchWarmup 2")
    deadline = Deadline(600)
    served = 0
    with srv.client(timeout=60) as c:
        i = 0
        while served < REQUESTS:
            deadline.check("requests under valgrind")
            kind = i % 8
            if kind == 0:
                c.leak("pchild", 256)
            elif kind == 1:
                c.leak("pconf", 24)
            elif kind == 2:
                c.leak("malloc", 512)
            elif kind == 3:
                c.leak("conn", 64)
            elif kind == 4:
                assert c.get("/index.html").status == 200
            elif kind == 5:
                assert c.get(f"/missing/{i % 40}").status == 404
            elif kind == 6:
                doc = c.poolwatch()
                assert doc["children"]
            else:
                r = c.get("/poolwatch?format=prometheus")
                assert r.status == 200
            i += 1
            served += 1
        doc = c.poolwatch()
    verdicts = {k["key"]: k["verdict"] for k in doc["keys"]}
    assert "leak" in verdicts.values(), verdicts
    assert doc["children"][0]["sampler"] == (
        "thread" if extra else "requests"), doc["children"][0]
    srv.stop(timeout=120)
    logs = sorted((srv.root / "logs").glob("valgrind.*"))
    assert logs, "valgrind wrote no report"
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    assert "LEAK SUMMARY" in text or "All heap blocks were freed" in text \
        or "definitely lost" in text, (
        f"valgrind's report has no leak summary (stopped early?):\n"
        f"{text[-2000:]}")
    lost, errors = problems(text)
    summary = re.findall(r"definitely lost: [\d,]+ bytes in [\d,]+ blocks",
                         text)
    print(f"\nvalgrind: {served} requests; {summary}; "
          f"{len(lost)} lost records and {len(errors)} errors in "
          f"mod_poolwatch frames")
    assert not errors, "\n\n".join(errors[:5])
    assert not lost, "\n\n".join(lost[:5])
