"""Compute resources and Secret references a task declares, validated when it joins a workflow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from processing_core.definition.naming import DNS_SUBDOMAIN_RE, SECRET_KEY_RE

# Kubernetes resource.Quantity: a decimal number with an optional binary/decimal suffix or
# exponent (k8s.io/apimachinery/pkg/api/resource). Negative amounts are never valid here.
_QUANTITY_RE = re.compile(
    r"^(?P<number>\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?\Z"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str | int | float) -> Decimal:
    """The amount a Kubernetes quantity (`500m`, `2Gi`, `1.5`, `1e3`) stands for.

    Raises ValueError with the accepted forms when `value` is not a quantity.
    """
    text = str(value).strip() if isinstance(value, int | float) else value
    match = _QUANTITY_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity; write e.g. '500m' or '2' for CPU, "
            "'512Mi' or '2Gi' for memory"
        )
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    try:
        if suffix in _BINARY:
            return number * _BINARY[suffix]
        if suffix in _DECIMAL:
            return number * _DECIMAL[suffix]
        return number * (Decimal(10) ** int(suffix[1:]))
    except (InvalidOperation, OverflowError) as error:
        raise ValueError(f"{value!r} is out of range for a Kubernetes quantity") from error


@dataclass(frozen=True)
class Resources:
    """CPU, memory and GPUs of a task's container, as Kubernetes quantities.

    A limit without a request lets Kubernetes use the limit as the request, as usual.
    """

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    ephemeral_storage_request: str | None = None
    ephemeral_storage_limit: str | None = None
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"

    def problems(self) -> list[str]:
        """What is wrong with these resources, each as a sentence with the fix; [] when fine."""
        found: list[str] = []
        for kind in ("cpu", "memory", "ephemeral_storage"):
            amounts: dict[str, Decimal] = {}
            for bound in ("request", "limit"):
                field = f"{kind}_{bound}"
                raw = getattr(self, field)
                if raw is None:
                    continue
                try:
                    amounts[bound] = parse_quantity(raw)
                except ValueError as error:
                    found.append(f"resources.{field}: {error}")
                    continue
                if amounts[bound] <= 0:
                    found.append(f"resources.{field} is {raw!r}; it must be greater than zero")
            if (
                "request" in amounts
                and "limit" in amounts
                and amounts["limit"] < amounts["request"]
            ):
                found.append(
                    f"resources.{kind}_limit ({getattr(self, f'{kind}_limit')!r}) is below "
                    f"resources.{kind}_request ({getattr(self, f'{kind}_request')!r}); raise the "
                    "limit or lower the request"
                )
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            found.append(f"resources.gpus is {self.gpus!r}; it must be a whole number >= 0")
        if not re.fullmatch(r"[a-z0-9.-]+/[a-z0-9.-]+", str(self.gpu_resource)):
            found.append(
                f"resources.gpu_resource {self.gpu_resource!r} is not an extended resource name "
                "such as 'nvidia.com/gpu'"
            )
        return found

    def requests(self) -> dict[str, str]:
        return self._amounts("request")

    def limits(self) -> dict[str, str]:
        limits = self._amounts("limit")
        if self.gpus:
            # Kubernetes schedules extended resources by their limit; the request must equal it.
            limits[self.gpu_resource] = str(self.gpus)
        return limits

    def _amounts(self, bound: str) -> dict[str, str]:
        names = {"cpu": "cpu", "memory": "memory", "ephemeral_storage": "ephemeral-storage"}
        return {
            k8s_name: str(getattr(self, f"{kind}_{bound}"))
            for kind, k8s_name in names.items()
            if getattr(self, f"{kind}_{bound}") is not None
        }


@dataclass(frozen=True)
class SecretRef:
    """A reference to one key of a Kubernetes Secret; the value never leaves the cluster."""

    secret: str
    key: str

    def problems(self) -> list[str]:
        found = []
        if not isinstance(self.secret, str) or not (
            DNS_SUBDOMAIN_RE.fullmatch(self.secret) and len(self.secret) <= 253
        ):
            found.append(
                f"Secret name {self.secret!r} is not a Kubernetes object name (lower-case "
                "letters, digits, '-' and '.', at most 253 characters)"
            )
        if not isinstance(self.key, str) or not (
            SECRET_KEY_RE.fullmatch(self.key) and len(self.key) <= 253
        ):
            found.append(
                f"Secret key {self.key!r} is not a valid key (letters, digits, '-', '_' and '.')"
            )
        return found
