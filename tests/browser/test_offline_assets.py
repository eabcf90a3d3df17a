"""Pages need nothing from the internet: /v1/docs renders Swagger UI from the installed package, and
every page's assets (favicon included) load from our own server."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow


def _watch(page, base: str) -> tuple[list[str], list[str]]:
    """Refuse every request that leaves our server (as a locked-down network would) and collect
    them, and every failed response, console error and page error."""
    outside: list[str] = []
    problems: list[str] = []
    ours = urlsplit(base).netloc

    def route(route) -> None:
        if urlsplit(route.request.url).netloc != ours:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return outside, problems


def test_api_docs_render_offline(live_server_process, page) -> None:
    from playwright.sync_api import expect

    base = live_server_process.url
    outside, problems = _watch(page, base)
    page.goto(f"{base}/v1/docs")
    # Swagger UI rendered the schema: the operations are on the page.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/v1/health")
    assert page.evaluate("typeof SwaggerUIBundle") == "function"
    assert outside == [], f"/v1/docs asked the internet for {outside}"
    assert problems == [], problems


def test_dashboard_pages_have_a_favicon_and_nothing_from_outside(live_server_process, member, page) -> None:
    base = live_server_process.url
    outside, problems = _watch(page, base)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    for path in ("/", "/algos/", "/strategies/", "/backtests/", "/edges/"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert icon, f"{path} declares no favicon"
        assert page.request.get(f"{base}{icon}").status == 200
    # Browsers also ask for /favicon.ico on their own.
    answer = page.request.get(f"{base}/favicon.ico")
    assert answer.status == 200 and "svg" in answer.headers["content-type"]
    assert outside == [], f"pages asked the internet for {outside}"
    assert problems == [], problems
