"""Experience from gymnasium 1.x vector envs (lessons 2-6), in the two shapes the course's algorithms need.

Complete episodes (lessons 2-3, REINFORCE; and every evaluation):
- `make_vec_env(env_id, num_envs)`: a vector env, using the env's own NumPy vectorised implementation
  when it has one (CartPole-v1 does), else SyncVectorEnv.
- `collect_episodes(envs, policy, n_episodes)`: complete episodes, one batched policy call per step.
- `evaluate(policy, env_id, n_episodes)`: returns of fresh evaluation episodes.

Fixed-length rollouts (lessons 4-5, A2C and PPO), where episodes run on across rollouts:
- `RolloutCollector(envs, n_steps).collect(agent)`: n_steps vector steps on every sub-env.

A policy is anything with `act(obs (B, obs_dim)) -> (act (B,), logp (B,))` NumPy arrays, and
`act(obs, deterministic=True)` for greedy actions (CategoricalPolicy, ActorCritic, SAC's actor).

Autoreset (gymnasium 1.x): by default a vector env is in NEXT_STEP mode. When sub-env i ends an
episode at step t (terminated or truncated), the obs it returns is the TRUE final obs; at step t+1 it
ignores the action, resets, and returns the first obs of the next episode with rew 0 and terminated =
truncated = False. That reset step is not a transition: `collect_episodes` drops it, and a `Rollout`
marks it with mask False. SAME_STEP mode (reset inside the final step, the true final obs in
info["final_obs"]) is handled as well; DISABLED is refused.

Every episode `collect_episodes` keeps is a complete one: sub-env i contributes exactly its quota of
episodes, the first ones it plays after `envs.reset()`. Keeping "the first n episodes to finish"
across envs instead would favour short episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pgcourse.util import positive_int

__all__ = ["Steps", "EpisodeBatch", "make_vec_env", "collect_episodes", "evaluate", "Rollout", "RolloutCollector"]


@dataclass
class Steps:
    """What every batch of experience records, one entry per env step (leading dims: T, or T x N):
    obs (..., obs_dim) float32 · act int64 · rew float32 · terminated, truncated bool ·
    logp float32: log pi(act|obs) under the policy that acted."""

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    logp: np.ndarray

    @property
    def done(self) -> np.ndarray:
        """True at the last step of each episode (terminated or truncated)."""
        return self.terminated | self.truncated


@dataclass
class EpisodeBatch(Steps):
    """Complete episodes concatenated along time (T steps in total, E episodes): `Steps` with (T,) leading
    dims, episodes one after another, each in time order; plus ep_ret (E,) float64 · ep_len (E,) int64 ·
    env_steps: sub-env steps simulated to collect the batch, discarded ones included.
    """

    ep_ret: np.ndarray
    ep_len: np.ndarray
    env_steps: int

    @property
    def n_episodes(self) -> int:
        return len(self.ep_len)

    @property
    def n_steps(self) -> int:
        return len(self.rew)

    def __repr__(self) -> str:
        return (
            f"EpisodeBatch({self.n_episodes} episodes, {self.n_steps} steps, "
            f"mean return {self.ep_ret.mean():.1f}, obs {self.obs.shape})"
        )


def _finish(obs, act, rew, terminated, truncated, logp, env_steps) -> EpisodeBatch:
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool)
    done = terminated | truncated
    ends = np.flatnonzero(done) + 1
    starts = np.concatenate(([0], ends[:-1]))
    return EpisodeBatch(
        obs=np.asarray(obs, dtype=np.float32),
        act=np.asarray(act, dtype=np.int64),
        rew=np.asarray(rew, dtype=np.float32),
        terminated=terminated,
        truncated=truncated,
        logp=np.asarray(logp, dtype=np.float32),
        ep_ret=np.add.reduceat(np.asarray(rew, dtype=np.float64), starts),
        ep_len=(ends - starts).astype(np.int64),
        env_steps=int(env_steps),
    )


def _check_policy(policy) -> None:
    if not callable(getattr(policy, "act", None)):
        raise ValueError(
            "policy must have an act(obs) -> (act, logp) method, e.g. a pgcourse.policies.CategoricalPolicy "
            "or an ActorCritic; "
            f"got {type(policy).__name__}"
        )


def make_vec_env(env_id: str = "CartPole-v1", num_envs: int = 8, **kwargs):
    """`gym.make_vec(env_id, num_envs)` in the fastest mode the env offers.

    Envs registered with a `vector_entry_point` (CartPole-v1: every sub-env is a
    column of one NumPy array, stepped in a single call) use it; others fall back
    to a `SyncVectorEnv`. Autoreset mode is NEXT_STEP in both cases.
    """
    import gymnasium as gym

    num_envs = positive_int(num_envs, "num_envs")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:
        raise ValueError(f"unknown environment id {env_id!r}: {e}") from None
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def collect_episodes(
    envs, policy, n_episodes: int, seed: int | None = None, max_steps: int = 100_000, deterministic: bool = False
) -> EpisodeBatch:
    """Collect `n_episodes` complete episodes from the vector env `envs`.

    Resets `envs` first (with `seed` if given: pass it the first time only, so
    later batches continue the env's random stream). Sub-env i plays the first
    `n_episodes // num_envs` (+1 for the first `n_episodes % num_envs` envs)
    episodes after the reset; each step makes one batched `policy.act(obs)` call
    for all sub-envs. Steps from NEXT_STEP autoreset and from sub-envs that
    already met their quota are discarded. `max_steps` caps the vector steps.
    deterministic=True calls `policy.act(obs, deterministic=True)` (greedy actions).
    """
    from gymnasium.vector import AutoresetMode

    _check_policy(policy)
    if not hasattr(envs, "num_envs"):
        raise ValueError(
            "collect_episodes needs a vector env (gym.make_vec or pgcourse.rollouts.make_vec_env), "
            "e.g. make_vec_env('CartPole-v1', num_envs=8)"
        )
    n_episodes = positive_int(n_episodes, "n_episodes")
    max_steps = positive_int(max_steps, "max_steps")
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(
            f"collect_episodes supports autoreset modes NEXT_STEP and SAME_STEP, got {mode}"
        )
    next_step = mode == AutoresetMode.NEXT_STEP
    n_envs = envs.num_envs
    quota = np.full(n_envs, n_episodes // n_envs)
    quota[: n_episodes % n_envs] += 1
    finished = np.zeros(n_envs, dtype=np.int64)
    prev_done = np.zeros(n_envs, dtype=bool)

    bufs: tuple[list, ...] = ([], [], [], [], [], [], [])  # obs act rew term trunc logp keep
    obs, _ = envs.reset(seed=seed)
    steps = 0
    while (finished < quota).any():
        if steps >= max_steps:
            raise RuntimeError(f"episodes did not end within max_steps={max_steps} vector steps")
        act, logp = policy.act(obs, deterministic=True) if deterministic else policy.act(obs)
        next_obs, rew, terminated, truncated, _ = envs.step(act)
        keep = finished < quota
        if next_step:
            keep &= ~prev_done  # a reset step is not a transition
        for buf, x in zip(bufs, (obs, act, rew, terminated, truncated, logp, keep)):
            buf.append(x)
        done = terminated | truncated
        finished += done & keep
        prev_done = done
        obs = next_obs
        steps += 1

    # Stack to (steps, n_envs, ...) and keep the real steps, env by env in time order.
    keep = np.stack(bufs[6]).T
    obs_a, act_a, rew_a, term_a, trunc_a, logp_a = (np.swapaxes(np.stack(b), 0, 1)[keep] for b in bufs[:6])
    return _finish(obs_a, act_a, rew_a, term_a, trunc_a, logp_a, steps * n_envs)


def evaluate(
    policy,
    env_id: str = "CartPole-v1",
    n_episodes: int = 20,
    seed: int = 10_000,
    deterministic: bool = False,
) -> np.ndarray:
    """Returns (n_episodes,) of fresh episodes, one per sub-env, seeded with `seed`.

    The policy samples its actions (deterministic=False) unless asked to act greedily.
    """
    n_episodes = positive_int(n_episodes, "n_episodes")
    envs = make_vec_env(env_id, num_envs=n_episodes)
    try:
        return collect_episodes(envs, policy, n_episodes, seed=seed, deterministic=deterministic).ep_ret
    finally:
        envs.close()


# ----------------------------------------------------------------------------- fixed-length rollouts
# collector = RolloutCollector(envs, n_steps=16, seed=0)
# ro = collector.collect(agent)      # agent.act(obs) -> (act, logp) per step; agent.value(obs) after
# adv, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, gamma, lam)
# losses use the real transitions only: ro.obs[ro.mask], adv[ro.mask], ...
#
# Every call plays `n_steps` vector steps on each of the N sub-envs and carries the envs' state over
# to the next call. Either autoreset mode, `next_obs[t, i]` is the true next observation of transition
# (t, i) and `next_val[t, i] = V(next_obs[t, i])`, so a truncated step bootstraps from the final obs
# of its episode, never from the reset obs of the next one.


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
        n_steps = positive_int(n_steps, "n_steps")
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

        `agent.act(obs (N, obs_dim)) -> (act (N,), logp (N,))` (NumPy) is called once per step;
        acting does not need V, so `agent.value(obs)` (torch, (B, obs_dim) -> (B,)) runs once after
        the rollout, batched over obs and next_obs, for val and next_val.
        """
        b = self._buf
        obs_b, next_obs_b, act_b, rew_b = b["obs"], b["next_obs"], b["act"], b["rew"]
        term_b, trunc_b, logp_b, mask_b = b["terminated"], b["truncated"], b["logp"], b["mask"]
        envs, obs = self.envs, self.obs
        for t in range(self.n_steps):  # the hot loop: one batched forward and one env step per t
            act, logp = agent.act(obs)
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
