"""The CLI needs only what a command uses: local-only commands ignore cloud settings; ``pue recommend`` and
``pue profile`` name the backend they read, ask Personalize on AWS (a real botocore client answered by a
Stubber, its requests checked), refuse a state folder that is not there, and read anonymous visitors too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from consumers.cli import main
from consumers.cli.arguments import local_settings
from tests.factories import segment_track

CAMPAIGN = "arn:aws:personalize:us-east-1:111111111111:campaign/shop"
RECOMMENDER = "arn:aws:personalize:us-east-1:111111111111:recommender/recommended-for-you"
CLOUD_ENV = ("PUE_", "PERSONALIZE_", "SEGMENT_", "PINPOINT_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(CLOUD_ENV):
            monkeypatch.delenv(name)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def aws_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """PUE_BACKEND=aws with malformed and missing cloud settings: fatal for the stream consumer."""
    monkeypatch.setenv("PUE_BACKEND", "aws")
    monkeypatch.setenv("PERSONALIZE_CAMPAIGN_ARN", "not-an-arn")
    monkeypatch.setenv("SEGMENT_API_HOST", "ftp://nowhere")
    monkeypatch.setenv("SEGMENT_SPACE_ID", "space-without-token")
    monkeypatch.setenv("PUE_CUSTOMER_PROFILES_KEY", "not a key!")
    monkeypatch.setenv("PUE_SEGMENT_IMPORT_ROLE_ARN", "not-an-arn")


def test_local_only_commands_never_read_cloud_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws_only(monkeypatch)
    sample = tmp_path / "x.jsonl"
    code, _, err = cli(capsys, "sample", "--users", "3", "--out", str(sample))
    assert (code, err) == (0, "")
    assert all(json.loads(line)["messageId"] for line in sample.read_text().splitlines())
    code, out, _ = cli(capsys, "replay", str(sample), "--state", str(tmp_path / "s"))
    assert code == 0 and json.loads(out.splitlines()[-1])["processed"] > 0
    code, out, _ = cli(capsys, "run", "--no-serve", "--users", "3", "--state", str(tmp_path / "r"))
    assert code == 0 and "Summary" in out
    code, _, err = cli(capsys, "export", str(sample), "--out", str(tmp_path / "datasets"))
    assert code == 0, err
    code, out, _ = cli(capsys, "validate", str(tmp_path / "datasets" / "interactions.csv"))
    assert code == 1 and "Personalize needs at least 1,000" in out  # judged on its data: 3 users are too few
    served = local_settings(str(tmp_path / "s"))
    assert served.backend == "local" and served.campaign_arn is None and served.segment_space_id is None


def test_the_stream_consumer_still_refuses_those_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from consumers.config.settings import Settings
    from schemas.errors import ConfigError

    aws_only(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env()
    assert any("PERSONALIZE_TRACKING_ID" in problem for problem in raised.value.problems)


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_a_read_of_a_state_folder_that_is_not_there_exits_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: bool
) -> None:
    state = tmp_path / "no such state"
    if make:
        state.mkdir()
    for argv in (["recommend", "u1"], ["profile", "u1"], ["profile", "--anonymous-id", "a1"]):
        code, out, err = cli(capsys, *argv, "--state", str(state))
        assert code == 2 and out == ""
        assert f"reading the local backend in {state}" in err
        assert f"`pue run --state '{state}'`" in err  # the command that fills it, quoted for the shell
        assert state.exists() == make and (not make or list(state.iterdir()) == [])


@pytest.fixture
def filled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A state folder with one identified user and one anonymous visitor who never identified."""
    messages = [
        segment_track("Product Viewed", user_id="u1", properties={"product_id": "p1"}, message_id="m1"),
        segment_track("Product Viewed", user_id="u2", properties={"product_id": "p2"}, message_id="m2"),
        *(
            segment_track(
                event, user_id=None, anonymous_id="anon-7", properties={"product_id": item}, message_id=m
            )
            for event, item, m in (("Product Viewed", "p3", "m3"), ("Product Added", "p1", "m4"))
        ),
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    assert main(["replay", str(path), "--state", str(tmp_path / "state")]) == 0
    capsys.readouterr()
    return tmp_path / "state"


def test_recommend_on_the_local_backend_says_so(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGMENT_API_HOST", "ftp://nowhere")  # a cloud setting: not read by a local read
    code, out, err = cli(capsys, "recommend", "u1", "-n", "2", "--state", str(filled))
    assert code == 0 and err == f"pue recommend: reading the local backend in {filled}\n"
    answer = json.loads(out)
    assert answer["userId"] == "u1" and 1 <= len(answer["items"]) <= 2


def test_an_anonymous_visitors_interactions_are_readable(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "profile", "--anonymous-id", "anon-7", "--state", str(filled))
    assert code == 0
    profile = json.loads(out)
    assert profile["anonymousId"] == "anon-7"
    assert [(i["eventId"], i["eventType"], i["itemId"]) for i in profile["interactions"]] == [
        ("m3", "Product Viewed", "p3"),
        ("m4", "Product Added", "p1"),
    ]
    code, out, _ = cli(capsys, "profile", "anon-7", "--state", str(filled))  # not a userId
    assert code == 0 and json.loads(out)["interactions"] == []


def test_profile_takes_a_user_id_or_an_anonymous_id(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["profile"], ["profile", "u1", "--anonymous-id", "anon-7"]):
        code, _, err = cli(capsys, *argv, "--state", str(filled))
        assert code == 2 and "give USER_ID or --anonymous-id ID" in err


class StubbedPersonalize:
    def __init__(self) -> None:
        self.client = boto3.client(
            "personalize-runtime", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.stubber = Stubber(self.client)
        self.stubber.activate()

    def expect(self, params: dict[str, Any], items: list[str]) -> None:
        answer = {"itemList": [{"itemId": i, "score": 0.5} for i in items], "recommendationId": "RID-1"}
        self.stubber.add_response("get_recommendations", answer, params)


@pytest.fixture
def personalize(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedPersonalize]:
    stub = StubbedPersonalize()
    built: list[str] = []

    def make_client(service: str, **_: Any) -> Any:
        built.append(service)
        return stub.client

    monkeypatch.setattr("destinations.aws.clients.make_client", make_client)
    yield stub
    stub.stubber.assert_no_pending_responses()
    assert set(built) <= {"personalize-runtime"}


def test_recommend_on_aws_asks_personalize_and_needs_only_the_campaign(
    personalize: StubbedPersonalize,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PUE_BACKEND", "aws")  # no tracking id, no dead-letter queue: recommend needs neither
    monkeypatch.setenv("PERSONALIZE_CAMPAIGN_ARN", CAMPAIGN)
    monkeypatch.chdir(tmp_path)
    personalize.expect({"campaignArn": CAMPAIGN, "userId": "u1", "numResults": 3}, ["p9", "p8"])
    code, out, err = cli(capsys, "recommend", "u1", "-n", "3")
    assert code == 0 and err == f"pue recommend: reading Amazon Personalize (campaign {CAMPAIGN})\n"
    assert json.loads(out) == {
        "userId": "u1",
        "recommendationId": "RID-1",
        "items": [{"itemId": "p9", "score": 0.5}, {"itemId": "p8", "score": 0.5}],
    }
    assert list(tmp_path.iterdir()) == []  # no local state created on the way


def test_profile_on_aws_asks_a_recommender_for_an_anonymous_visitor(
    personalize: StubbedPersonalize, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUE_BACKEND", "aws")
    monkeypatch.setenv("PERSONALIZE_RECOMMENDER_ARN", RECOMMENDER)
    monkeypatch.setenv("PERSONALIZE_NUM_RESULTS", "4")
    personalize.expect({"recommenderArn": RECOMMENDER, "userId": "anon-7", "numResults": 4}, ["p1"])
    code, out, err = cli(capsys, "profile", "--anonymous-id", "anon-7")
    assert code == 0 and f"recommender {RECOMMENDER}" in err
    assert json.loads(out) == {
        "anonymousId": "anon-7",
        "recommendations": {"recommendationId": "RID-1", "items": [{"itemId": "p1", "score": 0.5}]},
    }


def test_a_personalize_error_exits_1_naming_it(
    personalize: StubbedPersonalize, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUE_BACKEND", "aws")
    monkeypatch.setenv("PERSONALIZE_CAMPAIGN_ARN", CAMPAIGN)
    personalize.stubber.add_client_error("get_recommendations", "InternalFailure", http_status_code=500)
    code, out, err = cli(capsys, "recommend", "u1")
    assert code == 1 and out == ""
    assert "InternalFailure" in err and "Traceback" not in err


def test_a_campaign_that_does_not_exist_is_a_settings_problem_exit_2(
    personalize: StubbedPersonalize, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GetRecommendations' ResourceNotFoundException names the deployment's campaign, not the user
    # (docs/reliability.md, who must act): the operator fixes the settings.
    monkeypatch.setenv("PUE_BACKEND", "aws")
    monkeypatch.setenv("PERSONALIZE_CAMPAIGN_ARN", CAMPAIGN)
    personalize.stubber.add_client_error(
        "get_recommendations", "ResourceNotFoundException", http_status_code=404
    )
    code, out, err = cli(capsys, "recommend", "u1")
    assert code == 2 and out == ""
    assert "ResourceNotFoundException" in err and "Traceback" not in err


def test_run_hints_the_commands_that_read_its_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "demo state"
    code, out, _ = cli(capsys, "run", "--no-serve", "--users", "3", "--state", str(state))
    hint = out.strip().splitlines()[-1]
    assert code == 0 and hint.startswith("Try: pue recommend ")
    recommend_line = hint.removeprefix("Try: ").split("   |   ")[0]
    import shlex

    argv = shlex.split(recommend_line)[1:]
    assert argv[-2:] == ["--state", str(state)]
    code, out, _ = cli(capsys, *argv)  # the hint, run as printed, works
    assert code == 0 and json.loads(out)["items"]


def test_local_engagement_settings_keep_the_local_parts_and_read_no_cloud_part() -> None:
    from consumers.config.engagement_settings import EngagementSettings

    env = {
        "PUE_CUSTOMER_PROFILES_DOMAIN": "shop",  # would wire a Customer Profiles client into pue serve / run
        "PUE_CUSTOMER_PROFILES_KEY": "not a key!",
        "PUE_CATALOG_TABLE": "items",
        "PUE_MESSAGE_TEMPLATE": "recs",
        "PUE_CATALOG_RANKS": "3",
    }
    local = EngagementSettings.local_from_env(env)
    assert (local.customer_profiles_domain, local.catalog_table) == (None, None)
    assert (local.message_template, local.detail_ranks) == ("recs", 3)
