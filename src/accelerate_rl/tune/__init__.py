"""Ray Tune on beamlines: setpoint search baselines (Optuna/TPE, random, grid) and RLlib
hyperparameter searches, trials sharing the simulation service."""

from .setpoints import SEARCHERS, search_episode, summarise

__all__ = ["SEARCHERS", "search_episode", "summarise"]
