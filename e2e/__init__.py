"""End-to-end checks of the provider inside a real Airflow deployment (``make e2e``); not shipped."""
