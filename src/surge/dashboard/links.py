"""Dashboard pages of links: the list, create, edit, delete, and a link's page with its stats,
chart and QR code."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from surge.accounts.user_repository import User
from surge.dashboard.batches import batch_note
from surge.dashboard.charts import clicks_chart
from surge.dashboard.link_clicks import clicks_column
from surge.dashboard.notes import deleted_visits
from surge.dashboard.pages import (
    CheckedForm,
    SignedIn,
    form_errors,
    form_fields,
    link_path,
    render,
    see_other,
    utc_field,
)
from surge.dashboard.world_map import world_map
from surge.data.contracts import MAX_TOP, Interval, LinkStats
from surge.domains.deps import DomainServiceDep
from surge.links.deps import LinkServiceDep, OverviewServiceDep
from surge.links.overview import MAX_RANKED
from surge.links.schemas import LinkCreate, LinkOut, LinkUpdate
from surge.platform.deps import SettingsDep
from surge.platform.problems import ProblemError

router = APIRouter(prefix="/app", include_in_schema=False)
SlugPath = Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# The domain of a link on a domain other than the default one (pages.link_path adds it).
DomainParam = Annotated[str | None, Query(max_length=260)]
PER_PAGE = 25  # links a page of the list shows


async def owned_link(
    slug: str,
    user: SignedIn,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: DomainParam = None,
) -> LinkOut:
    """The link a page's path names, if the signed-in user may see it (else a 404)."""
    return LinkOut.of(await links.get(user.owner_scope, slug, domain), settings.public_url)


OwnedLink = Annotated[LinkOut, Depends(owned_link)]


@router.get("/")
async def home() -> Response:
    return see_other("/app/overview")  # where a signed-in person starts


@router.get("/links")
async def link_list(
    request: Request,
    user: SignedIn,
    links: LinkServiceDep,
    overviews: OverviewServiceDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,17}$")] = None,
    every: bool = False,
    sort: Literal["newest", "clicks"] = "newest",
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_RANKED // PER_PAGE)] = 1,
) -> Response:
    owner = None if (every and user.is_admin) else user.id
    filters = {"tag": tag or None, "q": q or None}
    next_page = None
    if sort == "clicks":  # offset pages: a ranking has no cursor
        by_clicks = await overviews.by_clicks(owner, page=page_number, per_page=PER_PAGE, **filters)
        found, next_cursor = by_clicks.items, None
        next_page = page_number + 1 if by_clicks.more else None
    else:
        page = await links.page(owner, cursor=cursor, limit=PER_PAGE, **filters)
        found, next_cursor = page.items, page.next_cursor
    items = [LinkOut.of(link, settings.public_url) for link in found]
    return render(
        request,
        "links.html",
        user,
        links=items,
        next_cursor=next_cursor,
        q=q or "",
        tag=tag or "",
        every=owner is None,
        sort=sort,
        next_page=next_page,
        column=await clicks_column(overviews, found),
        note=batch_note(request),
    )


def _form_values(form: dict[str, str]) -> dict[str, Any]:
    """A form's strings as the API's JSON body: empty fields absent, tags split, the
    datetime-local field read as UTC."""
    body: dict[str, Any] = {"url": form.get("url", "").strip()}
    if form.get("slug", "").strip():
        body["slug"] = form["slug"].strip()
    body["tags"] = [t for t in form.get("tags", "").replace(",", " ").split() if t]
    body["redirect_type"] = int(form.get("redirect_type") or 302)
    expires = form.get("expires_at", "").strip()
    body["expires_at"] = utc_field(expires) or None
    clicks = form.get("max_clicks", "").strip()
    body["max_clicks"] = int(clicks) if clicks.isdigit() else (clicks or None)
    if form.get("domain", "").strip():
        body["domain"] = form["domain"].strip()
    body["title"] = form.get("title", "").strip() or None
    body["valid_since"] = utc_field(form.get("valid_since", "").strip()) or None
    # A checkbox left unticked sends nothing: every form shows both, so absent is "no".
    body["forward_query"] = form.get("forward_query") == "on"
    body["crawlable"] = form.get("crawlable") == "on"
    if form.get("password"):
        body["password"] = form["password"]
    elif form.get("remove_password") == "on":
        body["password"] = None
    return body


async def _hosts(domains: DomainServiceDep) -> list[str]:
    return [d.host for d in await domains.all()]


@router.get("/links/new")
async def link_new(request: Request, user: SignedIn, domains: DomainServiceDep) -> Response:
    hosts = await _hosts(domains)
    values = {"forward_query": "on"}  # as the API: on unless unticked
    return render(request, "link_form.html", user, link=None, values=values, domains=hosts)


@router.post("/links/new", dependencies=[CheckedForm])
async def link_create(
    request: Request,
    user: SignedIn,
    links: LinkServiceDep,
    domains: DomainServiceDep,
    settings: SettingsDep,
) -> Response:
    form = await form_fields(request)
    try:
        link = await links.create(user.id, LinkCreate.model_validate(_form_values(form)))
    except (ValidationError, ProblemError) as exc:
        hosts = await _hosts(domains)
        return render(
            request,
            "link_form.html",
            user,
            422,
            link=None,
            values=form,
            errors=form_errors(exc),
            domains=hosts,
        )
    return see_other(link_path(request, LinkOut.of(link, settings.public_url)))


@router.get("/links/{slug}/edit")
async def link_edit(request: Request, user: SignedIn, link: OwnedLink) -> Response:
    values = {
        "url": link.url,
        "tags": " ".join(link.tags),
        "redirect_type": str(link.redirect_type),
        "expires_at": link.expires_at.strftime("%Y-%m-%dT%H:%M") if link.expires_at else "",
        "max_clicks": str(link.max_clicks or ""),
        "title": link.title or "",
        "valid_since": link.valid_since.strftime("%Y-%m-%dT%H:%M") if link.valid_since else "",
        "forward_query": "on" if link.forward_query else "",
        "crawlable": "on" if link.crawlable else "",
    }
    return render(request, "link_form.html", user, link=link, values=values)


@router.post("/links/{slug}/edit", dependencies=[CheckedForm])
async def link_update(
    request: Request,
    slug: str,
    user: SignedIn,
    links: LinkServiceDep,
    settings: SettingsDep,
    domain: DomainParam = None,
) -> Response:
    form = await form_fields(request)
    body = _form_values(form)
    body.pop("slug", None)
    try:
        changed = await links.update(
            user.owner_scope, slug, LinkUpdate.model_validate(body), domain
        )
    except (ValidationError, ProblemError) as exc:
        if isinstance(exc, ProblemError) and exc.status == 404:
            raise
        link = LinkOut.of(await links.get(user.owner_scope, slug, domain), settings.public_url)
        return render(
            request, "link_form.html", user, 422, link=link, values=form, errors=form_errors(exc)
        )
    return see_other(link_path(request, LinkOut.of(changed, settings.public_url)))


@router.get("/links/{slug}/delete")
async def link_delete_confirm(request: Request, user: SignedIn, link: OwnedLink) -> Response:
    return render(request, "confirm_delete.html", user, link=link)


@router.post("/links/{slug}/delete", dependencies=[CheckedForm])
async def link_delete(
    slug: str, user: SignedIn, links: LinkServiceDep, domain: DomainParam = None
) -> Response:
    await links.delete(user.owner_scope, slug, domain)
    return see_other("/app/links")


# --- a link's page -----------------------------------------------------------------------------


def _range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days: from the start of `start` to the end of `end`."""
    begin = datetime.combine(start, time(), UTC) if start else None
    until = datetime.combine(end, time(), UTC) + timedelta(days=1) if end else None
    return begin, until


async def _stats(
    links: LinkServiceDep,
    user: User,
    slug: str,
    interval: Interval,
    start: date | None,
    end: date | None,
    domain: str | None,
    top: int | None = None,
) -> LinkStats:
    begin, until = _range(start, end)
    return await links.stats(
        user.owner_scope, slug, start=begin, end=until, interval=interval, domain=domain, top=top
    )


async def show_link(
    request: Request,
    user: User,
    links: LinkServiceDep,
    link: LinkOut,
    status: int = 200,
    *,
    interval: Interval = "day",
    start: date | None = None,
    end: date | None = None,
    **context: Any,
) -> Response:
    """A link's page: its settings, stats, rules and QR code, and `context` (what a form on
    it was refused for, a preview's answer)."""
    stats, problem, unavailable = None, None, False
    try:
        stats = await _stats(links, user, link.slug, interval, start, end, link.domain)
    except ProblemError as exc:
        if exc.status == 404:
            raise
        # A range the person asked for and cannot have, or stats that are away for now: the
        # page says which, never a page that silently lacks its figures.
        problem, unavailable = exc.detail or exc.problem.title, exc.status >= 500
    shown = {"interval": interval, "from": start, "to": end}
    query = {k: str(v) for k, v in shown.items() if v}
    return render(
        request,
        "link.html",
        user,
        status,
        link=link,
        stats=stats,
        problem=problem,
        unavailable=unavailable,
        interval=interval,
        start=start.isoformat() if start else "",
        end=end.isoformat() if end else "",
        chart_path=link_path(request, link, "/chart.svg", **query),
        map_path=link_path(request, link, "/map.svg", **query),
        **context,
    )


@router.get("/links/{slug}")
async def link_page(
    request: Request,
    user: SignedIn,
    link: OwnedLink,
    links: LinkServiceDep,
    interval: Interval = "day",
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    return await show_link(
        request,
        user,
        links,
        link,
        interval=interval,
        start=start,
        end=end,
        deleted_visits=deleted_visits(request, link.short_url),
    )


def _shown_stats(top: int | None) -> Callable[..., Awaitable[LinkStats]]:
    """The stats a picture of the link's page shows, `top` values per breakdown: the range and
    interval of its query."""

    async def shown(
        slug: str,
        user: SignedIn,
        links: LinkServiceDep,
        interval: Interval = "day",
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        domain: DomainParam = None,
    ) -> LinkStats:
        return await _stats(links, user, slug, interval, start, end, domain, top)

    return shown


@router.get("/links/{slug}/chart.svg")
async def link_chart(stats: Annotated[LinkStats, Depends(_shown_stats(None))]) -> Response:
    return Response(clicks_chart(stats), media_type="image/svg+xml")


@router.get("/links/{slug}/map.svg")
async def link_map(stats: Annotated[LinkStats, Depends(_shown_stats(MAX_TOP))]) -> Response:
    """Every country with clicks, not only the ten the page lists."""
    return Response(world_map(stats), media_type="image/svg+xml")


@router.get("/links/{slug}/qr.{kind}")
async def link_qr(kind: str, link: OwnedLink, download: bool = False) -> Response:
    if kind not in ("svg", "png"):
        return Response(status_code=404)
    qr = segno.make(link.short_url, error="m")
    out = io.BytesIO()
    qr.save(out, kind=kind, scale=8 if kind == "png" else 6, border=2)
    headers = (
        {"Content-Disposition": f'attachment; filename="{link.slug}.{kind}"'} if download else {}
    )
    media = "image/svg+xml" if kind == "svg" else "image/png"
    return Response(out.getvalue(), media_type=media, headers=headers)
