"""Many links at once in the dashboard, in a real Chromium against a real `surge serve`: a CSV
file with bad rows imported (the preview names the bad rows by their lines; create makes exactly
the good ones), then links ticked in the list, tagged, and deleted after a confirmation.

docs/img/bulk-import.png is this test's `bulk-import-preview`:

    .venv/bin/pytest -p no:randomly tests/dashboard/test_browser_batches.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.dashboard.test_browser import PASSWORD, browser, shot, sign_in, wait_until
from tests.e2e.processes import free_port, serve, surge_cli, surge_env

__all__ = ["browser"]  # the fixture, shared with test_browser.py

SHEET = """url,slug,title,tags,expires_at
https://example.com/spring,spring-sale,Spring sale,promo|spring,
ftp://example.com/file,bad-url,,,
https://example.com/summer,,Summer,promo,2031-01-01T00:00:00Z
https://example.com/other,taken,,,
https://example.com/again,spring-sale,,,
https://example.com/when,when,,,next tuesday
https://printer.internal/,intra,,,
https://example.com/autumn,autumn,Autumn,promo fall,
"""
BAD_LINES = ["line 3", "line 5", "line 6", "line 7", "line 8"]


def slugs_listed(driver: WebDriver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.links a.slug")]


def tick(driver: WebDriver, *slugs: str) -> None:
    for slug in slugs:
        driver.find_element(By.CSS_SELECTOR, f'input[name="link"][value$="/{slug}"]').click()


@pytest.mark.e2e
def test_a_csv_import_and_the_lists_selection(browser: WebDriver, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = surge_env(tmp_path, SURGE_PUBLIC_URL=base)
    made = surge_cli(
        env, "users", "create", "--email", "alice@example.com", "--password-stdin", input=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    sheet = tmp_path / "links.csv"
    sheet.write_text(SHEET)
    with serve(tmp_path, "all", port, env):
        sign_in(browser, base, "alice@example.com")
        browser.get(f"{base}/app/links/new")
        browser.find_element(By.ID, "url").send_keys("https://example.com/taken")
        browser.find_element(By.ID, "slug").send_keys("taken")
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_until(lambda: browser.current_url.endswith("/app/links/taken"), "the link's page")

        browser.get(f"{base}/app/links")
        browser.find_element(By.ID, "import-link").click()
        browser.find_element(By.ID, "file").send_keys(str(sheet))
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_until(lambda: browser.find_elements(By.ID, "import-rows"), "the preview", browser)
        bad = browser.find_elements(By.CSS_SELECTOR, "#import-rows tr.bad")
        assert [row.get_attribute("data-line") for row in bad] == BAD_LINES
        problems = [row.find_element(By.CSS_SELECTOR, ".error").text for row in bad]
        assert "url:" in problems[0]
        assert "taken" in problems[1]
        assert "taken" in problems[2]  # spring-sale, made by line 2 of the same file
        assert "expires_at" in problems[3]
        assert "local" in problems[4]
        summary = browser.find_element(By.ID, "import-summary").text
        assert summary.startswith("3 of 8 rows can be created")
        assert slugs_listed(browser) == []  # a preview creates nothing
        shot(browser, "bulk-import-preview", whole_page=True)

        browser.find_element(By.ID, "import-create").click()
        wait_until(lambda: browser.find_elements(By.ID, "import-done"), "the import", browser)
        assert browser.find_element(By.ID, "import-done").text.startswith("3 links created")
        shot(browser, "bulk-import-done", whole_page=True)
        browser.get(f"{base}/app/links")
        listed = slugs_listed(browser)
        assert len(listed) == 4
        assert {"taken", "spring-sale", "autumn"} <= set(listed)

        tick(browser, "spring-sale", "autumn")
        browser.find_element(By.ID, "batch-tag").send_keys("q4")
        browser.find_element(By.ID, "batch-add-tag").click()
        wait_until(lambda: browser.find_elements(By.ID, "batch-note"), "the tagging", browser)
        assert browser.find_element(By.ID, "batch-note").text == "2 links tagged q4."
        browser.get(f"{base}/app/links?tag=q4")
        assert sorted(slugs_listed(browser)) == ["autumn", "spring-sale"]

        tick(browser, "spring-sale", "autumn")
        browser.find_element(By.ID, "batch-delete").click()
        wait_until(lambda: browser.find_elements(By.ID, "confirm-delete"), "the confirmation")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#doomed li")) == 2
        shot(browser, "bulk-delete-confirm")
        browser.find_element(By.ID, "confirm-delete").click()
        wait_until(lambda: browser.find_elements(By.ID, "batch-note"), "the deletion", browser)
        assert browser.find_element(By.ID, "batch-note").text == "2 links deleted."
        assert "spring-sale" not in slugs_listed(browser)
        assert len(slugs_listed(browser)) == 2
        shot(browser, "bulk-links-after")
