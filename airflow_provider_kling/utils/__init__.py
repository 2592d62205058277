"""Small helpers with no Kling or Airflow knowledge."""
