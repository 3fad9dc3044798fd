"""Generate the Python protobuf/gRPC modules (and their typing stubs) from protos/.

Generated code is never committed nor hand-edited: the package build hook and the test
command both call this script, so what runs is always what protos/ says.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "gen" / "python"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_root: Path = OUT_ROOT) -> list[Path]:
    """Regenerate every module under out_root; return the generated files."""
    from grpc_tools import protoc  # imported lazily: only the build needs it

    if out_root.exists():
        shutil.rmtree(out_root)
    out_root.mkdir(parents=True)
    protos = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    if not protos:
        return []
    include = Path(protoc.__file__).parent / "_proto"
    # protoc finds its plugins (protoc-gen-mypy, ...) on PATH: put this interpreter's first.
    scripts = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + " ".join(protos))
    # Every directory on the way becomes a regular package so imports and mypy agree.
    for directory in [out_root, *[p for p in out_root.rglob("*") if p.is_dir()]]:
        if directory != out_root:
            (directory / "__init__.py").touch()
            (directory / "py.typed").touch()
    return sorted(p for p in out_root.rglob("*") if p.is_file())


if __name__ == "__main__":
    files = generate()
    print(f"generated {len(files)} files under {OUT_ROOT.relative_to(ROOT)}", file=sys.stderr)
