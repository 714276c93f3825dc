"""dkist's resource queues (all of dkist-processing-core 7.5's): each names the
processing-core resource profile a node runs with (pool, queue, node selection, resources;
the built-in profiles have each name, RESOURCE_PROFILES redefines them or adds more)."""

from enum import StrEnum


class ResourceQueue(StrEnum):
    """A node's queue; its value is the resource profile's name."""

    DEFAULT = "default"
    HIGH_MEMORY = "high_memory"
    MULTI_CORE = "multi_core"
    GPU = "gpu"
