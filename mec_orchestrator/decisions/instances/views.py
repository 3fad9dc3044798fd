"""What the reconciler sees of the cluster, reduced to the facts its decisions depend on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class HostView:
    """One edge host as the operator sees it (nodes labelled mec.dev/edge-host=<name>)."""

    name: str
    ready: bool  # at least one of its nodes is Ready
    cordoned: bool  # every Ready node is unschedulable: keeps instances, gets no new ones
    agent_lost: bool = False  # its agent stopped reporting (once agents exist)
    capacity_instances: int | None = None  # EdgeHost spec.capacity.instances
    instances_of_other_apps: int = 0
    location: tuple[float, float] | None = None  # (latitude, longitude)

    @property
    def available(self) -> bool:
        """Can run instances at all (existing ones stay on a cordoned host)."""
        return self.ready and not self.agent_lost

    @property
    def has_room(self) -> bool:
        return (
            self.capacity_instances is None
            or self.instances_of_other_apps < self.capacity_instances
        )


@dataclass(frozen=True, slots=True)
class AccessPointView:
    """A radio access point (from a Zone) that users attach to."""

    id: str
    zone: str
    location: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class ObservedInstance:
    """An instance (Deployment) of the app that exists now."""

    host: str
    deployment: str
    desired_replicas: int
    ready_replicas: int
    unneeded_since: datetime | None = None  # set when the plan stopped wanting it
    endpoint: str | None = None
    updated_replicas: int | None = None  # None: the rollout is not tracked (counts as done)
    rollout_observed: bool = True  # the Deployment controller has seen the latest spec
    replicas: int | None = None  # pods of every template, old ones included (None: not tracked)

    @property
    def ready(self) -> bool:
        """The rollout finished, as `kubectl rollout status` judges it.

        The controller has seen the latest spec, every wanted replica runs the latest template,
        no pod of an older template is left (a ready old pod must not stand in for a new one),
        and enough pods are ready.
        """
        updated = (
            self.updated_replicas if self.updated_replicas is not None else self.desired_replicas
        )
        return (
            self.desired_replicas > 0
            and self.rollout_observed
            and updated >= self.desired_replicas
            and (self.replicas is None or self.replicas <= updated)
            and self.ready_replicas >= self.desired_replicas
        )
