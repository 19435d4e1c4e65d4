"""Tests name the service's addresses through ``api.routes``, so a renamed route fails at its
constant instead of leaving a test that quietly asks for a page nobody serves."""

import ast
from pathlib import Path

import pytest

from api import routes

TESTS = Path(__file__).parent

FIRST_SEGMENTS = frozenset({"v1", "me", "desk", "signout", "notices", "schema", "static"})
"""The first path segment of every API route (``/v1``) and of every page: a string that begins
with one of them is an address of this service."""

MODULES_WRITING_PATHS = {
    "test_openapi_description.py": "it checks the served OpenAPI description, whose paths are "
    "spelled as a client reads them there ({transaction_id}, no Litestar type)",
    "test_routes.py": "it checks the helpers and this guard against the addresses they must "
    "produce or find, written out",
}
"""Modules that must write addresses by hand, each with the reason."""

PATHS_WRITTEN = {
    "/v1/undeclared": "a route the test mounts itself to show that a handler declaring no roles "
    "stops the app from starting; the service has no such route, so api.routes has no constant",
}
"""Single addresses that no route constant can spell, each with the reason."""


def _written_paths(source: str) -> list[tuple[int, str]]:
    """The string constants and f-strings of a module that begin with an address of the service."""
    found = []
    inside_f_strings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            inside_f_strings.update(id(part) for part in node.values)
            head = node.values[0] if node.values else None
            text = head.value if isinstance(head, ast.Constant) else ""
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_f_strings:
            text = node.value
        else:
            continue
        first = text.split("?")[0].split("/")
        if len(first) > 1 and "" == first[0] and first[1] in FIRST_SEGMENTS and text not in PATHS_WRITTEN:
            found.append((node.lineno, text))
    return found


def test_no_test_module_writes_a_path_by_hand():
    """Every address in a test comes from ``api.routes``, outside the modules listed with a reason."""
    written = [
        f"{path.name}:{line} {text!r}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name not in MODULES_WRITING_PATHS
        for line, text in _written_paths(path.read_text(encoding="utf-8"))
    ]
    assert [] == written


def test_the_guard_finds_a_path_written_by_hand():
    """The walk above sees plain strings, f-strings and page addresses, and lets other text pass."""
    source = 'a = "/v1/awards"\nb = f"/desk/members/{m}"\nc = "/schemes/0/tiers"\nd = "/v1/undeclared"\n'
    assert [(1, "/v1/awards"), (2, "/desk/members/")] == _written_paths(source)


def test_a_path_is_filled_from_its_template():
    """Each placeholder takes its parameter as given; an API route is under its prefix."""
    assert "/v1/members/m-张三/balance" == routes.api(routes.MEMBER_BALANCE, member_id="m-张三")
    assert "/v1/awards" == routes.api(routes.AWARDS)
    assert "/notices/7/ab12" == routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=7, code="ab12")


def test_a_missing_or_unused_parameter_is_refused():
    """A path with a placeholder left in, or a value dropped, never reaches a request."""
    with pytest.raises(KeyError, match="member_id"):
        routes.api(routes.MEMBER)
    with pytest.raises(AssertionError, match="reward"):
        routes.api(routes.AWARDS, reward="r-毛巾")
