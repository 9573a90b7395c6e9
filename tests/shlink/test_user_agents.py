"""A visit's user agent, rebuilt from the families analytics stored: parsed again (as Shlink's
clients parse it), it names the same browser and system."""

from __future__ import annotations

import pytest

from surge.analytics.enrich import parse_agent
from surge.shlink.user_agents import BROWSERS, DESKTOP_SYSTEMS, rebuilt_user_agent

# What a kind of system is, as analytics stores it: its OS families, and the devices on it.
SYSTEMS = {
    "desktop": [(os, "desktop") for os in DESKTOP_SYSTEMS],
    "android": [("Android", "mobile"), ("Android", "tablet")],
    "ios": [("iOS", "mobile"), ("iOS", "tablet")],
}
SUPPORTED = [
    (browser, os, device)
    for browser, kinds in BROWSERS.items()
    for kind in kinds
    for os, device in SYSTEMS[kind]
]
BOTS = ["Googlebot", "bingbot", "FacebookBot", "Twitterbot", "Slackbot-LinkExpanding", "GPTBot"]


@pytest.mark.parametrize(
    ("browser", "os", "device", "expected"),
    [
        (
            "Chrome",
            "Windows",
            "desktop",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
        ),
        (
            "Mobile Safari",
            "iOS",
            "mobile",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        ),
        (
            "Mobile Safari",
            "iOS",
            "tablet",
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        ),
        (
            "Firefox",
            "Linux",
            "desktop",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "Chrome Mobile",
            "Android",
            "mobile",
            "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
        ),
        (
            "Edge",
            "Windows",
            "desktop",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        ),
        (
            "Opera",
            "Mac OS X",
            "desktop",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/112.0.0.0",
        ),
        (
            "Samsung Internet",
            "Android",
            "mobile",
            "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        ),
        ("Googlebot", "Other", "bot", "Googlebot/1.0 (+bot)"),
        # Unknown families, or a browser on a system it does not run on: nothing to say.
        ("Other", "Windows", "desktop", ""),
        ("Chrome", "Other", "other", ""),
        ("Chrome", "Windows Phone", "mobile", ""),
        ("Mobile Safari", "Android", "mobile", ""),
        ("Other", "Other", "bot", ""),
    ],
)
def test_the_user_agent_rebuilt_for_a_browser_system_and_device(
    browser: str, os: str, device: str, expected: str
) -> None:
    assert rebuilt_user_agent(browser, os, device) == expected


@pytest.mark.parametrize(("browser", "os", "device"), SUPPORTED)
def test_a_rebuilt_user_agent_parses_back_to_its_browser_and_system(
    browser: str, os: str, device: str
) -> None:
    parsed = parse_agent(rebuilt_user_agent(browser, os, device))
    assert (parsed.browser, parsed.os, parsed.is_bot) == (browser, os, False)


@pytest.mark.parametrize("bot", BOTS)
def test_a_rebuilt_bot_user_agent_parses_back_to_that_bot(bot: str) -> None:
    rebuilt = rebuilt_user_agent(bot, "Other", "bot")
    assert "bot" in rebuilt
    parsed = parse_agent(rebuilt)
    assert (parsed.browser, parsed.is_bot) == (bot, True)
