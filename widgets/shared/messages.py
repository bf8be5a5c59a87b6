"""Messages in notebook terms: the engine's hints name CLI commands and flags; a panel shows the notebook calls.

Every message a panel shows about an error goes through `error_message`. An unexpected error (not a
`CreatorKitError`) is a bug: its traceback goes to a log in the outputs folder (`ck.report_bug`) and the panel
shows the one line that names it. The engine's hints become notebook calls:

    notebook_terms("... or use --offline to work with installed models.")
    # '... or use ck.configure(offline=True) to work with installed models.'
"""

from __future__ import annotations

import re

import creator_kit as ck

#: (CLI form, notebook form), tried in order; a flag already followed by its notebook form, as in
#: "--allow-pickle (allow_pickle=True)" or "(CLI: --resume)", is left as it is.
_NOTEBOOK_FORMS = [
    (r"`creator-kit models download ([^`\s]+) --allow-pickle`", r"`ck.ModelStore().download('\1', allow_pickle=True)`"),
    (r"`creator-kit models download ([^`\s]+)`", r"`ck.ModelStore().download('\1')`"),
    (r"`creator-kit models starter --force`", "`ck.build_starters(force=True)`"),
    (r"`creator-kit models starter`", "`ck.build_starters()`"),
    (r"`creator-kit models catalog --task ([^`\s]+)`", r"`ck.ModelStore().catalog('\1')`"),
    (r"`(?:creator-kit )?models catalog`", "`ck.ModelStore().catalog()`"),
    (r"`(?:creator-kit )?models list`", "`ck.ModelStore().installed()`"),
    (r"`(?:creator-kit )?models remove`", "`ck.ModelStore().remove(repo_id)`"),
    (r"unset HF_HUB_OFFLINE, drop --offline", "ck.configure(offline=False)"),
    (r"--offline(?! \()", "ck.configure(offline=True)"),
    (r"--models-dir(?! \()", "ck.configure(models_dir=...)"),
]


def notebook_terms(text: str) -> str:
    """`text` with the CLI commands and flags it names replaced by the notebook calls that do the same."""
    for pattern, replacement in _NOTEBOOK_FORMS:
        text = re.sub(pattern, replacement, text)
    return text


def error_message(error: Exception, *, unexpected: bool = False) -> str:
    """What a panel says about `error`: its message in notebook terms; for an unexpected one, the line that says
    it is a bug and names the log holding its traceback (written now)."""
    return ck.report_bug(error, "this panel") if unexpected else notebook_terms(str(error))
