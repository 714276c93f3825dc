"""A Kubernetes API on loopback whose pods really run, as local processes, for tests.

No cluster can run on the test machines (no container engine, no kube-apiserver), and no
maintained package fits: mockernetes and the client's own fakes patch the client in-process
(nothing runs, no exec), kwok simulates pods without running them, pachyderm's fakeapiserver
is Go and needs a Kubernetes checkout. So this serves the endpoints that the provider's
`KubernetesPodOperator` and `SparkKubernetesOperator` really call, with the JSON the real
API server answers, over plain HTTP on 127.0.0.1 (the real `kubernetes` client connects to it
through an ordinary kubeconfig):

- pods: create (validated with kubernetes-validate, strict), read, list (label and field
  selectors, `watch`), patch (merge), delete (grace period: SIGTERM, then SIGKILL);
  `log` (`follow`, `timestamps`, `sinceSeconds`, `tailLines`); `exec` over the websocket
  subprotocols `v5.channel.k8s.io` / `v4.channel.k8s.io` (channels 0-3, status on 3);
- events of a pod (Scheduled, Pulled, Created, Started, Failed, Killing);
- ConfigMaps and Secrets the tests put, used by `env`, `envFrom` and volumes;
- `sparkoperator.k8s.io/v1beta2` SparkApplications (validated against the Spark Operator's
  CRD in tests/schemas) with a small Spark Operator: the driver pod `<name>-driver` runs
  `spark-submit` of `mainApplicationFile` with the application's arguments, and the
  application's `status.applicationState` follows its driver.

The kubelet side runs each container in namespaces of its own (tests/pod_sandbox.py): an image
name maps to an `Image` (a virtualenv: "the project installed without Airflow", plus files);
volumes are folders (`emptyDir` per pod, a claim per name and cluster, ConfigMaps and Secrets
written out); `env` with `valueFrom` (fieldRef, secretKeyRef, configMapKeyRef). Phases,
`containerStatuses[].state` and exit codes follow Kubernetes' rules: `Completed` / `Error` /
`OOMKilled` (the container's processes over their memory limit are killed, exit 137) /
`StartError` (128); an unknown image waits in `ErrImagePull` / `ImagePullBackOff`; a missing
Secret or ConfigMap in `CreateContainerConfigError`.

What it does not cover, and a real cluster adds: scheduling onto nodes (every pod is bound at
once to node `loopback`), image pulls and registries, resource quotas and limit ranges,
CPU limits, pod networking (containers share the host's loopback), service accounts and
RBAC, executors as pods (the driver runs Spark in local mode), restarts of the
SparkApplication by its restart policy, and the API's authentication.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

SANDBOX = Path(__file__).with_name("pod_sandbox.py")
SCHEMAS = Path(__file__).with_name("schemas")
KUBERNETES_VERSION = "1.37.0"  # the schema version the suite validates pods against
SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
NODE = "loopback"
# Read-only views of the host every container gets: the image's operating system.
SYSTEM_FOLDERS = ("/usr", "/etc", "/sys")
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def memory_bytes(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(float(quantity))


def namespaces_available() -> str | None:
    """Why containers cannot run here (mount and PID namespaces need root), or None."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        return "running pods needs root with util-linux's unshare and nsenter"
    probe = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"mount and PID namespaces are not available: {probe.stderr.strip()}"
    return None


@dataclass
class Image:
    """What an image name runs: a virtualenv (its `bin` first on PATH) and files of its own."""

    python_env: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def _base_prefix(self) -> str:
        """The interpreter the virtualenv was made from (read once: a venv is not relocatable)."""
        assert self.python_env is not None
        found = subprocess.run(
            [str(self.python_env / "bin" / "python"), "-c", "import sys; print(sys.base_prefix)"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return found.stdout.strip()

    def binds(self) -> list[tuple[str, str, bool]]:
        binds: list[tuple[str, str, bool]] = []
        if self.python_env is not None:
            base, env = self._base_prefix, str(self.python_env)
            binds += [(base, base, True), (env, env, True)]
        binds += [(str(source), target, True) for target, source in sorted(self.files.items())]
        return binds

    def environment(self) -> dict[str, str]:
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        if self.python_env is not None:
            path = f"{self.python_env / 'bin'}:{path}"
        return {"PATH": path, "HOME": "/root", **self.env}


# A shell image for sidecars (the provider's XCom sidecar is `alpine`): the host's /bin/sh.
SHELL_IMAGE = Image()


class ApiError(Exception):
    """An error the API answers as a `Status` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def response(self) -> web.Response:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        return web.json_response(status, status=self.code)


def _not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource} "{name}" not found')


def _selector_matches(selector: str, values: dict[str, str]) -> bool:
    """Kubernetes' equality-based selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-joined."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if values.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if values.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in values:
                return False
        elif term not in values:
            return False
    return True


def _pod_fields(pod: dict[str, Any]) -> dict[str, str]:
    return {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "status.phase": pod["status"].get("phase", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
    }


class Store:
    """Objects by (resource, namespace, name), with resource versions and a change log."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.version = 0
        self.changes: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, type, resource, obj

    def _record(self, kind: str, resource: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.changes.append((self.version, kind, resource, copy.deepcopy(obj)))

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = (resource, meta["namespace"], meta["name"])
        with self.lock:
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())
            meta.setdefault("generation", 1)
            self.objects[key] = obj
            self._record("ADDED", resource, obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            try:
                return copy.deepcopy(self.objects[(resource, namespace, name)])
            except KeyError:
                raise _not_found(resource, name) from None

    def update(
        self,
        resource: str,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any]], None],
        uid: str | None = None,
    ) -> dict[str, Any] | None:
        """Apply `change` to the stored object (if it is still the one with `uid`)."""
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            if obj is None or (uid is not None and obj["metadata"]["uid"] != uid):
                return None
            change(obj)
            self._record("MODIFIED", resource, obj)
            return copy.deepcopy(obj)

    def remove(self, resource: str, namespace: str, name: str, uid: str) -> None:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            if obj is not None and obj["metadata"]["uid"] == uid:
                del self.objects[(resource, namespace, name)]
                self._record("DELETED", resource, obj)

    def list(
        self, resource: str, namespace: str | None, labels: str = "", fields: str = ""
    ) -> list[dict[str, Any]]:
        with self.lock:
            found = []
            for (kind, ns, _), obj in sorted(self.objects.items()):
                if kind != resource or (namespace is not None and ns != namespace):
                    continue
                if labels and not _selector_matches(labels, obj["metadata"].get("labels") or {}):
                    continue
                if fields and not _selector_matches(fields, self._fields(resource, obj)):
                    continue
                found.append(copy.deepcopy(obj))
            return found

    @staticmethod
    def _fields(resource: str, obj: dict[str, Any]) -> dict[str, str]:
        if resource == "pods":
            return _pod_fields(obj)
        if resource == "events":
            return {
                "involvedObject.name": obj["involvedObject"]["name"],
                "involvedObject.uid": obj["involvedObject"].get("uid", ""),
            }
        return {"metadata.name": obj["metadata"]["name"]}


class Container:
    """One running container of a pod: its process, log file and final state."""

    def __init__(self, pod: PodRuntime, spec: dict[str, Any], sidecar: bool) -> None:
        self.pod, self.spec, self.name, self.sidecar = pod, spec, spec["name"], sidecar
        self.folder = pod.folder / "containers" / self.name
        self.folder.mkdir(parents=True)
        self.log_path = self.folder / "log"
        self.log_path.touch()
        self.process: subprocess.Popen[bytes] | None = None
        self.init_pid: int | None = None
        self.env: dict[str, str] = {}
        self.oom_killed = False
        self.started_at = ""

    def start(self, env: dict[str, str], binds: list[tuple[str, str, bool]]) -> None:
        self.env = env
        image = self.pod.cluster.image(self.spec["image"]) or SHELL_IMAGE
        command = [*(self.spec.get("command") or []), *(self.spec.get("args") or [])]
        spec = {
            "root": str(self.folder / "rootfs"),
            "start_error": str(self.folder / "start-error"),
            "started": str(self.folder / "started"),
            "symlinks": {
                name: os.readlink(f"/{name}")
                for name in ("bin", "sbin", "lib", "lib64")
                if os.path.islink(f"/{name}")
            },
            "binds": [*self.pod.system_binds(), *image.binds(), *binds],
            "working_dir": self.spec.get("workingDir", ""),
            "command": command,
            "env": env,
        }
        (self.folder / "rootfs").mkdir()
        (self.folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        self.process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                sys.executable,
                str(SANDBOX),
                str(self.folder / "spec.json"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Running only once the sandbox is about to exec the command (its root and /proc
        # are the container's); a slow machine takes seconds to get there.
        deadline = time.monotonic() + 60
        started = self.folder / "started"
        while not started.exists() and self.process.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"container {self.name} did not start within 60 s")
            time.sleep(0.01)
        self.started_at = now()
        # The container's process 1, as the host numbers it: unshare's only child.
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            if pids := children.read_text().split():
                self.init_pid = int(pids[0])
        threading.Thread(target=self._copy_log, daemon=True).start()

    def _copy_log(self) -> None:
        """The kubelet's log file: each line prefixed with its RFC 3339 time (CRI format)."""
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("ab", buffering=0) as log:
            for line in self.process.stdout:
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                log.write(stamp.encode() + b" " + line.rstrip(b"\n") + b"\n")

    def signal(self, number: int) -> None:
        # Process 1 of the container's PID namespace, as a runtime signals a container.
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, number)

    def memory_used(self) -> int:
        """Resident bytes of every process in the container (its PID namespace)."""
        if self.process is None:
            return 0
        total, pending = 0, [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            if pid == self.process.pid:
                continue  # unshare itself is the runtime, not the container
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def terminated_state(self, returncode: int) -> dict[str, Any]:
        exit_code = 128 - returncode if returncode < 0 else returncode
        start_error = (self.folder / "start-error").read_text(encoding="utf-8", errors="replace")
        if self.oom_killed:
            reason, exit_code = "OOMKilled", 137
        elif start_error:
            reason = "StartError"
        else:
            reason = "Completed" if exit_code == 0 else "Error"
        state = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": self.started_at,
            "finishedAt": now(),
            "containerID": f"loopback://{self.pod.uid}/{self.name}",
        }
        if start_error:
            state["message"] = start_error
        return state


class PodRuntime:
    """The kubelet's work for one pod: start its containers, report their states, stop them."""

    def __init__(self, cluster: LoopbackKubernetes, pod: dict[str, Any]) -> None:
        self.cluster, self.pod = cluster, pod
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.folder = cluster.root / "pods" / self.uid
        self.folder.mkdir(parents=True)
        self.containers: dict[str, Container] = {}
        self.deleting = threading.Event()
        self.grace_seconds = 30.0
        self.last_status: dict[str, Any] = {}

    # -- status -------------------------------------------------------------------------
    def _set_status(self, **changes: Any) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["status"].update(changes)

        self.cluster.store.update("pods", self.namespace, self.name, change, self.uid)

    def _statuses(self, states: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        statuses = []
        for spec in self.pod["spec"]["containers"]:
            state = states[spec["name"]]
            statuses.append(
                {
                    "name": spec["name"],
                    "image": spec["image"],
                    "imageID": "",
                    "ready": "running" in state,
                    "restartCount": 0,
                    "started": "running" in state,
                    "state": state,
                    "lastState": {},
                    **(
                        {"containerID": f"loopback://{self.uid}/{spec['name']}"}
                        if "waiting" not in state
                        else {}
                    ),
                }
            )
        return statuses

    def _phase(self, states: dict[str, dict[str, Any]]) -> str:
        """Kubernetes' rule for restartPolicy Never: Running while a container runs; when all
        have terminated, Succeeded if every one exited 0, else Failed."""
        if any("waiting" in state for state in states.values()):
            return "Pending"
        if any("running" in state for state in states.values()):
            return "Running"
        codes = [state["terminated"]["exitCode"] for state in states.values()]
        return "Succeeded" if all(code == 0 for code in codes) else "Failed"

    def _conditions(self, phase: str) -> list[dict[str, Any]]:
        ready = "True" if phase == "Running" else "False"
        return [
            {"type": kind, "status": status, "lastTransitionTime": now()}
            for kind, status in (
                ("PodScheduled", "True"),
                ("Initialized", "True"),
                ("ContainersReady", ready),
                ("Ready", ready),
            )
        ]

    def _publish(self, states: dict[str, dict[str, Any]]) -> None:
        phase = self._phase(states)
        self.last_status = {
            "phase": phase,
            "conditions": self._conditions(phase),
            "containerStatuses": self._statuses(states),
        }
        self._set_status(**copy.deepcopy(self.last_status))

    def event(self, reason: str, message: str, kind: str = "Normal", path: str = "") -> None:
        self.cluster.event(self.pod, reason, message, kind, path)

    # -- the pod's life -------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # a defect of this stand-in: show it, never hang a test
            self.cluster.defects.append(f"pod {self.name}: {error!r}")
            raise

    def _run(self) -> None:
        self.pod["spec"]["nodeName"] = NODE

        def bind(obj: dict[str, Any]) -> None:
            obj["spec"]["nodeName"] = NODE
            obj["status"].update(
                conditions=[{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}]
            )

        self.cluster.store.update("pods", self.namespace, self.name, bind, self.uid)
        self.event("Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {NODE}")
        specs = self.pod["spec"]["containers"]
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        states: dict[str, dict[str, Any]] = {spec["name"]: dict(waiting) for spec in specs}
        unknown = [s for s in specs if self.cluster.image(s["image"]) is None]
        if unknown:
            self._image_pull_back_off(unknown, states)
            return
        try:
            volumes = self._volumes()
            environments = {spec["name"]: self._environment(spec) for spec in specs}
        except ApiError as error:
            states = {
                spec["name"]: {
                    "waiting": {"reason": "CreateContainerConfigError", "message": error.message}
                }
                for spec in specs
            }
            self._publish(states)
            self.event("Failed", f"Error: {error.message}", "Warning")
            self.deleting.wait()
            self._finish()
            return
        for spec in specs:
            if self.deleting.is_set():
                break
            container = Container(self, spec, sidecar=spec["name"] != specs[0]["name"])
            self.containers[spec["name"]] = container
            self.event("Pulled", f'Container image "{spec["image"]}" already present on machine')
            binds = [
                (volumes[m["name"]], m["mountPath"], bool(m.get("readOnly")))
                for m in spec.get("volumeMounts") or []
            ]
            container.start(environments[spec["name"]], binds)
            self.event("Created", f"Created container {spec['name']}")
            self.event("Started", f"Started container {spec['name']}")
            states[spec["name"]] = {"running": {"startedAt": container.started_at}}
        self._publish(states)
        self._watch(states)

    def _image_pull_back_off(self, unknown: list[dict[str, Any]], states: dict[str, Any]) -> None:
        for spec in unknown:
            image = spec["image"]
            error = (
                f"rpc error: code = NotFound desc = failed to pull and unpack image "
                f'"{image}": {image}: not found'
            )
            self.event("Failed", f'Failed to pull image "{image}": {error}', "Warning")
            states[spec["name"]] = {"waiting": {"reason": "ErrImagePull", "message": error}}
        self._publish(states)
        time.sleep(0.5)
        for spec in unknown:
            message = f'Back-off pulling image "{spec["image"]}"'
            states[spec["name"]] = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
            self.event("BackOff", message, "Warning")
        self._publish(states)
        self.deleting.wait()
        self._finish()

    def _watch(self, states: dict[str, dict[str, Any]]) -> None:
        limits = {
            name: memory_bytes(c.spec.get("resources", {}).get("limits", {}).get("memory", "0"))
            for name, c in self.containers.items()
        }
        deadline: float | None = None
        while True:
            changed = False
            for name, container in self.containers.items():
                if "terminated" in states[name] or container.process is None:
                    continue
                if limits[name] and container.memory_used() > limits[name]:
                    container.oom_killed = True
                    container.signal(signal.SIGKILL)
                returncode = container.process.poll()
                if returncode is not None:
                    states[name] = {"terminated": container.terminated_state(returncode)}
                    changed = True
            if changed:
                self._publish(states)
            if all("terminated" in state for state in states.values()):
                break
            if self.deleting.is_set():
                if deadline is None:
                    deadline = time.monotonic() + self.grace_seconds
                    for name, container in self.containers.items():
                        if "terminated" not in states[name]:
                            self.event("Killing", f"Stopping container {name}")
                            container.signal(signal.SIGTERM)
                elif time.monotonic() > deadline:
                    for container in self.containers.values():
                        container.signal(signal.SIGKILL)
            time.sleep(0.05)
        if self.deleting.is_set() or self.deleting.wait():
            self._finish()

    def _finish(self) -> None:
        self.cluster.store.remove("pods", self.namespace, self.name, self.uid)
        # Each container's root is a mount inside its own namespace: gone with it.
        shutil.rmtree(self.folder, ignore_errors=True)

    def delete(self, grace_seconds: float | None) -> None:
        if grace_seconds is not None:
            self.grace_seconds = grace_seconds
        self.deleting.set()

    # -- what the containers get ----------------------------------------------------------
    def system_binds(self) -> list[tuple[str, str, bool]]:
        binds = [(folder, folder, True) for folder in SYSTEM_FOLDERS if os.path.isdir(folder)]
        binds += [
            (f"/{name}", f"/{name}", True)
            for name in ("bin", "sbin", "lib", "lib64")
            if os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}")
        ]
        return [*binds, ("/dev", "/dev", False)]

    def _volumes(self) -> dict[str, str]:
        folders: dict[str, str] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            name = volume["name"]
            if "persistentVolumeClaim" in volume:
                folder = self.cluster.claim(volume["persistentVolumeClaim"]["claimName"])
            elif "configMap" in volume or "secret" in volume:
                folder = self.folder / "volumes" / name
                folder.mkdir(parents=True)
                if "configMap" in volume:
                    data = self.cluster.config_map_data(self.namespace, volume["configMap"]["name"])
                else:
                    data = self.cluster.secret_data(self.namespace, volume["secret"]["secretName"])
                for key, value in data.items():
                    (folder / key).write_text(value, encoding="utf-8")
            else:  # emptyDir, and anything else as a folder of the pod's
                folder = self.folder / "volumes" / name
                folder.mkdir(parents=True)
            folders[name] = str(folder)
        return folders

    def _environment(self, spec: dict[str, Any]) -> dict[str, str]:
        image = self.cluster.image(spec["image"]) or SHELL_IMAGE
        env = {
            **image.environment(),
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.cluster.port),
        }
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self.cluster.config_map_data(self.namespace, source["configMapRef"]["name"])
            else:
                data = self.cluster.secret_data(self.namespace, source["secretRef"]["name"])
            env |= {prefix + key: value for key, value in data.items()}
        for variable in spec.get("env") or []:
            if "value" in variable or "valueFrom" not in variable:
                env[variable["name"]] = _expand(variable.get("value", ""), env)
                continue
            source = variable["valueFrom"]
            if "fieldRef" in source:
                env[variable["name"]] = self._field(source["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                env[variable["name"]] = self._key(source)
        return env

    def _key(self, source: dict[str, Any]) -> str:
        """One key of a Secret or ConfigMap (`secretKeyRef` / `configMapKeyRef`)."""
        if "secretKeyRef" in source:
            ref, kind = source["secretKeyRef"], "Secret"
            data = self.cluster.secret_data(self.namespace, ref["name"])
        else:
            ref, kind = source["configMapKeyRef"], "ConfigMap"
            data = self.cluster.config_map_data(self.namespace, ref["name"])
        if ref["key"] not in data:
            message = f"couldn't find key {ref['key']} in {kind} {self.namespace}/{ref['name']}"
            raise ApiError(404, "NotFound", message)
        return data[ref["key"]]

    def _field(self, path: str) -> str:
        meta = self.pod["metadata"]
        values = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.uid,
            "spec.nodeName": NODE,
            "status.podIP": "127.0.0.1",
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default"),
        }
        if path.startswith("metadata.labels['"):
            return (meta.get("labels") or {}).get(path[17:-2], "")
        if path.startswith("metadata.annotations['"):
            return (meta.get("annotations") or {}).get(path[22:-2], "")
        return values.get(path, "")


def _expand(value: str, env: dict[str, str]) -> str:
    """`$(NAME)` references to earlier variables, as Kubernetes expands them."""
    for name, known in env.items():
        value = value.replace(f"$({name})", known)
    return value


class LoopbackKubernetes:
    """The API server, its kubelet and a Spark Operator, on 127.0.0.1 (see the module doc)."""

    def __init__(self, root: Path, images: dict[str, Image]) -> None:
        self.root = root
        self.images = dict(images)
        self.store = Store()
        self.runtimes: dict[str, PodRuntime] = {}
        self.pods_created: list[dict[str, Any]] = []  # every pod as created, in order
        self.defects: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # -- lifetime -------------------------------------------------------------------------
    def start(self) -> LoopbackKubernetes:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=64 * 2**20)
            self._routes(app)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, name="loopback-kubernetes", daemon=True).start()
        assert ready.wait(30), "the loopback Kubernetes API did not start"
        return self

    def stop(self) -> None:
        for runtime in list(self.runtimes.values()):
            runtime.delete(0)
        deadline = time.monotonic() + 30
        while (
            any(
                r.containers
                and any(c.process and c.process.poll() is None for c in r.containers.values())
                for r in self.runtimes.values()
            )
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "loopback",
            "clusters": [{"name": "loopback", "cluster": {"server": self.url}}],
            "users": [{"name": "loopback", "user": {"token": "loopback"}}],
            "contexts": [
                {
                    "name": "loopback",
                    "context": {"cluster": "loopback", "user": "loopback", "namespace": namespace},
                }
            ],
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    def airflow_connection(self, kubeconfig: Path, namespace: str = "default") -> str:
        """The value of AIRFLOW_CONN_<ID> for Airflow's Kubernetes connection to this API."""
        return json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {"kube_config_path": str(kubeconfig), "namespace": namespace},
            }
        )

    def image(self, name: str) -> Image | None:
        """What an image name runs; `alpine` and `busybox` (any tag) are the host's shell."""
        if name in self.images:
            return self.images[name]
        repository = name.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]
        return SHELL_IMAGE if repository in ("alpine", "busybox") else None

    # -- what tests put and read ----------------------------------------------------------
    def put_config_map(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Create or replace a ConfigMap (as `kubectl apply` would)."""
        self._put(
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "data": data,
                "metadata": {"name": name, "namespace": namespace},
            },
        )

    def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Create or replace an Opaque Secret; `data` in plain text, stored base64 as the API does."""
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        self._put(
            "secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "data": encoded,
                "metadata": {"name": name, "namespace": namespace},
            },
        )

    def _put(self, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with self.store.lock:
            if (resource, meta["namespace"], meta["name"]) in self.store.objects:
                self.store.update(
                    resource,
                    meta["namespace"],
                    meta["name"],
                    lambda stored: stored.update(data=obj["data"]),
                )
            else:
                self.store.create(resource, obj)

    def config_map_data(self, namespace: str, name: str) -> dict[str, str]:
        try:
            return self.store.get("configmaps", namespace, name).get("data") or {}
        except ApiError:
            raise ApiError(404, "NotFound", f'configmap "{name}" not found') from None

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        try:
            data = self.store.get("secrets", namespace, name).get("data") or {}
        except ApiError:
            raise ApiError(404, "NotFound", f'secret "{name}" not found') from None
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    def claim(self, name: str) -> Path:
        folder = self.root / "claims" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def pods(self, namespace: str = "default", labels: str = "") -> list[dict[str, Any]]:
        return self.store.list("pods", namespace, labels)

    def final_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        """The last status the kubelet reported for `pod` (also after its deletion)."""
        return copy.deepcopy(self.runtimes[pod["metadata"]["uid"]].last_status)

    def was_deleted(self, pod: dict[str, Any]) -> bool:
        """Whether somebody deleted `pod` (this very pod, by uid) through the API."""
        return self.runtimes[pod["metadata"]["uid"]].deleting.is_set()

    def event(
        self, obj: dict[str, Any], reason: str, message: str, kind: str = "Normal", path: str = ""
    ) -> None:
        meta = obj["metadata"]
        name = f"{meta['name']}.{time.time_ns():x}"  # as the kubelet names them: in time order
        self.store.create(
            "events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "reason": reason,
                "message": message,
                "type": kind,
                "count": 1,
                "firstTimestamp": now(),
                "lastTimestamp": now(),
                "source": {"component": "kubelet", "host": NODE},
                "metadata": {"name": name, "namespace": meta["namespace"]},
                "involvedObject": {
                    "kind": obj.get("kind", "Pod"),
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                    "fieldPath": path,
                    "apiVersion": "v1",
                },
            },
        )

    # -- pods -----------------------------------------------------------------------------
    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        import kubernetes_validate  # the suite's pod schema check, strict

        body = copy.deepcopy(body)
        body.setdefault("apiVersion", "v1")
        body.setdefault("kind", "Pod")
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        if meta["namespace"] != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not "
                "match the namespace sent on the request",
            )
        if "generateName" in meta and "name" not in meta:
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        try:
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise ApiError(422, "Invalid", f"Pod is invalid: {error}") from None
        body["spec"].setdefault("restartPolicy", "Always")
        body["status"] = {"phase": "Pending", "qosClass": "Burstable"}
        created = self.store.create("pods", body)
        self.pods_created.append(copy.deepcopy(created))
        runtime = PodRuntime(self, created)
        self.runtimes[created["metadata"]["uid"]] = runtime
        threading.Thread(target=runtime.run, name=f"kubelet-{meta['name']}", daemon=True).start()
        return created

    def delete_pod(self, namespace: str, name: str, grace: float | None) -> dict[str, Any]:
        pod = self.store.get("pods", namespace, name)
        runtime = self.runtimes[pod["metadata"]["uid"]]
        seconds = (
            grace if grace is not None else pod["spec"].get("terminationGracePeriodSeconds", 30)
        )

        def mark(obj: dict[str, Any]) -> None:
            obj["metadata"].setdefault("deletionTimestamp", now())
            obj["metadata"]["deletionGracePeriodSeconds"] = int(seconds)

        marked = self.store.update("pods", namespace, name, mark, pod["metadata"]["uid"])
        runtime.delete(float(seconds))
        return marked or pod

    # -- the Spark Operator ---------------------------------------------------------------
    def create_spark_application(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        problems = sorted(_spark_application_schema().iter_errors(body), key=str)
        if problems:
            raise ApiError(
                422,
                "Invalid",
                f"SparkApplication is invalid: {problems[0].message} "
                f"at {'.'.join(map(str, problems[0].absolute_path))}",
            )
        body = copy.deepcopy(body)
        body["metadata"].setdefault("namespace", namespace)
        created = self.store.create(SPARK_PLURAL, body)
        threading.Thread(target=self._run_spark_application, args=(created,), daemon=True).start()
        return created

    def _spark_status(
        self, app: dict[str, Any], state: str, message: str = "", **more: Any
    ) -> None:
        meta = app["metadata"]

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            status["applicationState"] = {
                "state": state,
                **({"errorMessage": message} if message else {}),
            }
            status.update(more)

        self.store.update(SPARK_PLURAL, meta["namespace"], meta["name"], change, meta["uid"])

    def _run_spark_application(self, app: dict[str, Any]) -> None:
        """What the Spark Operator does: submit (make the driver pod), then follow it."""
        spec, meta = app["spec"], app["metadata"]
        driver = spec["driver"]
        main = spec["mainApplicationFile"].removeprefix("local://")
        master = f"local[{driver.get('cores', 1)}]"
        conf = [
            f"--conf={key}={value}" for key, value in sorted((spec.get("sparkConf") or {}).items())
        ]
        labels = {
            **(spec.get("labels") or {}),
            **(driver.get("labels") or {}),
            "spark-role": "driver",
            "spark-app-selector": f"spark-{meta['uid'][:8]}",
            "sparkoperator.k8s.io/app-name": meta["name"],
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
        }
        env = [
            *(driver.get("env") or []),
            {"name": "SPARK_APPLICATION_NAME", "value": meta["name"]},
        ]
        container = {
            "name": "spark-kubernetes-driver",
            "image": driver.get("image", spec["image"]),
            "command": ["spark-submit"],
            "args": [
                "--master",
                master,
                "--deploy-mode",
                "client",
                f"--driver-memory={driver.get('memory', '1g')}",
                *conf,
                main,
                *(spec.get("arguments") or []),
            ],
            "env": env,
            "volumeMounts": driver.get("volumeMounts") or [],
            "resources": {"limits": {"memory": _with_overhead(driver)}},
        }
        if driver.get("envFrom"):
            container["envFrom"] = driver["envFrom"]
        pod = {
            "metadata": {
                "name": f"{meta['name']}-driver",
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": driver.get("annotations") or {},
                "ownerReferences": [
                    {
                        "apiVersion": f"{SPARK_GROUP}/{SPARK_VERSION}",
                        "kind": "SparkApplication",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [container, *(driver.get("sidecars") or [])],
                "volumes": spec.get("volumes") or [],
            },
        }
        try:
            driver_pod = self.create_pod(meta["namespace"], pod)
        except ApiError as error:
            self._spark_status(app, "SUBMISSION_FAILED", error.message)
            return
        submitted = {
            "driverInfo": {"podName": pod["metadata"]["name"]},
            "submissionID": str(uuid.uuid4()),
            "lastSubmissionAttemptTime": now(),
        }
        self._spark_status(app, "SUBMITTED", **submitted)
        state = "SUBMITTED"
        while True:
            try:
                current = self.store.get("pods", meta["namespace"], pod["metadata"]["name"])
            except ApiError:
                return  # deleted with its application
            if current["metadata"]["uid"] != driver_pod["metadata"]["uid"]:
                return
            phase = current["status"].get("phase")
            base = next(
                (
                    s
                    for s in current["status"].get("containerStatuses") or []
                    if s["name"] == "spark-kubernetes-driver"
                ),
                None,
            )
            terminated = (base or {}).get("state", {}).get("terminated")
            if terminated:
                if terminated["exitCode"] == 0:
                    self._spark_status(app, "COMPLETED", terminationTime=now())
                else:
                    self._spark_status(
                        app,
                        "FAILED",
                        f"driver container failed with ExitCode: "
                        f"{terminated['exitCode']}, Reason: {terminated['reason']}",
                    )
                return
            if phase == "Running" and state != "RUNNING":
                state = "RUNNING"
                self._spark_status(app, state)
            time.sleep(0.1)

    def delete_spark_application(self, namespace: str, name: str) -> dict[str, Any]:
        app = self.store.get(SPARK_PLURAL, namespace, name)
        self.store.remove(SPARK_PLURAL, namespace, name, app["metadata"]["uid"])
        for pod in self.store.list("pods", namespace, f"sparkoperator.k8s.io/app-name={name}"):
            owners = pod["metadata"].get("ownerReferences") or []
            if any(owner["uid"] == app["metadata"]["uid"] for owner in owners):
                self.delete_pod(namespace, pod["metadata"]["name"], None)  # garbage collection
        return app

    # -- HTTP -----------------------------------------------------------------------------
    def _routes(self, app: web.Application) -> None:
        pods = "/api/v1/namespaces/{namespace}/pods"
        spark = f"/apis/{SPARK_GROUP}/{SPARK_VERSION}/namespaces/{{namespace}}/{SPARK_PLURAL}"
        app.add_routes(
            [
                web.get("/version", self._version),
                web.get(pods, self._list_pods),
                web.post(pods, self._create_pod),
                web.get("/api/v1/pods", self._list_pods),
                web.get(pods + "/{name}", self._read_pod),
                web.patch(pods + "/{name}", self._patch_pod),
                web.delete(pods + "/{name}", self._delete_pod),
                web.get(pods + "/{name}/log", self._pod_log),
                web.get(pods + "/{name}/exec", self._exec),
                web.post(pods + "/{name}/exec", self._exec),
                web.get("/api/v1/namespaces/{namespace}/events", self._list_events),
                web.get(
                    "/api/v1/namespaces/{namespace}/configmaps/{name}", self._read("configmaps")
                ),
                web.get("/api/v1/namespaces/{namespace}/secrets/{name}", self._read("secrets")),
                web.post(spark, self._create_spark),
                web.get(spark, self._list("sparkapplications")),
                web.get(spark + "/{name}", self._read(SPARK_PLURAL)),
                web.get(spark + "/{name}/status", self._read(SPARK_PLURAL)),
                web.delete(spark + "/{name}", self._delete_spark),
            ]
        )

        @web.middleware
        async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as error:
                return error.response()

        app.middlewares.append(api_errors)

    async def _version(self, request: web.Request) -> web.Response:
        major, minor, _ = KUBERNETES_VERSION.split(".")
        return web.json_response(
            {"major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}-loopback"}
        )

    def _read(self, resource: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            info = request.match_info
            return web.json_response(self.store.get(resource, info["namespace"], info["name"]))

        return handler

    def _list(self, resource: str, kind: str = "") -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            query = request.query
            namespace = request.match_info.get("namespace")
            labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
            if _flag(query, "watch"):
                return await self._watch(request, resource, namespace, labels, fields)
            with self.store.lock:
                items, version = (
                    self.store.list(resource, namespace, labels, fields),
                    self.store.version,
                )
            return web.json_response(
                {
                    "apiVersion": "v1",
                    "kind": kind or "List",
                    "items": items,
                    "metadata": {"resourceVersion": str(version)},
                }
            )

        return handler

    async def _list_pods(self, request: web.Request) -> web.StreamResponse:
        return await self._list("pods", "PodList")(request)

    async def _list_events(self, request: web.Request) -> web.StreamResponse:
        return await self._list("events", "EventList")(request)

    async def _watch(
        self, request: web.Request, resource: str, namespace: str | None, labels: str, fields: str
    ) -> web.StreamResponse:
        """Watch events as newline-delimited JSON, from `resourceVersion` (or now)."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        # A watcher that hangs up (its timeout, a test's end) ends the watch.
        with contextlib.suppress(ConnectionResetError):
            await self._stream_changes(request, response, resource, namespace, labels, fields)
        return response

    async def _stream_changes(
        self,
        request: web.Request,
        response: web.StreamResponse,
        resource: str,
        namespace: str | None,
        labels: str,
        fields: str,
    ) -> None:
        since = int(request.query.get("resourceVersion") or 0)
        if not since:
            for item in self.store.list(resource, namespace, labels, fields):
                line = {"type": "ADDED", "object": item}
                await response.write(json.dumps(line).encode() + b"\n")
            since = self.store.version
        timeout = float(request.query.get("timeoutSeconds") or 300)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.lock:
                fresh = [c for c in self.store.changes if c[0] > since and c[2] == resource]
            for version, kind, _, obj in fresh:
                since = version
                meta = obj["metadata"]
                if namespace is not None and meta["namespace"] != namespace:
                    continue
                if labels and not _selector_matches(labels, meta.get("labels") or {}):
                    continue
                if fields and not _selector_matches(fields, Store._fields(resource, obj)):
                    continue
                await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            await asyncio.sleep(0.05)
        await response.write_eof()

    async def _create_pod(self, request: web.Request) -> web.Response:
        body = await request.json()
        created = await asyncio.to_thread(self.create_pod, request.match_info["namespace"], body)
        return web.json_response(created, status=201)

    async def _read_pod(self, request: web.Request) -> web.Response:
        info = request.match_info
        return web.json_response(self.store.get("pods", info["namespace"], info["name"]))

    async def _patch_pod(self, request: web.Request) -> web.Response:
        info, patch = request.match_info, await request.json()
        current = self.store.get("pods", info["namespace"], info["name"])

        def change(obj: dict[str, Any]) -> None:
            # Metadata is what a patch may change on a running pod (labels, annotations).
            for key in ("labels", "annotations"):
                update = (patch.get("metadata") or {}).get(key)
                if update is not None:
                    merged = {**(obj["metadata"].get(key) or {}), **update}
                    obj["metadata"][key] = {k: v for k, v in merged.items() if v is not None}

        updated = self.store.update(
            "pods", info["namespace"], info["name"], change, current["metadata"]["uid"]
        )
        return web.json_response(updated or current)

    async def _delete_pod(self, request: web.Request) -> web.Response:
        info = request.match_info
        grace = request.query.get("gracePeriodSeconds")
        if request.can_read_body:
            options = await request.json()
            if isinstance(options, dict) and options.get("gracePeriodSeconds") is not None:
                grace = options["gracePeriodSeconds"]
        pod = self.delete_pod(
            info["namespace"], info["name"], float(grace) if grace is not None else None
        )
        return web.json_response(pod)

    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        info, query = request.match_info, request.query
        pod = self.store.get("pods", info["namespace"], info["name"])
        runtime = self.runtimes[pod["metadata"]["uid"]]
        names = [c["name"] for c in pod["spec"]["containers"]]
        name = query.get("container") or (names[0] if len(names) == 1 else "")
        if name not in names:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod "
                f"{info['name']}, choose one of: {names}",
            )
        container = runtime.containers.get(name)
        if container is None:
            raise ApiError(
                400,
                "BadRequest",
                f'container "{name}" in pod "{info["name"]}" is '
                "waiting to start: ContainerCreating",
            )
        follow = _flag(query, "follow")
        timestamps = _flag(query, "timestamps")
        since = float(query["sinceSeconds"]) if "sinceSeconds" in query else None
        tail = int(query["tailLines"]) if "tailLines" in query else None
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        offset = 0

        def lines_from(data: bytes) -> list[bytes]:
            selected = []
            for line in data.splitlines(keepends=True):
                stamp, _, text = line.partition(b" ")
                if since is not None:
                    at = datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=UTC
                    )
                    if (datetime.now(UTC) - at).total_seconds() > since:
                        continue
                selected.append(line if timestamps else text)
            return selected

        try:
            data = container.log_path.read_bytes()
            offset = data.rfind(b"\n") + 1
            first = lines_from(data[:offset])
            await response.write(b"".join(first[-tail:] if tail is not None else first))
            while follow:
                done = container.process is None or container.process.poll() is not None
                data = container.log_path.read_bytes()
                end = data.rfind(b"\n") + 1
                if end > offset:
                    await response.write(b"".join(lines_from(data[offset:end])))
                    offset = end
                elif done:
                    break
                await asyncio.sleep(0.05)
            await response.write_eof()
        except FileNotFoundError:  # the pod was deleted: its logs with it, the stream ends
            await response.write_eof()
        except ConnectionResetError:  # the client went away
            pass
        return response

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        """`exec` as the kubelet streams it: the command entered into the container's
        namespaces (nsenter), its streams on channels 1 and 2, its end as a Status on 3."""
        info, query = request.match_info, request.query
        pod = self.store.get("pods", info["namespace"], info["name"])
        runtime = self.runtimes[pod["metadata"]["uid"]]
        name = query.get("container") or pod["spec"]["containers"][0]["name"]
        container = runtime.containers.get(name)
        if container is None or container.process is None or container.process.poll() is not None:
            raise ApiError(
                400, "BadRequest", f"container {name} is not valid for pod {info['name']}"
            )
        command = query.getall("command")
        socket = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await socket.prepare(request)
        env = [f"{key}={value}" for key, value in container.env.items()]
        process = await asyncio.create_subprocess_exec(
            "nsenter",
            f"--target={container.init_pid}",
            "--pid",
            "--mount",
            "--root",
            "--wd",
            "--",
            "/usr/bin/env",
            "-i",
            *env,
            *command,
            stdin=asyncio.subprocess.PIPE if _flag(query, "stdin") else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

        async def pump(stream: asyncio.StreamReader | None, channel: int) -> None:
            while stream is not None and (chunk := await stream.read(65536)):
                await socket.send_bytes(bytes([channel]) + chunk)

        async def receive() -> None:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    data = message.data.encode("utf-8")
                elif message.type == WSMsgType.BINARY:
                    data = message.data
                else:
                    break
                if not data or process.stdin is None:
                    continue
                if data[0] == 0:
                    process.stdin.write(data[1:])
                    await process.stdin.drain()
                elif data[0] == 255 and data[1:2] == b"\x00":  # v5: the client closed stdin
                    process.stdin.close()

        receiving = asyncio.create_task(receive())
        await asyncio.gather(pump(process.stdout, 1), pump(process.stderr, 2))
        code = await process.wait()
        receiving.cancel()
        if code == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {},
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        if not socket.closed:
            await socket.send_bytes(b"\x03" + json.dumps(status).encode())
            await socket.close()
        return socket

    async def _create_spark(self, request: web.Request) -> web.Response:
        body = await request.json()
        created = await asyncio.to_thread(
            self.create_spark_application, request.match_info["namespace"], body
        )
        return web.json_response(created, status=201)

    async def _delete_spark(self, request: web.Request) -> web.Response:
        info = request.match_info
        app = await asyncio.to_thread(
            self.delete_spark_application, info["namespace"], info["name"]
        )
        return web.json_response(app)


@functools.cache
def _spark_application_schema() -> Any:
    """The Spark Operator's SparkApplication schema (v1beta2), from its CRD in tests/schemas."""
    import jsonschema
    import yaml

    crd = yaml.safe_load((SCHEMAS / "sparkoperator.k8s.io_sparkapplications.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == SPARK_VERSION]
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


def _flag(query: Any, name: str) -> bool:
    """A boolean query parameter as the API server reads it (Go's strconv.ParseBool: the
    Python client sends `True`)."""
    return query.get(name, "false") in ("1", "t", "T", "true", "TRUE", "True")


def _with_overhead(driver: dict[str, Any]) -> str:
    """The driver pod's memory limit as the Spark Operator sets it: memory + overhead."""
    total = sum(
        memory_bytes(driver.get(key, "0").replace("m", "Mi").replace("g", "Gi"))
        for key in ("memory", "memoryOverhead")
    )
    return f"{max(total, 512 * 2**20) // 2**20}Mi"
