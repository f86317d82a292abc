"""The soak of build/soak, short: about 30 s per MPM in `make test`.

Same code (t/soak.py), fewer generations: 5 graceful restarts, a SIGKILL
and a SIGSEGV to children, MaxConnectionsPerChild 10 (prefork) or 50,
concurrent
/poolwatch?json and ?format=prometheus readers, a leak verdict in every
generation, then a shorter run without mod_poolwatch as the baseline for
the parent's RSS trend.  The soak stops and judges itself; the assertions
here are its criteria (see t/soak.py).  PW_SOAK_SECONDS changes the time
with the module (default 18).

The servers are not made by the httpd_factory fixture: that fixture fails
a test on any "exit signal" line and any core, and this test sends
SIGSEGV on purpose; t/soak.py attributes those lines by pid instead.
"""

import os
import signal

import pytest

import harness
import soak

SECONDS = float(os.environ.get("PW_SOAK_SECONDS", "18"))
RESTARTS = 5
# faults per generation: SIGKILL after the first, SIGSEGV after the third
KILLS = [None, signal.SIGKILL, None, signal.SIGSEGV, None, None]
# small enough that children recycle within generations of ~3 s
MAX_CONN = {"prefork": 10, "worker": 50, "event": 50}


@pytest.mark.parametrize("mpm_name", harness.MPMS)
def test_soak(need_poolwatch, mpm_name):
    max_conn = MAX_CONN[mpm_name]
    with_pw = soak.Soak(mpm_name, True, SECONDS, RESTARTS, KILLS, max_conn,
                        name=f"test_soak-{mpm_name}").run()
    print(soak.format_run(with_pw))
    without = soak.Soak(mpm_name, False, SECONDS / 2, RESTARTS, KILLS,
                        max_conn, name=f"test_soak-{mpm_name}-nopw").run()
    print(soak.format_run(without))
    # one SIGSEGV may leave no line and no core (httpd, with or without
    # the module: 6 to 10 of 10 do in build/soak), so the check that the
    # scan sees the soak's own is build/soak's alone
    problems = soak.judge(with_pw, scan_check=False) + [
        f"(without the module) {p}"
        for p in soak.judge(without, scan_check=False)]
    ok, lines = soak.growth_verdict(with_pw, without)
    print("\n".join(lines))
    if not ok:
        problems.append("growth across restarts:\n" + "\n".join(lines))
    assert not problems, "\n".join(problems)
    assert with_pw["restarts"] == RESTARTS
    assert with_pw["sigkill"] == 1 and with_pw["sigsegv"] == 1
    # at the default interval threaded children sample from their thread
    want = "sampler_requests" if mpm_name == "prefork" else "sampler_thread"
    other = ({"sampler_requests", "sampler_thread"} - {want}).pop()
    assert with_pw["counts"].get(want, 0) > 0, with_pw["counts"]
    assert with_pw["counts"].get(other, 0) == 0, with_pw["counts"]


def gens(rss, pconf=None, process=None):
    return [{"gen": i, "rss_kib": r,
             "pconf": pconf[i] if pconf else 1000,
             "process": process[i] if process else 2000}
            for i, r in enumerate(rss)]


def test_growth_verdict_judges():
    """The growth criterion can fail: a pconf that gains 64 B per restart,
    and a parent RSS that gains 64 KiB per restart more than without the
    module, are growth; flat figures and noise are not."""
    flat = {"poolwatch": True, "gens": gens([4000] * 8)}
    base = {"poolwatch": False, "gens": gens([3800 + 4 * i for i in range(8)])}
    ok, lines = soak.growth_verdict(flat, base)
    assert ok, lines
    noisy = {"poolwatch": True,
             "gens": gens([4000] * 8, pconf=[1000, 1032] * 4)}
    assert soak.growth_verdict(noisy, base)[0]
    pconf = {"poolwatch": True,
             "gens": gens([4000] * 8, pconf=[1000 + 64 * i for i in range(8)])}
    ok, lines = soak.growth_verdict(pconf, base)
    assert not ok and any("pconf" in x and "GROWS" in x for x in lines), lines
    rss = {"poolwatch": True, "gens": gens([4000 + 64 * i for i in range(8)])}
    ok, lines = soak.growth_verdict(rss, base)
    assert not ok and any("RSS" in x and "GROWS" in x for x in lines), lines


def test_core_pid(tmp_path):
    """core_pid reads the pid of a core's NT_PRPSINFO note: cores all land
    in one file named "core" here, so the pid inside attributes them."""
    import struct
    desc = bytearray(136)
    struct.pack_into("<i", desc, 24, 4242)
    note = struct.pack("<III", 5, len(desc), 3) + b"CORE\0\0\0\0" + desc
    ehdr = bytearray(64)
    ehdr[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", ehdr, 32, 64)          # e_phoff
    struct.pack_into("<HH", ehdr, 54, 56, 1)      # e_phentsize, e_phnum
    phdr = bytearray(56)
    struct.pack_into("<I", phdr, 0, 4)            # PT_NOTE
    struct.pack_into("<Q", phdr, 8, 64 + 56)      # p_offset
    struct.pack_into("<Q", phdr, 32, len(note))   # p_filesz
    path = tmp_path / "core"
    path.write_bytes(bytes(ehdr) + bytes(phdr) + note)
    assert soak.core_pid(path) == 4242
    path.write_bytes(b"not an ELF file")
    assert soak.core_pid(path) is None
