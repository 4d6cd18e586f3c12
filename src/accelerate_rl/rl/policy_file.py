"""Trained policies as small files: the deterministic actor of an RLlib checkpoint traced
and frozen with TorchScript (``.pt``, the actor only: no critic, no optimiser state),
loadable with torch alone, so anyone evaluates a committed policy without RLlib or
training.

    export_policy("/tmp/ppo/checkpoint", "experiments/policies/hard_ppo.pt", obs_size=19)
    policy = load_policy("experiments/policies/hard_ppo.pt")   # or a checkpoint folder
    actions = policy(observations)                             # (B, obs) -> (B, act)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .evaluation import RLlibPolicy


class PolicyFile:
    """A TorchScript policy file written by :func:`export_policy`."""

    def __init__(self, path: str | Path) -> None:
        import torch

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no policy file (export_policy writes one)")
        self.module = torch.jit.load(str(self.path), map_location="cpu")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            action = self.module(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        return np.clip(action.numpy(), -1.0, 1.0)


def export_policy(checkpoint: str | Path, path: str | Path, obs_size: int) -> Path:
    """Trace the deterministic action of ``checkpoint``'s module (RLlibPolicy's) into
    ``path``; checks that the file reproduces the checkpoint's actions."""
    import torch

    policy = RLlibPolicy.from_checkpoint(checkpoint)

    class _Deterministic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = policy.module

        def forward(self, obs):
            return policy.action(obs)

    example = torch.zeros((4, obs_size), dtype=torch.float32)
    traced = torch.jit.trace(_Deterministic().eval(), example, check_trace=False)
    # frozen: only the weights the action uses (SAC's Q networks are 19/20 of its module)
    traced = torch.jit.freeze(traced)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    probe = np.random.default_rng(0).normal(size=(7, obs_size)).astype(np.float32)
    if not np.allclose(PolicyFile(path)(probe), policy(probe), atol=1e-5):
        raise RuntimeError(f"{path}: the traced policy does not reproduce {checkpoint}")
    return path


def load_policy(source: str | Path):
    """A policy from a file written by :func:`export_policy` or an RLlib checkpoint folder."""
    source = Path(source)
    return RLlibPolicy.from_checkpoint(source) if source.is_dir() else PolicyFile(source)
