"""The live panel in a real Chromium against real `surge serve` processes: a link's page open,
clicks sent to the short URL by HTTP appear in its Live panel without a reload, on the embedded
default (one process, SQLite) and on the production topology (api, redirect and analytics as
three processes, PostgreSQL and Redis: the click crosses the click stream, analytics and the
live feed's stream). Screenshots land in tests/dashboard/screenshots/ (git ignores it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.dashboard.test_browser import PASSWORD, SHOTS, browser, shot, sign_in, wait_until
from tests.e2e.processes import free_port, serve, surge_cli, surge_env
from tests.e2e.test_production import production_env
from tests.helpers import BROWSER_UA, GOOGLEBOT, IPHONE

__all__ = ["browser", "production_env"]  # fixtures of those modules, used here


def start(request: pytest.FixtureRequest, tmp_path: Path, stack: ExitStack) -> tuple[str, str]:
    """Surge as `request.param` says; (the dashboard's base URL, the short domain's)."""
    if request.param == "embedded":
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = surge_env(tmp_path, SURGE_PUBLIC_URL=base)
        add_user(env)
        stack.enter_context(serve(tmp_path, "all", port, env))
        return base, base
    api, redirect, analytics = free_port(), free_port(), free_port()
    env = {
        **request.getfixturevalue("production_env"),
        "SURGE_PUBLIC_URL": f"http://127.0.0.1:{redirect}",
        "SURGE_API_URL": f"http://127.0.0.1:{api}",
        "SURGE_ANALYTICS_URL": f"http://127.0.0.1:{analytics}",
        "SURGE_REDIRECT_URLS": f"http://127.0.0.1:{redirect}",
    }
    assert surge_cli(env, "migrate").returncode == 0
    add_user(env)
    for service, port in (("analytics", analytics), ("api", api), ("redirect", redirect)):
        stack.enter_context(serve(tmp_path, service, port, env))
    return f"http://127.0.0.1:{api}", f"http://127.0.0.1:{redirect}"


def add_user(env: dict[str, str]) -> None:
    made = surge_cli(
        env, "users", "create", "--email", "alice@example.com", "--password-stdin", input=PASSWORD
    )
    assert made.returncode == 0, made.stderr


@pytest.fixture(params=["embedded", "production"])
def surge_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        yield start(request, tmp_path, stack)


def click(short_url: str, user_agent: str, country: str, referrer: str | None = None) -> None:
    headers = {"user-agent": user_agent, "cf-ipcountry": country}
    if referrer:
        headers["referer"] = referrer
    assert httpx.get(short_url, headers=headers).status_code == 302


@pytest.mark.e2e
def test_clicks_appear_in_the_live_panel_without_a_reload(
    browser: WebDriver, surge_urls: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    base, short = surge_urls
    sign_in(browser, base, "alice@example.com")
    browser.get(f"{base}/app/links/new")
    browser.find_element(By.ID, "url").send_keys("https://example.com/launch")
    browser.find_element(By.ID, "slug").send_keys("launch")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/app/links/launch"), "the link's page")
    panel = browser.find_element(By.ID, "live")
    wait_until(
        lambda: panel.get_attribute("data-state") == "connected", "the panel to connect", browser
    )
    assert browser.find_element(By.ID, "live-clicks").text == "0"
    browser.execute_script("window.openedOnce = true")  # gone if the page reloads

    click(f"{short}/launch", BROWSER_UA, "DE", "https://news.example.org/item?id=1")
    wait_until(
        lambda: browser.find_element(By.ID, "live-clicks").text == "1",
        "the click to appear in the panel",
        browser,
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#live-recent tbody tr")
    assert [r.text.split()[1:] for r in rows] == [["DE", "news.example.org", "desktop"]]

    click(f"{short}/launch", IPHONE, "JP")
    click(f"{short}/launch", GOOGLEBOT, "US")
    wait_until(
        lambda: (
            (
                browser.find_element(By.ID, "live-clicks").text,
                browser.find_element(By.ID, "live-bots").text,
            )
            == ("2", "1")
        ),
        "the next clicks to appear",
        browser,
    )
    assert browser.execute_script("return window.openedOnce") is True
    newest = browser.find_elements(By.CSS_SELECTOR, "#live-recent tbody tr")
    assert len(newest) == 3
    assert {r.text.split(" ", 1)[1] for r in newest[:2]} == {
        "JP (direct) mobile",
        "US (direct) bot",
    }
    topology = request.node.callspec.params["surge_urls"]
    shot(browser, f"link-live-{topology}", whole_page=True)
    browser.execute_script("document.getElementById('live').scrollIntoView()")
    panel.screenshot(str(SHOTS / f"live-panel-{topology}.png"))
    all_my_links(browser, base, f"{short}/launch", topology)


def all_my_links(browser: WebDriver, base: str, short_url: str, topology: str) -> None:
    """The overview's panel: every link of the user, each click with its link."""
    browser.get(f"{base}/app/overview")
    panel = browser.find_element(By.ID, "live")
    wait_until(
        lambda: panel.get_attribute("data-state") == "connected", "the panel to connect", browser
    )
    click(short_url, IPHONE, "BR", "https://social.example/post")
    wait_until(
        lambda: browser.find_element(By.ID, "live-clicks").text == "1",
        "the click to appear in the panel of all links",
        browser,
    )
    [row] = browser.find_elements(By.CSS_SELECTOR, "#live-recent tbody tr")
    assert row.text.split()[1:] == ["launch", "BR", "social.example", "mobile"]
    link = row.find_element(By.LINK_TEXT, "launch")
    assert link.get_attribute("href") == f"{base}/app/links/launch"
    panel.screenshot(str(SHOTS / f"live-panel-all-{topology}.png"))
