"""The recipe pages show exactly the code the recipe tests run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.recipes.helpers import RECIPES_DIR

_spec = importlib.util.spec_from_file_location(
    "render_recipes", Path(__file__).resolve().parents[2] / "scripts" / "render_recipes.py")
assert _spec and _spec.loader
render_recipes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_recipes)


def test_every_page_shows_its_code_unchanged():
    assert render_recipes.stale_pages(RECIPES_DIR) == []


def test_every_recipe_module_is_on_a_page():
    shown = {p for page in RECIPES_DIR.glob("*.md") for p in render_recipes.included(page.read_text())}
    modules = {f"kafka_recipes/{m.name}" for m in (RECIPES_DIR / "kafka_recipes").glob("*.py")
               if m.name != "__init__.py"}
    assert modules - shown == set()


def test_a_page_edited_by_hand_is_caught(tmp_path):
    (tmp_path / "code.py").write_text("print('the code the test runs')\n")
    page = tmp_path / "page.md"
    page.write_text("# x\n<!-- include: code.py -->\n<!-- end include -->\n")
    page.write_text(render_recipes.render(page.read_text(), tmp_path))
    assert render_recipes.stale_pages(tmp_path) == []
    page.write_text(page.read_text().replace("the code", "some other code"))
    assert render_recipes.stale_pages(tmp_path) == [page]
