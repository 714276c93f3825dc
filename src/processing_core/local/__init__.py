"""Running a workflow on one machine (`processing-core run`): the author's loop.

Each task runs through the same `run-task` entrypoint as in production, in a subprocess,
independent tasks in parallel; every run keeps a folder with each task's parameters,
inputs, result and log, from which a later run resumes.
"""
