"""Benchmarks of foxnb against hand-written polling loops (run ``./dev bench``).

``sweep_benchmark`` is the entry point; the other modules are its parts: ``workload`` (the
sweep and the time scaling), ``simproc`` (the simulator in its own process and the
server-side truth it leaves behind), ``clients`` (foxnb and the three baselines, each run in a
fresh process), ``memory`` (1,000 jobs tracked at once), ``ledger_load`` (10,000 runs into a
DataFrame), ``scoring`` (the CPU time to score a result) and ``report`` (figures and the
Markdown table).
"""
