"""The providers' operators under names that say what runs, for the Airflow UI.

Airflow shows an operator's `custom_operator_name` (else its class name) as each node's
subtitle, in the task table and in the task's details: "KubernetesPodOperator" or
"BashOperator" says how, not what. These subclasses change only that name; everything else
is the provider's. Mapped nodes read the name from the class, so it is a class attribute.

Each class is made on first use (`processing_core.airflow_operators`): a DAG file imports
only the provider it uses.
"""

from __future__ import annotations

import importlib
import json
from functools import cache, cached_property
from typing import Any

# Class name -> (the provider's operator it extends, the name the UI shows).
NAMED = {
    "PodTask": ("airflow.providers.cncf.kubernetes.operators.pod:KubernetesPodOperator", "Pod"),
    "SparkApplicationTask": (
        "airflow.providers.cncf.kubernetes.operators.spark_kubernetes:SparkKubernetesOperator",
        "Spark application",
    ),
    "LocalTask": ("airflow.providers.standard.operators.bash:BashOperator", "Local task"),
}


@cache
def named_operator(name: str) -> Any:
    """The class `name` of NAMED (AttributeError for any other name)."""
    if name not in NAMED:
        raise AttributeError(name)
    base_path, shown = NAMED[name]
    module_name, _, class_name = base_path.partition(":")
    base = getattr(importlib.import_module(module_name), class_name)
    extra: dict[str, Any] = {}
    if name == "LocalTask":
        extra["subprocess_hook"] = cached_property(lambda self: quiet_subprocess_hook())
    return type(
        name,
        (base,),
        {
            "__module__": "processing_core.airflow_operators",
            "__qualname__": name,
            "__doc__": f"{class_name}, named {shown!r} in the Airflow UI.",
            "custom_operator_name": shown,
            **extra,
        },
    )


def quiet_subprocess_hook() -> Any:
    """The standard provider's SubprocessHook, whose log reads as the task's: without the
    temporary folder, the whole shell script and the `Output:` line before the task's own
    lines, and with the result line (the JSON the operator returns) said in a sentence."""
    from airflow.providers.standard.hooks.subprocess import SubprocessHook

    hook = SubprocessHook()
    setattr(hook, "_log", _TaskLog(hook.log))  # noqa: B010 - the typed attribute is a Logger
    return hook


class _TaskLog:
    """A logger that passes everything on but the hook's own noise (messages it does not
    know, e.g. of a newer provider, pass unchanged)."""

    _DROPPED = ("Tmp dir root location: %s", "Output:")

    def __init__(self, log: Any) -> None:
        self._log = log

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        if message in self._DROPPED:
            return
        if message == "Running command: %s":
            self._log.info("Running the task (processing-core run-task); its log follows")
            return
        if message == "%s" and args:
            line = str(args[0])
            if not line.strip():
                return  # the blank line that keeps the result line on its own
            summary = _result_summary(line)
            if summary:
                self._log.info(summary)
                return
        self._log.info(message, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _result_summary(line: str) -> str:
    """`Result: success; outputs: frames, rows` for the result document's line, else ""."""
    if not (line.startswith('{"') and '"status"' in line):
        return ""
    try:
        document = json.loads(line)
    except ValueError:
        return ""
    if not isinstance(document, dict) or "status" not in document:
        return ""
    outputs = document.get("outputs")
    names = ", ".join(sorted(outputs)) if isinstance(outputs, dict) and outputs else "none"
    message = f" ({document['message']})" if document.get("message") else ""
    return f"Result: {document['status']}{message}; outputs: {names} (the XCom tab has them)"
