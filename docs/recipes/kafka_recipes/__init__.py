"""Runnable code of the delivery-semantics recipes in docs/recipes/.

Every page in docs/recipes/ shows a module of this package verbatim (scripts/render_recipes.py
copies it between markers, tests/recipes/test_pages.py fails if they differ), and
tests/recipes/ runs every module against an embedded kafkaish with faults injected.
"""
