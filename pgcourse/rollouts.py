"""Episode rollouts on gymnasium 1.x (lessons 2-3).

- `make_vec_env(env_id, num_envs)`: a vector env, using the env's own NumPy
  vectorised implementation when it has one (CartPole-v1 does), else SyncVectorEnv.
- `run_episode(env, policy)`: one episode on a single `gym.Env`, the plain loop.
- `collect_episodes(envs, policy, n_episodes)`: complete episodes from a vector env,
  one batched policy call per step.
- `evaluate(policy, env_id, n_episodes)`: returns of fresh evaluation episodes.

Autoreset (gymnasium 1.x): by default a vector env is in NEXT_STEP mode. When
sub-env i ends an episode at step t (terminated or truncated), the obs it
returns is the real last obs; at step t+1 it ignores the action, resets, and
returns the first obs of the next episode with rew 0 and terminated = truncated
= False. That reset step is *not* a transition and `collect_episodes` drops it.
SAME_STEP mode (reset inside the final step, last obs in info["final_obs"]) is
handled as well; DISABLED is refused.

Every episode we keep is a complete one: sub-env i contributes exactly its
quota of episodes, the first ones it plays after `envs.reset()`. Keeping "the
first n episodes to finish" across envs instead would favour short episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Steps", "EpisodeBatch", "make_vec_env", "run_episode", "collect_episodes", "evaluate"]


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
            "policy must have an act(obs) -> (act, logp) method, e.g. a pgcourse.policies.CategoricalPolicy; "
            f"got {type(policy).__name__}"
        )


def _check_count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return int(n)


def make_vec_env(env_id: str = "CartPole-v1", num_envs: int = 8, **kwargs):
    """`gym.make_vec(env_id, num_envs)` in the fastest mode the env offers.

    Envs registered with a `vector_entry_point` (CartPole-v1: every sub-env is a
    column of one NumPy array, stepped in a single call) use it; others fall back
    to a `SyncVectorEnv`. Autoreset mode is NEXT_STEP in both cases.
    """
    import gymnasium as gym

    num_envs = _check_count(num_envs, "num_envs")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:
        raise ValueError(f"unknown environment id {env_id!r}: {e}") from None
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def run_episode(env, policy, seed: int | None = None, max_steps: int = 100_000) -> EpisodeBatch:
    """Play one episode on a single (non-vector) `gym.Env`; the plain loop.

    Records obs, act, rew, terminated, truncated, logp for every step.
    """
    _check_policy(policy)
    if hasattr(env, "num_envs"):
        raise ValueError("run_episode takes a single gym.Env; for a vector env use collect_episodes")
    max_steps = _check_count(max_steps, "max_steps")
    obs_l, act_l, rew_l, term_l, trunc_l, logp_l = [], [], [], [], [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(max_steps):
        act, logp = policy.act(obs)
        next_obs, rew, terminated, truncated, _ = env.step(int(act))
        obs_l.append(obs), act_l.append(act), rew_l.append(rew)
        term_l.append(terminated), trunc_l.append(truncated), logp_l.append(logp)
        obs = next_obs
        if terminated or truncated:
            break
    else:
        raise RuntimeError(
            f"the episode did not end within max_steps={max_steps}; wrap the env in a TimeLimit"
        )
    return _finish(obs_l, act_l, rew_l, term_l, trunc_l, logp_l, len(rew_l))


def collect_episodes(
    envs, policy, n_episodes: int, seed: int | None = None, max_steps: int = 100_000
) -> EpisodeBatch:
    """Collect `n_episodes` complete episodes from the vector env `envs`.

    Resets `envs` first (with `seed` if given: pass it the first time only, so
    later batches continue the env's random stream). Sub-env i plays the first
    `n_episodes // num_envs` (+1 for the first `n_episodes % num_envs` envs)
    episodes after the reset; each step makes one batched `policy.act(obs)` call
    for all sub-envs. Steps from NEXT_STEP autoreset and from sub-envs that
    already met their quota are discarded. `max_steps` caps the vector steps.
    """
    from gymnasium.vector import AutoresetMode

    _check_policy(policy)
    if not hasattr(envs, "num_envs"):
        raise ValueError(
            "collect_episodes needs a vector env (gym.make_vec or pgcourse.rollouts.make_vec_env); "
            "for a single env use run_episode"
        )
    n_episodes = _check_count(n_episodes, "n_episodes")
    max_steps = _check_count(max_steps, "max_steps")
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
        act, logp = policy.act(obs)
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
    n_episodes = _check_count(n_episodes, "n_episodes")
    envs = make_vec_env(env_id, num_envs=n_episodes)
    try:
        if deterministic:
            class _Greedy:
                def act(self, obs):
                    return policy.act(obs, deterministic=True)

            batch = collect_episodes(envs, _Greedy(), n_episodes, seed=seed)
        else:
            batch = collect_episodes(envs, policy, n_episodes, seed=seed)
    finally:
        envs.close()
    return batch.ep_ret
