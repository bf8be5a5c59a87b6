"""ipywidgets panels: views over the creator_kit engine, with no model logic of their own."""

from widgets.compare_panel import ComparePanel
from widgets.generation_previewer import GenerationPreviewer
from widgets.model_browser import ModelBrowser
from widgets.training_monitor import TrainingMonitor

__all__ = ["ComparePanel", "GenerationPreviewer", "ModelBrowser", "TrainingMonitor"]
