#!/usr/bin/env python3
"""Fails when a Rust source file grows past ~400 lines or a function past
~60, unless a `// size: <reason>` comment in the file (for a file) or just
above the function (for a function) says why it must be that long.

Small files named after one concept and short functions are how this
codebase stays easy to take over; this check keeps them that way."""
import pathlib
import re
import sys

FILE_LIMIT = 400
FN_LIMIT = 60
ROOTS = ["protocol/src", "schema/src", "actors/src", "server/src", "benches/src"]
FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(lines):
    """(name, first line index, length) of each fn with a body, by braces."""
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            code = lines[j].split("//")[0]
            depth += code.count("{") - code.count("}")
            if "{" in code:
                started = True
            if started and depth <= 0:
                yield m.group(7), i, j - i + 1
                break
            if not started and code.rstrip().endswith(";"):
                break


def excused(lines, i):
    """A `// size:` comment among the doc lines just above line `i`."""
    k = i - 1
    while k >= 0 and (lines[k].strip().startswith(("//", "#["))):
        if "// size:" in lines[k]:
            return True
        k -= 1
    return False


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    problems = []
    for base in ROOTS:
        for path in sorted((root / base).rglob("*.rs")):
            lines = path.read_text().splitlines()
            rel = path.relative_to(root)
            text = "\n".join(lines)
            if len(lines) > FILE_LIMIT and "// size:" not in text.split("\n", 40)[-1] and not any(
                "// size:" in l for l in lines[:40]
            ):
                problems.append(f"{rel}: {len(lines)} lines (limit {FILE_LIMIT}; add `// size: <why>` near the top)")
            for name, i, n in functions(lines):
                if n > FN_LIMIT and not excused(lines, i):
                    problems.append(f"{rel}:{i + 1}: fn {name} is {n} lines (limit {FN_LIMIT}; add `// size: <why>` above it)")
    for p in problems:
        print(p)
    if problems:
        print(f"sizes: {len(problems)} over the limits", file=sys.stderr)
        return 1
    print("sizes: every file and function within the limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
