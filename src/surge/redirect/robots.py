"""`/robots.txt` on each short domain: crawlers may follow the links marked crawlable, and
nothing else (as Shlink: a short link is a redirect, not content, unless its owner says so).

The list comes from the api and is kept per domain for SURGE_CACHE_TTL_S, so a link made
crawlable shows there within that time; when the api is away, the last list is served, or
one that disallows everything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Scope, Send

from surge.data.contracts import CrawlableSlugs
from surge.platform.cache import LocalCache
from surge.redirect.responses import NO_STORE, ApiUnavailable, Headers

if TYPE_CHECKING:
    import httpx

    from surge.redirect.responses import Site

ROBOTS_PATH = "/robots.txt"
_PREAMBLE = (
    "# Short links: only those their owners marked crawlable may be followed.\n"
    "# https://www.rfc-editor.org/rfc/rfc9309\n\n"
    "User-agent: *\n"
)


def robots_txt(slugs: list[str]) -> bytes:
    allowed = "".join(f"Allow: /{slug}\n" for slug in slugs)
    return (_PREAMBLE + allowed + "Disallow: /\n").encode()


CLOSED = robots_txt([])


class Robots:
    robots: LocalCache[str, bytes]
    page_headers: Headers

    async def _ask_api(self, path: str) -> httpx.Response | None:
        raise NotImplementedError

    async def _robots_of(self, key: str) -> bytes:
        response = await self._ask_api("/internal/crawlable" + (f"?domain={key}" if key else ""))
        if response is None:
            return CLOSED
        return robots_txt(CrawlableSlugs.model_validate_json(response.content).slugs)

    async def _robots(self, site: Site, scope: Scope, send: Send) -> int:
        try:
            body = await self.robots.get_or_load(site.key, self._robots_of) or CLOSED
        except ApiUnavailable:
            body = CLOSED  # not known now: allow nothing rather than everything
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            NO_STORE,
            *self.page_headers,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        return 200
