"""Example projects shipped with the package."""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
#: The low-energy radioactive-ion demo beamline (TOML project).
ADIGE_DEMO = EXAMPLES / "adige_demo" / "adige_demo.toml"
