"""The default install as a new user gets it: its size, its largest packages, and wheels only.

    python3 scripts/check_install_size.py [--budget-mb 600] [--keep]

1. Resolves the default install (`quiver-db[cpu]`'s requirements, read from pyproject.toml) for
   CPython 3.11 on Linux x86_64 and on aarch64 with wheels only (--only-binary=:all:): a
   dependency without a wheel for either would need a compiler there. Nothing is installed.
2. Installs the project with `.[cpu]` into a new venv from the package index alone, and prints
   the venv's size and its 15 largest packages. Fails when the venv exceeds the budget
   (MB = 10^6 bytes).

Exits with 77 (the "skipped" status of automake's test harness) without checking anything when
the package index cannot be reached: tests/test_install_size.py then skips, saying so.

pip runs isolated from this machine's setup: no configuration files (a constraints file, extra
local indexes, find-links), no PIP_* variables, no wheel cache; only the public index counts.
The project is copied from the working tree (tracked and unignored files), so nothing is built
inside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement  # packaging, as every pip carries it

REPO = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"
ARCHITECTURES = ("x86_64", "aarch64")
# onnxruntime and annoy-mm publish manylinux_2_28 wheels (glibc 2.28: Debian 10, RHEL 8 and
# later). pip takes a target platform literally, so each older tag a wheel may carry is listed.
GLIBC_MINORS = range(17, 29)
LARGEST_SHOWN = 15
SKIPPED = 77

# Prints {distribution: bytes of the files its RECORD lists}, run by the new venv's Python.
SIZES_BY_DISTRIBUTION = """
import json, importlib.metadata as md
sizes = {}
for dist in md.distributions():
    total = 0
    for file in dist.files or ():
        path = dist.locate_file(file)
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    sizes[dist.metadata["Name"]] = total
print(json.dumps(sizes))
"""


def isolated_pip_env(home: Path) -> dict[str, str]:
    """This process's environment less pip's settings. --isolated alone still reads the global
    configuration files (/etc/pip.conf, /etc/xdg/pip), and the build environment that pip
    starts for the project reads every setting: PIP_CONFIG_FILE=/dev/null skips all files."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HOME=str(home))
    return env


def default_requirements(arch: str) -> list[str]:
    """The default install's requirements on `arch`: pip evaluates environment markers for the
    machine it runs on, not for --platform, so each marker is evaluated here for the target."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = []
    for line in [*project["dependencies"], *project["optional-dependencies"]["cpu"]]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"platform_machine": arch}):
            requirement.marker = None
            wanted.append(str(requirement))
    return wanted


def index_unreachable(pip: list[str], env: dict[str, str], work: Path) -> str | None:
    """Why the package index does not answer (pip's last words), or None when it does: a dry-run
    install of one small pinned dependency, with a short timeout and one retry."""
    probe = next(line for line in default_requirements("x86_64") if line.startswith("lark=="))
    result = subprocess.run(
        [*pip, "install", "--isolated", "--no-cache-dir", "--dry-run", "--ignore-installed", "--no-deps",
         "--timeout", "15", "--retries", "1", "--quiet", "--target", str(work / "probe"), probe],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode == 0:
        return None
    last_words = [line for line in result.stderr.splitlines() if line.strip()][-1:]
    return f"pip could not fetch {probe} from the package index: {' '.join(last_words) or 'no output'}"


def check_wheels(pip: list[str], env: dict[str, str], work: Path) -> list[str]:
    """The architectures for which the default install does not resolve to wheels alone."""
    failed = []
    for arch in ARCHITECTURES:
        print(f"== resolving the default install for cp311 manylinux (glibc <= 2.28) {arch}, wheels only", flush=True)
        platforms = [f"manylinux2014_{arch}", *(f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS)]
        result = subprocess.run(
            [*pip, "install", "--isolated", "--no-cache-dir", "--dry-run", "--ignore-installed",
             "--only-binary=:all:", *(f"--platform={platform}" for platform in platforms),
             "--python-version", PYTHON_VERSION,
             "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
             "--target", str(work / f"target-{arch}"), "--quiet", "--report", "-",
             *default_requirements(arch)],
            env=env, capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
            failed.append(arch)
            continue
        wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in json.loads(result.stdout)["install"]]
        print(f"   {len(wheels)} wheels, e.g. {', '.join(sorted(w for w in wheels if 'onnx' in w or 'annoy' in w))}")
    return failed


def copy_project(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted in the working tree but still tracked is skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def install_size(work: Path, env: dict[str, str]) -> tuple[int, dict[str, int]]:
    """Bytes of a new venv with the default install, and bytes per installed distribution."""
    project = work / "project"
    copy_project(project)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    print(f"== pip install --isolated '{project}[cpu]' into a new venv", flush=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--quiet", f"{project}[cpu]"],
        env=env, check=True,
    )
    total = sum(path.lstat().st_size for path in venv.rglob("*") if path.is_file() or path.is_symlink())
    sizes = json.loads(subprocess.run([python, "-c", SIZES_BY_DISTRIBUTION], capture_output=True,
                                      text=True, check=True).stdout)
    return total, sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-mb", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the venv and print where it is")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="quiver-fresh-install-"))
    try:
        home = work / "home"
        home.mkdir()
        env = isolated_pip_env(home)
        pip = [sys.executable, "-m", "pip"]
        unreachable = index_unreachable(pip, env, work)
        if unreachable is not None:
            print(f"SKIPPED: {unreachable}")
            return SKIPPED
        failed = check_wheels(pip, env, work)
        total, sizes = install_size(work, env)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"venv size: {total / 1e6:.0f} MB (budget {args.budget_mb:.0f} MB); largest packages:")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:LARGEST_SHOWN]:
        print(f"  {size / 1e6:8.1f} MB  {name}")
    if failed:
        print(f"FAIL: no wheel for some dependency of the default install on {', '.join(failed)}")
    if total > args.budget_mb * 1e6:
        print(f"FAIL: the default install takes {total / 1e6:.0f} MB, over the {args.budget_mb:.0f} MB budget")
    return 1 if failed or total > args.budget_mb * 1e6 else 0


if __name__ == "__main__":
    sys.exit(main())
