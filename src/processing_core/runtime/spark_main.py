"""The main application file of Spark tasks: `processing-core run-task` on the driver.

spark-submit runs this file as a script (`spark-submit ... spark_main.py run-task
MODULE:CLASS ...`): the SparkApplication's driver on Kubernetes (the pipeline image links it
where SPARK_ON_K8S_MAIN_APPLICATION_FILE points; `processing-core spark-main` prints its
installed path), and SparkSubmitTask on the local target.
"""

import os
import sys

# Python puts a script's own folder first on sys.path (after resolving symlinks), and this
# folder holds `logging.py`, which would shadow the standard library's for every import
# below. Only the standard library's builtin `os` and `sys` are imported before this line.
_here = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or ".") != _here]

from processing_core.console import main  # noqa: E402 - after the path is safe

if __name__ == "__main__":
    main()
