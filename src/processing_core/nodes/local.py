"""Local node: a task becomes a BashOperator running the same entrypoint on the Airflow worker.

For deployments without Kubernetes and for end-to-end tests. The run's values reach the
command through environment variables, never through the command text: a parameter a user
types into the trigger form can then never become shell.

The BashOperator returns the last line of the command's output (standard output and error
together), which ResultHook pushes to XCom as the result object (as the Kubernetes target's
is). So `run-task` writes its result to a temporary file, and the script prints that file
last, after the entrypoint's process has ended: nothing the task leaves behind (an atexit
handler, a thread still printing) can come after it.
"""

from __future__ import annotations

import shlex
from typing import Any

from processing_core.definition.node import TaskNode
from processing_core.nodes.common import (
    TASK_CONTEXT_ENV,
    NodeContext,
    base_operator_kwargs,
    mapped_run_templates,
    run_task_arguments,
)
from processing_core.nodes.spec import OperatorSpec

# BashOperator, named "Local task" in the UI (airflow.operators).
OPERATOR = "processing_core.airflow_operators:LocalTask"
PROVIDER = "airflow.providers.standard.operators.bash:BashOperator"


# The shell variable holding each run value: PROCESSING_CORE_<OPTION>.
def _variable(option: str) -> str:
    return "PROCESSING_CORE_" + option.upper().replace("-", "_")


# Set by the script itself: the temporary file the result goes through.
_RESULT = _variable("result")
_VARIABLE_MARK = "\0"


def local_operator(node: TaskNode, context: NodeContext) -> OperatorSpec:
    templates = mapped_run_templates(node, context)
    env = {_variable(option): template for option, template in templates.items()}
    env |= TASK_CONTEXT_ENV
    arguments = run_task_arguments(
        node,
        context,
        {option: _VARIABLE_MARK + _variable(option) for option in templates},
        result_path=_VARIABLE_MARK + _RESULT,
    )
    words = [*shlex.split(context.settings.local_command), *arguments]
    command = " ".join(_shell_word(word) for word in words)
    result = _RESULT
    kwargs: dict[str, Any] = base_operator_kwargs(node, context)
    if context.profile.queue:
        # The task runs on an Airflow worker: the profile picks which ones (Celery queue).
        kwargs["queue"] = context.profile.queue
    kwargs |= {
        "bash_command": "\n".join(
            [
                f'{result}="$(mktemp)" || exit 1',
                f"trap 'rm -f \"${result}\"' EXIT",
                # Airflow sends SIGTERM to the whole process group: the entrypoint rolls back
                # and exits 143; the shell waits for it, then tidies up.
                "trap : TERM",
                # Airflow's own log lines wrap the task's: human lines read there, unless the
                # worker's environment asks for JSON.
                'export LOG_FORMAT="${LOG_FORMAT:-human}"',
                command,
                "code=$?",
                # On a line of its own, whatever the task printed last.
                f'echo; cat "${result}"',
                "exit $code",
            ]
        ),
        "env": dict(sorted(env.items())),
        "append_env": True,
        # The result line is text: ResultHook pushes it as the object the other targets push.
        "do_xcom_push": False,
    }
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs, provider=PROVIDER)


def _shell_word(word: str) -> str:
    # `--run-id=<mark>NAME` becomes `--run-id="$NAME"`: the value is expanded, never parsed.
    prefix, mark, variable = word.partition(_VARIABLE_MARK)
    if not mark:
        return shlex.quote(word)
    return (shlex.quote(prefix) if prefix else "") + f'"${variable}"'
