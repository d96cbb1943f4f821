"""The one way every exercise check answers: a printed line and a bool."""

from __future__ import annotations


def verdict(ok: bool, message: str) -> bool:
    """Print ``correct: message`` or ``not yet: message``; return ``ok`` as a bool.

    Parameters
    ----------
    ok : bool
        Whether the learner's answer is right.
    message : str
        What was measured, so a wrong answer says what to look at.
    """
    ok = bool(ok)
    print(("correct: " if ok else "not yet: ") + message)
    return ok
