"""pgcourse.checks.actor_critic (lesson 4): mistake catalogue, written as a student would write each mistake."""

import numpy as np

from pgcourse import advantages, losses
import torch

from pgcourse.checks.actor_critic import check_a2c_loss, check_gae, check_td_actor_critic_loss
from pgcourse.labs import probe_envs


def _gae_student(rew, val, next_val, terminated, truncated, gamma, lam, variant):
    rew, val, next_val = (np.asarray(x, float) for x in (rew, val, next_val))
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    adv = np.zeros_like(rew)
    last = np.zeros_like(rew[0])
    steps = range(len(rew)) if variant == "forward" else reversed(range(len(rew)))
    for t in steps:
        if variant == "no_mask":
            nonterminal_next, cont = ~terminated[t], 1.0
        elif variant == "boot_term":
            nonterminal_next, cont = 1.0, ~(terminated[t] | truncated[t])
        elif variant == "no_boot_trunc":
            nonterminal_next, cont = ~(terminated[t] | truncated[t]), ~(terminated[t] | truncated[t])
        else:
            nonterminal_next, cont = ~terminated[t], ~(terminated[t] | truncated[t])
        g, l = (lam, gamma) if variant == "swap" else (gamma, lam)
        delta = rew[t] + g * nonterminal_next * next_val[t] - val[t]
        last = delta + g * l * cont * last
        adv[t] = last
    return adv, adv + val


def make(variant):
    def student_gae(rew, val, next_val, terminated, truncated, gamma, lam):
        return _gae_student(rew, val, next_val, terminated, truncated, gamma, lam, variant)
    student_gae.__name__ = f"gae_{variant}"
    return student_gae


def a2c_target_not_detached(logp, entropy, val, ret, adv):
    return -(logp * adv.detach()).mean() + 0.5 * (val - ret).pow(2).mean() - 0.01 * entropy.mean()


def a2c_entropy_sign(logp, entropy, val, ret, adv):
    return -(logp * adv.detach()).mean() + 0.5 * (val - ret.detach()).pow(2).mean() + 0.01 * entropy.mean()


def a2c_adv_grad(logp, entropy, val, ret, adv):
    return -(logp * adv).mean() + 0.5 * (val - ret.detach()).pow(2).mean() - 0.01 * entropy.mean()


def _td_student(logits, val, act, rew, next_val, terminated, gamma, variant):
    if variant == "boot_term":
        target = rew + gamma * next_val
    elif variant == "no_discount":
        target = rew + (1 - terminated) * next_val
    else:
        target = rew + gamma * (1 - terminated) * next_val
    if variant != "target_grad":
        target = target.detach()
    adv = val - target if variant == "reversed" else target - val
    if variant != "adv_grad":
        adv = adv.detach()
    logp = torch.distributions.Categorical(logits=logits).log_prob(act)
    policy = (logp * adv).mean() if variant == "policy_plus" else -(logp * adv).mean()
    return policy + 0.5 * torch.nn.functional.mse_loss(val, target)


def td(variant):
    def student_td(logits, val, act, rew, next_val, terminated, gamma):
        return _td_student(logits, val, act, rew, next_val, terminated, gamma, variant)
    student_td.__name__ = f"td_{variant}"
    return student_td


CASES = [
    (check_gae, make("no_mask"), "no done masking", "1 - done_t"),
    (check_gae, make("boot_term"), "bootstrapping through terminations", "terminated"),
    (check_gae, make("no_boot_trunc"), "not bootstrapping through truncations", "truncated"),
    (check_gae, make("swap"), "lambda and gamma swapped", "swapped"),
    (check_gae, make("forward"), "reversed recursion", "backwards"),
    (check_a2c_loss, a2c_target_not_detached, "critic target not detached", "detach the critic's target"),
    (check_a2c_loss, a2c_entropy_sign, "entropy sign", "BONUS"),
    (check_a2c_loss, a2c_adv_grad, "advantage with gradient", "detach the advantage"),
    (check_td_actor_critic_loss, td("boot_term"), "bootstrapping through terminations", "1 - terminated"),
    (check_td_actor_critic_loss, td("reversed"), "policy pushed the wrong way", "target - val"),
    (check_td_actor_critic_loss, td("policy_plus"), "policy pushed the wrong way", "MINUS"),
    (check_td_actor_critic_loss, td("no_discount"), "no discount", "GAMMA"),
    (check_td_actor_critic_loss, td("target_grad"), "critic target not detached", "detach the target"),
    (check_td_actor_critic_loss, td("adv_grad"), "advantage with gradient", "detach the advantage"),
]


# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [
    (check_gae, advantages.gae), (check_gae, make("correct")), (check_a2c_loss, losses.a2c_loss),
    (check_td_actor_critic_loss, probe_envs.td_actor_critic_loss), (check_td_actor_critic_loss, td("correct"))]


def test_gae_must_return_a_pair():
    r = check_gae(lambda *a: advantages.gae(*a)[0])
    assert r.status == "failed" and "pair (adv, ret)" in r.message
