#!/usr/bin/env python3
"""Prints the ```bash blocks of the given Markdown files, in order, as one script (a block marked
`<!-- not run: why -->` on the line before it is left out). The READMEs' examples are then run exactly as written."""
import sys

for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    inside, skip, previous = False, False, ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not inside and stripped == "```bash":
            inside, skip = True, previous.strip().startswith("<!-- not run")
            if not skip:
                print(f"# --- {path}:{number}")
            continue
        if inside and stripped == "```":
            inside = False
            continue
        if inside and not skip:
            print(line)
        if stripped:
            previous = line
