"""Where the demo finds the CRDs and the example resources, installed or in a source tree.

A wheel carries them as package data (`mec_devtools/data/crds`, `mec_devtools/data/examples`,
copied from the repository's top-level `crds/` and `examples/` at build time, see pyproject's
force-include); an editable install or a source checkout reads the top-level folders, which
stay the one copy people edit.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    """The folder `crds` or `examples`, wherever this installation keeps it."""
    package = Path(str(resources.files("mec_devtools")))
    for candidate in (package / "data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no {name}/ beside mec_devtools (looked in data/ and the source tree)")
