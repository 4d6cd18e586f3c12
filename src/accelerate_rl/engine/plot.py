"""Envelope plot: rms sizes SizeX, SizeY and the aperture along the line, to PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def plot_envelope(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Plot +-SizeX (top) and +-SizeY (bottom) [mm] with the aperture against z [m]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = table["z(m)"].to_numpy()
    aper = table["Aper"].to_numpy()
    z_in = np.concatenate([[z[0]], z[:-1]])
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(9, 5))
    for ax, size, centre, name in (
        (axes[0], "SizeX", "x0", "x"),
        (axes[1], "SizeY", "y0", "y"),
    ):
        s, c = table[size].to_numpy(), table[centre].to_numpy()
        ax.fill_between(z, c - s, c + s, alpha=0.35, label=f"centroid +- rms {name}")
        ax.plot(z, c, lw=1)
        for k in np.flatnonzero(aper > 0):
            for sign in (1, -1):
                if z[k] > z_in[k]:
                    ax.plot([z_in[k], z[k]], [sign * aper[k]] * 2, color="k", lw=1)
                else:  # a zero-length aperture: a jaw
                    ax.plot([z[k]] * 2, [sign * aper[k], sign * 1.5 * aper[k]], color="k", lw=1.5)
        ax.plot([], [], color="k", lw=1, label="aperture")
        ax.set_ylabel(f"{name} [mm]")
        beam = float((abs(c) + s).max())
        lim = 1.15 * float(aper.max()) if aper.max() > 0 else 3 * max(beam, 1e-3)
        ax.set_ylim(-lim, lim)
        ax.legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("z [m]")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
