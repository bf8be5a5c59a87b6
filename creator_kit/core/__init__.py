"""The foundation: settings and paths (`config`), the error hierarchy (`errors`), the progress protocol (`events`),
atomic writes and safe deletes (`files`), the one bounded reader of files from outside (`readers`), the shared
input rules (`validate`), bug reports at the boundary (`bugs`), quiet library loads (`quiet`) and peak-memory
measurement (`memory`).

Imports nothing else of Creator Kit's, and no ML library (torch, transformers, diffusers, huggingface_hub...):
every other layer builds on it, and it stays cheap to import.
"""
