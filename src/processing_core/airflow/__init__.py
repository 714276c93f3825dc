"""Airflow-side components of processing-core that run in Airflow's own processes (the
`[airflow]` extra): the triggerer's RabbitMQ trigger (`processing_core.airflow.triggers`)
and the artifact-repository DAG bundle (`processing_core.airflow.bundle`)."""
