"""pytest fixtures: a private apache2 per test, under each MPM.

  mpm             parametrizes a test over prefork, worker and event
  httpd_factory   makes (and starts) servers; on teardown stops them and fails
                  the test if error_log shows a crash, a child left a core
                  in <root>/run, or the parent died
  server          a started server with mod_poolwatch (skipped when the module
                  is not built, unless PW_REQUIRE_POOLWATCH=1)
  pwtest_server   a started server that needs only mod_pwtest
  need_poolwatch  skips (or fails) a test when mod_poolwatch is not built

PW_WITHOUT_POOLWATCH=1 runs everything without mod_poolwatch (tests that need
it are skipped): for working on the harness before the module builds.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def _need_poolwatch():
    if harness.poolwatch_available():
        return
    why = (f"{harness.MODULE_SO} not built" if harness.poolwatch_wanted()
           else "PW_WITHOUT_POOLWATCH is set")
    if os.environ.get("PW_REQUIRE_POOLWATCH", "") not in ("", "0"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session", autouse=True)
def _built():
    if not harness.TESTMOD_SO.exists():
        pytest.exit(f"{harness.TESTMOD_SO} missing: run make first", 2)
    if not os.path.exists(harness.APACHE2):
        pytest.exit(f"{harness.APACHE2} missing: apt-get install apache2", 2)


@pytest.fixture(params=harness.MPMS)
def mpm(request):
    return request.param


@pytest.fixture
def httpd_factory(request):
    servers = []

    def make(mpm, extra="", poolwatch=None, start=True, files=None,
             single=False, timeout=20.0):
        if poolwatch is None:
            poolwatch = harness.poolwatch_available()
        elif poolwatch:
            _need_poolwatch()
        name = request.node.name
        if servers:
            name += f"-{len(servers)}"
        srv = harness.Httpd(name, mpm, extra=extra, poolwatch=poolwatch,
                            files=files)
        servers.append(srv)
        if start:
            srv.start(timeout=timeout, single=single)
        return srv

    yield make

    problems = []
    for srv in servers:
        died = srv.proc is not None and not srv.alive()
        srv.stop()
        if died:
            problems.append(f"{srv.name}: apache2 parent exited during the "
                            f"test:\n{srv._tail()}")
        crashes = srv.crashes()
        cores = srv.cores()
        if crashes:
            problems.append(f"{srv.name}: error_log {srv.error_log} shows:\n"
                            + "\n".join(crashes[:40]))
        if cores:
            problems.append(f"{srv.name}: core dumps: {' '.join(cores)}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def need_poolwatch():
    _need_poolwatch()


@pytest.fixture
def server(httpd_factory, mpm):
    return httpd_factory(mpm, poolwatch=True)


@pytest.fixture
def pwtest_server(httpd_factory, mpm):
    return httpd_factory(mpm)
