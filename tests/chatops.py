"""A team's own failure notification, as FAILURE_CALLBACK names it (`chatops:notify`):
appends the failed task's id to `$DKIST_TEST_OUT/chatops`."""

import os
from pathlib import Path


def notify(context) -> None:
    with (Path(os.environ["DKIST_TEST_OUT"]) / "chatops").open("a") as messages:
        messages.write(f"{context['ti'].task_id} failed\n")
