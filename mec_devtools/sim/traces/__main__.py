"""`python -m mec_devtools.sim.traces`: make trace sets, or remake the shipped ones.

python -m mec_devtools.sim.traces ship                      # the shipped sets, in place
python -m mec_devtools.sim.traces make --devices 8160 --seed 2 --out traces.npz
python -m mec_devtools.sim.traces make --model random-waypoint --out rwp.npz
"""

from __future__ import annotations

from pathlib import Path

import click

from mec_devtools.sim.traces.cache import SHIPPED, shipped_dir
from mec_devtools.sim.traces.generate import generate_random_waypoint, generate_sumo


def _describe(path: Path) -> str:
    return f"{path} ({path.stat().st_size / 1e6:.2f} MB)"


@click.group()
def main() -> None:
    """Devices' mobility traces on Melbourne's CBD."""


@main.command()
def ship() -> None:
    """Regenerate the trace sets shipped under mec_devtools/sim/datasets/traces/."""
    for spec in SHIPPED:
        traces = generate_sumo(spec.devices, spec.duration_s, spec.seed)
        path = shipped_dir() / f"{traces.name}.npz"
        traces.save(path)
        click.echo(f"wrote {_describe(path)}")


@main.command()
@click.option("--model", type=click.Choice(["sumo", "random-waypoint"]), default="sumo")
@click.option("--devices", type=click.IntRange(min=1), default=816, show_default=True)
@click.option("--minutes", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def make(model: str, devices: int, minutes: float, seed: int, out: Path) -> None:
    """Make one trace set (1 s samples) and save it to OUT."""
    duration = round(minutes * 60)
    if model == "sumo":
        traces = generate_sumo(devices, duration, seed)
    else:
        traces = generate_random_waypoint(devices, duration, seed)
    traces.save(out)
    click.echo(f"wrote {_describe(out)}: {traces.devices} devices, {traces.duration_s:g} s")


if __name__ == "__main__":
    main()
