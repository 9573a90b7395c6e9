"""Redirect rules as the links API takes them: one model per condition type, so the OpenAPI
description lists what each accepts (see surge.data.rules for what each matches)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from surge.data.rules import (
    MAX_CONDITIONS,
    MAX_RULES,
    RedirectRule,
    RuleCondition,
    condition_problem,
)
from surge.links.fields import RFC3339, TargetUrl

CLOSED = ConfigDict(extra="forbid")


class _Condition(BaseModel):
    model_config = CLOSED

    key: None = None  # only the query types name a parameter

    def condition(self) -> RuleCondition:
        return RuleCondition(type=self.type, key=self.key, value=self.value)  # type: ignore[attr-defined]


class DeviceCondition(_Condition):
    type: Literal["device"]
    value: Literal["android", "ios", "mobile", "desktop", "windows", "macos", "linux", "chromeos"]


class BrowserCondition(_Condition):
    type: Literal["browser"]
    value: Literal["chrome", "firefox", "safari", "edge", "opera", "samsung-internet"]


class LanguageCondition(_Condition):
    type: Literal["language"]
    value: str = Field(
        pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$",
        description="de: German in any region; de-AT: that region only.",
    )


class QueryValueCondition(_Condition):
    type: Literal["query-param"]
    key: str = Field(min_length=1, max_length=100)  # type: ignore[assignment]
    value: str = Field(min_length=1, max_length=200, description="What the parameter equals.")


class QueryKeyCondition(_Condition):
    type: Literal["any-value-query-param", "valueless-query-param"]
    key: str = Field(min_length=1, max_length=100)  # type: ignore[assignment]
    value: Literal[""] = ""


class IpCondition(_Condition):
    type: Literal["ip-address"]
    value: str = Field(
        pattern=r"^[0-9A-Fa-f:.*]+(/[0-9]{1,3})?$",
        max_length=49,
        description="An address, a CIDR block (10.0.0.0/8, 2001:db8::/32) or an IPv4 "
        "wildcard (192.168.*.*).",
    )


class CountryCondition(_Condition):
    type: Literal["geolocation-country-code"]
    value: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2.")


class CityCondition(_Condition):
    type: Literal["geolocation-city-name"]
    value: str = Field(min_length=1, max_length=200, pattern=r"\S")


class DateCondition(_Condition):
    type: Literal["before-date", "after-date"]
    value: str = Field(pattern=RFC3339.pattern.join("^$"), description="RFC 3339, with its zone.")


ConditionIn = Annotated[
    DeviceCondition
    | BrowserCondition
    | LanguageCondition
    | QueryValueCondition
    | QueryKeyCondition
    | IpCondition
    | CountryCondition
    | CityCondition
    | DateCondition,
    # Not a discriminated union: its JSON Schema would be a oneOf that fuzzers mutate branch
    # by branch; as anyOf, a condition is valid when one of the types takes it.
    Field(union_mode="left_to_right"),
]


class RuleIn(BaseModel):
    """A redirect rule as a request sends it: where matching requests go, and the conditions
    that must all hold (see surge.data.rules for what each type matches)."""

    model_config = CLOSED

    url: TargetUrl
    conditions: list[ConditionIn] = Field(min_length=1, max_length=MAX_CONDITIONS)

    @model_validator(mode="after")
    def _evaluable(self) -> RuleIn:
        for i, condition in enumerate(self.conditions):
            problem = condition_problem(condition.condition())
            if problem:  # what a pattern cannot say: a CIDR's prefix length, a real date
                raise ValueError(f"conditions[{i}]: {problem}")
        return self

    def rule(self) -> RedirectRule:
        return RedirectRule(url=self.url, conditions=[c.condition() for c in self.conditions])


Rules = Annotated[
    list[RuleIn],
    Field(
        max_length=MAX_RULES,
        description="Redirect rules, in order: a request goes to the first rule whose "
        "conditions all hold, else to `url`; `key` names the query parameter of the query "
        "types.",
    ),
]
