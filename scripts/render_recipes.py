"""Copy each recipe's code into its page, so docs/recipes/*.md show the code the tests run.

A page marks where a file goes:

    <!-- include: kafka_recipes/at_most_once.py -->
    (anything here is replaced by the file, fenced as python)
    <!-- end include -->

Paths are relative to docs/recipes/. ``python scripts/render_recipes.py`` rewrites the pages;
``--check`` changes nothing and exits 1 naming the pages whose code differs from the files
(tests/recipes/test_pages.py runs the check, so a page and its code cannot drift).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"
BLOCK = re.compile(r"(<!-- include: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end include -->)", re.S)


def render(page: str, root: Path = RECIPES) -> str:
    """The page with every include block filled from its file."""
    def fill(m: re.Match[str]) -> str:
        code = (root / m["path"]).read_text()
        return f"{m[1]}```python\n{code.rstrip()}\n```\n{m[4]}"
    return BLOCK.sub(fill, page)


def included(page: str) -> list[str]:
    return [m["path"] for m in BLOCK.finditer(page)]


def stale_pages(root: Path = RECIPES) -> list[Path]:
    return [p for p in sorted(root.glob("*.md")) if render(p.read_text(), root) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report pages that differ from their code")
    args = ap.parse_args(argv)
    stale = stale_pages()
    if args.check:
        for p in stale:
            print(f"{p.relative_to(RECIPES.parent.parent)}: code differs from its file; run scripts/render_recipes.py")
        return 1 if stale else 0
    for p in stale:
        p.write_text(render(p.read_text()))
        print(f"rendered {p.relative_to(RECIPES.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
