"""Workflows built from the engines: `compare` (models side by side with metrics), `arena` (blind votes and a
leaderboard), queues (`queue`, with its plan of items in `queue_items` and its Ray runner in `queue_ray`),
`bench` (a model's speed on this machine) and `outputs` (the saved results, listed and deleted).

Imports the engines, the library and core; only the front ends (`cli`, the panels) sit above it.
"""
