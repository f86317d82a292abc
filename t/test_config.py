"""Wrong configuration stops apache2 -t with a message that names the
directive AND what it accepts, for every directive and every kind of
mistake: out of range, negative, not a number, empty, missing, two values,
and inside <VirtualHost>, <Directory>, <Location> or <Files>.

One table: (directive, pattern of its accepted values in the message).
Each row is tried with each bad value of its kind; the good value of the
row must pass, so a refusal is due to the value alone.  Config tests only
(apache2 -t): no server is started.
"""

import re

import pytest

from harness import Httpd

# directive: (kind, regex the message must hold for the range, good value)
DIRECTIVES = {
    "PoolWatch": ("flag", r"On, Off|On \(default\) or Off", "On"),
    "PoolWatchSampleEvery": ("int", r"1 to 1000000|1-1000000", "4"),
    "PoolWatchSampleInterval": ("time", r"0 to 3600s|0-3600s", "250ms"),
    "PoolWatchRSSInterval": ("time", r"0 to 3600s|0-3600s", "2s"),
    "PoolWatchMaxPools": ("int", r"8 to 4096|8-4096", "64"),
    "PoolWatchSlots": ("int", r"0 to 65536|0-65536", "0"),
    "PoolWatchWalk": ("walk", r"auto, off|auto \(default\) or off", "auto"),
    "PoolWatchKey": ("key", r"path, query, env=NAME, note=NAME|"
                     r"path \(default\), query, env=NAME or note=NAME",
                     "query"),
    "PoolWatchMaxKeys": ("int", r"4 to 1024|4-1024", "32"),
    "PoolWatchWarmup": ("int", r"0 to 100000|0-100000", "10"),
    "PoolWatchTrace": ("flag", r"On, Off|On or Off", "Off"),
    "PoolWatchStreams": ("streams", r"auto, on, off|auto \(default\), on "
                         r"or off", "auto"),
}

# Bad values by kind; beyond range and below range come from the row.
BAD_VALUES = {
    "flag": ["maybe", "1", "yes", '""', "On Off"],
    "int": ["abc", "-1", "12abc", "0x10", '""', "4294967297",
            "99999999999999999999", "1 2"],
    "time": ["soon", "-1s", "3601s", "2h", "1.5s", "1us", '""', "1 s",
             "99999999999999999999h"],
    "walk": ["sometimes", "on", '""', "auto off"],
    "streams": ["sometimes", "1", '""', "auto off", "yes"],
    "key": ["bogus", "env=", "note=", "header=X", '"env=A B"', '""',
            "path query", "env=" + "N" * 65],
}
RANGE_ENDS = {
    "PoolWatchSampleEvery": ["0", "1000001"],
    "PoolWatchMaxPools": ["7", "4097"],
    "PoolWatchSlots": ["65537"],
    "PoolWatchMaxKeys": ["3", "1025"],
    "PoolWatchWarmup": ["100001"],
}
# Each wraps a directive line: none of them is the main server config.
PLACES = {
    "VirtualHost": "<VirtualHost 127.0.0.1:1>\n{}\n</VirtualHost>",
    "Directory": "<Directory /tmp>\n{}\n</Directory>",
    "Location": "<Location /x>\n{}\n</Location>",
    "Files": "<Files x>\n{}\n</Files>",
}


def bad_lines():
    rows = []
    for name, (kind, _rx, _good) in DIRECTIVES.items():
        for val in BAD_VALUES[kind] + RANGE_ENDS.get(name, []):
            rows.append((name, f"{name} {val}"))
        rows.append((name, name))  # no value at all
    return rows


def misplaced_lines():
    return [(name, where, PLACES[where].format(f"{name} {good}"))
            for name, (_k, _rx, good) in DIRECTIVES.items()
            for where in PLACES]


def configtest(request, extra, tag):
    srv = Httpd(f"{request.node.name}-{tag}", "event", extra=extra,
                poolwatch=True)
    return srv.configtest()


def assert_refused(name, line, rc, out):
    assert rc != 0, f"apache2 -t accepted {line!r}:\n{out}"
    assert name in out, f"{line!r}: message does not name {name}:\n{out}"
    rx = DIRECTIVES[name][1]
    assert re.search(rx, out), (
        f"{line!r}: message does not give the accepted values "
        f"(/{rx}/):\n{out}")


@pytest.mark.parametrize("name", sorted(DIRECTIVES))
def test_bad_values_refused(request, need_poolwatch, name):
    wrong = []
    rows = [line for n, line in bad_lines() if n == name]
    assert rows
    for i, line in enumerate(rows):
        rc, out = configtest(request, line, i)
        try:
            assert_refused(name, line, rc, out)
        except AssertionError as e:
            wrong.append(str(e))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(DIRECTIVES))
def test_misplaced_refused(request, need_poolwatch, name):
    wrong = []
    for i, (n, where, text) in enumerate(misplaced_lines()):
        if n != name:
            continue
        rc, out = configtest(request, text, i)
        try:
            assert_refused(name, f"{where}: {text}", rc, out)
        except AssertionError as e:
            wrong.append(str(e))
    assert not wrong, "\n".join(wrong)


def test_good_values_pass(request, need_poolwatch):
    """The control: each row's good value passes, all at once and twice
    over (a repeated directive overrides the earlier one, as httpd's do)."""
    lines = [f"{n} {good}" for n, (_k, _r, good) in DIRECTIVES.items()]
    rc, out = configtest(request, "\n".join(lines + lines), "all")
    assert rc == 0 and "Syntax OK" in out, out


def test_repeated_directive_last_wins(httpd_factory, need_poolwatch):
    srv = httpd_factory("prefork", poolwatch=True,
                        extra="PoolWatchMaxKeys 8\nPoolWatchMaxKeys 16\n"
                              "PoolWatchKey path\nPoolWatchKey query")
    with srv.client() as c:
        doc = c.poolwatch()
    assert doc["server"]["max_keys"] == 16, doc["server"]
    assert doc["server"]["key_by"] == "query", doc["server"]
