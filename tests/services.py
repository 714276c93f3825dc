"""What the suite needs besides Python packages, each checked the same way: when one is
missing, the tests that need it fail under CI=true and are skipped, saying why, otherwise.

bitbucket-pipelines.yml's test step provides every one of them (tests/test_ci_pipeline.py
checks that it declares each service and installs Java).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

# name -> (loopback address, how to start it on a developer's machine)
SERVICES = {
    "rabbitmq": (("127.0.0.1", 5672), "`rabbitmq-server -detached`"),
    "postgres": (
        ("127.0.0.1", 5432),
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
    ),
}


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_service(name: str) -> None:
    (host, port), start = SERVICES[name]
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        missing(f"{name} is not reachable at {host}:{port} ({error}); start it with {start}")


def java_command() -> str | None:
    """The `java` pyspark and spark-submit run: JAVA_HOME's, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if java.is_file() else None
    return shutil.which("java")


def require_java() -> None:
    """Spark in local mode (pyspark, spark-submit) needs a Java runtime (17 or 21)."""
    java = java_command()
    problem = "no `java` on PATH" if java is None else None
    if java is not None:
        try:
            ran = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
            if ran.returncode != 0:
                problem = f"`{java} -version` failed: {ran.stderr.strip()[-300:]}"
        except OSError as error:
            problem = f"{java} cannot run: {error}"
    if os.environ.get("JAVA_HOME") and java is None:
        problem = f"JAVA_HOME={os.environ['JAVA_HOME']} holds no bin/java"
    if problem:
        missing(f"Spark in local mode needs Java: {problem}; install a JRE 17 "
                "(e.g. `apt-get install openjdk-17-jre-headless`)")  # fmt: skip
