"""The Airflow UI plugin: a "Kling" tab on task instances and a "Kling" page in the navigation."""
