"""Access to the files bundled in ``scaling_bayes/datasets`` (private helper)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["bundled"]


def bundled(name: str) -> Traversable:
    """Return a handle on the bundled dataset file ``name``.

    Parameters
    ----------
    name : str
        File name inside ``scaling_bayes/datasets`` (e.g. ``"protocol.json"``).

    Returns
    -------
    importlib.resources.abc.Traversable
        Use ``.open()`` / ``.read_text()``, or :func:`importlib.resources.as_file`
        when a real path is needed.
    """
    resource = files("scaling_bayes") / "datasets" / name
    if not resource.is_file():
        raise FileNotFoundError(f"bundled dataset file {name!r} not found in scaling_bayes/datasets")
    return resource

