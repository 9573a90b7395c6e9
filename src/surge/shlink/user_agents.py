"""User agents rebuilt for Shlink's visits: rebuilt, not the visitor's.

Surge never stores a raw user agent, only the families analytics parsed from it (browser, OS
and device class: surge.analytics.enrich). Shlink's clients parse a visit's `userAgent`
themselves (its web client with bowser) to chart browsers and systems, so a visit carries a
typical user agent of its browser on its system, with a generic version: parsed again, it gives
back the same browser and OS families, and says nothing more about the visitor. Families this
table does not know give "" (Shlink's clients count them as "Others").
"""

from __future__ import annotations

# The platform part, "(...)", of a user agent on each desktop system (ua-parser's names).
DESKTOP_SYSTEMS = {
    "Windows": "Windows NT 10.0; Win64; x64",
    "Mac OS X": "Macintosh; Intel Mac OS X 10_15_7",
    "Linux": "X11; Linux x86_64",
    "Ubuntu": "X11; Ubuntu; Linux x86_64",
    "Fedora": "X11; Fedora; Linux x86_64",
    "Debian": "X11; Debian; Linux x86_64",
    "FreeBSD": "X11; FreeBSD amd64",
    "Chrome OS": "X11; CrOS x86_64 15917.71.0",
}
ANDROID = "Linux; Android 14; K"  # as Chrome's reduced user agent: no device model
IPHONE = "iPhone; CPU iPhone OS 17_5 like Mac OS X"
IPAD = "iPad; CPU OS 17_5 like Mac OS X"

# {platform}: the system's part; {mobile}: "Mobile " on a phone; {form}: Mobile or Tablet.
# A Chromium browser's family says whether "Mobile" is in its user agent ("Chrome Mobile" or,
# on an Android tablet, "Chrome"), except Samsung Internet's, whose device says it.
_BLINK_ENGINE = "AppleWebKit/537.36 (KHTML, like Gecko)"
_BLINK = "Mozilla/5.0 ({platform}) " + _BLINK_ENGINE
_CHROMIUM = _BLINK + " Chrome/126.0.0.0 Safari/537.36"
_CHROMIUM_PHONE = _BLINK + " Chrome/126.0.0.0 Mobile Safari/537.36"
_WEBKIT = "Mozilla/5.0 ({platform}) AppleWebKit/605.1.15 (KHTML, like Gecko)"
_FIREFOX = "Mozilla/5.0 ({platform}; rv:128.0) Gecko/20100101 Firefox/128.0"

# Each browser family (ua-parser's names, as analytics stores them) → its user agent on each
# kind of system it runs on: desktop, android or ios.
BROWSERS: dict[str, dict[str, str]] = {
    "Chrome": {"desktop": _CHROMIUM, "android": _CHROMIUM},  # on Android: a tablet's
    "Chrome Mobile": {"android": _CHROMIUM_PHONE},
    "Chrome Mobile WebView": {  # an app's web view
        "android": "Mozilla/5.0 ({platform}; wv) "
        + _BLINK_ENGINE
        + " Version/4.0 Chrome/126.0.0.0 Mobile Safari/537.36"
    },
    "Chrome Mobile iOS": {"ios": _WEBKIT + " CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"},
    "Chromium": {"desktop": _BLINK + " Chromium/126.0.0.0 Chrome/126.0.0.0 Safari/537.36"},
    "Edge": {"desktop": _CHROMIUM + " Edg/126.0.0.0"},
    "Edge Mobile": {
        "android": _CHROMIUM_PHONE + " EdgA/126.0.0.0",
        "ios": _WEBKIT + " Version/17.0 EdgiOS/126.0.2592.56 Mobile/15E148 Safari/605.1.15",
    },
    "Opera": {"desktop": _CHROMIUM + " OPR/112.0.0.0", "android": _CHROMIUM + " OPR/82.0.0.0"},
    "Opera Mobile": {"android": _CHROMIUM_PHONE + " OPR/82.0.0.0"},
    "Samsung Internet": {
        "android": _BLINK + " SamsungBrowser/25.0 Chrome/121.0.0.0 {mobile}Safari/537.36"
    },
    "Vivaldi": {"desktop": _CHROMIUM + " Vivaldi/6.8.3381.48"},
    "Yandex Browser": {"desktop": _BLINK + " Chrome/126.0.0.0 YaBrowser/24.6.0.0 Safari/537.36"},
    "Firefox": {"desktop": _FIREFOX},
    "Firefox Mobile": {
        "android": "Mozilla/5.0 (Android 14; {form}; rv:128.0) Gecko/128.0 Firefox/128.0"
    },
    "Firefox iOS": {"ios": _WEBKIT + " FxiOS/128.0 Mobile/15E148 Safari/605.1.15"},
    "Safari": {"desktop": _WEBKIT + " Version/17.5 Safari/605.1.15"},
    "Mobile Safari": {"ios": _WEBKIT + " Version/17.5 Mobile/15E148 Safari/604.1"},
    "Mobile Safari UI/WKWebView": {"ios": _WEBKIT + " Mobile/15E148"},  # an app's web view
}
UNKNOWN = ("", "Other")  # what analytics stores for a family ua-parser did not recognise


def _system(os: str, device: str) -> tuple[str, str] | None:
    """The kind of system (desktop, android, ios) and its platform part, if known."""
    if os in DESKTOP_SYSTEMS:
        return "desktop", DESKTOP_SYSTEMS[os]
    if os == "Android":
        return "android", ANDROID
    if os == "iOS":
        return "ios", IPAD if device == "tablet" else IPHONE
    return None


def rebuilt_user_agent(browser: str, os: str, device: str) -> str:
    """A user agent of `browser` on `os` (ua-parser's families) on a `device` (desktop, mobile,
    tablet, bot or other), "" when either family is unknown here. A bot's names the bot alone
    (a crawler's system is not worth naming), first, as bowser takes an unknown one's name."""
    if device == "bot":
        return "" if browser in UNKNOWN else f"{browser}/1.0 (+bot)"
    system = _system(os, device)
    if system is None:
        return ""
    kind, platform = system
    template = BROWSERS.get(browser, {}).get(kind)
    if template is None:
        return ""
    return template.format(
        platform=platform,
        mobile="Mobile " if device == "mobile" else "",
        form="Tablet" if device == "tablet" else "Mobile",
    )
