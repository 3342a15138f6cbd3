"""The ``telzino`` connection form, declared once and imported by nothing heavier than this.

Airflow 3.2+ reads these from the provider info (``conn-fields``, ``ui-field-behaviour``) without
importing the hook; older versions call the hook's classmethods, which build widgets from the same
dicts. No Airflow import here: the providers manager loads it while Airflow itself starts.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_URL = "https://api.telzino.com"
DEFAULT_AUDIENCE = "https://api.telzino.com/"
CONN_TYPE = "telzino"

#: Extra fields on the connection form, with JSON-schema types and defaults.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "client_id": {
        "label": "OAuth client ID",
        "description": "For client-credentials auth; leave empty when the password holds an access token.",
        "schema": {"type": ["string", "null"]},
    },
    "client_secret": {
        "label": "OAuth client secret",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "audience": {
        "label": "OAuth audience",
        "schema": {"type": ["string", "null"], "default": DEFAULT_AUDIENCE},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 10},
    },
    "read_timeout": {
        "label": "Read timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 30},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of one request on 429, 5xx and network errors.",
        "schema": {"type": ["integer", "null"], "default": 5},
    },
    "max_retry_wait": {
        "label": "Max seconds to wait on one retry",
        "description": "Caps exponential backoff and the server's Retry-After.",
        "schema": {"type": ["number", "null"], "default": 60},
    },
    "retry_backoff": {
        "label": "First retry backoff (seconds)",
        "schema": {"type": ["number", "null"], "default": 1},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login", "extra"],
    "relabeling": {"host": "API base URL", "password": "Access token"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "static bearer token (or fill in the OAuth client fields)",
        "client_id": "from Account Settings > API credentials",
    },
}
