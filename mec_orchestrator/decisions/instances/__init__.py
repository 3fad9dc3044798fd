"""Pure reconciliation: which instances an EdgeApp should have, their manifests, its status.

The operator's handlers gather what the cluster looks like into the views of this package, call
these functions, and carry out the result; nothing here does I/O (an import contract keeps it
so), so every rule is tested alone.
"""
