"""Renderers: DAG data to a DAG file's text, or to an Airflow DAG in memory."""
