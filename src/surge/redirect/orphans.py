"""Orphan visits (surge.data.orphans): a GET that found no link goes into the click buffer as
a row of link 0, its domain and path, and its kind, with the same headers a click keeps. Off
the cached-redirect path: only answers that are not a link's redirect come here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import Scope

from surge.data.orphans import ORPHAN_LINK_ID, OrphanKind, orphan_slug
from surge.platform.http import client_ip
from surge.redirect.visitor import PRIVATE

if TYPE_CHECKING:
    from surge.redirect.clicks import ClickBuffer
    from surge.redirect.responses import Site


class OrphanVisits:
    clicks: ClickBuffer | None
    new_click_id: Callable[[], str]
    country_header: bytes
    ip_header: bytes

    def _record_orphan(self, site: Site, scope: Scope, now: float, kind: OrphanKind) -> None:
        """An orphan visit of `site`, unless the request is a HEAD (not a visit, as for
        clicks) or the buffer is not running."""
        if scope["method"] != "GET" or self.clicks is None:
            return
        referrer = user_agent = country = None
        private = False
        for name, value in scope["headers"]:
            if name == b"referer":
                referrer = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == self.country_header:
                country = value.decode("latin-1")
            elif name in PRIVATE and value == b"1":
                private = True
        slug = orphan_slug(site.key, scope["path"])
        if private:  # as a click's (visitor.private_row): the agent only to tell a bot, no visitor
            row = (self.new_click_id(), ORPHAN_LINK_ID, slug, now, None, user_agent, None, "")
            self.clicks.add((*row, kind, None))
            return
        ip = client_ip(scope, self.ip_header)
        self.clicks.add(
            (
                self.new_click_id(),
                ORPHAN_LINK_ID,
                slug,
                now,
                referrer,
                user_agent,
                country,
                None,  # the visitor id: analytics makes it at ingest, as for a click
                kind,
                ip,  # for analytics to locate (GeoIP) and to make the visitor id; never stored
            )
        )
