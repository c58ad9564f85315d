"""Packaging: what `make`, CI and the Dockerfile install comes from the hashed lock files, and the lock files
say what pyproject.toml declares. Images are not built on these machines, so the Dockerfile is read here."""

from __future__ import annotations

import fnmatch
import re
import subprocess

from packaging.utils import canonicalize_name

from tests.project.lockfiles import DEV_LOCK, ROOT, RUNTIME_LOCK, declared, read_lock


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


def _pip_installs(command: str) -> list[str]:
    return [part.strip() for part in re.split(r"&&|;", command) if re.search(r"\bpip install\b", part)]


def test_it_installs_the_image_from_the_runtime_lock_with_hashes():
    instructions = _dockerfile_instructions()
    installs = [
        (i, cmd) for i, (op, args) in enumerate(instructions) if op == "RUN" for cmd in _pip_installs(args)
    ]
    assert installs, "the Dockerfile installs nothing with pip"
    for _, command in installs:
        assert "--require-hashes" in command, f"unhashed install in the Dockerfile: {command}"
    from_lock = [i for i, cmd in installs if "-r requirements/runtime.txt" in cmd]
    assert from_lock, "the Dockerfile does not install requirements/runtime.txt"
    copied = [
        i
        for i, (op, args) in enumerate(instructions)
        if op == "COPY" and "requirements/runtime.txt" in args.split()[0]
    ]
    assert copied and copied[0] < from_lock[0], (
        "the lock must be copied into the image before it is installed"
    )


def test_it_keeps_the_lock_in_the_image_build_context():
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ("requirements", "requirements/runtime.txt"):
        assert not [p for p in patterns if fnmatch.fnmatch(path, p)], f".dockerignore excludes {path}"


def test_it_pins_and_hashes_every_package_of_both_locks():
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        pins = read_lock(lock)
        assert len(pins) > 20, f"{lock.name} looks truncated"
        unhashed = [pin.name for pin in pins.values() if not pin.hashes]
        assert not unhashed, f"{lock.name}: no hash for {unhashed}"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for pin in pins.values() for h in pin.hashes)


def test_it_locks_what_pyproject_declares():
    runtime, dev = declared()
    runtime_pins, dev_pins = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    for requirements, pins, lock in (
        (runtime, runtime_pins, RUNTIME_LOCK),
        (runtime + dev, dev_pins, DEV_LOCK),
    ):
        for requirement in requirements:
            pin = pins.get(canonicalize_name(requirement.name))
            assert pin is not None, f"{requirement} is declared but not in {lock.name}: run `make lock`"
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{lock.name} pins {pin.name}=={pin.version}, outside {requirement}: run `make lock`"
            )
    # The dev lock is compiled under the runtime lock's constraint: a test never runs other runtime versions.
    differing = {
        name: (pin.version, dev_pins[name].version)
        for name, pin in runtime_pins.items()
        if name in dev_pins and dev_pins[name].version != pin.version
    }
    assert not differing, f"runtime and dev locks disagree: {differing}"
    assert set(runtime_pins) <= set(dev_pins), "the dev lock must contain every runtime package"


def test_it_installs_make_targets_from_the_locks():
    rules = subprocess.run(
        ["make", "-p", "-n", "install"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^\.venv/\.installed-run-stamp:.*\brequirements/runtime\.txt\b", rules, re.M), (
        "the runtime stamp must depend on the runtime lock"
    )
    assert re.search(r"^\.venv/\.installed-stamp:.*\brequirements/dev\.txt\b", rules, re.M), (
        "the dev stamp must depend on the dev lock"
    )
    commands = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    installs = [line for line in commands.stdout.splitlines() if "pip install" in line]
    assert any("--require-hashes -r requirements/runtime.txt" in line for line in installs), installs
    assert any("--require-hashes -r requirements/dev.txt" in line for line in installs), installs
    for line in installs:
        assert "--require-hashes" in line or "--no-deps -e ." in line, (
            f"unhashed install in make install: {line}"
        )
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make --no-print-directory install" in ci, "CI must install through `make install` (the locks)"
