"""Measuring: one cell's run (runner), its timing harness, the machine's lock, the runtimes (backends), the int8
models they run (quantization), a measurement repeated in a fresh process, and the cells served under load."""
