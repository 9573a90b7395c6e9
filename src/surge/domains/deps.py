"""The domain service as a FastAPI dependency, for every door."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surge.domains.service import DomainService


async def get_domain_service(request: Request) -> DomainService:
    service: DomainService = request.app.state.domain_service
    return service


DomainServiceDep = Annotated[DomainService, Depends(get_domain_service)]
