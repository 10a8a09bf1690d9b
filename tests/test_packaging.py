"""Installing capalloc puts one package, `capalloc`, at the top of site-packages: the
repository's models/ and optimizer/ install as capalloc.models and capalloc.optimizer
(setuptools package-dir), so they never shadow another project's `models` (issue 16)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def declared_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_declared():
    """A subpackage missing from pyproject.toml would be left out of a (non-editable) install."""
    found = set()
    for top, name in (("models", "capalloc.models"), ("optimizer", "capalloc.optimizer")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            if rel.parts and rel.parts[0] == "api":
                continue  # the `capalloc` package itself (package-dir maps it there)
            found.add(".".join([name, *rel.parts]))
    assert found | {"capalloc"} == declared_packages()


@pytest.mark.slow
def test_the_wheel_holds_only_the_capalloc_package(tmp_path):
    """Build the wheel a `pip install .` installs and read its file list."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("capalloc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"capalloc"}
    assert "capalloc/__init__.py" in names
    assert "capalloc/models/instance.py" in names
    assert "capalloc/optimizer/cli.py" in names
    assert not any(name.startswith(("models/", "optimizer/", "tests/", "benchmarks/")) for name in names)
