"""Airflow operators: submit a Kling task and wait for it, and publish its results."""
