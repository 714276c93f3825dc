"""Identifiers: which characters Airflow, Docker and Kubernetes accept, and how to get there.

Names that reach a DAG file, a pod or an image tag are restricted to characters that are
never code, Jinja or shell; everything else an author writes is emitted as a literal.
"""

from __future__ import annotations

import re

# Airflow's own limit for dag_id and task_id (airflow.models.base.ID_LEN).
AIRFLOW_ID_MAX = 250
# Kubernetes label values and DNS-1123 labels (pod names, after KPO adds its suffix).
K8S_LABEL_MAX = 63
# KubernetesPodOperator appends "-" + 8 random characters to the pod name.
POD_NAME_SUFFIX_LEN = 9
POD_NAME_BASE_MAX = K8S_LABEL_MAX - POD_NAME_SUFFIX_LEN
IMAGE_TAG_MAX = 128

# Workflow name parts: dag_ids allow "-" too (DKIST details such as "summit-calibrated").
NAME_PART_RE = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*\Z")
TASK_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
# An output a downstream node can map over (foreach="<task id>.<output>").
OUTPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# A task of a generated DAG: a node's id, or the list task of a mapped node, `<task>-<output>`.
DAG_TASK_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(-[A-Za-z_][A-Za-z0-9_]*)?\Z")
# A Python extra's name (the alphabet PEP 685 normalises to).
EXTRA_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?\Z")
DAG_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+\Z")
IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?\Z")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\Z")
SECRET_KEY_RE = re.compile(r"^[-._A-Za-z0-9]+\Z")
PYTHON_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]
IMAGE_REF_RE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?\Z"
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """`QualityCheck` -> `quality_check`; the default task id of a task class."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def image_tag(version: str) -> str:
    """A version as an image tag and dag_id suffix: Docker tags cannot hold the `+` of PEP 440."""
    return version.replace("+", "-")


def label_value(text: str) -> str:
    """Replace what a Kubernetes label value cannot hold; the length is checked, not cut."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def dns_label(text: str) -> str:
    """Lower-case DNS-1123 label (a pod name's base); the length is checked, not cut."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return cleaned.strip("-")
