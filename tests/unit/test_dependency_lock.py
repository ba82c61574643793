"""The dependency locks: every package the app and its dev extra pull in, pinned with hashes,
and what make install, CI and the Dockerfile install from."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M
)


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """Package → (version, number of hashes) in a pip-compile lock file."""
    return {
        canonicalize_name(name): (version, hashes.count("--hash="))
        for name, version, hashes in ENTRY.findall(path.read_text())
    }


def declared(extra: str | None = None) -> list[Requirement]:
    """The direct requirements pyproject.toml declares (the app's, or one extra's)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(line) for line in lines]


def installed_closure(roots: list[Requirement]) -> dict[str, str]:
    """Every installed distribution these requirements pull in, transitively, with its version."""
    found: dict[str, str] = {}
    pending = [(requirement, "") for requirement in roots]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution.version
        for line in distribution.requires or []:
            for wanted in requirement.extras or {""}:
                pending.append((Requirement(line), wanted))
    return found


def test_every_package_of_both_locks_is_pinned_with_hashes() -> None:
    for path in (LOCK, DEV_LOCK):
        entries = locked(path)
        packages = [
            line
            for line in path.read_text().splitlines()
            if "==" in line and not line.startswith((" ", "#"))
        ]
        assert len(entries) == len(packages) > 0, path.name
        assert all(hashes > 0 for _, hashes in entries.values()), path.name


def test_the_dev_lock_holds_the_app_lock_at_the_same_versions() -> None:
    app, dev = locked(LOCK), locked(DEV_LOCK)
    assert {name: version for name, (version, _) in app.items()} == {
        name: dev[name][0] for name in app
    }


def test_every_direct_requirement_is_locked_at_its_pinned_version() -> None:
    app, dev = locked(LOCK), locked(DEV_LOCK)
    for requirement, lock in [
        *((r, app) for r in declared()),
        *((r, dev) for r in declared("dev")),
    ]:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not in the lock: run make lock"
        assert requirement.specifier.contains(lock[name][0]), f"{name}: run make lock"


def test_everything_installed_for_the_app_and_its_dev_extra_comes_from_the_lock() -> None:
    dev = locked(DEV_LOCK)
    closure = installed_closure([*declared(), *declared("dev")])
    assert {name: dev.get(name, ("missing", 0))[0] for name in closure} == closure


def test_install_ci_and_the_image_install_from_the_locks_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --quiet --require-hashes -r $(DEV_LOCK)" in makefile
    assert "DEV_LOCK := requirements-dev.lock" in makefile
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in dockerfile
    assert "make install" in (ROOT / ".ci" / "run").read_text()
    assert not re.search(
        r"pip install (?!.*--require-hashes)(?!.*--no-deps).*", makefile + dockerfile
    )
