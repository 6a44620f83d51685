#!/usr/bin/env python3
"""Check that the wheel ships the committed package files, the generated twin included.

    python scripts/check_wheel.py                 # build a wheel in a temporary folder
    python scripts/check_wheel.py dist/x.whl      # check a wheel already built

`scripts/unasync.py --check` proves that the committed `runrgateway/_sync/` is the
generator's output. This script proves the wheel ships exactly those files: every file
under `runrgateway/` in the wheel is byte-identical to the checkout, and the wheel's
`runrgateway/_sync/` holds the same file list as the checkout's (none missing, none
extra). A build step that regenerated or rewrote the twin would fail here.

It changes no tracked file (building writes only the ignored *.egg-info/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "runrgateway/"
TWIN = "runrgateway/_sync/"


def build_wheel(outdir: Path) -> Path:
    # sdist first, then the wheel from the unpacked sdist (build's default), as a
    # release is made: a wheel built straight from the checkout would reuse a stale
    # build/ folder and could ship old files that no commit holds.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    if done.returncode:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"check_wheel: python -m build failed ({done.returncode})")
    (wheel,) = outdir.glob("runrgateway-*.whl")
    return wheel


def problems(wheel: Path) -> tuple[list[str], int]:
    """What differs between the wheel and the checkout, and how many twin files matched."""
    found: list[str] = []
    matched = 0
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n: archive.read(n) for n in archive.namelist() if n.startswith(PACKAGE)}
    for name, data in sorted(shipped.items()):
        committed = ROOT / name
        if not committed.is_file():
            found.append(f"in the wheel, not in the checkout: {name}")
        elif committed.read_bytes() != data:
            found.append(f"differs from the checkout: {name}")
        elif name.startswith(TWIN):
            matched += 1
    in_tree = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / TWIN).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    in_wheel = {n for n in shipped if n.startswith(TWIN)}
    found += [f"in the checkout, not in the wheel: {n}" for n in sorted(in_tree - in_wheel)]
    if not in_wheel:
        found.append(f"the wheel has no {TWIN}")
    return found, matched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path, help="a built wheel (default: build one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or build_wheel(Path(tmp))
        found, matched = problems(wheel)
    if found:
        print(f"check_wheel: {wheel.name} does not ship the checkout:", file=sys.stderr)
        print("\n".join(found), file=sys.stderr)
        return 1
    print(f"check_wheel: {wheel.name} ships the checkout; {matched} {TWIN} files byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
