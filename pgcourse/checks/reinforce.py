"""Graded checks for lesson 2 (REINFORCE): reward-to-go and the REINFORCE loss, each declared once as an `Exercise`."""

from __future__ import annotations

import numpy as np
from pgcourse import losses, returns
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, register
from pgcourse.checks.probes import probed

# --- reward_to_go ---------------------------------------------------------------------------------


def _forward_cumsum(rew, gamma):
    rew = np.asarray(rew, float)
    return np.array([sum(gamma ** (t - k) * rew[k] for k in range(t + 1)) for t in range(len(rew))])


def _rtg_exponent_from_start(rew, gamma):
    rew = np.asarray(rew, float)
    return np.array([sum(gamma ** k * rew[k] for k in range(t, len(rew))) for t in range(len(rew))])


def _rtg_excluding_now(rew, gamma):
    out = np.zeros(len(rew))
    out[:-1] = returns.reward_to_go(rew, gamma)[1:]
    return out


def _rtg_shifted(rew, gamma):
    out = returns.reward_to_go(rew, gamma)
    return np.concatenate([[out[0]], out[:-1]])


RTG_MISTAKES = [
    Mistake("no discount", lambda rew, gamma: returns.reward_to_go(rew, 1.0),
            "you did not discount: G_t = r_t + gamma * G_{t+1}, each later reward weighted by gamma^(k-t)"),
    Mistake("reversed order", _forward_cumsum,
            "you summed the past, not the future: reward-to-go at t sums rewards from t to the END, so run the loop backwards"),
    Mistake("off by one (excludes r_t)", _rtg_excluding_now,
            "off by one: G_t includes the reward r_t of step t itself"),
    Mistake("off by one (shifted)", _rtg_shifted,
            "off by one: the output is shifted by one step; G_t must line up with r_t"),
    Mistake("discount from the episode start", _rtg_exponent_from_start,
            "the discount restarts at t: weight r_k by gamma^(k-t), not gamma^k"),
    Mistake("whole-episode return at every step", lambda rew, gamma: np.full(len(rew), returns.discounted_returns(rew, gamma)),
            "that is the whole-episode return G_0 at every step; reward-to-go drops the rewards before t (causality)"),
]


def _random_episode(rng):
    return Case((rng.normal(0, 2, size=int(rng.integers(2, 30))), float(rng.choice([0.9, 0.99, rng.uniform(0.5, 1)]))),
                label="random episode")


REWARD_TO_GO = register(Exercise(
    "check_reward_to_go", "reward_to_go", returns.reward_to_go,
    hand=(
        Case((np.array([1.0, 1.0, 1.0]), 1.0), label="gamma=1: (3, 2, 1)"),
        Case((np.array([1.0, 1.0, 1.0]), 0.5), label="gamma=0.5: (1.75, 1.5, 1)"),
        Case((np.array([0.0, 0.0, 1.0]), 0.9), label="reward only at the end: (0.81, 0.9, 1)"),
        Case((np.array([2.0]), 0.9), label="one step"),
        Case((np.array([1.0, 2.0, 3.0, 4.0]), 0.0), label="gamma=0: the rewards themselves"),
    ),
    make=_random_episode, n_random=20, seed=21, mistakes=RTG_MISTAKES, arg_names=("rew", "gamma"),
    generic_hint="loop t from T-1 down to 0: running = rew[t] + gamma * running; out[t] = running"))


def check_reward_to_go(student_fn) -> CheckResult:
    """Grade `reward_to_go(rew, gamma) -> (T,)` for one episode's rewards (T,)."""
    return REWARD_TO_GO.run(student_fn)


# --- reward_to_go_episodes ------------------------------------------------------------------------

def _no_reset(rew, done, gamma):
    return returns.reward_to_go(rew, gamma)


def _reset_one_late(rew, done, gamma):
    done = np.asarray(done, bool)
    shifted = np.zeros_like(done)
    shifted[1:] = done[:-1]
    shifted[-1] = True
    return returns.reward_to_go_episodes(rew, shifted, gamma)


def _reset_one_early(rew, done, gamma):
    done = np.asarray(done, bool)
    shifted = np.zeros_like(done)
    shifted[:-1] = done[1:]
    shifted[-1] = True
    return returns.reward_to_go_episodes(rew, shifted, gamma)


EPISODES_MISTAKES = [
    Mistake("not resetting at episode boundaries", _no_reset,
            "the sum must restart after every done: an episode's return does not include the next episode's rewards"),
    Mistake("reset one step late", _reset_one_late,
            "off by one at the boundary: done[t] marks the LAST step of an episode, so reset the running sum "
            "before adding rew[t] when done[t] is True (going backwards)"),
    Mistake("reset one step early", _reset_one_early,
            "off by one at the boundary: reset where done[t] is True, not one step earlier"),
    Mistake("no discount", lambda rew, done, gamma: returns.reward_to_go_episodes(rew, done, 1.0),
            "you did not discount: multiply the running sum by gamma at each step"),
]


def _random_episodes(rng):
    n = int(rng.integers(3, 40))
    done = rng.random(n) < 0.25
    done[-1] = True
    return Case((rng.normal(1, 1, size=n), done, float(rng.uniform(0.8, 1.0))), label="random episodes")


REWARD_TO_GO_EPISODES = register(Exercise(
    "check_reward_to_go_episodes", "reward_to_go_episodes", returns.reward_to_go_episodes,
    hand=(
        Case((np.array([1.0, 1.0, 1.0, 1.0]), np.array([False, True, False, True]), 1.0),
             label="two episodes of length 2: (2, 1, 2, 1)"),
        Case((np.array([1.0, 1.0, 1.0]), np.array([True, False, True]), 0.5),
             label="episodes of length 1 and 2: (1, 1.5, 1)"),
        Case((np.array([1.0, 2.0, 3.0]), np.array([False, False, True]), 0.9), label="a single episode"),
    ),
    make=_random_episodes, n_random=20, seed=22, mistakes=EPISODES_MISTAKES, arg_names=("rew", "done", "gamma"),
    generic_hint="go backwards: if done[t], running = 0; then running = rew[t] + gamma * running"))


def check_reward_to_go_episodes(student_fn) -> CheckResult:
    """Grade `reward_to_go_episodes(rew, done, gamma) -> (T,)` for episodes concatenated in time."""
    return REWARD_TO_GO_EPISODES.run(student_fn)


# --- reinforce_loss -------------------------------------------------------------------------------

LOSS_MISTAKES = [
    Mistake("wrong sign", lambda logp, ret: (logp * ret.detach()).mean(),
            "wrong sign: optimisers minimise, and we want to maximise J, so the loss is MINUS logp * ret"),
    Mistake("wrong sign, returns not detached", lambda logp, ret: (logp * ret).mean(),
            "two things: the sign (the loss is MINUS logp * ret, since optimisers minimise) and the returns, "
            "which are data: use ret.detach()"),
    Mistake("probabilities instead of log-probabilities", lambda logp, ret: -(logp.exp() * ret.detach()).mean(),
            "use the log-probabilities logp themselves, not exp(logp): the estimator is grad LOG pi times the return"),
    Mistake("gradient leaks through the returns", lambda logp, ret: -(logp * ret).mean(),
            "the returns are data: detach them (ret.detach()), or the loss also 'optimises' the returns"),
    Mistake("sum instead of mean", lambda logp, ret: -(logp * ret.detach()).sum(),
            "average over the batch (.mean()), so the step size does not grow with the number of steps"),
    Mistake("forgot the returns", lambda logp, ret: -logp.mean(),
            "weight each log-probability by its return; -logp.mean() only makes taken actions likelier"),
]


def _random_batch(rng):
    n = int(rng.integers(2, 50))
    return Case((-rng.exponential(1.0, size=n), rng.normal(5, 5, size=n)), label="random batch")


REINFORCE_LOSS = register(Exercise(
    "check_reinforce_loss", "reinforce_loss", losses.reinforce_loss,
    hand=(
        Case((np.log(np.array([0.5, 0.25])), np.array([2.0, 1.0])), label="two steps"),
        Case((np.array([-1.0, -2.0, -0.5]), np.array([3.0, -1.0, 0.0])), label="a negative return"),
    ),
    make=_random_batch, n_random=15, seed=23, mistakes=LOSS_MISTAKES, arg_names=("logp", "ret"),
    wrap=probed, generic_hint="loss = -(logp * ret.detach()).mean(), a scalar tensor"))


def check_reinforce_loss(student_fn) -> CheckResult:
    """Grade `reinforce_loss(logp, ret) -> scalar tensor`: its value and its gradients on logp and ret."""
    return REINFORCE_LOSS.run(student_fn)
