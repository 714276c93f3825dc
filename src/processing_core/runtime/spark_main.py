"""The SparkApplication's main application file: `processing-core run-task` on the driver.

The Spark Operator runs `spark-submit ... spark_main.py run-task MODULE:CLASS ...`; the pipeline
image links this file where SPARK_ON_K8S_MAIN_APPLICATION_FILE points
(`processing-core spark-main` prints its installed path).
"""

from processing_core.cli import main

if __name__ == "__main__":
    main()
