"""An emulated Radio Network Information Service (ETSI GS MEC 012 v2) for tests and the demo.

The orchestrator learns where devices are, and when they change cell, from an RNIS. No real
radio network is at hand in tests, benchmarks or the demo, so this process plays one: UEs are
attached to cells and handed over through a control API, and the RNIS answers RAB information
queries and sends CellChangeNotifications exactly as a MEC 012 consumer expects them. See
docs/devices.md.
"""
