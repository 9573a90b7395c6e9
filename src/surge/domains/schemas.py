"""Bodies of the domains API (`/api/v1/domains`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from surge.domains.hosts import HOST_JSON_MAX_LENGTH, HOST_JSON_PATTERN
from surge.domains.repository import Domain, DomainRedirects
from surge.links.schemas import TargetUrl

RedirectUrl = Annotated[TargetUrl | None, Field(description="Absent or null: Surge's own page.")]


class DomainRedirectsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_url: RedirectUrl = None
    not_found_url: RedirectUrl = None
    expired_url: RedirectUrl = None

    def redirects(self) -> DomainRedirects:
        return DomainRedirects(self.root_url, self.not_found_url, self.expired_url)


class DomainCreate(DomainRedirectsIn):
    host: str = Field(
        max_length=HOST_JSON_MAX_LENGTH,
        pattern=HOST_JSON_PATTERN,
        description="The domain's name, e.g. s.example.com (a port and case are dropped; an "
        "IDN in its punycode form). 422 for a name that is not a domain's (over 253 "
        "characters in all, a label starting with a digit-only top level, ...).",
    )


class DomainOut(BaseModel):
    host: str
    default: bool = Field(description="The default domain: SURGE_PUBLIC_URL's host.")
    root_url: str | None = Field(description="Where `/` goes (None: Surge's page).")
    not_found_url: str | None = Field(description="Where an unknown slug goes.")
    expired_url: str | None = Field(description="Where an expired link goes.")
    created_at: datetime | None

    @classmethod
    def of(cls, domain: Domain) -> DomainOut:
        r = domain.redirects
        return cls(
            host=domain.host,
            default=domain.created_at is None,
            root_url=r.root_url,
            not_found_url=r.not_found_url,
            expired_url=r.expired_url,
            created_at=domain.created_at,
        )
