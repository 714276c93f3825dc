"""The run-time side: what happens inside the task's container."""
