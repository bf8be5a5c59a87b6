"""What every panel shares: work off the kernel's thread (`background`), labelled controls (`fields`), the
fits-this-machine badge (`fits`), messages in notebook terms (`messages`), static HTML snapshots (`snapshot`)
and the theme's colours from JupyterLab's ``--jp-*`` variables (`style`). Imports no panel."""
