"""Stable import path of the operators generated DAG files call (public API): the providers'
operators under names that say what runs (`processing_core.airflow.operators`).

    from processing_core.airflow_operators import PodTask   # KubernetesPodOperator, "Pod"

Nothing is imported until a class is asked for, and then only its provider.
"""

from processing_core.airflow import operators as _operators


def __getattr__(name: str) -> object:
    return _operators.named_operator(name)
