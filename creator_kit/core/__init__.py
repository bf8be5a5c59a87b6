"""The foundation: settings and paths (`config`), the error hierarchy (`errors`), the progress protocol (`events`),
atomic writes and safe deletes (`files`), the shared input rules (`validate`), quiet library loads (`quiet`) and
peak-memory measurement (`memory`).

Imports nothing else of Creator Kit's, and no ML library (torch, transformers, diffusers, huggingface_hub...):
every other layer builds on it, and it stays cheap to import.
"""
