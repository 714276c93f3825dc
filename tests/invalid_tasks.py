"""Task classes with one defect each, for the validation tests."""

from __future__ import annotations

from datetime import timedelta

from processing_core import Resources, SecretRef, SparkResources, SparkTaskBase, TaskBase


class Good(TaskBase):
    def run(self) -> None:
        pass


class Other(TaskBase):
    def run(self) -> None:
        pass


class NoRun(TaskBase):
    pass


def _with(name: str, **attributes: object) -> type[TaskBase]:
    cls = type(name, (Good,), dict(attributes))
    cls.__module__ = __name__
    globals()[name] = cls
    return cls


BadCpu = _with("BadCpu", resources=Resources(cpu_request="lots"))
ZeroMemory = _with("ZeroMemory", resources=Resources(memory_request="0Mi"))
LimitBelowRequest = _with(
    "LimitBelowRequest", resources=Resources(memory_request="4Gi", memory_limit="2Gi")
)
NegativeGpus = _with("NegativeGpus", resources=Resources(gpus=-1))
UnknownUnit = _with("UnknownUnit", resources=Resources(memory_request="2GB"))
ResourcesDict = _with("ResourcesDict", resources={"cpu": "1"})
SecretValue = _with("SecretValue", secrets={"DB_PASSWORD": "hunter2"})
BadSecretName = _with("BadSecretName", secrets={"TOKEN": SecretRef(secret="My_Secret", key="t")})
BadSecretVariable = _with("BadSecretVariable", secrets={"1TOKEN": SecretRef(secret="s", key="t")})
ReservedSecretVariable = _with("ReservedSecretVariable", secrets={"POD_NAME": SecretRef("s", "k")})
NegativeRetries = _with("NegativeRetries", retries=-1)
IntRetryDelay = _with("IntRetryDelay", retry_delay=30)
ZeroTimeout = _with("ZeroTimeout", execution_timeout=timedelta(0))
ZeroStartupTimeout = _with("ZeroStartupTimeout", startup_timeout=timedelta(0))
NegativeBackoff = _with("NegativeBackoff", retry_exponential_backoff=-2)
UnknownProfile = _with("UnknownProfile", resource_profile="huge_memory")


def make_local_class() -> type[TaskBase]:
    class Local(TaskBase):
        def run(self) -> None:
            pass

    return Local


class _Spark(SparkTaskBase):
    def run(self) -> None:
        pass


def _spark(name: str, **resources: object) -> type[TaskBase]:
    cls = type(name, (_Spark,), {"spark_resources": SparkResources(**resources)})
    cls.__module__ = __name__
    globals()[name] = cls
    return cls


SparkZeroCores = _spark("SparkZeroCores", driver_cores=0)
SparkZeroMemory = _spark("SparkZeroMemory", executor_memory=0)
SparkUnknownUnit = _spark("SparkUnknownUnit", driver_memory="2 parsecs")
SparkUnknownSuffix = _spark("SparkUnknownSuffix", executor_memory_overhead="512x")
SparkMinAboveMax = _spark("SparkMinAboveMax", min_executors=5, max_executors=3)
SparkInitialOutside = _spark("SparkInitialOutside", initial_executors=9, max_executors=4)
SparkJinjaConf = _spark("SparkJinjaConf", spark_conf={"spark.x": "{{ 7 * 7 }}"})
SparkBadAnnotations = _spark("SparkBadAnnotations", driver_annotations={"a": 1})
