"""Starter models: tiny, randomly initialised models built on this machine (`tiny`), the text one briefly trained
on a corpus the project ships (`data/`), and registered in the store (`build`), so that every workflow runs
offline end to end. They are for trying the workflow, and say so.

Sits beside the workflows: it builds with the library and trains with `train`.
"""

from creator_kit.starters.build import PICTURE_SIZE, SetupBars, build_starters, choose_models

__all__ = ["PICTURE_SIZE", "SetupBars", "build_starters", "choose_models"]
