"""Assets: data a task produces and a workflow may be scheduled on (Airflow's Assets).

A task class (or one node) declares the assets it `produces`; the generated operator carries
them as Airflow `outlets`, so Airflow records an asset event when the task succeeds, with
the extra information the task put in `self.asset_extra`. A URI may hold `{placeholders}`
for the run's values (its parameters, dates, ids): such an asset becomes an Airflow
`AssetAlias` under its name, and the event is recorded for the URI the run renders. The
template is the library's own (`str.format` fields, names only): an author's string never
reaches Jinja or a shell.

`Workflow(schedule=...)` takes an asset, `a & b` (all of them updated) or `a | b` (any of
them), or `AssetsOrCron(cron, assets)` for both a clock and data. Everything here is plain
data, checked before export; nothing imports Airflow.
"""

from __future__ import annotations

import string
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processing_core.definition.declared import declared_objects_problems

# The run's values a URI template may use, besides the workflow's parameters.
RUN_FIELDS = {
    "workflow": "the workflow's name",
    "version": "the workflow's version",
    "dag_id": "the Airflow dag_id",
    "task_id": "the producing task's id",
    "run_id": "Airflow's run id",
    "ds": "the run's date, YYYY-MM-DD (its logical date, else when it was triggered)",
    "ds_nodash": "the run's date, YYYYMMDD",
    "ts": "the run's date and time, ISO 8601",
}
# Jinja's markers: never in a URI, so no template engine but ours ever reads one.
_JINJA_MARKERS = ("{{", "{%", "{#", "}}", "%}", "#}")
MAX_URI_LENGTH = 1500  # Airflow's asset uri column


@dataclass(frozen=True)
class Asset:
    """Data a task produces or a workflow waits for, e.g.
    `Asset("file:///data/vbi/l1", name="vbi_l1")` or, per run,
    `Asset("s3://vbi/l1/{ds}/{frame_size}", name="vbi_l1_daily")`.

    `name` is how Airflow and `self.asset_extra` refer to it (default: the URI); a URI with
    placeholders needs one.
    """

    uri: str
    name: str | None = None
    group: str = "asset"

    @property
    def key(self) -> str:
        """How the asset is named in Airflow, in `asset_extra` and in errors."""
        return self.name if self.name is not None else self.uri

    @property
    def fields(self) -> tuple[str, ...]:
        """The placeholder names in the URI, in order ((): a fixed URI)."""
        return tuple(field for field, _ in _placeholders(self.uri))

    @property
    def templated(self) -> bool:
        return bool(self.fields)

    def problems(self) -> list[str]:
        """What is wrong with this asset on its own, each with the fix; [] when fine."""
        where = f"asset {self.key!r}"
        if not isinstance(self.uri, str) or not self.uri:
            return [f"asset {self.uri!r}: the URI must be a non-empty string"]
        found = []
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            found.append(f"{where}: the name must be a non-empty string")
        if not isinstance(self.group, str) or not self.group:
            found.append(f"{where}: the group must be a non-empty string")
        if len(self.uri) > MAX_URI_LENGTH:
            found.append(f"{where}: the URI is longer than {MAX_URI_LENGTH} characters")
        if any(marker in self.uri for marker in _JINJA_MARKERS):
            return [
                *found,
                f"{where}: the URI holds a Jinja marker; placeholders are single braces, e.g. "
                "'s3://bucket/l1/{ds}'",
            ]
        try:
            placeholders = list(_placeholders(self.uri))
        except ValueError as error:
            return [*found, f"{where}: {error}"]
        for field, spec in placeholders:
            if not field.isidentifier() or spec:
                found.append(
                    f"{where}: placeholder {{{field}{spec}}} must be a bare name, e.g. {{ds}} "
                    "(no attributes, indexes, conversions or formats)"
                )
        if placeholders and self.name is None:
            found.append(
                f"{where}: a URI with placeholders needs a name (the asset alias Airflow "
                "shows and schedules on), e.g. Asset(..., name='vbi_l1_daily')"
            )
        found.extend(f"{where}: {problem}" for problem in _uri_problems(_example(self.uri)))
        return found

    def render(self, values: Mapping[str, Any]) -> str:
        """The URI with each placeholder replaced by its value, percent-encoded (a value is
        one piece of the URI: '/' and '?' in it are encoded too)."""
        rendered = []
        for literal, field, _, _ in string.Formatter().parse(self.uri):
            rendered.append(literal)
            if field is not None:
                rendered.append(urllib.parse.quote(_text(values[field]), safe=""))
        return "".join(rendered)

    def __and__(self, other: Condition) -> AllOf:
        return AllOf(self, other)

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf(self, other)

    # `"@daily" | asset` reaches the schedule check, which names AssetsOrCron.
    def __rand__(self, other: object) -> AllOf:
        return AllOf(other, self)  # type: ignore[arg-type]

    def __ror__(self, other: object) -> AnyOf:
        return AnyOf(other, self)  # type: ignore[arg-type]


@dataclass(frozen=True, init=False)
class _Combined:
    items: tuple[Condition, ...]

    def __init__(self, *items: Condition) -> None:
        object.__setattr__(self, "items", items)


class AllOf(_Combined):
    """Runs when every one of its assets (or conditions) was updated: `a & b`."""

    def __and__(self, other: Condition) -> AllOf:
        return AllOf(*self.items, other)

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf(self, other)


class AnyOf(_Combined):
    """Runs when any one of its assets (or conditions) was updated: `a | b`."""

    def __and__(self, other: Condition) -> AllOf:
        return AllOf(self, other)

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf(*self.items, other)


Condition = Asset | AllOf | AnyOf


@dataclass(frozen=True)
class AssetsOrCron:
    """A schedule of both kinds (Airflow's AssetOrTimeSchedule): a run at each `cron` time
    (a cron expression or preset, in UTC) and a run whenever `assets` were updated."""

    cron: str
    assets: Condition


@dataclass(frozen=True)
class AssetEvent:
    """One asset event that triggered the run (`self.asset_events` in a task): which asset,
    the extra information its producer recorded, and where it came from."""

    name: str
    uri: str
    extra: Mapping[str, Any]
    timestamp: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_task_id: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AssetEvent:
        """From the JSON form the DAG file passes to `run-task`; ValueError if it is not."""
        extra = data.get("extra") or {}
        if not isinstance(data.get("name"), str) or not isinstance(data.get("uri"), str):
            raise ValueError("an asset event needs a string name and uri")
        if not isinstance(extra, Mapping):
            raise ValueError(f"the extra of asset event {data['name']!r} is not an object")
        optional = ("timestamp", "source_dag_id", "source_run_id", "source_task_id")
        return cls(
            name=data["name"],
            uri=data["uri"],
            extra=dict(extra),
            **{key: None if data.get(key) is None else str(data[key]) for key in optional},
        )


def assets_in(condition: object) -> Iterator[Asset]:
    """Every Asset in a condition (or a schedule), in order."""
    if isinstance(condition, Asset):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from assets_in(item)
    elif isinstance(condition, AssetsOrCron):
        yield from assets_in(condition.assets)


def condition_problems(condition: object, where: str) -> list[str]:
    """What is wrong with an asset condition: its parts, and every asset in it."""
    if isinstance(condition, Asset):
        return condition.problems()
    if isinstance(condition, AllOf | AnyOf):
        if not condition.items:
            return [f"{where}: {type(condition).__name__}() needs at least one asset"]
        found = []
        for item in condition.items:
            if isinstance(item, str):
                found.append(
                    f"{where}: {item!r} is a string among assets; to run on a clock and on "
                    "data, use AssetsOrCron(cron, assets)"
                )
            elif not isinstance(item, Asset | AllOf | AnyOf):
                found.append(f"{where}: {item!r} is not an Asset (nor a & or | of assets)")
            else:
                found.extend(condition_problems(item, where))
        return found
    return [f"{where}: {condition!r} is not an Asset (nor a & or | of assets)"]


def declared_assets_problems(assets: object, where: str) -> list[str]:
    """What is wrong with a sequence of assets a task declares it produces."""
    return declared_objects_problems(assets, where, "produces", Asset, "Asset(uri)")


def asset_set_problems(placed: Iterable[tuple[str, Asset]]) -> list[str]:
    """One name for two different assets (Airflow keys assets by name), given with where
    each was declared."""
    found = []
    seen: dict[str, tuple[str, Asset]] = {}
    for where, asset in placed:
        other = seen.setdefault(asset.key, (where, asset))
        if other[1] != asset:
            found.append(
                f"asset name {asset.key!r} means {other[1].uri!r} in {other[0]} and "
                f"{asset.uri!r} in {where}; give one of them another name"
            )
    return found


def template_values(
    *,
    workflow: str,
    version: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    date: datetime,
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The values a URI template reads in a run."""
    return {
        **parameters,
        "workflow": workflow,
        "version": version,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "ds": date.strftime("%Y-%m-%d"),
        "ds_nodash": date.strftime("%Y%m%d"),
        "ts": date.isoformat(),
    }


def _placeholders(uri: str) -> Iterator[tuple[str, str]]:
    """(field, conversion and format) of each placeholder; ValueError for a stray brace."""
    try:
        parsed = list(string.Formatter().parse(uri))
    except ValueError as error:
        raise ValueError(
            f"the URI's braces do not pair ({error}); a placeholder is {{name}}"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is not None:
            yield field, (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")


def _example(uri: str) -> str:
    """The URI with each placeholder as a harmless sample value, for the URI checks."""
    return "".join(
        literal + ("x" if field is not None else "")
        for literal, field, _, _ in string.Formatter().parse(uri)
    )


def _uri_problems(uri: str) -> list[str]:
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    if not scheme or not (parsed.netloc or parsed.path):
        return [
            f"{uri!r} is not a URI; write scheme://place/path, e.g. 'file:///data/l1' or "
            "'s3://bucket/l1'"
        ]
    if scheme == "airflow":
        return ["the scheme 'airflow' is Airflow's own; use another"]
    problems = []
    if parsed.password is not None or parsed.username is not None:
        problems.append("the URI holds user information; keep credentials out of it")
    if parsed.fragment:
        problems.append("the URI has a #fragment, which Airflow drops; remove it")
    if any(ord(character) < 0x21 or ord(character) == 0x7F for character in uri):
        problems.append("the URI holds spaces or control characters; percent-encode them")
    return problems


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
