"""Fails when any function or method is above the cyclomatic complexity limit (radon)."""

import json
import subprocess
import sys

LIMIT = 15
# Tests are left out: radon counts every assert as a branch.
EXCLUDE = ".venv/*,node_modules/*,*/migrations/*,var/*,tests/*"


def _functions(blocks: list[dict]):
    for block in blocks:
        if block.get("type") == "class":
            yield from _functions(block.get("methods", []))
        else:
            yield block


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "radon", "cc", "-j", "-e", EXCLUDE, "."],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    over = [
        f"{path}:{block['lineno']} {block['name']} (CC {block['complexity']})"
        for path, blocks in json.loads(out).items()
        if isinstance(blocks, list)
        for block in _functions(blocks)
        if block["complexity"] > LIMIT
    ]
    for line in over:
        print(line)
    print(f"{len(over)} functions above cyclomatic complexity {LIMIT}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
