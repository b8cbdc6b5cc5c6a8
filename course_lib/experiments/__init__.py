"""Experiments apart from the library: benchmarks, sweeps and ablations.

The algorithms live in their topic modules (``course_lib.ppo``, ``course_lib.grpo``, ...); what
measures them (a benchmark that prints figures, a sweep whose results are cached in ``data/``)
lives here, one module per experiment, each with ``main(argv) -> int`` routed by
``python -m course_lib``.
"""
