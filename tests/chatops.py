"""A team's own notifications: a failure, as FAILURE_CALLBACK names it (`chatops:notify`),
appends the failed task's id to `$DKIST_TEST_OUT/chatops`; a late run, as DEADLINE_CALLBACK
names it (`chatops:late`), writes beside the run's gate file."""

import os
from pathlib import Path


def notify(context) -> None:
    with (Path(os.environ["DKIST_TEST_OUT"]) / "chatops").open("a") as messages:
        messages.write(f"{context['ti'].task_id} failed\n")


def late(context) -> None:
    """DEADLINE_CALLBACK: appends the late run's id to `<its gate parameter>.late`."""
    run = context["dag_run"]
    with Path(run["conf"]["gate"] + ".late").open("a") as lines:
        lines.write(f"{run['dag_run_id']} {context['deadline']['deadline_time']}\n")
