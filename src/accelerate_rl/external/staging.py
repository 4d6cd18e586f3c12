"""Private run directories and the input files staged into them.

Small files are copied (a run may rewrite them), large files and folders are linked (a
field-map folder can hold gigabytes); nothing is ever written back to the source.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Files larger than this are linked into a run directory rather than copied [bytes].
LINK_ABOVE = 1 << 20


def stage(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest``: a folder, or a file above :data:`LINK_ABOVE` bytes, as a
    symlink to it; a smaller file as a copy."""
    if src.is_dir():
        dest.symlink_to(src.resolve(), target_is_directory=True)
    elif src.stat().st_size > LINK_ABOVE:
        dest.symlink_to(src.resolve())
    else:
        shutil.copy2(src, dest)


def stage_folder(src: Path, dest: Path, skip: Callable[[str], bool] | None = None) -> None:
    """A private copy of folder ``src`` at ``dest`` (created): every file and folder in
    it staged (:func:`stage`), except those whose name ``skip`` returns True for."""
    dest.mkdir(parents=True)
    for entry in src.iterdir():
        if (skip is not None and skip(entry.name)) or not (entry.is_dir() or entry.is_file()):
            continue
        stage(entry, dest / entry.name)


@contextmanager
def run_directory(prefix: str, parent: Path | None = None, keep: bool = False) -> Iterator[Path]:
    """A fresh directory ``<parent>/<prefix>XXXX`` (parent: the system's temp folder),
    removed when the block exits unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
