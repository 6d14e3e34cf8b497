"""Query parameters: parsed strictly, refused with a 400 that names the parameter (never echoes a value).

Strict on purpose: an unknown or repeated parameter is a mistake the caller should hear about (a typo in
``numResult`` would otherwise silently give 25 items), and ids must be what Personalize accepts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from consumers.web.contract import bad_request
from schemas.limits import (
    FILTER_VALUES_KEY_MAX_LENGTH,
    FILTER_VALUES_MAX_ENTRIES,
    FILTER_VALUES_VALUE_MAX_LENGTH,
    GET_RECOMMENDATIONS_MAX_RESULTS,
    PERSONALIZE_ID_MAX_LENGTH,
)

FILTER_VALUES_PREFIX: Final = "filterValues."
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_PLACEHOLDER: Final = re.compile(rf"[A-Za-z0-9_]{{1,{FILTER_VALUES_KEY_MAX_LENGTH}}}")
_MAX_DIGITS: Final = 6  # beyond this a number is out of range anyway; spares int() on huge strings

RECOMMENDATION_PARAMS: Final = frozenset({"userId", "itemId", "numResults", "filter", "includeMetadata"})
EVENT_PARAMS: Final = frozenset({"numResults", "includeMetadata"})


@dataclass(frozen=True, slots=True)
class RecommendationQuery:
    """A valid ``GET /recommendations``: exactly one of ``user_id`` and ``item_id``."""

    user_id: str | None = None
    item_id: str | None = None
    num_results: int | None = None
    filter_name: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    include_metadata: bool = False


def text_problem(value: str, max_length: int = PERSONALIZE_ID_MAX_LENGTH) -> str | None:
    """Why ``value`` is not an acceptable id or text, or None."""
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if _SURROGATE.search(value):
        return "is not valid Unicode"
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None


def checked_id(value: str, name: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise bad_request(
            f"{name} {problem} (1-{PERSONALIZE_ID_MAX_LENGTH} characters, no control characters)"
        )
    return value


def whole_number(value: str, name: str, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS) or not (
        low <= int(value) <= high
    ):
        raise bad_request(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def num_results(value: str) -> int:
    return whole_number(value, "numResults", 1, GET_RECOMMENDATIONS_MAX_RESULTS)


def boolean(value: str, name: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise bad_request(f"{name} must be true or false")


def single_params(
    query: tuple[tuple[str, str], ...], allowed: Collection[str], prefix: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(allowed parameters, ``prefix``-ed parameters by suffix); unknown or repeated ones are a 400."""
    plain: dict[str, str] = {}
    prefixed: dict[str, str] = {}
    for name, value in query:
        if name in allowed:
            target, key = plain, name
        elif prefix is not None and name.startswith(prefix):
            target, key = prefixed, name[len(prefix) :]
        else:
            # Never the name itself: an error body that echoes the request is a reflection channel
            # (issue 23). The allowed names are enough to spot a typo.
            names = sorted(allowed) + ([f"{prefix}<NAME>"] if prefix else [])
            raise bad_request(f"unknown query parameter; this route takes {', '.join(names)}")
        if key in target:
            raise bad_request(
                f"query parameter {key if target is plain else f'{prefix}<NAME>'} given more than once"
            )
        target[key] = value
    return plain, prefixed


def filter_values(values: dict[str, str]) -> dict[str, str]:
    if len(values) > FILTER_VALUES_MAX_ENTRIES:
        raise bad_request(f"at most {FILTER_VALUES_MAX_ENTRIES} filterValues parameters")
    for placeholder, value in values.items():
        if not _PLACEHOLDER.fullmatch(placeholder):
            raise bad_request(
                f"{FILTER_VALUES_PREFIX}<NAME>: NAME must be 1-{FILTER_VALUES_KEY_MAX_LENGTH} of [A-Za-z0-9_]"
            )
        problem = text_problem(value, FILTER_VALUES_VALUE_MAX_LENGTH)
        if problem is not None:
            raise bad_request(f"{FILTER_VALUES_PREFIX}{placeholder} {problem}")
    return values


def recommendation_query(query: tuple[tuple[str, str], ...]) -> RecommendationQuery:
    params, values = single_params(query, RECOMMENDATION_PARAMS, FILTER_VALUES_PREFIX)
    user_id = checked_id(params["userId"], "userId") if "userId" in params else None
    item_id = checked_id(params["itemId"], "itemId") if "itemId" in params else None
    if (user_id is None) == (item_id is None):
        raise bad_request("give userId (a user's recommendations) or itemId alone (related items)")
    filter_name = params.get("filter")
    if filter_name is not None and text_problem(filter_name) is not None:
        raise bad_request("filter must be the name of a configured filter")
    return RecommendationQuery(
        user_id=user_id,
        item_id=item_id,
        num_results=num_results(params["numResults"]) if "numResults" in params else None,
        filter_name=filter_name,
        filter_values=filter_values(values),
        include_metadata=boolean(params.get("includeMetadata", "false"), "includeMetadata"),
    )


def events_num_results(query: tuple[tuple[str, str], ...]) -> int | None:
    params, _ = single_params(query, EVENT_PARAMS)
    return num_results(params["numResults"]) if "numResults" in params else None


def events_include_metadata(query: tuple[tuple[str, str], ...]) -> bool:
    params, _ = single_params(query, EVENT_PARAMS)
    return boolean(params.get("includeMetadata", "false"), "includeMetadata")
