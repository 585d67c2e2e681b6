"""``vigil bench``: benchmarks that report ratios measured side by side in one run (DESIGN.md, "Commands")."""
