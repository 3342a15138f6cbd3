"""Benchmarks of the Telzino provider against a bare requests loop and the HTTP provider.

Run them with ``make bench`` (own venv, the full sizes, one table, ``benchmarks/results.json``);
``python -m benchmarks --help`` lists the options. The README's Performance section explains every row.
"""
