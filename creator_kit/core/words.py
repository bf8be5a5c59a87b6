"""Words for messages: the article before a noun, and a count with its noun, so no message says "a autoencoder"
or "1 scenes".

    f"{repo_id} is {with_article(task)} model"   # "... is an autoencoder model", "... is a text-to-image model"
    counted(1, "file")                            # "1 file"; counted(5, "file") is "5 files"
"""

from __future__ import annotations

#: Words whose vowel letter is said "y" or "w" ("a user", "a unet", "a one-off"), or with a silent "h" ("an hour").
_SAID_WITH_A = ("uni", "une", "use", "usu", "uti", "ure", "one", "eu")
_SAID_WITH_AN = ("hour", "honest")


def with_article(phrase: str) -> str:
    """`phrase` after "a" or "an", as it is said: "a text-to-image", "an autoencoder", "an image", "a unet"."""
    word = phrase.lower()
    vowel = word[:1] in ("a", "e", "i", "o", "u") and not word.startswith(_SAID_WITH_A)
    return f"{'an' if vowel or word.startswith(_SAID_WITH_AN) else 'a'} {phrase}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, in the plural unless there is one: "1 file", "5 files", counted(2, "person", "people")."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
