"""The model library: the curated `catalog`, the Hub (`hub`, `download`), the store on disk in the Hugging Face
cache layout (`cache`, `store`), what fits this machine (`devices`, `sizing`), and what a converted variant is to
the store (`variants`).

Imports only `core`. Everything above it finds models here; nothing here loads a model.
"""
