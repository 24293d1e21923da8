"""Tests of the Kubernetes deployment: helm/promptsales and the values for the official Airflow chart."""
