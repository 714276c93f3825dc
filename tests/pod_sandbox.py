"""A container's first process, for tests/loopback_kubernetes.py: builds the container's
filesystem and becomes the container's command.

Started by the loopback kubelet as
`unshare --mount --pid --fork --propagation private python pod_sandbox.py SPEC.json`, so it is
process 1 of a PID namespace of its own (the container sees only its own processes, as in
a pod without `shareProcessNamespace`; `kill` in an exec cannot reach the host's) and has a
mount namespace of its own. It then:

1. mounts a tmpfs as the container's root (the image's writable layer: `/tmp`, `/root`),
2. binds the host's system folders (`/usr`, `/etc`, `/dev`, ...) read-only, the image's
   virtualenv and interpreter read-only at the same paths (a virtualenv is not relocatable),
   the image's own files, and each volume at its `mountPath` (a real mount point, so
   `os.path.ismount` holds as in a pod),
3. mounts a `/proc` of the new PID namespace, `chroot`s there and `exec`s the command with
   exactly the container's environment (nothing of the test's environment leaks in).

Just before the `exec` it writes SPEC's `started` file: the kubelet reports the container
running only then, as a runtime does once the command runs (an exec entered earlier would
find the host's root and `/proc`).

A command that cannot be started is written to SPEC's `start_error` file (the kubelet
reports `StartError`, exit code 128, as containerd does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _bind(root: str, source: str, target: str, read_only: bool) -> None:
    inside = root + target
    if os.path.isdir(source):
        os.makedirs(inside, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        Path(inside).touch()
    _mount("--rbind", source, inside)
    if read_only:
        _mount("-o", "remount,bind,ro", inside)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    root = spec["root"]
    errors = open(spec["start_error"], "w", encoding="utf-8")  # noqa: SIM115 (kept past chroot)
    # The folder of `started`, held open to create the file after the chroot.
    started_folder = os.open(os.path.dirname(spec["started"]), os.O_RDONLY | os.O_DIRECTORY)
    _mount("-t", "tmpfs", "-o", "mode=0755", "rootfs", root)
    for name, target in spec["symlinks"].items():
        os.symlink(target, os.path.join(root, name))
    for source, target, read_only in spec["binds"]:
        _bind(root, source, target, read_only)
    for folder in ("tmp", "root", "proc", "run"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    _mount("-t", "proc", "proc", os.path.join(root, "proc"))
    os.chroot(root)
    working_dir = spec.get("working_dir") or "/"
    os.makedirs(working_dir, exist_ok=True)
    os.chdir(working_dir)
    command = spec["command"]
    os.close(
        os.open(
            os.path.basename(spec["started"]),
            os.O_CREAT | os.O_WRONLY,
            0o644,
            dir_fd=started_folder,
        )
    )
    os.close(started_folder)
    try:
        os.execvpe(command[0], command, spec["env"])
    except OSError as error:
        errors.write(
            f"failed to create containerd task: failed to create shim task: OCI runtime create "
            f'failed: runc create failed: unable to start container process: exec: "{command[0]}":'
            f" {error.strerror}"
        )
        errors.close()
        sys.exit(128)


if __name__ == "__main__":
    main(sys.argv[1])
