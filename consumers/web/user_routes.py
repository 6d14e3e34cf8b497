"""``GET /users``, ``GET /users/{userId}``, ``GET /stats``: the local backend's users and pipeline counts.

With the aws backend there is no single place holding these (Personas, Pinpoint, CloudWatch): the routes
exist (so the contract is the same everywhere) and answer 501 with where to look instead.
"""

from __future__ import annotations

from typing import Final

from consumers.web.contract import (
    ApiError,
    ApiRequest,
    ApiResponse,
    json_response,
)
from consumers.web.insights import LocalInsights
from consumers.web.validation import checked_id, single_params, whole_number

DEFAULT_USERS: Final = 20
MAX_USERS: Final = 100
_USERS_PARAMS: Final = frozenset({"limit"})


def path_parameter(request: ApiRequest) -> str:
    """The ``{userId}`` of ``/users/{userId}``: all of the (decoded) path after ``/users/``, so an id
    holding "/" is reachable as ``/users/a%2Fb`` on every entry point (the router matched the prefix)."""
    return request.path.split("/", 2)[2]


class UserRoutes:
    """Handlers over ``insights``; None (the aws backend) makes each of them a 501."""

    def __init__(self, insights: LocalInsights | None) -> None:
        self._insights = insights

    def users(self, request: ApiRequest) -> ApiResponse:
        params, _ = single_params(request.query, _USERS_PARAMS)
        limit = whole_number(params["limit"], "limit", 1, MAX_USERS) if "limit" in params else DEFAULT_USERS
        insights = self._local("the users list")
        return json_response(200, {"users": insights.users(limit)})

    def user(self, request: ApiRequest) -> ApiResponse:
        single_params(request.query, ())
        user_id = checked_id(path_parameter(request), "userId")
        profile = self._local("user profiles").profile(user_id)
        if profile is None:
            raise ApiError(404, "not_found", "no interactions, traits or attributes for this userId")
        return json_response(200, profile)

    def stats(self, request: ApiRequest) -> ApiResponse:
        single_params(request.query, ())
        return json_response(200, self._local("pipeline counts").stats())

    def _local(self, what: str) -> LocalInsights:
        if self._insights is None:
            raise ApiError(
                501,
                "not_implemented",
                f"{what} come from the local backend; with the aws backend see Segment Personas, "
                "Pinpoint and the pipeline's CloudWatch log lines",
            )
        return self._insights
