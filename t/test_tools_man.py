"""The tools' man pages (tools/*.1): groff reads them without a warning
(-ww: all warnings), and each documents the options its --help lists."""

import re
import shutil
import subprocess

import pytest

import harness

PAGES = sorted((harness.TOP / "tools").glob("*.1"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_man_page_has_no_groff_warnings(page):
    if shutil.which("groff") is None:
        pytest.fail("groff is missing: apt-get install groff-base")
    res = subprocess.run(["groff", "-man", "-ww", "-z", str(page)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=30)
    assert res.returncode == 0 and not res.stderr, res.stderr


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_man_page_documents_every_option(page):
    tool = harness.TOP / "tools" / page.stem
    assert tool.exists(), f"{tool} is not built: run make"
    help_text = subprocess.run([str(tool), "--help"], stdout=subprocess.PIPE,
                               text=True, timeout=10).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text))
    assert len(options) >= 8, help_text
    roff = page.read_text().replace("\\-", "-")
    missing = sorted(o for o in options if o not in roff)
    assert not missing, f"{page.name} does not document {missing}"
