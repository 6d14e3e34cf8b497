"""Amazon Pinpoint direct messages after a refresh: an opt-in ``RecommendationSink`` (SendUsersMessages).

Each refreshed user gets one templated message on the configured channel, the recommendations passed as
template substitutions, at most once per quiet period (a ``MessageLedger`` decides, before sending).
SendUsersMessages:
https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-users-messages.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from destinations.aws.errors import BOTO_ERRORS, translate_client_error
from destinations.engagement_content import DetailSpec, catalog_items, message_id, message_substitutions
from destinations.ports import ItemCatalog, MessageLedger
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError, PueError, RetryableError
from schemas.limits import PINPOINT_SEND_USERS_MAX_USERS
from schemas.recommendation import Recommendation

SERVICE: Final = "pinpoint"
Channel = Literal["EMAIL", "SMS", "PUSH"]
CHANNELS: Final = ("EMAIL", "SMS", "PUSH")
# Channel -> (the MessageConfiguration member that selects it, the TemplateConfiguration member).
_CHANNEL_PARTS: Final = {
    "EMAIL": ("EmailMessage", "EmailTemplate"),
    "SMS": ("SMSMessage", "SMSTemplate"),
    "PUSH": ("DefaultPushNotificationMessage", "PushTemplate"),
}
# Per-endpoint DeliveryStatus values. A user counts as reached when any endpoint took the message: sending
# again would reach that endpoint twice.
_REACHED: Final = frozenset({"SUCCESSFUL", "DUPLICATE", "OPT_OUT"})
_TRANSIENT: Final = frozenset({"THROTTLED", "TEMPORARY_FAILURE", "UNKNOWN_FAILURE"})


@dataclass(frozen=True, slots=True)
class _Claimed:
    recommendation: Recommendation
    message_id: str


class PinpointMessageSink:
    """Sends the configured template to each refreshed user, ≤ 100 users per SendUsersMessages call.

    A user with no recommended items gets nothing (there is nothing to show). A redelivered batch, or a
    second refresh within the quiet period, finds the ledger's claim and sends nothing. A send that failed
    transiently releases its claim and is reported retryable, so the redelivery sends it; a permanent
    failure keeps the claim (retrying cannot help).
    """

    name = "messages"
    takes_anonymous = False  # a message goes to a user's endpoints: an anonymousId has none

    def __init__(
        self,
        client: Any,
        application_id: str,
        ledger: MessageLedger,
        *,
        template: str,
        channel: Channel = "EMAIL",
        quiet_seconds: int = 86_400,
        catalog: ItemCatalog | None = None,
        details: DetailSpec | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        message_part, template_part = _CHANNEL_PARTS[channel]
        self._client = client
        self._application_id = application_id
        self._ledger = ledger
        self._message_configuration: dict[str, Any] = {message_part: {}}
        self._template_configuration: dict[str, Any] = {template_part: {"Name": template}}
        self._quiet_seconds = quiet_seconds
        self._catalog = catalog
        self._details = details or DetailSpec()
        self._clock = clock

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        latest, failed = latest_per_user(recommendations, service=SERVICE)
        claimed = self._claim([r for r in latest.values() if r.items], failed)
        if not claimed:
            return DeliveryReport(failed)
        try:
            items = catalog_items(
                self._catalog, [i for c in claimed for i in c.recommendation.item_ids], self._details
            )
        except PueError as error:
            self._settle(claimed, {c.recommendation.user_id: error for c in claimed}, failed)
            return DeliveryReport(failed)
        for start in range(0, len(claimed), PINPOINT_SEND_USERS_MAX_USERS):
            chunk = claimed[start : start + PINPOINT_SEND_USERS_MAX_USERS]
            self._settle(chunk, self._send(chunk, items), failed)
        return DeliveryReport(failed)

    def _claim(self, recommendations: list[Recommendation], failed: dict[str, PueError]) -> list[_Claimed]:
        now = self._clock()
        claimed = []
        for recommendation in recommendations:
            mid = message_id(recommendation)
            try:
                if self._ledger.claim(recommendation.user_id, mid, now, self._quiet_seconds):
                    claimed.append(_Claimed(recommendation, mid))
            except PueError as error:
                failed[recommendation.user_id] = error
        return claimed

    def _send(
        self, chunk: Sequence[_Claimed], items: Mapping[str, Mapping[str, object]]
    ) -> dict[str, PueError]:
        """One SendUsersMessages call; the users it did not reach, with why."""
        users = {
            c.recommendation.user_id: {
                "Substitutions": message_substitutions(c.recommendation, items, self._details),
                "Context": {
                    "pue_message_id": c.message_id,
                    "pue_recommendation_id": c.recommendation.recommendation_id,
                },
            }
            for c in chunk
        }
        try:
            response = self._client.send_users_messages(
                ApplicationId=self._application_id,
                SendUsersMessageRequest={
                    "MessageConfiguration": self._message_configuration,
                    "TemplateConfiguration": self._template_configuration,
                    "Users": users,
                },
            )
        except BOTO_ERRORS as error:
            translated = translate_client_error(error, service=SERVICE)
            return {user_id: translated for user_id in users}
        results: Mapping[str, Any] = response.get("SendUsersMessageResponse", {}).get("Result") or {}
        outcomes = {user_id: _user_outcome(results.get(user_id) or {}) for user_id in users}
        return {user_id: outcome for user_id, outcome in outcomes.items() if outcome is not None}

    def _settle(
        self, chunk: Sequence[_Claimed], errors: Mapping[str, PueError], failed: dict[str, PueError]
    ) -> None:
        for claim in chunk:
            user_id = claim.recommendation.user_id
            error = errors.get(user_id)
            if error is None:
                continue
            failed[user_id] = error
            if error.retryable:
                try:
                    self._ledger.release(user_id, claim.message_id)
                except PueError as release_error:
                    # The claim stays: this message is lost for the quiet period, never sent twice.
                    failed[user_id] = release_error


def _user_outcome(endpoints: Mapping[str, Any]) -> PueError | None:
    """None when the user was reached (or has no endpoint to reach); else the error for the user."""
    statuses = [str(result.get("DeliveryStatus", "")) for result in endpoints.values()]
    if not statuses or any(status in _REACHED for status in statuses):
        return None
    if any(status in _TRANSIENT for status in statuses):
        return RetryableError("the message was not delivered", service=SERVICE, code="TemporaryFailure")
    return PermanentError("the message was rejected", service=SERVICE, code="PermanentFailure")
