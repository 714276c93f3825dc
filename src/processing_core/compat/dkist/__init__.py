"""dkist-processing-core's API over processing-core: moving a pipeline is an import change.

    from dkist_processing_core import TaskBase, Workflow, ResourceQueue     # before
    from processing_core.compat.dkist import TaskBase, Workflow, ResourceQueue  # after

A compat task is a processing-core task (run by `run-task` in the pipeline's image, with its
events, tracing and result); a compat workflow is a processing-core workflow (exported,
bundled and published the same way), with dkist's names: task ids are class names, the
dag_id is `<workflow name>_<version>`, `recipe_run_id` is a declared integer parameter, and
a node's `resource_queue` picks the resource profile of the same name. Its modules are
dkist's: `task`, `workflow`, `resource_queue`, `build_utils`, `notebook_utils` and `config`
(`DKISTProcessingCoreConfiguration`, for dkist-processing-common's configuration). See the
README's "Moving from dkist-processing-core".
"""

from processing_core.compat.dkist.resource_queue import ResourceQueue
from processing_core.compat.dkist.task import TaskBase
from processing_core.compat.dkist.workflow import Workflow, dag_name, workflow_name_from_details

__all__ = ["ResourceQueue", "TaskBase", "Workflow", "dag_name", "workflow_name_from_details"]
