"""BeamlineEnv: a gymnasium environment for beam tuning, one simulation per step, and
BeamlineVectorEnv: many of them stepped together (one batched request when the simulator
vectorises, else one request per sub-environment over every free slot).

Actions are normalised to [-1, 1] per knob: with ``action="delta"`` they move each knob by
``action * action_scale * (high - low) / 2``; with ``"absolute"`` they set it. The machine
applies ``knob + disturbance`` (hidden offsets drawn per episode, see :mod:`.task`).
Observations are the observed quantities and target errors divided by their scales, the
transmission, and the knobs normalised to [-1, 1]. Reward: ``-mean(weight * |error| /
tolerance)`` over the targets, ``+success_bonus`` on success; a lost beam (a physical
failure) costs ``loss_penalty`` and ends the episode (terminated), only the knobs
observed (a lost beam reaches no diagnostic: beam quantities read 0, whatever the
simulator reported); a technical failure truncates it and is counted in
``info["technical_failures"]`` (per episode). Nothing a simulator does crashes the env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..simulators.base import SimResult, Status
from .backends import make_backend
from .task import TaskConfig, adige_task

#: Observations are clipped to +-OBS_LIMIT (scaled units).
OBS_LIMIT = 100.0


class BeamlineEnv(gym.Env):
    """A beam-tuning task as a gymnasium env (``env_config``: see :mod:`.task`).

    ``backend``: the object that runs simulations (default: built from the task's
    ``backend``, and closed by :meth:`close`); :class:`BeamlineVectorEnv` passes its
    own (and closes it) and steps the env's ``_begin_*``/``_end_*`` halves around one
    batched request.
    """

    metadata = {"render_modes": []}
    #: The task model the config is validated with (a subclass may extend TaskConfig).
    config_class: type[TaskConfig] = TaskConfig

    def __init__(self, config: Mapping[str, Any] | None = None, *, backend: Any = None) -> None:
        self.task = self.config_class(**(dict(config) if config else adige_task()))
        self._owns_backend = backend is None
        self.backend = make_backend(self.task) if backend is None else backend
        n = len(self.task.knobs)
        self.low = np.array([k.low for k in self.task.knobs])
        self.high = np.array([k.high for k in self.task.knobs])
        keys = [k.key for k in self.task.knobs]
        self._disturbed = np.array([keys.index(d.key) for d in self.task.disturbances], int)
        self._d_low = np.array([d.low for d in self.task.disturbances])
        self._d_high = np.array([d.high for d in self.task.disturbances])
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        size = len(self.task.observe) + len(self.task.targets) + 1 + n
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (size,), np.float32)
        self._weights = np.array([t.weight for t in self.task.targets])
        self.values = (self.low + self.high) / 2
        self.offsets = np.zeros(n)
        self.steps = 0
        self.held = 0
        self.technical_failures = 0
        self.simulations = 0
        self._last_metrics: dict[str, float] = {}

    # -- helpers -----------------------------------------------------------------------
    def _normalised(self, values: np.ndarray) -> np.ndarray:
        return 2 * (values - self.low) / (self.high - self.low) - 1

    def _params(self) -> dict[str, float]:
        """What the simulator runs: the knobs plus this episode's hidden offsets."""
        applied = self.values + self.offsets
        return {k.key: float(v) for k, v in zip(self.task.knobs, applied)}

    def _observation(self, metrics: Mapping[str, float]) -> np.ndarray:
        parts = [metrics.get(o.metric, 0.0) / o.scale for o in self.task.observe]
        parts += [(metrics.get(t.metric, 0.0) - t.value) / t.scale for t in self.task.targets]
        parts.append(metrics.get("transmission", 0.0))
        obs = np.concatenate(
            [np.nan_to_num(np.array(parts, dtype=float)), self._normalised(self.values)]
        )
        return np.clip(obs, -OBS_LIMIT, OBS_LIMIT).astype(np.float32)

    def errors(self, metrics: Mapping[str, float]) -> np.ndarray:
        """|value - target| / tolerance for every target (inf when missing)."""
        return self.task.errors(metrics)

    # -- the two halves of reset and step (BeamlineVectorEnv batches between them) ------
    def _begin_reset(self, seed: int | None, options: dict | None) -> dict[str, float]:
        super().reset(seed=seed)
        frac = self.task.reset_fraction
        centre = (self.low + self.high) / 2
        half = (self.high - self.low) / 2 * frac
        self.values = centre + self.np_random.uniform(-1, 1, len(self.low)) * half
        self.offsets = np.zeros(len(self.low))
        self.offsets[self._disturbed] = self.np_random.uniform(self._d_low, self._d_high)
        if options and "values" in options:
            self.values = np.clip(np.asarray(options["values"], dtype=float), self.low, self.high)
        if options and "offsets" in options:
            self.offsets[self._disturbed] = np.asarray(options["offsets"], dtype=float)
        self.steps = 0
        self.held = 0
        self.technical_failures = 0  # per episode (info)
        self.simulations = 1
        return self._params()

    def _end_reset(self, result: SimResult) -> tuple[np.ndarray, dict[str, Any]]:
        if not result.ok and result.status != Status.LOST:
            self.technical_failures += 1
        self._last_metrics = _seen(result)
        return self._observation(self._last_metrics), self._info(result)

    def _begin_step(self, action) -> dict[str, float]:
        a = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        if self.task.action == "delta":
            self.values = self.values + a * self.task.action_scale * (self.high - self.low) / 2
        else:
            self.values = self.low + (a + 1) / 2 * (self.high - self.low)
        self.values = np.clip(self.values, self.low, self.high)
        self.steps += 1
        self.simulations += 1
        return self._params()

    def _end_step(self, result: SimResult):
        truncated = self.steps >= self.task.max_steps
        if result.status == Status.LOST:
            obs = self._observation({})
            return obs, -self.task.loss_penalty, True, truncated, self._info(result)
        if not result.ok:
            self.technical_failures += 1
            obs = self._observation(self._last_metrics)
            return obs, 0.0, False, True, self._info(result)
        self._last_metrics = result.metrics
        errs = self.errors(result.metrics)
        reward = -float(np.sum(self._weights * np.minimum(errs, 100.0))) / max(1, len(errs))
        self.held = self.held + 1 if self.task.met(result.metrics, errs) else 0
        terminated = self.held >= self.task.hold
        if terminated:
            reward += self.task.success_bonus
        info = self._info(result, errs)
        info["success"] = terminated
        return self._observation(result.metrics), reward, terminated, truncated, info

    def _info(self, result: SimResult, errors: np.ndarray | None = None) -> dict[str, Any]:
        metrics = _seen(result)
        if errors is None and metrics:
            errors = self.errors(metrics)
        return {
            "status": result.status,
            "success": False,
            "technical_failures": self.technical_failures,
            "simulations": self.simulations,
            "transmission": metrics.get("transmission", 0.0),
            "errors": [] if errors is None else errors.tolist(),
        }

    # -- gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """``options``: ``values`` (knob settings) and ``offsets`` (the disturbances) to
        start from instead of random ones."""
        return self._end_reset(self.backend.evaluate(self._begin_reset(seed, options)))

    def step(self, action):
        return self._end_step(self.backend.evaluate(self._begin_step(action)))

    def close(self) -> None:
        """Close the backend this env built (a service client: see
        :meth:`~.backends.ServiceBackend.close`); RLlib's env runners call it on stop."""
        if self._owns_backend:
            self._owns_backend = False
            self.backend.close()


def _seen(result: SimResult) -> Mapping[str, float]:
    """What the env observes of a result: its metrics when it is ok, else nothing (a
    lost beam reaches no diagnostic; simulators differ in what they report of one)."""
    return result.metrics if result.ok else {}


class BeamlineVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` BeamlineEnvs stepped together, in-process or through the service.
    When the task's simulator vectorises (the embedded engine), every step (and every
    autoreset) of all sub-environments is one batched request (``simulate_batch``: one
    vectorised envelope call); otherwise each sub-environment's run is its own request,
    spread over every free slot of the service and gathered with a per-run timeout: a
    slow or failed run truncates that sub-environment only (see :mod:`.backends`).
    Sub-environment i behaves exactly as a BeamlineEnv seeded with ``seed + i``.

    Autoreset: gymnasium's next-step mode (what RLlib's env runners expect): the step
    after an episode ends resets that sub-environment and ignores its action.
    ``close()`` closes the backend (the service client), as RLlib does on stop.

    ``config`` is the task dict; ``num_envs`` may also come inside it (RLlib's
    ``gym_env_vectorize_mode="vector_entry_point"`` passes ``env_config | {"num_envs"}``).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    #: The sub-environment class (a subclass of BeamlineEnv for another task model).
    env_class: type[BeamlineEnv] = BeamlineEnv

    def __init__(self, config: Mapping[str, Any] | None = None, num_envs: int | None = None):
        config = dict(config) if config else adige_task()
        n = int(config.pop("num_envs", num_envs or 1))
        if n < 1:
            raise ValueError(f"num_envs must be >= 1, got {n}")
        task = self.env_class.config_class(**config)
        self.backend = make_backend(task)
        self.envs = [self.env_class(config, backend=self.backend) for _ in range(n)]
        self.num_envs = n
        self.single_action_space = self.envs[0].action_space
        self.single_observation_space = self.envs[0].observation_space
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self._autoreset = np.zeros(n, dtype=bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = (
            [None] * self.num_envs
            if seed is None
            else seed
            if isinstance(seed, (list, tuple))
            else [seed + i for i in range(self.num_envs)]
        )
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        params = [env._begin_reset(s, options) for env, s in zip(self.envs, seeds)]
        results = self.backend.evaluate_batch(params)
        obs, infos = [], {}
        for i, (env, result) in enumerate(zip(self.envs, results)):
            o, info = env._end_reset(result)
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._autoreset[:] = False
        return np.stack(obs), infos

    def step(self, actions):
        actions = np.asarray(actions)
        params = [
            env._begin_reset(None, None) if self._autoreset[i] else env._begin_step(actions[i])
            for i, env in enumerate(self.envs)
        ]
        results = self.backend.evaluate_batch(params)
        n = self.num_envs
        obs = np.zeros((n, *self.single_observation_space.shape), np.float32)
        rewards = np.zeros(n)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        infos: dict[str, Any] = {}
        for i, (env, result) in enumerate(zip(self.envs, results)):
            if self._autoreset[i]:
                obs[i], info = env._end_reset(result)
            else:
                obs[i], rewards[i], terminated[i], truncated[i], info = env._end_step(result)
            infos = self._add_info(infos, info, i)
        self._autoreset = terminated | truncated
        return obs, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """gymnasium's ``close()`` (once): close the backend the sub-envs share."""
        self.backend.close()


def make_env(config: Mapping[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """RLlib's env creator: a BeamlineVectorEnv when ``config`` has ``num_envs`` (RLlib's
    vector entry point), else a BeamlineEnv. Ray's EnvContext keys are dropped."""
    config = dict(config or adige_task())
    if "num_envs" in config:
        return BeamlineVectorEnv(config)
    return BeamlineEnv(config)
