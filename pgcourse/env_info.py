"""Print the versions a lesson runs with (the first cell of every notebook calls this)."""

from __future__ import annotations

import importlib
import platform
import sys

PACKAGES = ("pgcourse", "numpy", "torch", "gymnasium", "matplotlib", "ipywidgets", "tqdm")


def show_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Print Python's and each package's version; return them as a dict (missing ones as 'not installed')."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            mod = importlib.import_module(name)
            versions[name] = getattr(mod, "__version__", "unknown")
        except ImportError:
            versions[name] = "not installed"
    width = max(len(k) for k in versions)
    for k, v in versions.items():
        print(f"{k:<{width}}  {v}")
    if sys.version_info < (3, 11):
        print("warning: the course is tested on Python 3.11 or newer")
    return versions
