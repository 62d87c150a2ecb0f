#!/usr/bin/env python3
"""Prints a `swift test --filter`/`--skip` pattern matching every suite tagged `.timed` under
Tests/ (as Module.Suite/), so that scripts/test.sh can run them apart from the rest."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "Tests"
suites = []
for path in sorted(root.glob("*/*.swift")):
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"@Suite\(([^)]*\.tags\([^)]*\.timed[^)]*\)[^)]*)\)\s*(?:final\s+)?(?:struct|class)\s+(\w+)", text):
        suites.append(f"{path.parent.name}\\.{match.group(2)}/")
if not suites:
    sys.exit("no suite is tagged .timed under Tests/: the timed pass would run nothing")
print("|".join(suites))
