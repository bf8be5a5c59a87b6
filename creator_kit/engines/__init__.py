"""The engines: models loaded and run. `runtime` loads and caches models within a memory budget; `text`, `image`
and `video` (with `storyboard` and `frames`) generate; `companions` are tiny autoencoders for previews;
`variant_text` and `variant_image` run converted variants; `manifest` records what made every output, and
`tasks` picks the engine of a task (load an installed model, reproduce an output). `text_params` and
`video_params` are the light parameter records the panels build their controls from.

Imports `core` and `library`, never the training, conversion, workflow or front-end layers above it. Importing
a module here loads torch only where it runs models (`text`, the variants); the others load it on first use.
"""
