"""Probe environments (lesson 4's debugging exercise): five tiny environments, each of which isolates one
part of an actor-critic, so a bug shows up in the first probe that exercises it (after Andy Jones,
"Debugging RL, without the agonizing pain", 2021).

| probe | actions | observation | reward | what it tests | learned answer |
| --- | --- | --- | --- | --- | --- |
| constant | 1 | always 0 | +1, then the episode ends | the value loss alone | V = 1 |
| obs-dependent | 1 | x = +-1 | x, then the episode ends | the critic uses its input | V(x) = x |
| two-step | 1 | step 0, then step 1 | 0, then +1 and the end | discounting, bootstrapping, termination | V(step 0) = gamma, V(step 1) = 1 |
| action-dependent | 2 | always 0 | +1 for action 1, -1 for action 0 | the policy update's sign | pi(1) = 1, V = 1 |
| obs-and-action | 2 | x = +-1 | +1 if the action matches x (1 for +1, 0 for -1), else -1 | actor and critic together | pi(match) = 1, V = 1 |

Observations are 2-vectors (one-hot of the step in the two-step probe, (x, 0) otherwise). `train_probe`
trains a small `ActorCritic` with a one-step TD loss you pass in:

    loss_fn(logits (B, n_act), val (B,), act (B,) int64, rew (B,), next_val (B,), terminated (B,) 0/1 float,
            gamma) -> scalar

`next_val` is V of the true next observation, computed WITH gradient (the loss decides what is data).
`td_actor_critic_loss` is the correct loss; `run_probes(loss_fn)` trains on all five and prints a table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pgcourse.actor_critic import ActorCritic
from pgcourse.util import positive_int, seed_everything

__all__ = ["PROBES", "Probe", "td_actor_critic_loss", "train_probe", "run_probes"]


@dataclass(frozen=True)
class Probe:
    """One probe: its name, number of actions, what it tests and its two-step flag."""

    name: str
    n_act: int
    tests: str
    obs_from_sign: bool = False  # obs = (x, 0) with x = +-1 drawn each episode
    two_step: bool = False
    action_reward: bool = False  # reward depends on the action


PROBES = (
    Probe("constant", 1, "the value loss: V must learn the reward"),
    Probe("obs-dependent", 1, "the critic's use of its input: V(x) = x", obs_from_sign=True),
    Probe("two-step", 1, "discounting and the end of an episode: V(step 0) = gamma", two_step=True),
    Probe("action-dependent", 2, "the policy update: pi must pick the rewarded action", action_reward=True),
    Probe("obs-and-action", 2, "actor and critic together: the action must follow the observation",
          obs_from_sign=True, action_reward=True),
)


def td_actor_critic_loss(logits, val, act, rew, next_val, terminated, gamma, vf_coef: float = 0.5):
    """One-step actor-critic loss: target = rew + gamma (1 - terminated) next_val, detached;
    adv = target - val, detached; -mean(logp(act) adv) + vf_coef mean((val - target)^2). Scalar."""
    target = (rew + gamma * (1.0 - terminated) * next_val).detach()
    adv = (target - val).detach()
    logp = torch.log_softmax(logits, dim=-1).gather(1, act.long().unsqueeze(1)).squeeze(1)
    return -(logp * adv).mean() + vf_coef * ((val - target) ** 2).mean()


def _reset(probe: Probe, rng: np.random.Generator, n: int):
    """(x, step) of n fresh episodes: x = +-1 (or 0), step 0."""
    x = rng.choice([-1.0, 1.0], size=n) if probe.obs_from_sign else np.zeros(n)
    return x, np.zeros(n, dtype=int)


def _obs(probe: Probe, x: np.ndarray, step: np.ndarray) -> np.ndarray:
    if probe.two_step:
        return np.stack([step == 0, step == 1], axis=1).astype(np.float32)
    return np.stack([x, np.zeros_like(x)], axis=1).astype(np.float32)


def _step(probe: Probe, x, step, act):
    """(rew, terminated) of one step from (x, step) with actions act."""
    if probe.two_step:
        return (step == 1).astype(float), step == 1
    if probe.action_reward:
        good = (act == 1) if not probe.obs_from_sign else (act == (x > 0))
        return np.where(good, 1.0, -1.0), np.ones(len(x), bool)
    return (x if probe.obs_from_sign else np.ones(len(x))), np.ones(len(x), bool)


def _report(probe: Probe, agent: ActorCritic, gamma: float) -> dict:
    """Learned vs expected numbers of a probe: {'learned': {...}, 'expected': {...}}."""
    if probe.two_step:
        obs = _obs(probe, np.zeros(2), np.array([0, 1]))
        exp = {"V(step 0)": gamma, "V(step 1)": 1.0}
    elif probe.obs_from_sign:
        obs = _obs(probe, np.array([-1.0, 1.0]), np.zeros(2, int))
        exp = ({"V(x=-1)": 1.0, "V(x=+1)": 1.0, "pi(0|x=-1)": 1.0, "pi(1|x=+1)": 1.0}
               if probe.action_reward else {"V(x=-1)": -1.0, "V(x=+1)": 1.0})
    else:
        obs = _obs(probe, np.zeros(1), np.zeros(1, int))
        exp = {"V": 1.0, "pi(1)": 1.0} if probe.action_reward else {"V": 1.0}
    with torch.no_grad():
        logits, val = agent(torch.from_numpy(obs))
        pi = torch.softmax(logits, -1).numpy()
    val = val.numpy()
    if probe.two_step:
        got = [val[0], val[1]]
    elif probe.obs_from_sign:
        got = [val[0], val[1]] + ([pi[0, 0], pi[1, 1]] if probe.action_reward else [])
    else:
        got = [val[0]] + ([pi[0, 1]] if probe.action_reward else [])
    return {"learned": dict(zip(exp, map(float, got))), "expected": exp}


def train_probe(probe: Probe, loss_fn, gamma: float = 0.9, n_updates: int = 400, batch: int = 64,
                lr: float = 0.01, seed: int = 0, tol: float = 0.1) -> dict:
    """Train a fresh ActorCritic(2, n_act, hidden=(16,)) on `probe` with `loss_fn` (one Adam step per batch of
    `batch` parallel episodes' steps). Returns {'probe', 'learned', 'expected', 'ok'} (ok: every learned
    number within `tol` of its expected value)."""
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function (logits, val, act, rew, next_val, terminated, gamma), "
                         f"got {type(loss_fn).__name__}")
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    n_updates, batch = positive_int(n_updates, "n_updates"), positive_int(batch, "batch")
    rng = seed_everything(seed)
    agent = ActorCritic(2, probe.n_act, hidden=(16,))
    opt = torch.optim.Adam(agent.parameters(), lr=lr)
    x, step = _reset(probe, rng, batch)
    for _ in range(n_updates):
        obs = torch.from_numpy(_obs(probe, x, step))
        logits, val = agent(obs)
        with torch.no_grad():
            act = torch.distributions.Categorical(logits=logits, validate_args=False).sample()
        rew, term = _step(probe, x, step, act.numpy())
        # the true next observation: the terminal one where the episode ended (gymnasium's final obs)
        next_step = np.minimum(step + 1, 1) if probe.two_step else step
        next_val = agent.value(torch.from_numpy(_obs(probe, x, next_step)))
        loss = loss_fn(logits, val, act, torch.as_tensor(rew, dtype=torch.float32), next_val,
                       torch.as_tensor(term, dtype=torch.float32), gamma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        x_new, step_new = _reset(probe, rng, batch)  # autoreset where the episode ended
        x, step = np.where(term, x_new, x), np.where(term, step_new, next_step)
    rep = _report(probe, agent, gamma)
    ok = all(abs(rep["learned"][k] - v) <= tol for k, v in rep["expected"].items())
    return {"probe": probe.name, **rep, "ok": ok}


def run_probes(loss_fn, gamma: float = 0.9, seed: int = 0, verbose: bool = True, **kwargs) -> list[dict]:
    """`train_probe` on every probe, in order; prints one line per probe (learned vs expected). A loss
    that raises is reported on its probe's line instead of crashing."""
    results = []
    for probe in PROBES:
        try:
            res = train_probe(probe, loss_fn, gamma=gamma, seed=seed, **kwargs)
        except Exception as e:  # noqa: BLE001 - report a broken loss, keep going
            res = {"probe": probe.name, "learned": {}, "expected": {}, "ok": False,
                   "error": f"{type(e).__name__}: {e}"}
        results.append(res)
        if verbose:
            mark = "ok  " if res["ok"] else "FAIL"
            nums = res.get("error") or ", ".join(
                f"{k} {res['learned'][k]:+.2f} (want {v:+.2f})" for k, v in res["expected"].items())
            print(f"{mark} {probe.name:<17} {nums}   [{probe.tests}]")
    return results
