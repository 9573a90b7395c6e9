"""A link's redirect rules on its page: add one, move one up or down, remove one, and test a
request against them. Every change is a LinkService.update with the API's LinkUpdate body (the
same validation); the test runs the redirect's own compiled rules on a made-up request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from surge.accounts.user_repository import User
from surge.dashboard.links import OwnedLink, show_link
from surge.dashboard.pages import (
    CheckedForm,
    SignedIn,
    error_status,
    form_errors,
    form_fields,
    link_path,
    see_other,
    templates,
    utc_field,
)
from surge.data.locations import forwarded
from surge.data.rule_inputs import request_scope
from surge.data.rule_matching import compile_rules, first_rule
from surge.data.rules import (
    BROWSERS,
    CONDITION_TYPES,
    DEVICES,
    RedirectRule,
    RuleCondition,
    condition_problem,
)
from surge.links.deps import LinkServiceDep
from surge.links.schemas import LinkOut, LinkUpdate
from surge.links.service import LinkService
from surge.platform.clock import utc_now
from surge.platform.problems import ProblemError, not_found

router = APIRouter(prefix="/app/links/{slug}", include_in_schema=False)
CONDITION_ROWS = 3  # condition rows of the add form: enough for most rules, no script needed
# Each type as the form offers it, and how a rule's list says a condition of it.
CONDITIONS: dict[str, tuple[str, str]] = {
    "device": ("Device", "device is {value}"),
    "browser": ("Browser", "browser is {value}"),
    "language": ("Language (Accept-Language)", "accepts language {value}"),
    "query-param": ("Query parameter equals", "query parameter {key} is {value}"),
    "any-value-query-param": ("Query parameter has a value", "query parameter {key} has a value"),
    "valueless-query-param": (
        "Query parameter without a value",
        "query parameter {key} has no value",
    ),
    "ip-address": ("Client IP (address, CIDR or wildcard)", "client IP is in {value}"),
    "geolocation-country-code": ("Country (two letters)", "country is {value}"),
    "geolocation-city-name": ("City (matches once GeoIP is set up)", "city is {value}"),
    "before-date": ("Before a time (UTC)", "before {value}"),
    "after-date": ("After a time (UTC)", "after {value}"),
}
DATE_TYPES = frozenset({"before-date", "after-date"})


def describe(rule: RedirectRule) -> str:
    """A rule's conditions as the page says them: "device is ios and accepts language de"."""
    return " and ".join(
        CONDITIONS[c.type][1].format(key=c.key, value=c.value) for c in rule.conditions
    )


def rules_digest(rules: Sequence[RedirectRule]) -> str:
    """What a page's move and remove buttons saw: a change by position is refused once the
    rules have changed since (another tab, another admin), rather than moving the wrong one."""
    text = json.dumps([r.model_dump() for r in rules], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


templates.env.globals.update(
    condition_types=[(kind, CONDITIONS[kind][0]) for kind in CONDITION_TYPES],
    condition_rows=CONDITION_ROWS,
    devices=DEVICES,
    browsers=BROWSERS,
    describe_rule=describe,
    rules_digest=rules_digest,
)


# --- changes -----------------------------------------------------------------------------------


class RulesRefused(Exception):
    """A rule change refused before it reached the service: what was wrong, a line each."""

    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = errors


def _new_rule(form: dict[str, str]) -> dict[str, Any]:
    """The add form's rule as the API's body takes it: the filled condition rows, each checked
    by the same condition_problem as the API's, so a mistake is said in its words."""
    conditions, errors = [], []
    for row in range(CONDITION_ROWS):
        kind = form.get(f"type-{row}", "")
        if not kind:
            continue
        value = form.get(f"value-{row}", "").strip()
        condition = {
            "type": kind,
            "key": form.get(f"key-{row}", "").strip() or None,
            "value": utc_field(value) if kind in DATE_TYPES else value,
        }
        try:
            problem = condition_problem(RuleCondition.model_validate(condition))
        except ValidationError as exc:  # no such type, or a value too long
            problem = "; ".join(form_errors(exc))
        if problem:
            errors.append(f"Condition {row + 1}: {problem}")
        conditions.append(condition)
    if not conditions:
        errors.append("A rule needs at least one condition.")
    if errors:
        raise RulesRefused(422, errors)
    return {"url": form.get("url", "").strip(), "conditions": conditions}


async def _change_rules(
    links: LinkService, user: User, link: LinkOut, rules: list[dict[str, Any]]
) -> None:
    labels = {f"rules.{i}.url": f"Rule {i + 1}'s target URL" for i in range(len(rules))}
    try:
        body = LinkUpdate.model_validate({"rules": rules})
        await links.update(user.owner_scope, link.slug, body, link.domain)
    except (ValidationError, ProblemError) as exc:
        if isinstance(exc, ProblemError) and exc.status == 404:
            raise
        raise RulesRefused(error_status(exc), form_errors(exc, labels)) from None


def _stored(link: LinkOut) -> list[dict[str, Any]]:
    return [rule.model_dump() for rule in link.rules]


def _at(link: LinkOut, form: dict[str, str], index: int) -> list[dict[str, Any]]:
    """The link's rules, once the form is known to have seen these rules and the rule `index`."""
    if form.get("digest") != rules_digest(link.rules):
        raise RulesRefused(
            409, ["The rules changed since this page was shown. Here they are now: try again."]
        )
    if not 0 <= index < len(link.rules):
        raise not_found("rule")
    return _stored(link)


# The form and the link's page as shown → the rules it asks for (RulesRefused: none).
RulesChange = Callable[[dict[str, str], LinkOut], list[dict[str, Any]]]


async def _rules_change(
    request: Request, user: User, links: LinkService, link: LinkOut, change: RulesChange
) -> Response:
    """Apply `change` and show the link's page again: changed, or with what was refused and
    the add form as it was sent."""
    form = await form_fields(request)
    try:
        await _change_rules(links, user, link, change(form, link))
    except RulesRefused as refused:
        return await show_link(
            request, user, links, link, refused.status, rule_errors=refused.errors, rule_form=form
        )
    return see_other(link_path(request, link) + "#rules")


@router.post("/rules", dependencies=[CheckedForm])
async def rule_add(
    request: Request, user: SignedIn, link: OwnedLink, links: LinkServiceDep
) -> Response:
    def added(form: dict[str, str], link: LinkOut) -> list[dict[str, Any]]:
        return [*_stored(link), _new_rule(form)]

    return await _rules_change(request, user, links, link, added)


@router.post("/rules/{index}/{action}", dependencies=[CheckedForm])
async def rule_move_or_remove(
    request: Request,
    index: int,
    action: Literal["up", "down", "remove"],
    user: SignedIn,
    link: OwnedLink,
    links: LinkServiceDep,
) -> Response:
    def changed(form: dict[str, str], link: LinkOut) -> list[dict[str, Any]]:
        rules = _at(link, form, index)
        if action == "remove":
            del rules[index]
            return rules
        other = index - 1 if action == "up" else index + 1
        if 0 <= other < len(rules):  # the first cannot go up, nor the last down: unchanged
            rules[index], rules[other] = rules[other], rules[index]
        return rules

    return await _rules_change(request, user, links, link, changed)


# --- testing a request -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    """Where a request would go: the rule it matched (its index) or None for the link's URL."""

    rule: int | None
    url: str
    expired: bool  # the link's own expiry has passed by then: the redirect answers "gone"


PreviewField = Annotated[str, Query(max_length=2048)]


def preview(
    link: LinkOut, ua: str, language: str, country: str, query: str, ip: str, at: str
) -> Preview:
    """Where the redirect would send this request: its own compiled rules and first match,
    at the time `at` (a datetime-local field, UTC; empty: now)."""
    moment = utc_now()
    if at:
        moment = datetime.fromisoformat(at)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    scope, names = request_scope(
        user_agent=ua, language=language, country=country or None, query=query, ip=ip
    )
    index = (
        first_rule(compile_rules(link.rules), scope, moment.timestamp(), names)
        if link.rules
        else None
    )
    url = link.url if index is None else link.rules[index].url
    if link.forward_query and query.strip("?"):
        url = forwarded(url, query)
    expired = link.expires_at is not None and moment >= link.expires_at
    return Preview(index, url, expired)


@router.get("/preview")
async def rule_preview(
    request: Request,
    user: SignedIn,
    link: OwnedLink,
    links: LinkServiceDep,
    ua: PreviewField = "",
    language: PreviewField = "",
    country: Annotated[str, Query(max_length=2)] = "",
    query: PreviewField = "",
    ip: Annotated[str, Query(max_length=64)] = "",
    at: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    asked = {"ua": ua, "language": language, "country": country, "query": query, "ip": ip, "at": at}
    try:
        answer = preview(link, ua, language, country.strip(), query.strip(), ip.strip(), at.strip())
    except ValueError:
        error = "Time: a date and time such as 2030-01-01T09:30 (UTC)."
        return await show_link(
            request, user, links, link, 422, preview_values=asked, preview_error=error
        )
    return await show_link(request, user, links, link, preview_values=asked, preview=answer)
