"""A strict reader of the Prometheus text exposition format 0.0.4, for the
tests: it parses what mod_poolwatch writes into samples, and refuses what
the format forbids (a family split or announced twice, a sample before its
TYPE, a series twice, a bad escape), so a test can compare exact values.

Standard library only.
"""

import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
SAMPLE = re.compile(rf"^({NAME})(\{{.*\}})? (\S+)$")
UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


class FormatError(AssertionError):
    pass


def _unescape(val):
    out, i = [], 0
    while i < len(val):
        c = val[i]
        if c == "\\":
            nxt = val[i + 1]
            if nxt not in UNESCAPE:
                raise FormatError(f"bad escape \\{nxt} in {val!r}")
            out.append(UNESCAPE[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _labels(text, line):
    """{a="x",b="y"} -> {"a": "x", "b": "y"}."""
    body = text[1:-1]
    labels, pos = {}, 0
    while pos < len(body):
        m = LABEL.match(body, pos)
        if not m:
            raise FormatError(f"bad labels at {body[pos:]!r} in {line!r}")
        name = m.group(1)
        if name in labels:
            raise FormatError(f"label {name} twice in {line!r}")
        labels[name] = _unescape(m.group(2))
        pos = m.end()
        if pos < len(body):
            if body[pos] != ",":
                raise FormatError(f"expected ',' in {line!r}")
            pos += 1
    return labels


class Exposition:
    """families: name -> {"help", "type", "samples": [(labels, value)]}."""

    def __init__(self, body):
        text = body.decode("utf-8")  # strict: invalid UTF-8 raises
        if not text.endswith("\n"):
            raise FormatError("no final newline")
        self.families = {}
        seen = set()
        current = None
        for line in text.split("\n")[:-1]:
            if line.startswith("# HELP "):
                name, _, help_ = line[7:].partition(" ")
                if name in self.families:
                    raise FormatError(f"family {name} announced twice")
                current = self.families[name] = {
                    "help": help_, "type": None, "samples": []}
                current["name"] = name
            elif line.startswith("# TYPE "):
                name, _, typ = line[7:].partition(" ")
                if current is None or current["name"] != name:
                    raise FormatError(f"TYPE {name} without its HELP")
                if typ not in ("gauge", "counter"):
                    raise FormatError(f"type {typ} of {name}")
                current["type"] = typ
            elif line.startswith("#") or not line:
                raise FormatError(f"unexpected line {line!r}")
            else:
                m = SAMPLE.match(line)
                if not m:
                    raise FormatError(f"bad sample line {line!r}")
                name, ltext, val = m.groups()
                if current is None or current["type"] is None \
                        or current["name"] != name:
                    raise FormatError(f"sample outside its family: {line!r}")
                labels = _labels(ltext, line) if ltext else {}
                key = (name, tuple(sorted(labels.items())))
                if key in seen:
                    raise FormatError(f"series twice: {line!r}")
                seen.add(key)
                current["samples"].append((labels, float(val)))

    def samples(self, name, **match):
        """[(labels, value)] of family name whose labels include match."""
        fam = self.families.get(name)
        assert fam is not None, f"no family {name}"
        return [(lab, v) for lab, v in fam["samples"]
                if all(lab.get(k) == str(want) for k, want in match.items())]

    def value(self, name, **match):
        """The one sample of name matching; fails unless exactly one."""
        found = self.samples(name, **match)
        assert len(found) == 1, (f"expected one {name}{match}, got "
                                 f"{found}")
        return found[0][1]
