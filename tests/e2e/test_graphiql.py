"""GraphiQL comes from the server itself: no third-party host, no inline code, a strict policy.

A confidential system must not run code from a CDN, and the page must work offline. The page
and every file it references are served from the package, under a Content-Security-Policy
that allows only the server itself (and ``data:`` fonts and images, which cannot run code).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import GRAPHIQL, create_app
from api.wiring import System
from tests.conftest import a_system

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def graphiql(system: System) -> Iterator[TestClient]:
    with (
        a_system(system.settings, graphiql=True) as on,
        TestClient(create_app(on, run_projections=False)) as client,
    ):
        yield client


class Page(HTMLParser):
    """What a page loads: every src and href, inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.references += [value for name, value in attrs if name in ("src", "href") and value]
        if "style" in found or any(name.startswith("on") for name, _ in attrs):
            self.inline.append(f"{tag} attribute")
        if tag == "style":
            self.inline.append("style element")
        self._in_script = tag == "script"
        if tag == "script" and not found.get("src"):
            self.inline.append("script without src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script text")


def policy(response: Any) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";"))}


def page(client: TestClient) -> tuple[Any, Page]:
    response = client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parsed = Page()
    parsed.feed(response.text)
    return response, parsed


def test_the_page_runs_under_a_policy_that_allows_only_the_server(graphiql: TestClient) -> None:
    response, _ = page(graphiql)
    directives = policy(response)
    assert directives["default-src"] == ["'none'"]
    for loads_code_or_data in ("script-src", "style-src", "connect-src"):
        assert directives[loads_code_or_data] == ["'self'"], loads_code_or_data
    for embedded in ("font-src", "img-src"):
        assert directives[embedded] == ["'self'", "data:"], embedded
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_has_no_inline_code_and_no_other_host(graphiql: TestClient) -> None:
    response, parsed = page(graphiql)
    assert parsed.inline == []
    assert parsed.references
    for reference in parsed.references:
        assert reference == "data:," or reference.startswith("graphiql/"), reference
    assert not re.search(r"https?:|//", response.text.replace("<!doctype html>", ""))


def test_every_file_the_page_references_is_served_from_the_package(graphiql: TestClient) -> None:
    _, parsed = page(graphiql)
    served = [r for r in parsed.references if r != "data:,"]
    assert {
        "graphiql/graphiql.min.js",
        "graphiql/react.production.min.js",
        "graphiql/react-dom.production.min.js",
        "graphiql/nrd-graphiql.js",
        "graphiql/graphiql.min.css",
    } <= set(served)
    for reference in served:
        response = graphiql.get(f"/{reference}")
        assert response.status_code == 200, reference
        assert response.content == (GRAPHIQL / reference.removeprefix("graphiql/")).read_bytes()
        kind = "text/css" if reference.endswith(".css") else "text/javascript"
        assert response.headers["content-type"].startswith(kind), reference
        assert response.headers["x-content-type-options"] == "nosniff"
        if reference.endswith(".css"):
            for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", response.text):
                assert url.startswith("data:"), (reference, url[:40])


def test_the_large_bundle_is_sent_compressed(graphiql: TestClient) -> None:
    response = graphiql.get("/graphiql/graphiql.min.js", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"


def test_the_licences_are_served_beside_the_code(graphiql: TestClient) -> None:
    for name in ("graphiql.LICENSE", "react.LICENSE", "react-dom.LICENSE"):
        response = graphiql.get(f"/graphiql/licenses/{name}")
        assert response.status_code == 200
        assert "MIT License" in response.text
    bundled = graphiql.get("/graphiql/licenses/bundled-in-graphiql.txt")
    assert "codemirror" in bundled.text


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/VENDOR.md",
        "/graphiql/index.html",
        "/graphiql/../app.py",
        "/graphiql/%2e%2e/app.py",
        "/graphiql/",
        "/graphiql/nope.js",
    ],
)
def test_nothing_else_is_served_under_graphiql(graphiql: TestClient, path: str) -> None:
    assert graphiql.get(path).status_code == 404


def test_nothing_is_served_under_graphiql_when_it_is_off(client: TestClient) -> None:
    for path in ("/graphiql/graphiql.min.js", "/graphiql/nrd-graphiql.js"):
        assert client.get(path).status_code == 404
    assert client.get("/graphql", headers=HTML).status_code == 405


def test_the_bootstrap_keeps_nothing_in_the_browser() -> None:
    """GraphiQL would keep the editors (variables can hold a case's details) and the headers
    (the bearer token) in localStorage; the bootstrap gives it a store in memory."""
    script = (GRAPHIQL / "nrd-graphiql.js").read_text()
    assert "storage: storage" in script
    assert "new Map()" in script
    assert "shouldPersistHeaders: false" in script
    assert "localStorage" not in script.split("\n(function")[1]


def test_the_vendored_files_are_the_ones_vendor_md_names() -> None:
    """A vendored build changes only with its recorded checksum (VENDOR.md says how)."""
    recorded = dict(
        re.findall(
            r"^\| `([\w.-]+)` \| `([0-9a-f]{64})` \|$",
            (GRAPHIQL / "VENDOR.md").read_text(),
            re.MULTILINE,
        )
    )
    assert set(recorded) == {
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    }
    for name, digest in recorded.items():
        assert hashlib.sha256((GRAPHIQL / name).read_bytes()).hexdigest() == digest, name


def test_the_package_ships_the_page_and_its_files() -> None:
    """pyproject's package data must carry the static files into a wheel."""
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"static/graphiql/*"' in pyproject
    assert '"static/graphiql/licenses/*"' in pyproject
