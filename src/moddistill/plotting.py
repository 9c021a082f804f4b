"""Plots are files, never windows: every report draws with matplotlib's Agg backend (servers have no display)."""

from moddistill.errors import UserError


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend. matplotlib comes with the ``train`` extra, not with the torch-free
    serving install: without it a report that draws is refused in one line saying what to install."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("this report draws plots, which need matplotlib: pip install 'moddistill[train]' "
                        "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
