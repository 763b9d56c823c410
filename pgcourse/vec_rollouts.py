"""Fixed-length rollouts from a vector env (lessons 4-5: A2C, PPO).

    collector = RolloutCollector(envs, n_steps=16, seed=0)
    ro = collector.collect(agent)      # agent.sample(obs) -> (act, logp) per step; agent.value(obs) after
    adv, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, gamma, lam)
    # losses use the real transitions only: ro.obs[ro.mask], adv[ro.mask], ...

Every call plays `n_steps` vector steps on each of the N sub-envs and carries the
envs' state over to the next call, so episodes run across rollouts.

Autoreset (gymnasium 1.x) decides where the true next observation is:
- NEXT_STEP (the default; CartPole-v1's NumPy vector env knows only this one):
  when sub-env i ends an episode at step t, the obs it returns is the TRUE final
  obs. At step t+1 it ignores the action and returns the first obs of the next
  episode, with rew 0 and terminated = truncated = False. That reset step is not
  a transition: `mask[t+1, i]` is False and every loss must skip it.
- SAME_STEP: the env resets inside the final step and returns the new episode's
  first obs; the true final obs is in `info["final_obs"][i]`. Every step is a
  transition (`mask` is all True).
Either way `next_obs[t, i]` is the true next observation of transition (t, i)
and `next_val[t, i] = V(next_obs[t, i])`, so a truncated step bootstraps from
the final obs of its episode, never from the reset obs of the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pgcourse.rollouts import Steps

__all__ = ["Rollout", "RolloutCollector"]


@dataclass
class Rollout(Steps):
    """n_steps (T) vector steps of N sub-envs: `Steps` with (T, N) leading dims, plus
    val (T, N) float32: V(obs) · next_obs (T, N, obs_dim): the TRUE next obs (the final obs at an
    episode's end) · next_val (T, N) float32: V(next_obs) · mask (T, N) bool: True for real
    transitions, False for NEXT_STEP reset steps · ep_ret (E,) float64, ep_len (E,) int64: episodes
    that ended in this rollout, in the order they ended · ep_end (E,) int64: index of the transition
    (counting real transitions of the run, from 1) at which each ended.
    """

    val: np.ndarray
    next_obs: np.ndarray
    next_val: np.ndarray
    mask: np.ndarray
    ep_ret: np.ndarray
    ep_len: np.ndarray
    ep_end: np.ndarray

    @property
    def n_transitions(self) -> int:
        """Number of real transitions (mask.sum())."""
        return int(self.mask.sum())

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N)."""
        return self.rew.shape

    def __repr__(self) -> str:
        T, N = self.shape
        return (
            f"Rollout(T={T} steps x N={N} envs, {self.n_transitions} transitions, "
            f"{len(self.ep_ret)} episodes ended)"
        )


class RolloutCollector:
    """Plays fixed-length rollouts on the vector env `envs` and remembers where it stopped.

    `envs`: a gymnasium 1.x VectorEnv in NEXT_STEP or SAME_STEP autoreset mode.
    `n_steps`: vector steps per rollout (T). `seed`: passed to the first `envs.reset`.
    Counters: `env_steps` (real transitions so far), `env_steps_simulated` (sub-env
    steps including NEXT_STEP reset steps).
    """

    def __init__(self, envs, n_steps: int, seed: int | None = None):
        from gymnasium import spaces
        from gymnasium.vector import AutoresetMode

        if not hasattr(envs, "num_envs"):
            raise ValueError("RolloutCollector needs a vector env (gym.make_vec or pgcourse.rollouts.make_vec_env)")
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
        mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"RolloutCollector supports autoreset modes NEXT_STEP and SAME_STEP, got {mode}")
        obs_space = envs.single_observation_space
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"need a flat Box observation space, got {obs_space}")
        self.envs, self.n_steps, self.next_step = envs, int(n_steps), mode == AutoresetMode.NEXT_STEP
        T, N, D = self.n_steps, envs.num_envs, obs_space.shape[0]
        self.num_envs, self.obs_dim = N, D
        self.obs, _ = envs.reset(seed=seed)
        self.prev_done = np.zeros(N, dtype=bool)  # NEXT_STEP: sub-env i resets at the next step
        self._ep_ret = np.zeros(N)  # running return and length of each sub-env's current episode
        self._ep_len = np.zeros(N, dtype=np.int64)
        self.env_steps = 0
        self.env_steps_simulated = 0
        # Buffers, reused by every call (collect returns copies).
        self._buf = {
            "obs": np.zeros((T, N, D), np.float32),
            "next_obs": np.zeros((T, N, D), np.float32),
            "act": np.zeros((T, N), np.int64),
            "rew": np.zeros((T, N), np.float32),
            "terminated": np.zeros((T, N), bool),
            "truncated": np.zeros((T, N), bool),
            "logp": np.zeros((T, N), np.float32),
            "mask": np.ones((T, N), bool),
        }

    def collect(self, agent) -> Rollout:
        """Play n_steps vector steps with `agent`; return the `Rollout`.

        `agent.sample(obs (N, obs_dim)) -> (act (N,), logp (N,))` (NumPy) is called once per step;
        acting does not need V, so `agent.value(obs)` (torch, (B, obs_dim) -> (B,)) runs once after
        the rollout, batched over obs and next_obs, for val and next_val.
        """
        b = self._buf
        obs_b, next_obs_b, act_b, rew_b = b["obs"], b["next_obs"], b["act"], b["rew"]
        term_b, trunc_b, logp_b, mask_b = b["terminated"], b["truncated"], b["logp"], b["mask"]
        envs, obs = self.envs, self.obs
        for t in range(self.n_steps):  # the hot loop: one batched forward and one env step per t
            act, logp = agent.sample(obs)
            obs_b[t], act_b[t], logp_b[t] = obs, act, logp
            obs, rew, terminated, truncated, info = envs.step(act)
            rew_b[t], term_b[t], trunc_b[t] = rew, terminated, truncated
            if not self.next_step:
                next_obs_b[t] = obs
                if "final_obs" in info:  # SAME_STEP: obs is already the next episode's; the true last obs is here
                    for i in np.flatnonzero(info["_final_obs"]):
                        next_obs_b[t, i] = info["final_obs"][i]
        done = term_b | trunc_b
        if self.next_step:
            # NEXT_STEP: the obs after step t is the true next obs (the final one at an episode's end) ...
            next_obs_b[:-1] = obs_b[1:]
            next_obs_b[-1] = obs
            # ... and the step after an episode's end is a reset step, not a transition.
            mask_b[0] = ~self.prev_done
            mask_b[1:] = ~done[:-1]
            self.prev_done = done[-1].copy()
        self.obs = obs
        ep_ret, ep_len, ep_end = self._episodes(rew_b, mask_b, done)
        self.env_steps += int(mask_b.sum())
        self.env_steps_simulated += self.n_steps * self.num_envs

        with torch.inference_mode():  # V(obs) and V(true next obs), one batched forward
            both = torch.from_numpy(np.concatenate([obs_b, next_obs_b]).reshape(-1, self.obs_dim))
            v = agent.value(both).reshape(2, self.n_steps, self.num_envs).numpy().astype(np.float32)
        return Rollout(**{k: x.copy() for k, x in b.items()}, val=v[0], next_val=v[1],
                       ep_ret=ep_ret, ep_len=ep_len, ep_end=ep_end)

    def _episodes(self, rew, mask, done):
        """Returns, lengths and end steps of the episodes that ended in this rollout, in time order."""
        ep_ret, ep_len, ep_end = [], [], []
        steps_through = self.env_steps + np.cumsum(mask.sum(axis=1))  # transitions so far, after each row
        start = 0
        for t in np.flatnonzero(done.any(axis=1)):
            self._ep_ret += rew[start : t + 1].sum(axis=0)  # rew is 0 on NEXT_STEP reset steps
            self._ep_len += mask[start : t + 1].sum(axis=0)
            for i in np.flatnonzero(done[t]):
                ep_ret.append(self._ep_ret[i])
                ep_len.append(self._ep_len[i])
                ep_end.append(steps_through[t])
            self._ep_ret[done[t]] = 0.0
            self._ep_len[done[t]] = 0
            start = t + 1
        self._ep_ret += rew[start:].sum(axis=0)
        self._ep_len += mask[start:].sum(axis=0)
        return (np.asarray(ep_ret, dtype=np.float64), np.asarray(ep_len, dtype=np.int64),
                np.asarray(ep_end, dtype=np.int64))

    def close(self) -> None:
        self.envs.close()
