"""Development tooling, never on the product's run path.

The local control plane (`devcluster`), network emulation and the Melbourne topology (`sim`),
the demo, and the launchers tests and benchmarks use to start product processes (`launch`).
`mec-orchestrator devcluster|demo` reach these through the `mec_orchestrator.commands` entry
points, loaded only when such a command runs; `mec-orchestrator run` never imports them.
"""
