"""Emulated devices (UEs) for end-to-end tests, benchmarks and the demo.

`python -m mec_devtools.ue` runs one device application (a MEC 016 client streaming numbered
updates to its edge app instance and recording what happened); `analysis` turns the records
into counts of lost, duplicated and late updates and the interruption of each move.
See docs/devices.md.
"""
