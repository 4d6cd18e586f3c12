"""Multiparticle runs: the input distribution, tracking with space charge (mesh or the
envelope's linear force), the ``.plt`` record and the moments table of the survivors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..tracewin.dst import Distribution
from ..tracewin.plt import PltRecord, PltWriter
from .beam import Beam
from .envelope import SPACE_CHARGE_STEP, Track
from .particles import from_distribution, generate, to_distribution, track_particles
from .profile import EnergyProfile
from .spacecharge_mesh import MeshSolver, MeshSpaceCharge


def run_multiparticle(
    models: list,
    beam: Beam,
    env: Track,
    profile: EnergyProfile,
    seed: int,
    distribution: Distribution | None,
    plt_path: str | Path | None,
    chromatic: bool,
    extremes: bool,
    apertures: list,
    solver: MeshSolver | None = None,
) -> tuple[Track, Distribution, Distribution]:
    """Generate (or take) the input distribution and track it.

    Args:
        models, profile: the run's element models and reference energy profile.
        beam: the input beam. env: the run's envelope (element maps, kicks, positions,
            the linear space charge when there is no mesh).
        seed: random seed of the generated distribution; distribution: an input one.
        plt_path: write the particles at every element to this ``.plt`` file.
        chromatic, extremes: as :meth:`.simulation.Engine.run`'s.
        apertures: per element (circular, rx, ry, dx, dy) [mm] or None.
        solver: the mesh space-charge solver, None for the envelope's linear force.

    Returns:
        The moments Track (rows, 1, ...) of the surviving particles, the input and the
        final (surviving) distributions.
    """
    if distribution is not None:
        coords = from_distribution(distribution, beam)
    else:
        coords = generate(beam, seed)
    n0 = coords.shape[1]
    beam = replace(beam, n_particles=n0)
    writer = None
    on_element = None
    if plt_path is not None:
        writer = PltWriter(
            plt_path,
            n_elements=len(models),
            n_particles=n0,
            current=beam.current,
            freq=beam.freq,
            mass=beam.mass,
        )

        def on_element(n: int, all_coords: np.ndarray, lost: np.ndarray) -> None:
            at = replace(beam, energy=float(profile.energy[n]))
            dist = to_distribution(all_coords, at)
            writer.add(PltRecord(n, float(env.z[n, 0]), 0.0, at.energy, dist.raw, lost.copy()))

    try:
        initial = to_distribution(coords, beam)
        mesh = None
        if solver is not None and beam.current > 0:
            mesh = MeshSpaceCharge(beam.current, beam.freq, n0, solver, SPACE_CHARGE_STEP)
        pt = track_particles(
            models,
            profile.kinematics,
            coords,
            chromatic=chromatic,
            extremes=extremes,
            on_element=on_element,
            maps=env.element_maps[:, 0],
            kicks=env.kicks[:, 0],
            apertures=apertures,
            space_charge=None if mesh is not None else env.space_charge,
            mesh=mesh,
        )
    finally:
        if writer is not None:
            writer.close()
    final = to_distribution(pt.coords[:, pt.alive], replace(beam, energy=float(profile.energy[-1])))
    beam_power_w = beam.current * 1e-3 * beam.energy * 1e6 / abs(beam.charge)
    lost_per_row = -np.diff(pt.npart, prepend=n0)
    track = Track(
        numbers=env.numbers,
        z=env.z,
        centroid=pt.centroid[:, None],
        sigma=pt.sigma[:, None],
        cumulative=env.cumulative,
        element_maps=env.element_maps,
        lengths_mm=env.lengths_mm,
        aperture=env.aperture,
        transmission=(pt.npart / n0)[:, None],
        npart=pt.npart[:, None],
        xmax=pt.xmax[:, None] * 1e3,
        ymax=pt.ymax[:, None] * 1e3,
        powlost=(lost_per_row / n0 * beam_power_w)[:, None],
    )
    return track, initial, final
