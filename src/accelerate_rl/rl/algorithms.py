"""RLlib (new API stack) configurations whose env runners step BeamlineVectorEnvs.

Each env runner holds one :class:`~.env.BeamlineVectorEnv` of ``num_envs_per_env_runner``
sub-environments (RLlib's ``vector_entry_point`` mode), so one env-runner step is one
batched simulation request (the embedded engine) or one request per sub-environment
spread over the service's slots (a slow simulator such as TraceWin): to the named
service when ``service`` is given (started in the driver with
:func:`~.backends.start_service` on the task's simulator; its actors reserve no CPUs,
so env runners and Tune trials never wait for CPUs the service holds), else in-process.

    config = ppo_config(adige_task(), service="beamline")
    algo = config.build_algo()
    algo.train()

The defaults are the ones that solve the benchmark task (see the README's table).

With a service, give ``num_env_runners`` one runner per core the env runners may use
(2 on a 2-core machine): a runner waiting for its simulations leaves its core to the
other runner's RLlib work (policy, episodes, connectors), which costs more per step
than the simulations themselves. On the 2-core benchmark machine two runners of 64
sub-environments sampled 1.15-1.57x the env steps/s of one (median 1.4x over six runs:
``bench_rl.py --rllib-runners 1 2``; README, "Throughput"). The default stays 1
runner: the trained results in the README were obtained with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .env import make_env
from .task import TaskConfig, adige_task

#: The name BeamlineEnv is registered under with Ray Tune's env registry.
ENV_NAME = "accelerate_rl.BeamlineEnv"


def register_env() -> str:
    """Register :func:`~.env.make_env` as ``ENV_NAME`` (idempotent); returns the name."""
    from ray.tune.registry import register_env as _register

    _register(ENV_NAME, make_env)
    return ENV_NAME


def env_config(task: Mapping[str, Any] | None = None, service: str | None = None) -> dict:
    """The task dict (validated now, so a bad task fails in the driver, not in every env
    runner), with ``backend`` set to the named service when given."""
    config = dict(task or adige_task())
    if service is not None:
        config["backend"] = {"service": service}
    TaskConfig(**config)
    return config


def _common(
    config,
    task: Mapping[str, Any] | None,
    service: str | None,
    num_env_runners: int,
    num_envs_per_env_runner: int,
    hiddens: Sequence[int],
    seed: int | None,
):
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (
        config.environment(register_env(), env_config=env_config(task, service))
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
            num_cpus_per_env_runner=1,
        )
        .learners(num_learners=0)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(hiddens)))
        .debugging(seed=seed)
    )


def ppo_config(
    task: Mapping[str, Any] | None = None,
    *,
    service: str | None = None,
    num_env_runners: int = 1,
    num_envs_per_env_runner: int = 64,
    train_batch_size: int = 8192,
    minibatch_size: int = 1024,
    num_epochs: int = 10,
    lr: float = 3e-4,
    gamma: float = 0.9,
    hiddens: Sequence[int] = (256, 256),
    seed: int | None = None,
):
    """A PPOConfig for ``task`` (default: the benchmark). ``train_batch_size`` is per
    learner (env steps per iteration); ``gamma`` is low because episodes are short and
    every step costs reward."""
    from ray.rllib.algorithms.ppo import PPOConfig

    config = _common(
        PPOConfig(), task, service, num_env_runners, num_envs_per_env_runner, hiddens, seed
    )
    return config.training(
        train_batch_size_per_learner=train_batch_size,
        minibatch_size=min(minibatch_size, train_batch_size),
        num_epochs=num_epochs,
        lr=lr,
        gamma=gamma,
        entropy_coeff=0.0,
    )


def sac_config(
    task: Mapping[str, Any] | None = None,
    *,
    service: str | None = None,
    num_env_runners: int = 1,
    num_envs_per_env_runner: int = 16,
    train_batch_size: int = 256,
    actor_lr: float = 3e-4,
    critic_lr: float = 3e-4,
    alpha_lr: float = 3e-4,
    gamma: float = 0.9,
    learning_starts: int = 2000,
    buffer_capacity: int = 200_000,
    training_intensity: float | None = None,
    initial_alpha: float = 1.0,
    hiddens: Sequence[int] = (256, 256),
    seed: int | None = None,
):
    """A SACConfig for ``task`` (default: the benchmark): twin Q, automatic entropy
    starting from the weight ``initial_alpha``, prioritised episode replay of
    ``buffer_capacity`` env steps; ``training_intensity`` is RLlib's ratio of trained to
    sampled steps (None: RLlib's default)."""
    from ray.rllib.algorithms.sac import SACConfig

    config = _common(
        SACConfig(), task, service, num_env_runners, num_envs_per_env_runner, hiddens, seed
    )
    return config.training(
        train_batch_size_per_learner=train_batch_size,
        actor_lr=actor_lr,
        critic_lr=critic_lr,
        alpha_lr=alpha_lr,
        gamma=gamma,
        initial_alpha=initial_alpha,
        twin_q=True,
        num_steps_sampled_before_learning_starts=learning_starts,
        replay_buffer_config={
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": buffer_capacity,
            "alpha": 0.6,
            "beta": 0.4,
        },
        training_intensity=training_intensity,
    )


ALGORITHMS = {"ppo": ppo_config, "sac": sac_config}
