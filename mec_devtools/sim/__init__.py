"""Simulation inputs and tooling: real topologies from datasets, mobility, emulated users."""
