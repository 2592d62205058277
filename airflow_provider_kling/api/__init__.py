"""Kling's API contract, without Airflow: task kinds, request and response models, packs, webhooks."""
