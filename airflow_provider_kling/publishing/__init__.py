"""Copying Kling's results to storage you own before Kling deletes them (30 days)."""

from airflow_provider_kling._moved import module_getattr

# 0.1.0 names that moved elsewhere: still importable from here, with a DeprecationWarning.
__getattr__ = module_getattr("publishing")
