"""The link service as a FastAPI dependency, for every door (REST API, dashboard, Shlink API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.links.bulk import BulkLinks
from surge.links.exports import LinkExports
from surge.links.overview import OverviewService
from surge.links.service import LinkService


async def get_link_service(request: Request) -> LinkService:
    service: LinkService = request.app.state.link_service
    return service


LinkServiceDep = Annotated[LinkService, Depends(get_link_service)]


async def get_overview_service(request: Request) -> OverviewService:
    service: OverviewService = request.app.state.overview_service
    return service


OverviewServiceDep = Annotated[OverviewService, Depends(get_overview_service)]


async def get_link_exports(links: LinkServiceDep) -> LinkExports:
    return LinkExports(links)  # holds nothing of its own: one per request costs nothing


LinkExportsDep = Annotated[LinkExports, Depends(get_link_exports)]


async def get_bulk_links(request: Request) -> BulkLinks:
    service: BulkLinks = request.app.state.bulk_links
    return service


BulkLinksDep = Annotated[BulkLinks, Depends(get_bulk_links)]
