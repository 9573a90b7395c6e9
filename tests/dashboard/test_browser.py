"""The dashboard in a real Chromium (Debian's chromium + chromedriver, driven by Selenium)
against a real `surge serve`: sign in, create a link, see it listed, see its clicks, chart, world
map and cities (a GeoIP database of the test's own), download its QR code, add a redirect rule
and test a request against it, keep other users out, sign out, and (an admin) add and remove a
short domain, look at (then delete) orphan visits and register a webhook; a form without its
CSRF token is refused. Screenshots of each page land in tests/dashboard/screenshots/ (git
ignores it)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select

from tests.e2e.processes import free_port, serve, surge_cli, surge_env
from tests.geoip_files import WORLD, write_mmdb
from tests.helpers import BROWSER_UA

SHOTS = Path(__file__).with_name("screenshots")
PASSWORD = "a long enough password"
DEADLINE_S = 15.0


def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = "Chromium is not installed: `apt-get install chromium chromium-driver`"
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    binary, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(20)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str, *, whole_page: bool = False) -> None:
    """A screenshot of the window, or (`whole_page`) of the page from top to bottom."""
    SHOTS.mkdir(exist_ok=True)
    size = driver.get_window_size()
    if whole_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(size["width"], height + 150)  # the window's own chrome
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    if whole_page:
        driver.set_window_size(size["width"], size["height"])


def sign_in(driver: WebDriver, base: str, email: str) -> None:
    driver.get(f"{base}/app/sign-in")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: driver.current_url.endswith("/app/overview"), f"{email} to be signed in")


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "header form button[type=submit]").click()
    wait_until(lambda: "/app/sign-in" in driver.current_url, "the sign-out")


def wait_until(check: Callable[[], object], what: str, page: WebDriver | None = None) -> None:
    """Poll `check`; at the deadline fail, saying what `page` shows."""
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            shown = page.find_element(By.TAG_NAME, "body").text[:2000] if page else ""
            pytest.fail(f"timed out after {DEADLINE_S}s waiting for {what}\n{shown}")
        time.sleep(0.1)


@pytest.mark.e2e
def test_the_dashboard_in_a_browser(browser: WebDriver, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = surge_env(
        tmp_path,
        SURGE_PUBLIC_URL=base,
        SURGE_GEOIP_DB=str(write_mmdb(tmp_path / "GeoLite2-City.mmdb", WORLD)),
        SURGE_CLIENT_IP_HEADER="x-test-client-ip",
    )
    for email, role in (("alice@", ()), ("bob@", ()), ("root@", ("--admin",))):
        made = surge_cli(
            env,
            "users",
            "create",
            "--email",
            f"{email}example.com",
            *role,
            "--password-stdin",
            input=PASSWORD,
        )
        assert made.returncode == 0, made.stderr
    with serve(tmp_path, "all", port, env):
        # A browser on the short domain's root lands on the sign-in form.
        browser.get(f"{base}/")
        assert "/app/sign-in" in browser.current_url
        shot(browser, "sign-in")
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # keyboard only
        focused = []
        for _ in range(8):
            focused.append(browser.switch_to.active_element.get_attribute("id"))
            browser.switch_to.active_element.send_keys(Keys.TAB)
        assert focused.index("email") < focused.index("password"), focused

        sign_in(browser, base, "alice@example.com")
        browser.get(f"{base}/app/links/new")
        shot(browser, "new-link", whole_page=True)
        browser.find_element(By.ID, "url").send_keys("https://example.com/launch")
        browser.find_element(By.ID, "slug").send_keys("launch")
        browser.find_element(By.ID, "tags").send_keys("q4 news")
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_until(lambda: browser.current_url.endswith("/app/links/launch"), "the link's page")

        browser.get(f"{base}/app/links")
        assert browser.find_element(By.LINK_TEXT, "launch")
        shot(browser, "links")

        # Three visitors' clicks on the short URL, two from Munich and one from Tokyo.
        for client_ip in ("192.0.2.10", "192.0.2.11", "2001:db8:1::5"):
            answer = httpx.get(
                f"{base}/launch",
                headers={"user-agent": BROWSER_UA, "x-test-client-ip": client_ip},
            )
            assert answer.status_code == 302

        def three_clicks() -> bool:
            """The page shows its figures, or says they (or it) are unavailable for now (a
            busy machine may shed or time out a call): then look again. A page that says
            neither is a bug."""
            browser.get(f"{base}/app/links/launch")
            if found := browser.find_elements(By.ID, "total-clicks"):
                return found[0].text == "3"
            if browser.title == "Busy right now":  # the whole page was shed: it says so
                return False
            body = browser.find_element(By.TAG_NAME, "body").text
            assert browser.find_elements(By.ID, "stats-unavailable"), body
            return False

        wait_until(three_clicks, "the link page to show 3 clicks", page=browser)
        chart_width = browser.execute_script(
            "const c = document.getElementById('chart'); return c.complete && c.naturalWidth"
        )
        assert chart_width, "the chart did not load"
        map_width = browser.execute_script(
            "const m = document.getElementById('world-map'); return m.complete && m.naturalWidth"
        )
        assert map_width == 1000, "the world map did not load"
        cities = browser.find_element(By.XPATH, "//section[h2='Cities']").text
        assert "Munich, Bavaria, DE 2" in cities, cities
        assert "Tokyo, Tokyo, JP 1" in cities, cities
        shot(browser, "link")
        shot(browser, "link-whole", whole_page=True)

        browser.find_element(By.ID, "qr-png").click()
        qr = browser.downloads / "launch.png"  # type: ignore[attr-defined]
        wait_until(qr.exists, "the QR code to download")
        assert qr.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        download_the_visits(browser)

        add_a_rule_and_test_a_request(browser, base)
        open_a_protected_link(browser, base)

        # A form posted without this session's CSRF token changes nothing.
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        forged = httpx.post(
            f"{base}/app/links/new",
            data={"url": "https://evil.example/", "slug": "forged"},
            cookies=cookies,
        )
        assert forged.status_code == 403
        assert httpx.get(f"{base}/forged").status_code == 404

        browser.get(f"{base}/app/keys")
        shot(browser, "keys")
        browser.set_window_size(390, 844)  # a phone
        browser.get(f"{base}/app/links")
        shot(browser, "links-phone")
        browser.set_window_size(1280, 900)

        sign_out(browser)
        browser.get(f"{base}/app/links")
        assert "/app/sign-in" in browser.current_url  # the session ended

        sign_in(browser, base, "bob@example.com")
        browser.get(f"{base}/app/links/launch")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
        assert "launch" not in browser.find_element(By.TAG_NAME, "main").text.split()
        shot(browser, "other-users-link")
        browser.get(f"{base}/app/admin/domains")  # not an admin
        assert browser.find_element(By.TAG_NAME, "h1").text == "Admins only"
        assert not browser.find_elements(By.LINK_TEXT, "Domains")
        shot(browser, "domains-not-admin")
        sign_out(browser)

        sign_in(browser, base, "root@example.com")
        add_and_remove_a_domain(browser)
        look_at_orphan_visits(browser, base)
        register_a_webhook(browser, base)


def download_the_visits(browser: WebDriver) -> None:
    """The link's page's "Download visits CSV": the three clicks, one row each, located."""
    link = browser.find_element(By.ID, "download-visits-csv")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    shot(browser, "link-downloads")
    link.click()
    downloaded = browser.downloads / "launch-visits.csv"  # type: ignore[attr-defined]
    wait_until(downloaded.exists, "the visits to download")
    rows = list(csv.DictReader(io.StringIO(downloaded.read_text())))
    assert sorted(row["city"] for row in rows) == ["Munich", "Munich", "Tokyo"], rows


def add_a_rule_and_test_a_request(browser: WebDriver, base: str) -> None:
    """On the link's page: a rule for this browser's own device (headless Chromium on Linux),
    then the tester, which starts from this browser's user agent, says it matches."""
    browser.find_element(By.ID, "rule-url").send_keys("https://example.com/linux")
    Select(browser.find_element(By.ID, "type-0")).select_by_visible_text("Device")
    browser.find_element(By.ID, "value-0").send_keys("fridge")
    browser.find_element(By.CSS_SELECTOR, "#rules form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.ID, "rule-errors"), "the refusal")
    said = browser.find_element(By.ID, "rule-errors").text
    assert "Condition 1: device is one of android, ios" in said, said
    shot(browser, "link-rule-refused", whole_page=True)
    value = browser.find_element(By.ID, "value-0")  # the form as it was sent: fix the value
    assert browser.find_element(By.ID, "rule-url").get_attribute("value").endswith("/linux")
    value.clear()
    value.send_keys("linux")
    shot(browser, "link-add-rule", whole_page=True)
    browser.find_element(By.CSS_SELECTOR, "#rules form button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/app/links/launch#rules"), "the rule")
    listed = browser.find_element(By.ID, "rule-1").text
    assert "https://example.com/linux" in listed, listed
    assert "when device is linux" in listed, listed
    shot(browser, "link-rules")
    linux = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
    answer = httpx.get(f"{base}/launch", headers={"user-agent": linux})
    assert answer.headers["location"] == "https://example.com/linux"

    assert browser.find_element(By.ID, "test-ua").get_attribute("value") == browser.execute_script(
        "return navigator.userAgent"
    )
    browser.find_element(By.CSS_SELECTOR, "#preview form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.ID, "preview-result"), "the tester's answer")
    said = browser.find_element(By.ID, "preview-result").text
    assert "This request would go to https://example.com/linux: rule 1 matches" in said, said
    shot(browser, "link-preview")
    browser.set_window_size(390, 844)  # a phone
    shot(browser, "link-phone", whole_page=True)
    browser.set_window_size(1280, 900)


def add_and_remove_a_domain(browser: WebDriver) -> None:
    browser.find_element(By.LINK_TEXT, "Domains").click()
    wait_until(lambda: browser.current_url.endswith("/app/admin/domains"), "the domains page")
    browser.find_element(By.ID, "host").send_keys("go.example.com")
    browser.find_element(By.ID, "root_url").send_keys("https://example.com/")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.ID, "domain-go.example.com"), "the new domain")
    shot(browser, "domains", whole_page=True)
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Remove go.example.com']").click()
    wait_until(lambda: not browser.find_elements(By.ID, "domain-go.example.com"), "its removal")
    assert browser.find_element(By.ID, "domain-127.0.0.1")  # the default domain stays


def register_a_webhook(browser: WebDriver, base: str) -> None:
    """Its secret shown once; a link made next is an event, whose attempt is listed (this
    machine resolves no name: refused, with why)."""
    browser.find_element(By.LINK_TEXT, "Webhooks").click()
    browser.find_element(By.ID, "url").send_keys("https://hooks.example.com/surge")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.ID, "new-secret"), "the secret", browser)
    assert browser.find_element(By.ID, "new-secret").text.startswith("whsec_")
    shot(browser, "webhook-secret")
    browser.get(f"{base}/app/links/new")
    browser.find_element(By.ID, "url").send_keys("https://example.com/hooked")
    browser.find_element(By.ID, "slug").send_keys("hooked")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/app/links/hooked"), "the link's page")

    def attempt_listed() -> bool:
        browser.get(f"{base}/app/webhooks")
        return "does not resolve" in browser.find_element(By.TAG_NAME, "main").text

    wait_until(attempt_listed, "a delivery attempt", browser)
    shot(browser, "webhooks", whole_page=True)


def make_protected_link(browser: WebDriver, base: str, slug: str, password: str) -> None:
    browser.get(f"{base}/app/links/new")
    browser.find_element(By.ID, "url").send_keys(f"https://example.com/{slug}")
    browser.find_element(By.ID, "slug").send_keys(slug)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith(f"/app/links/{slug}"), "the link's page")
    assert browser.find_element(By.ID, "password-protected")


def open_a_protected_link(browser: WebDriver, base: str) -> None:
    """A visitor's browser: the password page, a wrong password said so, the right one goes
    to the target; then the cookie opens that link directly, and not another one."""
    make_protected_link(browser, base, "vault", "hunter22")
    make_protected_link(browser, base, "vault2", "hunter22")
    browser.get(f"{base}/vault")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Password required"
    field = browser.find_element(By.ID, "password")
    assert field.get_attribute("type") == "password"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=password]").text == "Password"
    shot(browser, "password")
    field.send_keys("not it")
    field.submit()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "[role=alert]"), "the refusal")
    assert "Wrong password" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    shot(browser, "password-wrong")
    browser.find_element(By.ID, "password").send_keys("hunter22")
    browser.find_element(By.ID, "password").submit()
    # The target is on the internet, which this machine cannot reach: the browser went there
    # (its address bar shows it) and shows its own error page.
    went = lambda: browser.current_url.startswith("https://example.com/vault")  # noqa: E731
    wait_until(went, "the target")
    with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
        browser.get(f"{base}/vault")  # the cookie: straight through to the (unreachable) target
    assert browser.current_url.startswith("https://example.com/vault")
    browser.get(f"{base}/vault2")  # another link: its own password
    assert browser.find_element(By.TAG_NAME, "h1").text == "Password required"


def look_at_orphan_visits(browser: WebDriver, base: str) -> None:
    """An admin's orphan-visits page: a printed link with a typo shows among the top paths;
    then every orphan visit deleted, after a confirmation."""
    for path in ("/lauch", "/lauch", "/launch/extra"):
        httpx.get(f"{base}{path}", headers={"user-agent": BROWSER_UA})
    browser.find_element(By.LINK_TEXT, "Orphan visits").click()

    def typo_listed() -> bool:
        browser.get(f"{base}/app/admin/orphans")
        paths = browser.find_elements(By.ID, "orphan-paths")
        return bool(paths) and "/lauch 2" in paths[0].text

    wait_until(typo_listed, "the typo among the orphan visits' paths", page=browser)
    paths = browser.find_element(By.ID, "orphan-paths").text
    assert "/launch/extra 1" in paths, paths
    kinds = browser.find_element(By.ID, "orphan-kinds").text
    assert "Any other path regular_404 1" in kinds, kinds  # the dashboard asks no favicon.ico
    chart_width = browser.execute_script(
        "const c = document.getElementById('orphans-chart'); return c.complete && c.naturalWidth"
    )
    assert chart_width, "the chart did not load"
    shot(browser, "orphans", whole_page=True)
    browser.find_element(By.ID, "delete-orphans").click()
    wait_until(lambda: browser.find_elements(By.ID, "confirm-delete-orphans"), "the confirmation")
    shot(browser, "orphans-delete")
    browser.find_element(By.ID, "confirm-delete-orphans").click()

    def none_left() -> bool:  # the confirmation page may still be shown: no total on it
        try:
            total = browser.find_elements(By.ID, "orphan-total")
            return bool(total) and total[0].text == "0"
        except StaleElementReferenceException:  # the page changed between the two
            return False

    wait_until(none_left, "no orphan visits left", page=browser)
