"""A pipeline whose values are not plain built-ins: enums, NumPy scalars, a str subclass whose
repr() is code. Its DAG file must hold only literals, and parsing it must run none of it.
"""

from __future__ import annotations

import os
from enum import IntEnum, StrEnum

import numpy

from processing_core import Parameter, SecretRef, TaskBase, Workflow


class Tag(StrEnum):
    IMAGING = "imaging"


class Retries(IntEnum):
    THREE = 3


class Sneaky(str):
    """A str whose repr() is code that leaves a marker when it runs."""

    def __repr__(self) -> str:
        marker = os.environ.get("HOSTILE_MARKER", "/nonexistent/marker")
        return f"__import__('pathlib').Path({marker!r}).write_text('ran') and 'x'"


class Calibrate(TaskBase):
    retries = Retries.THREE
    secrets = {"DB_PASSWORD": SecretRef(secret=Sneaky("db-credentials"), key=Tag.IMAGING)}

    def run(self) -> None:
        self.outputs = {"ok": True}


workflow = Workflow(
    input_data="l0",
    output_data="l1",
    category="hostile",
    version="1.0.0",
    description=Sneaky("a description"),
    owner=Tag.IMAGING,
    tags=[Tag.IMAGING, Sneaky("science")],
    parameters=[
        Parameter("gain", type="number", default=numpy.float64(1.5)),
        Parameter("mode", type="string", default=Tag.IMAGING, enum=[Tag.IMAGING, "raw"]),
        Parameter("count", type="integer", default=Retries.THREE),
        Parameter("label", type="string", default=Sneaky("plain label")),
    ],
)
workflow.add_node(Calibrate)
