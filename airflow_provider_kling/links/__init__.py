"""Extra links on Kling tasks: buttons in the Airflow UI that open a task's result."""
