"""`make bench`: gas, throughput, latency and verification figures of TwinLedger against baselines and limits.

Run from the repository root as ``python -m bench.run`` (``--quick`` for a smoke run, ``--only NAME``
for one group). Results go to ``bench/results.json``; ``bench/report.py`` renders ``docs/benchmarks.md``.
"""
