"""Triggers run by the Airflow triggerer; they live in the installed package so it can import them."""
