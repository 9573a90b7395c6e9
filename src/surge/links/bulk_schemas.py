"""Request and response bodies of the links API's batches (`/api/v1/links/bulk...`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from surge.links.fields import MAX_TAGS_PER_LINK, SLUG_JSON_PATTERN, Flag, Tag
from surge.links.schemas import DomainName, LinkOut

MAX_BATCH = 1000  # items of one batch: links created, or links tagged or deleted

BatchSlug = Annotated[str, Field(pattern=SLUG_JSON_PATTERN)]
BatchTags = Annotated[list[Tag], Field(max_length=MAX_TAGS_PER_LINK)]


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    links: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description="Each a body of `POST /api/v1/links` (the LinkCreate schema), checked "
            "on its own: one that a single create would refuse is answered with that problem in "
            "its place of `results`, and the others are created.",
        ),
    ]
    atomic: Flag = Field(
        default=False,
        description="All or nothing: if any link cannot be created, none is (422 "
        "`batch-refused`, its `errors` naming each item that failed).",
    )


def _one_selection(schema: JsonDict) -> None:
    """JSON Schema's way to say "`slugs` or `tag`, one of the two" (`_slugs_or_tag` checks
    it), and that none of the selection's fields is null (`_absent_not_null`)."""
    schema["oneOf"] = [{"required": ["slugs"]}, {"required": ["tag"]}]
    properties = schema["properties"]
    assert isinstance(properties, dict)
    for name in ("slugs", "tag", "domain"):
        field = properties[name]
        assert isinstance(field, dict)
        choices = field.pop("anyOf")
        assert isinstance(choices, list)
        (kept,) = [choice for choice in choices if choice != {"type": "null"}]
        assert isinstance(kept, dict)
        field.update(kept)


class BulkSelection(BaseModel):
    """Which links a batch changes: named by slugs, or every one with a tag."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_selection)

    slugs: Annotated[list[BatchSlug], Field(min_length=1, max_length=MAX_BATCH)] | None = Field(
        default=None,
        description="These links (of the caller's; an admin's key: anyone's), each answered "
        "in its place of `results`.",
    )
    tag: Tag | None = Field(
        default=None,
        description=f"Every link with this tag (at most {MAX_BATCH}: more is 413 "
        "`batch-too-large`), oldest first.",
    )
    domain: DomainName | None = Field(
        default=None,
        description="With `slugs`: the domain they are on (default: the default domain). With "
        "`tag`: only links on this domain (default: every domain).",
    )

    @field_validator("slugs", "tag", "domain", mode="before")
    @classmethod
    def _absent_not_null(cls, value: object) -> object:
        if value is None:  # JSON Schema's oneOf counts a null as present: absent it must be
            raise ValueError("leave the field out rather than null")
        return value

    @model_validator(mode="after")
    def _slugs_or_tag(self) -> BulkSelection:
        if (self.slugs is None) == (self.tag is None):
            raise ValueError("name the links by `slugs` or by `tag`, one of the two")
        return self


class BulkTagging(BulkSelection):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_selection)

    add: BatchTags = Field(default_factory=list, description="Tags each link gets.")
    remove: BatchTags = Field(
        default_factory=list, description="Tags taken off each link (after `add`)."
    )


class ItemProblem(BaseModel):
    """The problem (RFC 9457) an item of a batch met, as a single request would have answered
    it (its `errors` too, for a 422), with the item's place in the request (`index`, from 0)
    and, for a batch that names links, the link's `slug`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str = ""
    index: int


class DeletedLink(BaseModel):
    slug: str
    domain: str
    deleted: bool = True


class BulkResults(BaseModel):
    """One result per item, in the request's order (with `tag`: per link found)."""

    results: list[LinkOut | ItemProblem]


class BulkDeletions(BaseModel):
    results: list[DeletedLink | ItemProblem]
