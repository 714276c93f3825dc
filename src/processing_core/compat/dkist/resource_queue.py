"""dkist's resource queues: each names the processing-core resource profile a node runs
with (pool, queue, node selection, resources; RESOURCE_PROFILES defines more)."""

from enum import StrEnum


class ResourceQueue(StrEnum):
    """A node's queue; its value is the resource profile's name."""

    DEFAULT = "default"
    HIGH_MEMORY = "high_memory"
