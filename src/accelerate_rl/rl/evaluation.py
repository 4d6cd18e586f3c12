"""Evaluate a policy on a task: seeded episodes from random initial settings, all stepped
together in one BeamlineVectorEnv (one batched simulation request per step when the
task's simulator vectorises, else one request per episode over the service's slots).

    policy = RLlibPolicy.from_checkpoint("/tmp/accelerate-rl/ppo/checkpoint")
    report = evaluate(policy, adige_task(backend={"service": "beamline"}), episodes=200)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..simulators.base import Status
from .env import BeamlineVectorEnv

#: A policy maps a (B, obs) batch of observations to a (B, act) batch of actions.
Policy = Callable[[np.ndarray], np.ndarray]


class RLlibPolicy:
    """The deterministic policy (the mean action) of an RLlib checkpoint's RLModule."""

    def __init__(self, module) -> None:
        self.module = module
        self.dist = module.get_inference_action_dist_cls()

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, policy: str = "default_policy"):
        """Load the module from an Algorithm checkpoint (``train_rl.py``'s ``checkpoint``)."""
        from ray.rllib.core.rl_module import RLModule

        path = Path(checkpoint)
        module_dir = path / "learner_group" / "learner" / "rl_module" / policy
        if not module_dir.is_dir():
            raise FileNotFoundError(
                f"{path}: not an RLlib algorithm checkpoint (no {module_dir.relative_to(path)});"
                " pass the 'checkpoint' folder train_rl.py writes"
            )
        return cls(RLModule.from_checkpoint(str(module_dir.resolve())))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            action = self.action(torch.as_tensor(obs, dtype=torch.float32))
        return np.clip(action.numpy(), -1.0, 1.0)

    def action(self, obs):
        """The mean action (a torch tensor) for a torch batch ``obs``. A squashed Gaussian
        (SAC's) is squashed here: RLlib's ``to_deterministic`` returns its mean before the
        tanh, which clipping to [-1, 1] would turn into a bang-bang policy."""
        import torch
        from ray.rllib.core.distribution.torch.torch_distribution import TorchSquashedGaussian

        weights = next(self.module.parameters())  # a module loaded in float64 acts too
        out = self.module.forward_inference({"obs": obs.to(weights.dtype)})
        dist = self.dist.from_logits(out["action_dist_inputs"])
        if isinstance(dist, TorchSquashedGaussian):
            return (torch.tanh(dist.loc) + 1.0) / 2.0 * (dist.high - dist.low) + dist.low
        return dist.to_deterministic().sample()


def evaluate(
    policy: Policy,
    task: Mapping[str, Any],
    *,
    episodes: int = 100,
    seed: int = 1_000_000,
    vector_env: type[BeamlineVectorEnv] = BeamlineVectorEnv,
) -> dict[str, Any]:
    """Run ``episodes`` episodes (episode i seeded ``seed + i``: its initial settings and
    hidden field errors), each to its end, and report:

    success_rate; steps_mean / steps_median over all episodes and steps_mean_success over
    the successful ones (steps = simulations after the reset); final_error_mean /
    final_error_median: the largest |error| / tolerance over the targets at the end;
    lost / technical_failures: episodes that ended so; simulations; seconds;
    env_steps_per_s (steps, policy and simulations end to end). ``vector_env``: the
    vector env class of the task (e.g. the hard task's :class:`~.hard_task.HardVectorEnv`).
    """
    env = vector_env(task, num_envs=episodes)
    try:
        return _run_episodes(policy, env, episodes, seed)
    finally:
        env.close()  # a service client: closed before the caller's Ray shuts down


def _run_episodes(
    policy: Policy, env: BeamlineVectorEnv, episodes: int, seed: int
) -> dict[str, Any]:
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    done = np.zeros(episodes, bool)
    steps = np.zeros(episodes, int)
    success = np.zeros(episodes, bool)
    lost = np.zeros(episodes, bool)
    technical = np.zeros(episodes, bool)
    final_error = np.full(episodes, np.inf)
    env_steps = 0
    while not done.all():
        actions = policy(obs)
        live = ~done
        # finished episodes are stepped too (one batched call) but not counted
        obs, _, terminated, truncated, infos = env.step(actions)
        env_steps += int(live.sum())
        for i in np.flatnonzero(live):
            steps[i] += 1
            errors = infos["errors"][i]
            if len(errors):
                final_error[i] = float(np.max(errors))
            if terminated[i] or truncated[i]:
                done[i] = True
                success[i] = bool(infos["success"][i])
                lost[i] = infos["status"][i] == Status.LOST
                technical[i] = infos["status"][i] not in (Status.OK, Status.LOST)
        # an ended sub-env autoresets on its next step: keep it ended here
    seconds = time.perf_counter() - t0
    ok_steps = steps[success]
    return {
        "episodes": episodes,
        "seed": seed,
        "success_rate": float(success.mean()),
        "steps_mean": float(steps.mean()),
        "steps_median": float(np.median(steps)),
        "steps_mean_success": float(ok_steps.mean()) if len(ok_steps) else None,
        "final_error_mean": float(np.mean(final_error)),
        "final_error_median": float(np.median(final_error)),
        "lost": int(lost.sum()),
        "technical_failures": int(technical.sum()),
        "env_steps": env_steps,
        "seconds": round(seconds, 3),
        "env_steps_per_s": round(env_steps / seconds, 1),
    }
