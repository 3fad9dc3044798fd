"""Errors the local control plane reports to a person: one clear sentence each."""


class DevClusterError(RuntimeError):
    """Something about the local control plane that a person must act on."""


class MissingPrerequisiteError(DevClusterError):
    """A tool the local control plane needs is not installed."""
