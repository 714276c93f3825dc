"""A durable pod task reattaches only to the pod it started: the pod's uid is checked.

`KubernetesPodOperator(durable=True)` (the default on Airflow 3.3+) keeps the name and
namespace of its pod in the task state store, so that the next try, after the worker died,
follows the same pod instead of starting a second one. cncf-kubernetes 10.25 reattaches by that
name alone (apache/airflow#71743): were the pod deleted and another made under the same name,
the retry would adopt it and take its result for the task's.

`PodIdentityGuard` records the uid of the pod the operator follows and, before the next try
looks for it, reads the named pod: when its uid is not the recorded one, the name is taken out
of the store, and the operator falls back to its label search (this task instance's dag_id,
task_id, run_id and map_index, unchecked pods only) or starts a new pod. Generated DAG files
name it through `processing_core.airflow_callbacks`.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from airflow.providers.cncf.kubernetes.operators.pod import POD_IDENTIFIER_STATE_KEY
from kubernetes.client.exceptions import ApiException

# Our own key in the task state store, beside the provider's POD_IDENTIFIER_STATE_KEY.
POD_UID_STATE_KEY = "processing_core_pod_uid"

_log = logging.getLogger(__name__)


class PodIdentityGuard(KubernetesPodOperatorCallback):
    """`callbacks=` of a generated KubernetesPodOperator (see the module's doc)."""

    def __repr__(self) -> str:
        return "PodIdentityGuard()"

    @staticmethod
    def on_pod_manifest_created(*, client: Any, context: Any, **kwargs: Any) -> None:
        store = context.get("task_state_store")
        named = store.get(POD_IDENTIFIER_STATE_KEY) if store is not None else None
        if not isinstance(named, dict):
            return  # nothing to reattach to: the operator searches by labels or starts a pod
        name, namespace = named.get("name"), named.get("namespace")
        try:
            pod = client.read_namespaced_pod(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return  # the operator sees it is gone and falls back by itself
            raise
        recorded = store.get(POD_UID_STATE_KEY)
        uid = pod.metadata.uid
        if isinstance(recorded, dict) and recorded.get("uid") == uid:
            return
        _log.warning(
            "processing-core: pod %s/%s named in the task state store is not the pod this task "
            "started (its uid %s, recorded %s); not reattaching to it",
            namespace, name, uid, recorded.get("uid") if isinstance(recorded, dict) else "none",
        )  # fmt: skip
        store.delete(POD_IDENTIFIER_STATE_KEY)

    @staticmethod
    def on_pod_creation(*, pod: Any, context: Any, **kwargs: Any) -> None:
        store = context.get("task_state_store")
        metadata = getattr(pod, "metadata", None)
        if store is None or metadata is None or not metadata.uid:
            return
        store.set(POD_UID_STATE_KEY, {"name": metadata.name, "uid": metadata.uid})
