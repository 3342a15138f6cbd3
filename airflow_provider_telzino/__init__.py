"""The import name Airflow 3.3+ derives from this distribution's name (``airflow-provider-telzino``).

With ``[core] load_examples`` on, Airflow 3.3 looks for each installed provider's ``example_dags``
folder next to the provider's package, which it finds by importing the distribution name with ``-``
turned into ``_``: ``airflow_provider_telzino``. Without this module that import fails and Airflow
logs an error with a traceback on every DAG parse. The provider itself lives in ``telzino_provider``;
this package holds no example DAGs on purpose (``example_dags/`` in the repository is for users to
copy, not for every deployment to load), so Airflow adds none. Nothing here imports Airflow.
"""
