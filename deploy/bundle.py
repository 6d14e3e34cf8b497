"""The Lambda bundle `make deploy` ships, built offline from the runtime lock (deploy/README.md).

    python deploy/bundle.py lock                         regenerate deploy/requirements.lock (`make lock`)
    python deploy/bundle.py wheels [--arch ARCH]        fill the wheelhouse from PyPI (`make install` runs it)
    python deploy/bundle.py build [--out DIR] [--arch ARCH] [--python PATH]   the bundle, no network

``build``: pue's three packages, then every package of ``deploy/requirements.lock`` installed from the local
wheelhouse (``--no-index``, hashes required) as wheels for the template's runtime and architecture, then
bytecode compiled by that runtime's interpreter with ``unchecked-hash`` invalidation. Why unchecked hashes:
Lambda unpacks the zip with the 2-second resolution of zip timestamps into a read-only /var/task, so
timestamp-checked ``.pyc`` files can look stale to the runtime, which then compiles every module again on
each cold start and cannot save the result. An unchecked-hash ``.pyc`` is used as is.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "template.yaml"
LOCK = ROOT / "deploy" / "requirements.lock"
# Where `make bundle` builds: the template's Globals CodeUri (../.aws-sam/bundle, relative to deploy/) names
# this folder, and tests/unit/test_template_transform.py packages the template against it.
BUNDLE_DIR = ROOT / ".aws-sam" / "bundle"
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
PACKAGES = ("consumers", "destinations", "schemas")
# Lambda's limit on a function's unzipped code, layers included.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
UNZIPPED_MAX_BYTES = 262_144_000
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): wheels for these platforms load there.
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
MANYLINUX = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}  # template Architectures -> wheel platform
WHERE_TO_GET_PYTHON = (
    "install it (pyenv install {version}; or your distribution's python{version} package) or pass its path: "
    "make bundle PYTHON_RUNTIME=/path/to/python{version}"
)


class BundleError(Exception):
    """A bundle cannot be built as asked; the message names the fix."""


def runtime_and_arch() -> tuple[str, str]:
    """The one Runtime (``python3.12``) and Architecture (``arm64``) every function of the template uses."""
    text = TEMPLATE.read_text(encoding="utf-8")
    runtimes = {
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("Runtime:")
    }
    arches = {
        line.split(":", 1)[1].strip(" []")
        for line in text.splitlines()
        if line.strip().startswith("Architectures:")
    }
    if len(runtimes) != 1 or len(arches) != 1:
        raise BundleError(
            f"the template's functions must share one Runtime and Architectures: {runtimes} {arches}"
        )
    return runtimes.pop(), arches.pop()


def find_python(runtime: str, given: str | None) -> str:
    """The interpreter of ``runtime`` (``python3.12``): ``given``, else on PATH, else under pyenv."""
    version = runtime.removeprefix("python")
    candidates = [given] if given else []
    if not given:
        candidates.append(shutil.which(runtime) or "")
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
        candidates += [str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/{runtime}"), reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    where = f"{given} is not {runtime}" if given else f"{runtime} (the template's Runtime) was not found"
    raise BundleError(f"{where}: " + WHERE_TO_GET_PYTHON.format(version=version))


def platform_options(arch: str, runtime: str) -> list[str]:
    options = [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        runtime.removeprefix("python"),
    ]
    for tag in MANYLINUX:
        options += ["--platform", f"{tag}_{arch}"]
    return options


def wheel_arch(requested: str | None, template_arch: str) -> str:
    if requested in (None, "template"):
        return ARCHITECTURES[template_arch]
    if requested == "host":
        return platform.machine()
    return str(requested)


def write_lock(runtime: str, arch: str) -> None:
    """deploy/requirements.lock from [project].dependencies, resolved by uv for the template's runtime."""
    uv = Path(sys.executable).with_name("uv")
    command = [str(uv), "pip", "compile", str(ROOT / "pyproject.toml"), "--quiet", "--generate-hashes"]
    command += [
        "--python-version",
        runtime.removeprefix("python"),
        "--python-platform",
        f"{arch}-manylinux_2_28",
    ]
    command += ["--custom-compile-command", "make lock", "--output-file", str(LOCK)]
    subprocess.run(command, check=True, cwd=ROOT)


def download_wheels(arch: str, runtime: str) -> Path:
    """Every locked package's wheel for ``arch`` into the wheelhouse (hash-checked). Needs the index."""
    target = WHEELHOUSE / f"{runtime}-{arch}"
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
    subprocess.run([*pip, *platform_options(arch, runtime), "-d", str(target), "-r", str(LOCK)], check=True)
    return target


def build(out: Path, arch: str, runtime: str, python: str) -> int:
    """Build the bundle into ``out`` (replaced); returns its unzipped size in bytes."""
    wheels = WHEELHOUSE / f"{runtime}-{arch}"
    if not wheels.is_dir():
        raise BundleError(
            f"no wheelhouse for {runtime} on {arch} at {wheels}: run `make install` (it fills it)"
        )
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels)]
    install += ["--no-deps", "--require-hashes", "--no-compile", "--target", str(out)]
    done = subprocess.run(
        [*install, *platform_options(arch, runtime), "-r", str(LOCK)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BundleError(
            f"the wheelhouse {wheels} does not hold every locked wheel (was deploy/requirements.lock "
            f"changed? run `make install`):\n{done.stderr.strip()}"
        )
    shutil.rmtree(out / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them
    compile_all = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    # Paths in tracebacks as Lambda shows them (/var/task/consumers/...), not this machine's.
    subprocess.run([*compile_all, "-s", str(out), "-p", "/var/task", str(out)], check=True)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    if size > UNZIPPED_MAX_BYTES:
        raise BundleError(f"the bundle is {size:,} bytes unzipped, over Lambda's {UNZIPPED_MAX_BYTES:,}")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/bundle.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lock", help="regenerate deploy/requirements.lock with uv (needs PyPI)")
    wheels = commands.add_parser(
        "wheels", help="download the locked wheels into .venv/wheelhouse (needs PyPI)"
    )
    wheels.add_argument("--arch", action="append", help="template (default), host, or aarch64/x86_64")
    built = commands.add_parser("build", help="build the bundle from the wheelhouse, offline")
    built.add_argument(
        "--out", type=Path, default=BUNDLE_DIR, help="the bundle folder, replaced (default: %(default)s)"
    )
    built.add_argument("--arch", default="template", help="template (default), host, or aarch64/x86_64")
    built.add_argument("--python", help="the runtime's interpreter (default: found on PATH or under pyenv)")
    args = parser.parse_args(argv)
    try:
        runtime, template_arch = runtime_and_arch()
        if args.command == "lock":
            write_lock(runtime, ARCHITECTURES[template_arch])
            return 0
        if args.command == "wheels":
            for requested in args.arch or ["template"]:
                download_wheels(wheel_arch(requested, template_arch), runtime)
            return 0
        python = find_python(runtime, args.python)
        arch = wheel_arch(args.arch, template_arch)
        size = build(args.out, arch, runtime, python)
    except BundleError as error:
        print(f"deploy/bundle.py: {error}", file=sys.stderr)
        return 1
    print(
        f"bundle {args.out}: {runtime} {arch}, {size / 1e6:.1f} MB unzipped "
        f"(limit {UNZIPPED_MAX_BYTES / 1e6:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
