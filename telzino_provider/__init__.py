"""Apache Airflow provider for Telzino AI voice agents."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
