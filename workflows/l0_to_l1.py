"""The example pipeline's workflows."""

from processing_core import Parameter, Workflow
from workflows.frames import DATA
from workflows.tasks import (
    L1_PRODUCTS,
    Calibrate,
    FrameQuickLook,
    FrameStatistics,
    Ingest,
    MakeProducts,
    Publish,
    QualityCheck,
    QuickLookSummary,
)

PARAMETERS = (
    Parameter(
        "data_root",
        default="",
        description=(
            "Folder shared by the tasks. Empty: `/data/processing` on the `vbi-processing-data` "
            "claim in pods, and the worker user's own folder where nothing is mounted."
        ),
    ),
    Parameter("seed", type="integer", default=7, description="Seed of the simulated camera."),
    Parameter("frame_count", type="integer", default=4, minimum=1, description="Frames to ingest."),
    Parameter("frame_size", type="integer", default=16, minimum=2, maximum=512),
    Parameter("dark_level", type="number", default=100.0, description="Dark level to subtract."),
    Parameter("max_noise", type="number", default=50.0, description="Quality limit on noise."),
)

l0_to_l1 = Workflow(
    input_data="l0",
    output_data="l1",
    category="vbi",
    workflow_package=__package__,
    description="Calibrate VBI frames and publish the L1 product.",
    doc_md=(
        "# VBI L0 to L1\n\nIngest raw frames, calibrate them, then in parallel check their "
        "quality, build the L1 product and compute frame statistics with Spark; publish."
    ),
    tags=["example", "imaging"],
    parameters=PARAMETERS,
    volumes=[DATA],
)
l0_to_l1.add_node(Ingest)
l0_to_l1.add_node(Calibrate, upstreams=Ingest)
l0_to_l1.add_node(QualityCheck, upstreams=Calibrate)
l0_to_l1.add_node(MakeProducts, upstreams=Calibrate)
l0_to_l1.add_node(FrameStatistics, upstreams=Calibrate)
l0_to_l1.add_node(Publish, upstreams=[QualityCheck, MakeProducts, FrameStatistics])

# A quick look for operators: the same QualityCheck class twice, on raw and calibrated frames,
# and a look at each calibrated frame (one instance per frame, named by it), summed up.
# It runs whenever L1 products were published (and when triggered by hand).
quicklook = Workflow(
    input_data="l0",
    output_data="quicklook",
    category="vbi",
    workflow_package=__package__,
    description="Check raw and calibrated frames of an observation.",
    tags=["example", "quicklook"],
    schedule=L1_PRODUCTS,
    parameters=PARAMETERS,
    volumes=[DATA],
)
quicklook.add_node(Ingest)
quicklook.add_node(QualityCheck, upstreams=Ingest, task_id="check_raw")
quicklook.add_node(Calibrate, upstreams=Ingest)
quicklook.add_node(QualityCheck, upstreams=Calibrate, task_id="check_calibrated")
quicklook.add_node(
    FrameQuickLook,
    upstreams=Calibrate,
    foreach="calibrate.frames",
    map_index_template="frame {{ item.frame }}",
)
quicklook.add_node(QuickLookSummary, upstreams=FrameQuickLook)
