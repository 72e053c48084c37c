"""Benchmark suite of Galactic Conquest: see bench/README.md. Run `.venv/bin/python bench/run.py`."""
