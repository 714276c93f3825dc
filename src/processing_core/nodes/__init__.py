"""Node adapters: each turns one task of one workflow into operator data (no Airflow import)."""
