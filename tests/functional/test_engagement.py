"""The engagement paths end to end on the local backend, through the ``pue`` CLI: catalog, the stream with
real-time messages, the campaign hook, batch segments."""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from consumers.cli import main
from destinations.local.messages import messages_for
from destinations.local.segments import local_segments
from destinations.local.store import LocalStore
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.factories import segment_track

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "engagement"
USERS = [f"u{n}" for n in range(20)]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A local state dir with the sample catalog and a clickstream replayed with messages switched on."""
    for name in list(os.environ):
        if name.startswith(("PUE_", "PERSONALIZE_", "PINPOINT_", "SEGMENT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PUE_MESSAGE_TEMPLATE", "weekly-picks")
    monkeypatch.setenv("PUE_MESSAGE_LOCAL_BODY", "Picked for you: {{recommended_item_1_name}}")
    state_dir = tmp_path / "state"
    code, out, _ = run_cli(capsys, "catalog", "load", str(SAMPLES / "items.csv"), "--state", str(state_dir))
    assert code == 0 and json.loads(out)["loaded"] == 5
    events = [
        segment_track(
            "Product Viewed",
            user_id=user,
            properties={"product_id": f"p{(n + k) % 5 + 1}"},
            timestamp=f"2026-11-02T10:{n:02d}:{k:02d}.000Z",
        )
        for n, user in enumerate(USERS)
        for k in range(3)
    ]
    clickstream = tmp_path / "clicks.jsonl"
    clickstream.write_text("".join(json.dumps(e) + "\n" for e in events))
    code, out, _ = run_cli(capsys, "replay", str(clickstream), "--state", str(state_dir))
    assert code == 0 and json.loads(out.splitlines()[-1])["users_refreshed"] == len(USERS)
    return state_dir


def test_each_refreshed_user_got_one_rendered_message_and_a_redelivery_adds_none(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalStore.in_state_dir(state) as store:
        [message] = messages_for(store, "u3")
        assert message["template"] == "weekly-picks"
        assert message["body"].startswith("Picked for you: ") and len(message["body"]) > len(
            "Picked for you: "
        )
    code, _, _ = run_cli(capsys, "replay", str(tmp_path / "clicks.jsonl"), "--state", str(state))
    assert code == 0
    with LocalStore.in_state_dir(state) as store:
        assert all(len(messages_for(store, user)) == 1 for user in USERS)


def hook_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / "campaign_hook_event.json").read_text())
    template = event["Endpoints"]["EndpointId-1234"]
    endpoints = {}
    for n in range(50):
        endpoint = copy.deepcopy(template)
        endpoint["User"] = {} if n % 7 == 0 else {"UserId": USERS[n % len(USERS)]}
        endpoints[f"ep-{n}"] = endpoint
    event["Endpoints"] = endpoints
    return event


def test_a_fifty_endpoint_campaign_hook_event_comes_back_with_the_same_keys_enriched(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = hook_event()
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(event))
    code, out, _ = run_cli(capsys, "campaign-hook", str(path), "--state", str(state))
    assert code == 0
    answer = json.loads(out)
    assert list(answer) == list(event["Endpoints"])
    names = {row["ITEM_ID"]: row["NAME"] for row in csv.DictReader((SAMPLES / "items.csv").open())}
    for key, endpoint in answer.items():
        if not event["Endpoints"][key]["User"]:
            assert endpoint == event["Endpoints"][key]
            continue
        attributes = endpoint["Attributes"]
        assert attributes[RECOMMENDED_PRODUCTS]
        first = attributes["recommended_item_1_id"][0]
        assert attributes["recommended_item_1_name"] == [names[first]]
        assert attributes["FirstName"] == ["Mary"]


def test_a_batch_segment_output_becomes_one_csv_per_query_with_every_users_endpoints(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "job.json.out"
    output.write_text(
        '{"input": {"itemId": "p1"}, "output": {"recommendedUsers": ["u1", "u2", "stranger"]}}\n'
        '{"itemAttributes": "ITEMS.CATEGORY_L1 = \\"gear\\"", "output": {"recommendedUsers": ["u3", "u1"]}}\n'
    )
    out_dir = tmp_path / "csv"
    code, out, err = run_cli(
        capsys, "segment-import", str(output), "--dry-run", "--out", str(out_dir), "--state", str(state)
    )
    assert code == 0, err
    report = json.loads(out)
    assert [s["status"] for s in report["segments"]] == ["written", "written"]
    assert report["segments"][0]["users_without_endpoints"] == 1  # the stranger: counted, not fatal
    files = {Path(s["location"]).name: Path(s["location"]) for s in report["segments"]}
    assert len(files) == 2 and all(p.parent == out_dir for p in files.values())
    contents = sorted(p.read_text().split() for p in files.values())
    assert contents == [["Id", "u1-default", "u2-default"], ["Id", "u3-default", "u1-default"]]
    assert any(name.startswith("category-l1-gear-") for name in files)


def test_importing_twice_makes_distinct_local_segments(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        code, out, err = run_cli(
            capsys, "segment-import", str(SAMPLES / "item_affinity.json.out"), "--state", str(state)
        )
        assert code == 1  # the sample's users are unknown here: reported, no segment made
        assert all("has an endpoint" in s["message"] for s in json.loads(out)["segments"])
    output = state.parent / "ours.json.out"
    output.write_text('{"input": {"itemId": "p2"}, "output": {"recommendedUsers": ["u4", "u5"]}}\n')
    names: set[str] = set()
    for _ in range(2):
        code, out, _ = run_cli(capsys, "segment-import", str(output), "--state", str(state))
        assert code == 0
        names.update(s["name"] for s in json.loads(out)["segments"])
    with LocalStore.in_state_dir(state) as store:
        segments = local_segments(store)
    assert {s["name"] for s in segments} == names and len(names) == 2
    assert all(s["endpoints"] == 2 for s in segments)


def test_unusable_inputs_say_so(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.json.out"
    empty.write_text("\n")
    code, _, err = run_cli(capsys, "segment-import", str(empty), "--state", str(state))
    assert code == 2 and "empty" in err
    code, out, err = run_cli(
        capsys, "segment-import", str(SAMPLES / "with_problems.json.out"), "--state", str(state)
    )
    assert code == 1 and "line 2: not JSON" in err and "line 3: Personalize reported an error" in err
    code, _, err = run_cli(capsys, "catalog", "load", str(tmp_path / "missing.csv"), "--state", str(state))
    assert code == 2 and "not a readable file" in err
