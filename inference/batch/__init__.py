"""Batch prediction: a file in, scored like live traffic chunk by chunk, a file out
(services.py is the entry point)."""
