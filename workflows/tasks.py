"""The example pipeline's tasks."""

from __future__ import annotations

import os
import random
import statistics
from datetime import timedelta
from pathlib import Path

from processing_core import Asset, Resources, SecretRef, SparkResources, SparkTaskBase, TaskBase
from workflows.frames import read_frames, run_folder, write_json


class Ingest(TaskBase):
    """Ingest the raw frames of an observation.

    Simulates the camera: `frame_count` frames of `frame_size`² pixels with a dark level,
    a flat-field pattern and noise, reproducible from `seed`.
    """

    retries = 2
    retry_delay = timedelta(seconds=30)
    retry_exponential_backoff = 2.0
    resources = Resources(cpu_request="250m", memory_request="256Mi", memory_limit="512Mi")

    def run(self) -> None:
        size, count = int(self.parameters["frame_size"]), int(self.parameters["frame_count"])
        generator = random.Random(self.parameters["seed"])
        frames = [
            [
                [
                    100.0 + 50.0 * (1 + (x + y) / (2 * size)) + generator.gauss(0, 2)
                    for x in range(size)
                ]
                for y in range(size)
            ]
            for _ in range(count)
        ]
        path = run_folder(self.parameters["data_root"], self.run_id) / "raw.json"
        write_json(path, {"frames": frames})
        self.outputs = {"frames_path": str(path), "frame_count": count, "frame_size": size}
        self.metrics = {"pixels_ingested": count * size * size}

    def rollback(self) -> None:
        path = run_folder(self.parameters["data_root"], self.run_id) / "raw.json"
        path.unlink(missing_ok=True)


class Calibrate(TaskBase):
    """Subtract the dark level and divide by the flat field."""

    retries = 1
    execution_timeout = timedelta(hours=1)
    resource_profile = "high_memory"
    resources = Resources(cpu_request="1", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi")
    # One element per calibrated frame: a downstream node can run once per frame.
    declared_outputs = ("frames",)

    def run(self) -> None:
        raw = self.inputs["ingest"]
        dark = float(self.parameters["dark_level"])
        frames = read_frames(raw["frames_path"])
        size = raw["frame_size"]
        flat = [[1 + (x + y) / (2 * size) for x in range(size)] for y in range(size)]
        calibrated = [
            [
                [(value - dark) / flat[y][x] for x, value in enumerate(row)]
                for y, row in enumerate(frame)
            ]
            for frame in frames
        ]
        path = Path(raw["frames_path"]).with_name("calibrated.json")
        write_json(path, {"frames": calibrated})
        self.outputs = {
            "frames_path": str(path),
            "frame_count": len(calibrated),
            "frame_size": size,
            "frames": [{"frame": index, "frames_path": str(path)} for index in range(len(frames))],
        }
        self.metrics = {"dark_level": dark}


class FrameQuickLook(TaskBase):
    """A quick look at one calibrated frame: its mean, minimum and maximum.

    Runs once per frame (`foreach="calibrate.frames"`), each instance a pod of its own."""

    resources = Resources(cpu_request="250m", memory_request="256Mi", memory_limit="512Mi")

    def run(self) -> None:
        frame = read_frames(self.item["frames_path"])[self.item["frame"]]
        pixels = [value for row in frame for value in row]
        self.outputs = {
            "frame": self.item["frame"],
            "mean": statistics.fmean(pixels),
            "minimum": min(pixels),
            "maximum": max(pixels),
        }


class QuickLookSummary(TaskBase):
    """Collect the frames' quick looks, in frame order, into `quicklook.json`."""

    def run(self) -> None:
        looks = self.inputs["frame_quick_look"]  # one result per frame, in map order
        summary = {
            "frames": [look["frame"] for look in looks],
            "means": [look["mean"] for look in looks],
            "brightest": max(looks, key=lambda look: look["mean"])["frame"] if looks else None,
        }
        folder = run_folder(self.parameters["data_root"], self.run_id)
        write_json(folder / "quicklook.json", summary)
        self.outputs = summary


class QualityCheck(TaskBase):
    """Check the noise and the level of the frames its upstream produced."""

    def run(self) -> None:
        (upstream,) = self.inputs.values()
        pixels = [
            value
            for frame in read_frames(upstream["frames_path"])
            for row in frame
            for value in row
        ]
        noise = statistics.pstdev(pixels)
        if noise > float(self.parameters["max_noise"]):
            raise ValueError(f"noise {noise:.2f} is above max_noise={self.parameters['max_noise']}")
        self.outputs = {"mean": statistics.fmean(pixels), "noise": noise, "passed": True}
        self.metrics = {"pixels_checked": len(pixels)}


class MakeProducts(TaskBase):
    """Average the calibrated frames into the L1 product."""

    resources = Resources(cpu_request="500m", memory_request="1Gi")

    def run(self) -> None:
        calibrated = self.inputs["calibrate"]
        frames = read_frames(calibrated["frames_path"])
        size = calibrated["frame_size"]
        product = [
            [statistics.fmean(frame[y][x] for frame in frames) for x in range(size)]
            for y in range(size)
        ]
        path = Path(calibrated["frames_path"]).with_name("product.json")
        write_json(path, {"frames": [product]})
        self.outputs = {"product_path": str(path), "frames_combined": len(frames)}


class FrameStatistics(SparkTaskBase):
    """Per-frame statistics of the calibrated frames, computed with Spark."""

    retries = 1
    spark_resources = SparkResources(
        executor_memory="2g",
        initial_executors=1,
        min_executors=1,
        max_executors=4,
        spark_conf={"spark.sql.shuffle.partitions": "8"},
        driver_annotations={"example.org/team": "imaging"},
    )
    # Updated per day (the run's date): an asset of its own for each day's statistics.
    produces = (Asset("file:///data/vbi/statistics/{ds}", name="vbi_daily_statistics"),)

    def run(self) -> None:
        from pyspark.sql import functions as F

        calibrated = self.inputs["calibrate"]
        frames = self.spark.read.json(calibrated["frames_path"], multiLine=True)
        pixels = (
            frames.select(F.posexplode("frames").alias("frame", "rows"))
            .select("frame", F.explode("rows").alias("row"))
            .select("frame", F.explode("row").alias("value"))
        )
        per_frame = (
            pixels.groupBy("frame")
            .agg(
                F.mean("value").alias("mean"),
                F.stddev_pop("value").alias("stddev"),
                F.min("value").alias("min"),
                F.max("value").alias("max"),
                F.count("value").alias("pixels"),
            )
            .orderBy("frame")
            .collect()
        )
        self.outputs = {
            "frames": [
                {key: row[key] for key in ("frame", "mean", "stddev", "min", "max")}
                for row in per_frame
            ],
            "overall_mean": pixels.agg(F.mean("value")).first()[0],
        }
        self.metrics = {"pixels": sum(row["pixels"] for row in per_frame)}
        self.asset_extra = {"vbi_daily_statistics": {"frames": len(per_frame)}}


# The archive's L1 products: updated by each publish, awaited by the quick look.
L1_PRODUCTS = Asset("file:///data/vbi/l1", name="vbi_l1_products")


class Publish(TaskBase):
    """Publish the L1 product with its quality report to the archive."""

    retries = 3
    retry_delay = timedelta(minutes=1)
    secrets = {"ARCHIVE_TOKEN": SecretRef(secret="archive-credentials", key="token")}
    produces = (L1_PRODUCTS,)

    def run(self) -> None:
        quality, products = self.inputs["quality_check"], self.inputs["make_products"]
        statistics = self.inputs["frame_statistics"]
        manifest = {
            "workflow": self.workflow_name,
            "version": self.workflow_version,
            "run_id": self.run_id,
            # The run's identity as Airflow gave it: None for a manual run without a date.
            "run_type": self.run_type,
            "logical_date": self.logical_date.isoformat() if self.logical_date else None,
            "product_path": products["product_path"],
            "quality": quality,
            "statistics": statistics,
            # Whether credentials were mounted; the token itself is never written anywhere.
            "authenticated": bool(os.environ.get("ARCHIVE_TOKEN")),
        }
        path = Path(products["product_path"]).with_name("manifest.json")
        write_json(path, manifest)
        self.outputs = {"manifest_path": str(path), "published": True}
        # Shown with the asset event in Airflow, and read by the runs it triggers.
        self.asset_extra = {
            "vbi_l1_products": {"manifest_path": str(path), "frames": len(statistics["frames"])}
        }
