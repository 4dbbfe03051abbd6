"""Pre- and post-processing that travels with task-aware bundles (run at packaging and at serving).

Each module imports its heavy library (``tokenizers``) lazily, so tensor-only runtimes never need it.
"""
