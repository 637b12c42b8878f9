"""What every PNG plot of tailjax shares: a headless pyplot, and saving to a local or gs:// path."""

from __future__ import annotations

from tailjax.paths import resolve


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed: CI, pods, ssh sessions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path) -> None:
    """Write `fig` as a 120-dpi PNG to `path` (local or a cloud URI, `paths.resolve`), then
    close it."""
    with resolve(path).open("wb") as f:
        fig.savefig(f, format="png", dpi=120)
    pyplot().close(fig)
