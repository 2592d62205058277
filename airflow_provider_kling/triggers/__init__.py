"""Airflow triggers: wait (and submit when capacity frees) on the triggerer, without a worker slot."""
