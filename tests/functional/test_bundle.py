"""`make bundle`, offline: the artifact `make deploy` ships, built for the runtime, and what runs from it.

Built twice by the same command `make bundle` runs (deploy/bundle.py build): for the template's architecture
(arm64, the artifact deployed: size, contents, bytecode) and for this machine's (the same lock, code and
bytecode, but wheels this CPU can load), from which every handler the template names is imported by the
template's runtime (python3.12) in a fresh interpreter with only the bundle on ``sys.path``
(``-I -S``: no site-packages, no PYTHONPATH, no user site), and the Kinesis handler takes a first event.
No network: the wheels come from the wheelhouse `make install` filled, and the AWS endpoint is a closed port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.factories import kinesis_event
from tests.unit.test_template import FUNCTION_TYPES, handler_modules, resources_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples"
# Never imported by a deployed Kinesis cold start (tests/unit/test_cold_start_imports.py says why).
NEVER = {"boto3", "s3transfer", "multiprocessing", "jwt", "cryptography", "sqlite3"}


def _bundle_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pue_bundle", ROOT / "deploy" / "bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle_tool = _bundle_tool()


@pytest.fixture(scope="module")
def runtime_python() -> str:
    runtime, _ = bundle_tool.runtime_and_arch()
    try:
        return str(bundle_tool.find_python(runtime, None))
    except bundle_tool.BundleError as error:  # fail, naming the fix: a skipped bundle test proves nothing
        pytest.fail(str(error))


def _build(out: Path, arch: str) -> Path:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "bundle.py"), "build", "--out", str(out), "--arch", arch],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def deployed_bundle(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    return _build(tmp_path_factory.mktemp("bundle") / "template-arch", "template")


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    return _build(tmp_path_factory.mktemp("bundle") / "host-arch", "host")


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "deploy" / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_deployed_bundle_fits_lambda_and_holds_exactly_the_locked_packages(deployed_bundle: Path) -> None:
    size = sum(f.stat().st_size for f in deployed_bundle.rglob("*") if f.is_file())
    assert size < bundle_tool.UNZIPPED_MAX_BYTES
    installed = {}
    for info in deployed_bundle.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        installed[name.lower().replace("_", "-")] = version
    assert installed == _locked()
    _, arch = bundle_tool.runtime_and_arch()
    machine = bundle_tool.ARCHITECTURES[arch]
    native = {f.name: _elf_machine(f) for f in deployed_bundle.rglob("*.so")}
    assert native and set(native.values()) == {machine}, native
    for package in ("consumers", "destinations", "schemas"):
        assert (deployed_bundle / package / "__init__.py").is_file()
    assert not list(deployed_bundle.glob("tests")) and not (deployed_bundle / "bin").exists()


def _elf_machine(path: Path) -> str:
    e_machine = int.from_bytes(path.read_bytes()[18:20], "little")
    return {0xB7: "aarch64", 0x3E: "x86_64"}.get(e_machine, hex(e_machine))


def test_every_module_of_the_bundle_has_bytecode_the_runtime_uses_without_checking(
    deployed_bundle: Path, runtime_python: str
) -> None:
    magic, tag = subprocess.run(
        [
            runtime_python,
            "-c",
            "import importlib.util, sys; print(importlib.util.MAGIC_NUMBER.hex(), "
            "sys.implementation.cache_tag)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sources = [p for p in deployed_bundle.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 500
    missing, checked = [], []
    for source in sources:
        cache = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not cache.is_file():
            missing.append(source)
            continue
        header = cache.read_bytes()[:8]
        # PEP 552: flags 0b01 = hash-based, check_source bit off: loaded without looking at the source.
        checked.append(header[:4].hex() == magic and int.from_bytes(header[4:8], "little") == 1)
    assert missing == [] and all(checked)


def _run_from_bundle(python: str, bundle: Path, code: str, tmp_path: Path) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BUNDLE": str(bundle),
        "PUE_BACKEND": "aws",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing may leave the machine
        "PERSONALIZE_TRACKING_ID": "tracking",
        "PERSONALIZE_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:123456789012:campaign/pue",
        "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters",
        "PUE_DEAD_LETTER_BUCKET": "dead-letters",
        "SEGMENT_WRITE_KEY": "write-key",
        "PUE_API_KEY": "api-key",
        "PUE_STATE_DIR": str(tmp_path / "state"),
    }
    prologue = "import json, os, sys\nsys.path.insert(0, os.environ['BUNDLE'])\n"
    done = subprocess.run(
        [python, "-I", "-S", "-c", prologue + code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_every_handler_the_template_names_imports_from_the_bundle_alone(
    host_bundle: Path, runtime_python: str, tmp_path: Path
) -> None:
    handlers = sorted({f["Properties"]["Handler"] for f in resources_of(*FUNCTION_TYPES).values()})
    assert len(handlers) == len(handler_modules()) >= 4
    code = f"""
import importlib
found = {{}}
for handler in {handlers!r}:
    module, _, name = handler.rpartition(".")
    found[handler] = callable(getattr(importlib.import_module(module), name))
outside = sorted({{m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and not m.__file__.startswith((os.environ["BUNDLE"], sys.base_prefix))}})
print(json.dumps({{"found": found, "outside": outside, "site": "site" in sys.modules}}))
"""
    loaded = _run_from_bundle(runtime_python, host_bundle, code, tmp_path)
    assert loaded["found"] == dict.fromkeys(handlers, True)
    assert loaded["outside"] == [] and loaded["site"] is False


def test_the_kinesis_handler_takes_a_first_event_from_the_bundle(
    host_bundle: Path, runtime_python: str, tmp_path: Path
) -> None:
    # Messages pue filters (page, screen), one of them in a KPL aggregate: decoding runs protobuf from the
    # bundle, and no call is needed, so the closed endpoint is never dialled.
    page = json.loads((SAMPLES / "page.json").read_text())
    screen = json.loads((SAMPLES / "screen.json").read_text())
    event = kinesis_event([page, screen], aggregate=2)
    event["Records"] += kinesis_event([page], start_sequence=2)["Records"]
    (tmp_path / "event.json").write_text(json.dumps(event))
    code = """
import consumers.kinesis as kinesis
response = kinesis.handler(json.load(open("event.json")), None)
print(json.dumps({"response": response, "modules": sorted(sys.modules)}))
"""
    result = _run_from_bundle(runtime_python, host_bundle, code, tmp_path)
    assert result["response"] == {"batchItemFailures": []}
    tops = {m.split(".")[0] for m in result["modules"]}
    assert {"botocore", "google", "aws_kinesis_agg"} <= tops  # clients built, KPL record deaggregated
    assert tops & NEVER == set()
