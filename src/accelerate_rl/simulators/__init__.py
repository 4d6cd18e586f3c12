"""Simulators: the embedded engine, TraceWin, and any command-line code."""

from .command import CommandResult, CommandSimulator

__all__ = ["CommandResult", "CommandSimulator"]
