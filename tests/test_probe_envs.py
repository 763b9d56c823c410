"""pgcourse.labs.probe_envs: the correct one-step loss passes every probe; each planted bug fails the probe
that isolates it; bad arguments raise ValueError."""

import pytest
import torch

from pgcourse.labs import probe_envs
from pgcourse.labs.probe_envs import PROBES, run_probes, td_actor_critic_loss, train_probe

BY_NAME = {p.name: p for p in PROBES}


def _loss(boot_term=False, reversed_adv=False, discount=True):
    def loss(logits, val, act, rew, next_val, terminated, gamma):
        g = gamma if discount else 1.0
        target = (rew + g * (1.0 if boot_term else 1 - terminated) * next_val).detach()
        adv = ((val - target) if reversed_adv else (target - val)).detach()
        logp = torch.log_softmax(logits, -1).gather(1, act.unsqueeze(1)).squeeze(1)
        return -(logp * adv).mean() + 0.5 * ((val - target) ** 2).mean()
    return loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_passes_every_probe(seed):
    assert all(r["ok"] for r in run_probes(td_actor_critic_loss, seed=seed, verbose=False))


def test_each_bug_fails_its_probe():
    assert not train_probe(BY_NAME["constant"], _loss(boot_term=True))["ok"]
    r = train_probe(BY_NAME["two-step"], _loss(discount=False))
    assert train_probe(BY_NAME["constant"], _loss(discount=False))["ok"] and not r["ok"]
    assert r["learned"]["V(step 0)"] > 0.97
    bad = train_probe(BY_NAME["action-dependent"], _loss(reversed_adv=True))
    assert not bad["ok"] and bad["learned"]["pi(1)"] < 0.1
    assert train_probe(BY_NAME["constant"], _loss(reversed_adv=True))["ok"]


def test_a_broken_loss_is_reported_not_raised(capsys):
    res = run_probes(lambda *a: 1 / 0, n_updates=2)
    assert not any(r["ok"] for r in res) and "ZeroDivisionError" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        train_probe(PROBES[0], td_actor_critic_loss, gamma=1.0)
    with pytest.raises(ValueError, match="loss_fn"):
        train_probe(PROBES[0], "not a function")
    with pytest.raises(ValueError, match="n_updates"):
        train_probe(PROBES[0], td_actor_critic_loss, n_updates=0)
    assert probe_envs.__all__
