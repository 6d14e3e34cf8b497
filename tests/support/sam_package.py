"""SAM CLI's packaging step (the first half of ``sam deploy``), offline, with an uploader that records.

Runs in its own venv (.venv-sam, `make sam-venv`: aws-sam-cli pins its own boto3, cfn-lint and
aws-sam-translator), as a subprocess of the tests and of `make rehearse`:

    .venv-sam/bin/python tests/support/sam_package.py TEMPLATE --out DIR [--parameter-sets FILE]

What ``sam deploy`` does before it calls CloudFormation (samcli/commands/package/package_context.py,
``_export_without_language_extensions``): ``samcli.lib.package.artifact_exporter.Template(...).export()``,
which zips every function's local CodeUri (Globals included, conditions ignored: every function is packaged)
and uploads the zip under its MD5. Here the uploader is the one thing replaced: instead of S3 it copies each
zip to ``DIR/artifacts/<key>`` and records the upload. A CodeUri that points at nothing fails exactly as
``sam deploy`` does ("... refers to a file or folder that does not exist"), with exit code 1.

Writes ``DIR/packaged.json`` (the template ``sam deploy`` would hand CloudFormation), ``DIR/uploads.json``
(key, bytes, sha256 of every upload) and ``DIR/auth.json``: for each parameter set, the functions SAM's
guided deploy asks "has no authentication. Is this okay?" about (samcli/commands/deploy/auth_utils.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from samcli.commands.deploy.auth_utils import auth_per_resource  # type: ignore[import-not-found]
from samcli.lib.package.artifact_exporter import Template  # type: ignore[import-not-found]
from samcli.lib.package.code_signer import CodeSigner  # type: ignore[import-not-found]
from samcli.lib.package.ecr_uploader import ECRUploader  # type: ignore[import-not-found]
from samcli.lib.package.s3_uploader import S3Uploader  # type: ignore[import-not-found]
from samcli.lib.package.uploaders import Uploaders  # type: ignore[import-not-found]
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider  # type: ignore[import-not-found]
from samcli.yamlhelper import yaml_parse  # type: ignore[import-not-found]

BUCKET = "pue-artifacts"


class RecordingUploader(S3Uploader):  # type: ignore[misc]
    """An S3Uploader whose upload copies the file to a folder and records it; everything else is SAM's."""

    def __init__(self, folder: Path) -> None:  # no S3 client: nothing here may reach the network
        self.bucket_name = BUCKET
        self.prefix = None
        self.kms_key_id = None
        self.force_upload = False
        self.no_progressbar = True
        self._artifact_metadata = None
        self.folder = folder
        self.uploads: list[dict[str, Any]] = []

    def upload(self, file_name: str, remote_path: str) -> str:
        data = Path(file_name).read_bytes()
        target = self.folder / remote_path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file_name, target)
        self.uploads.append(
            {"key": remote_path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
        return str(self.make_url(remote_path))

    def file_exists(self, remote_path: str) -> bool:
        return (self.folder / remote_path).exists()


def package(template: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    uploader = RecordingUploader(out / "artifacts")
    uploaders = Uploaders(uploader, ECRUploader(None, None, None, None, no_progressbar=True))
    exported = Template(
        str(template),
        os.getcwd(),
        uploaders,
        CodeSigner(None, None),
        normalize_template=True,
        normalize_parameters=True,
        template_dict=yaml_parse(template.read_text(encoding="utf-8")),
        language_extensions_enabled=False,
    ).export()
    return dict(exported), uploader.uploads


def unauthenticated(template: Path, parameter_sets: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Per parameter set, what ``sam deploy --guided`` prompts "has no authentication. Is this okay?" for."""
    found = {}
    for name, parameters in parameter_sets.items():
        stacks, _ = SamLocalStackProvider.get_stacks(
            str(template),
            parameter_overrides=parameters,
            global_parameter_overrides={"AWS::Region": "us-east-1"},
        )
        found[name] = sorted(resource for resource, required in auth_per_resource(stacks) if not required)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="where packaged.json and artifacts/ go")
    parser.add_argument("--parameter-sets", type=Path, help="JSON: set name -> parameter values")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        packaged, uploads = package(args.template, args.out)
    except Exception as error:  # SAM's own exceptions (InvalidLocalPathError...): say it as sam deploy does
        print(f"sam package: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    (args.out / "packaged.json").write_text(json.dumps(packaged, indent=1), encoding="utf-8")
    (args.out / "uploads.json").write_text(json.dumps(uploads, indent=1), encoding="utf-8")
    if args.parameter_sets:
        sets = json.loads(args.parameter_sets.read_text(encoding="utf-8"))
        auth = unauthenticated(args.template, sets)
        (args.out / "auth.json").write_text(json.dumps(auth, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
