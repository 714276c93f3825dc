"""Compatibility layers for pipelines written for other libraries. Each is a subpackage of
its own, imported only by the pipelines that use it."""
