"""Hatch build hook: compile protos/ into Python before every wheel or editable build."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProtoBuildHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        script = Path(self.root) / "scripts" / "gen_protos.py"
        spec = importlib.util.spec_from_file_location("gen_protos", script)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {script}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.generate()
        if version != "editable":
            build_data["force_include"][str(Path(self.root) / "gen" / "python" / "mec")] = "mec"
