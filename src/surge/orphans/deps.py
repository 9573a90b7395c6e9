"""The orphan-visit service as a FastAPI dependency, for every door."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.orphans.service import OrphanVisitService


async def get_orphan_visit_service(request: Request) -> OrphanVisitService:
    service: OrphanVisitService = request.app.state.orphan_visit_service
    return service


OrphanVisitServiceDep = Annotated[OrphanVisitService, Depends(get_orphan_visit_service)]
