"""Running external file-in/file-out programs: the floor under the TraceWin runner and
``CommandSimulator`` (it imports nothing else of accelerate_rl).

- :mod:`.process`: run an argv (never a shell) with a timeout that kills the whole
  process group (SIGTERM, then SIGKILL); resolve an executable.
- :mod:`.staging`: private run directories; input files copied or linked into them.
- :mod:`.ladder`: how a finished run is judged (timeout, failure messages, exit status,
  missing or unreadable outputs), written once.
- :mod:`.errors`: the errors of a run, each with the ``status`` a result gets from it.
"""

from .errors import (
    ECHO_LIMIT,
    InvalidParameterError,
    RunError,
    SimulationFailed,
    SimulationTimeout,
    brief,
)
from .ladder import FailurePattern, check_outcome
from .process import KILL_GRACE, ProcessOutcome, kill_group, resolve_executable, run_process, tail
from .staging import LINK_ABOVE, run_directory, stage, stage_folder

__all__ = [
    "ECHO_LIMIT",
    "KILL_GRACE",
    "LINK_ABOVE",
    "FailurePattern",
    "InvalidParameterError",
    "ProcessOutcome",
    "RunError",
    "SimulationFailed",
    "SimulationTimeout",
    "brief",
    "check_outcome",
    "kill_group",
    "resolve_executable",
    "run_directory",
    "run_process",
    "stage",
    "stage_folder",
    "tail",
]
