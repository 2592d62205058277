"""Airflow sensor: wait for a Kling task submitted elsewhere."""
