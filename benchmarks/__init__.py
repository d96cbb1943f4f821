"""Benchmarks of the repository (not installed with the package); see RESULTS.md."""
