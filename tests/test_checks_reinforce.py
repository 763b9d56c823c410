"""pgcourse.checks.reinforce (lesson 2): mistake catalogue, written as a student would write each mistake."""

import numpy as np
import torch

from pgcourse import losses, returns
from pgcourse.checks import check_reinforce_loss, check_reward_to_go, check_reward_to_go_episodes


def rtg_no_discount(rew, gamma):
    return np.cumsum(rew[::-1])[::-1]


def rtg_reversed(rew, gamma):
    out, running = np.zeros(len(rew)), 0.0
    for t in range(len(rew)):
        running = rew[t] + gamma * running
        out[t] = running
    return out


def rtg_off_by_one(rew, gamma):
    out, running = np.zeros(len(rew)), 0.0
    for t in reversed(range(len(rew))):
        out[t] = running            # stored before adding r_t
        running = rew[t] + gamma * running
    return out


def rtg_gamma_k(rew, gamma):
    T = len(rew)
    return np.array([sum(gamma**k * rew[k] for k in range(t, T)) for t in range(T)])


def rtg_total(rew, gamma):
    return np.full(len(rew), sum(gamma**k * r for k, r in enumerate(rew)))


def eps_no_reset(rew, done, gamma):
    out, running = np.zeros(len(rew)), 0.0
    for t in reversed(range(len(rew))):
        running = rew[t] + gamma * running
        out[t] = running
    return out


def eps_reset_late(rew, done, gamma):
    out, running = np.zeros(len(rew)), 0.0
    for t in reversed(range(len(rew))):
        running = rew[t] + gamma * running
        out[t] = running
        if done[t]:                # reset after adding r_t: the boundary lands one step early
            running = 0.0
    return out


def eps_no_discount(rew, done, gamma):
    out, running = np.zeros(len(rew)), 0.0
    for t in reversed(range(len(rew))):
        if done[t]:
            running = 0.0
        running = rew[t] + running
        out[t] = running
    return out


def loss_wrong_sign(logp, ret):
    return (logp * ret.detach()).mean()


def loss_probs(logp, ret):
    return -(torch.exp(logp) * ret.detach()).mean()


def loss_leaks(logp, ret):
    return -(logp * ret).mean()


def loss_sum(logp, ret):
    return -(logp * ret.detach()).sum()


CASES = [
    (check_reward_to_go, rtg_no_discount, "no discount", "discount"),
    (check_reward_to_go, rtg_reversed, "reversed order", "backwards"),
    (check_reward_to_go, rtg_off_by_one, "off by one (excludes r_t)", "off by one"),
    (check_reward_to_go, rtg_gamma_k, "discount from the episode start", "gamma^(k-t)"),
    (check_reward_to_go, rtg_total, "whole-episode return at every step", "causality"),
    (check_reward_to_go_episodes, eps_no_reset, "not resetting at episode boundaries", "restart"),
    (check_reward_to_go_episodes, eps_reset_late, "reset one step early", "off by one"),
    (check_reward_to_go_episodes, eps_no_discount, "no discount", "gamma"),
    (check_reinforce_loss, loss_wrong_sign, "wrong sign", "MINUS"),
    (check_reinforce_loss, loss_probs, "probabilities instead of log-probabilities", "exp(logp)"),
    (check_reinforce_loss, loss_leaks, "gradient leaks through the returns", "detach"),
    (check_reinforce_loss, loss_sum, "sum instead of mean", ".mean()"),
]


# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [
    (check_reward_to_go, returns.reward_to_go),
    (check_reward_to_go, returns.reward_to_go_loop),
    (check_reward_to_go_episodes, returns.reward_to_go_episodes),
    (check_reinforce_loss, losses.reinforce_loss),
]


def test_loss_returning_numpy_is_reported():
    r = check_reinforce_loss(lambda logp, ret: float(-(logp * ret).mean().detach()))
    assert r.status == "failed" and "expected the parts" in r.message

