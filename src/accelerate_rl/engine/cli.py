"""``arl-tracewin``: the embedded engine with TraceWin's command line.

    arl-tracewin PROJECT [hide] [path_cal=DIR] [dat_file=F] [ele[n][v]=X ...]
                 [nbr_part1= energy1= current1= freq1= mass1= charge1= etnx1= etny1= eln1=
                  alpx1= betx1= alpy1= bety1= alpz1= betz1= x1= y1= xp1= yp1=]
                 [partran=0|1] [random_seed=N] [plot=FILE.png]

PROJECT is a TraceWin ``.ini`` or a TOML project (see ``accelerate_rl.engine.project``).
Writes ``tracewin.out`` and ``Transfer_matrix1.dat`` (and with ``partran=1``
``partran1.out``, ``part_rfq.dst``, ``part_dtl1.dst``, ``dtl1.plt``) into ``path_cal``
(default: the project's folder). Exit status: 0 success; 1 the beam was lost (the
message says where); 2 bad input. The reason is one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..tracewin.errors import InvalidParameterError, TraceWinFormatError
from ..tracewin.keys import FLAGS, is_multiparticle
from .elements import UnsupportedElementError
from .outputs import write_envelope, write_multiparticle
from .project import load_project
from .simulation import Engine

PATH_KEYS = {"path_cal", "dat_file", "plot", "dst_file1"}


class UsageError(ValueError):
    pass


def parse_argv(argv: list[str]) -> tuple[str, dict[str, str], set[str]]:
    """Split TraceWin's argv into (project, key=value settings, flags)."""
    if not argv or "=" in argv[0] or argv[0] in FLAGS:
        raise UsageError("usage: arl-tracewin PROJECT [hide] [key=value ...]")
    settings: dict[str, str] = {}
    flags: set[str] = set()
    for tok in argv[1:]:
        if "=" not in tok:
            if tok.lower() in FLAGS:
                flags.add(tok.lower())
                continue
            raise UsageError(
                f"argument {tok!r} is not key=value nor a known flag ({', '.join(sorted(FLAGS))})"
            )
        key, _, value = tok.partition("=")
        if not key or not value:
            raise UsageError(f"argument {tok!r}: expected key=value with both sides non-empty")
        settings[key] = value
    return argv[0], settings, flags


def run_cli(argv: list[str]) -> int:
    project_arg, settings, _flags = parse_argv(argv)
    paths = {k: settings.pop(k) for k in list(settings) if k.lower() in PATH_KEYS}
    project = load_project(project_arg, paths.get("dat_file"))
    path_cal = Path(paths.get("path_cal", project.path.parent))
    path_cal.mkdir(parents=True, exist_ok=True)
    params = {**{k: str(v) for k, v in project.run.items()}, **settings}
    engine = Engine(project.lattice, project.beam)
    envelope = engine.run(
        {k: v for k, v in params.items() if k.lower() != "partran"}, mode="envelope"
    )
    write_envelope(envelope, path_cal)
    if "plot" in paths:
        from .plot import plot_envelope

        plot_envelope(envelope.table, paths["plot"], title=project.path.name)
    result = envelope
    if is_multiparticle(params.get("partran", 0)):
        distribution = None
        if "dst_file1" in paths:
            from ..tracewin.dst import read_dst

            distribution = read_dst(paths["dst_file1"])
        result = engine.run(
            params, mode="multiparticle", distribution=distribution, plt_path=path_cal / "dtl1.plt"
        )
        write_multiparticle(result, path_cal)
    s = result.summary
    print(
        f"{result.mode}: {len(engine.lattice)} elements, {s['length']:.4f} m; "
        f"final SizeX {s['SizeX']:.4g} mm SizeY {s['SizeY']:.4g} mm, "
        f"x0 {s['x0']:.4g} mm y0 {s['y0']:.4g} mm, transmission {s['transmission']:.4g}"
        + (f", seed {result.seed}" if result.seed is not None else "")
    )
    if result.beam_lost:
        print(f"All particles are lost (element {result.lost_at})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run_cli(argv)
    except UsageError as exc:
        print(f"arl-tracewin: {exc}", file=sys.stderr)
        return 2
    except (TraceWinFormatError, InvalidParameterError, UnsupportedElementError, ValueError) as exc:
        print(f"arl-tracewin: Error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"arl-tracewin: Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
