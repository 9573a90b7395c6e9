"""The overview and the links list by clicks in a real Chromium against a real `surge serve`:
links made five weeks ago (`surge import`), four weeks of clicks from several countries, referrers
and devices (sent to analytics as the redirect sends them), then the overview's figures, chart
and top links, the list's order by clicks and its sparklines, and a link's visits deleted.

Screenshots land in tests/dashboard/screenshots/; docs/img/overview.png and docs/img/links.png
are this test's `overview` and `links-by-clicks`:

    .venv/bin/pytest -p no:randomly tests/dashboard/test_browser_overview.py
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from surge.data.events import ClickRow, click_row, pack_batch
from tests.dashboard.test_browser import (
    PASSWORD,
    browser,
    shot,
    sign_in,
    sign_out,
    wait_until,
)
from tests.e2e.processes import free_port, serve, surge_cli, surge_env
from tests.helpers import BROWSER_UA, GOOGLEBOT, IPHONE

__all__ = ["browser"]  # the fixture, shared with test_browser.py

TOKEN = {"x-surge-internal-token": "e2e-internal-token"}  # surge_env's
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
# slug → clicks a day at most (the hottest first), what the screenshots show.
LINKS = {"launch": 40, "pricing": 22, "guide": 14, "blog-q3": 9, "careers": 4, "old-promo": 0}
REFERRERS = [
    "https://news.ycombinator.com/item?id=1",
    "https://www.google.com/",
    "https://t.co/abc",
    "https://www.linkedin.com/feed/",
    None,
]
COUNTRIES = ["US", "DE", "GB", "FR", "JP", "BR", "IN", None]
AGENTS = [BROWSER_UA, BROWSER_UA, IPHONE, ANDROID, MAC]
DAYS = 29  # of clicks: all in the overview's default 30 days, whatever the time of day


def import_links(env: dict[str, str], tmp_path: Path) -> None:
    """Alice's links, made five weeks ago (`surge import` keeps a link's created_at)."""
    made = (datetime.now(UTC) - timedelta(days=35)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = ["slug,url,tags,created_at"]
    rows += [f"{slug},https://example.com/{slug},q3,{made}" for slug in LINKS]
    export = tmp_path / "links.csv"
    export.write_text("\n".join(rows) + "\n")
    done = surge_cli(env, "import", "--format", "csv", str(export), "--owner", "alice@example.com")
    assert done.returncode == 0, done.stdout + done.stderr


def clicks_of_a_month(ids: dict[str, int], now: datetime) -> tuple[list[ClickRow], int]:
    """Clicks of the last DAYS days, more of them lately (and a bot's a day); how many are
    human."""
    rng = random.Random(23)
    rows, humans = [], 0
    for days_ago in range(DAYS):
        at = now - timedelta(days=days_ago, minutes=1)
        for slug, most in LINKS.items():
            busy = most * (DAYS - days_ago) // DAYS  # a link that is catching on
            for i in range(rng.randint(busy // 3, busy)):
                rows.append(
                    click_row(
                        id=uuid.uuid4().hex,
                        link_id=ids[slug],
                        slug=slug,
                        ts=(at - timedelta(seconds=i)).timestamp(),
                        referrer=rng.choice(REFERRERS),
                        user_agent=rng.choice(AGENTS),
                        country=rng.choice(COUNTRIES),
                        visitor=f"v{rng.randint(0, 60)}",
                    )
                )
                humans += 1
        rows.append(
            click_row(
                id=uuid.uuid4().hex,
                link_id=ids["launch"],
                slug="launch",
                ts=at.timestamp(),
                referrer=None,
                user_agent=GOOGLEBOT,
                country="US",
                visitor="bot",
            )
        )
    return rows, humans


@pytest.mark.e2e
def test_the_overview_and_the_links_by_clicks_in_a_browser(
    browser: WebDriver, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=base)
    for email in ("alice@example.com", "root@example.com"):
        role = ("--admin",) if email.startswith("root") else ()
        made = surge_cli(
            env, "users", "create", "--email", email, *role, "--password-stdin", input=PASSWORD
        )
        assert made.returncode == 0, made.stderr
    import_links(env, tmp_path)
    with serve(tmp_path, "all", port, env):
        ids = {
            slug: httpx.get(f"{base}/internal/links/{slug}", headers=TOKEN).json()["link_id"]
            for slug in LINKS
        }
        rows, humans = clicks_of_a_month(ids, datetime.now(UTC))
        sent = httpx.post(
            f"{base}/internal/analytics/clicks", content=pack_batch(rows), headers=TOKEN
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["ingested"] == len(rows)

        sign_in(browser, base, "alice@example.com")  # lands on the overview
        assert browser.find_element(By.TAG_NAME, "h1").text == "Your overview"
        assert browser.find_element(By.ID, "total-clicks").text == str(humans)
        assert browser.find_element(By.ID, "bot-clicks").text == str(DAYS)
        assert browser.find_element(By.ID, "link-count").text == str(len(LINKS))
        chart_width = browser.execute_script(
            "const c = document.getElementById('chart'); return c.complete && c.naturalWidth"
        )
        assert chart_width, "the chart did not load"
        top = browser.find_elements(By.CSS_SELECTOR, "#top-links th a")
        assert [a.text for a in top] == ["launch", "pricing", "guide", "blog-q3", "careers"]
        countries = browser.find_element(By.ID, "countries").text
        assert "US" in countries, countries
        assert "(unknown)" in countries, countries
        shot(browser, "overview", whole_page=True)
        browser.find_element(By.ID, "days").send_keys("7")
        browser.find_element(By.CSS_SELECTOR, "main form.filters button[type=submit]").click()
        wait_until(lambda: "days=7" in browser.current_url, "the last 7 days")
        assert int(browser.find_element(By.ID, "total-clicks").text) < humans

        browser.find_element(By.LINK_TEXT, "Links").click()
        wait_until(lambda: browser.current_url.endswith("/app/links"), "the links list")
        browser.find_element(By.ID, "sort-clicks").click()
        wait_until(lambda: "sort=clicks" in browser.current_url, "the list by clicks")
        slugs = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a.slug")]
        assert slugs == list(LINKS), slugs
        sparks = browser.find_elements(By.CSS_SELECTOR, "tbody svg.spark")
        assert len(sparks) == len(LINKS)
        assert sparks[-1].get_attribute("aria-label").startswith("No clicks")
        counts = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "tbody .count")]
        assert sum(map(int, counts)) == humans
        assert counts == sorted(counts, key=int, reverse=True)
        shot(browser, "links-by-clicks")

        browser.find_element(By.LINK_TEXT, "careers").click()
        wait_until(lambda: browser.find_elements(By.ID, "delete-visits"), "the link's page")
        before = counts[slugs.index("careers")]  # all time, as the deletion counts
        browser.find_element(By.ID, "delete-visits").click()
        wait_until(lambda: browser.find_elements(By.ID, "confirm-delete-visits"), "the question")
        shot(browser, "delete-visits")
        browser.find_element(By.ID, "confirm-delete-visits").click()
        wait_until(lambda: browser.find_elements(By.ID, "visits-deleted"), "the deletion")
        said = browser.find_element(By.ID, "visits-deleted").text
        assert said.startswith(f"{before} visit"), (before, said)
        assert browser.find_element(By.ID, "total-clicks").text == "0"
        shot(browser, "visits-deleted")

        sign_out(browser)
        sign_in(browser, base, "root@example.com")
        assert browser.find_element(By.ID, "total-clicks").text == "0"  # the admin's own
        browser.find_element(By.ID, "scope").click()
        wait_until(lambda: "every=true" in browser.current_url, "everyone's overview")
        everyone = int(browser.find_element(By.ID, "total-clicks").text)
        assert everyone == humans - int(before)
        shot(browser, "overview-everyone")
