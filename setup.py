"""Build hook: regenerate the blocking twin from the async source at build time.

The generated files are also committed (and checked by `scripts/unasync.py --check`);
regenerating here means a wheel can never ship a stale twin.
"""

from __future__ import annotations

import sys
from pathlib import Path

import unasync
from setuptools import setup

# Appended, not prepended: scripts/unasync.py must not shadow the unasync package.
sys.path.append(str(Path(__file__).parent / "scripts"))

from unasync_rules import package_rules

setup(cmdclass={"build_py": unasync.cmdclass_build_py(rules=package_rules())})
