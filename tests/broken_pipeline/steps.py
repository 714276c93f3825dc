"""Fails on import: the CLI must name this file and line."""

from processing_core import Workflow

workflow = Workflow(input_data="a", output_data="b", category="c")
workflow.add_node(UndefinedTask)  # noqa: F821 - the error under test
