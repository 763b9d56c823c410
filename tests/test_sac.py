"""pgcourse.algos.sac (lesson 6): the twin critics, the squashed-Gaussian actor, a short run, the config."""

import numpy as np
import pytest
import torch

from pgcourse.algos.sac import SACConfig, SACHistory, SquashedGaussianActor, TwinQ, train_sac
from pgcourse.soft import squashed_log_prob


def test_twin_q_is_two_independent_mlps():
    torch.manual_seed(0)
    q = TwinQ(3, 1, hidden=(8, 8))
    obs, act = torch.randn(5, 3), torch.randn(5, 1)
    out = q(obs, act)
    assert out.shape == (2, 5)
    x = torch.cat([obs, act], -1)
    for k in range(2):  # critic k by hand, with its own slice of every weight
        h = torch.relu(x @ q.weights[0][k] + q.biases[0][k])
        h = torch.relu(h @ q.weights[1][k] + q.biases[1][k])
        torch.testing.assert_close(out[k], (h @ q.weights[2][k] + q.biases[2][k]).squeeze(-1))
    assert not torch.allclose(out[0], out[1])  # independently initialised


def test_actor_scales_to_the_action_bounds_and_corrects_logp():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, low=[-2.0, 0.0], high=[2.0, 1.0], hidden=(16,))
    obs = torch.randn(400, 3)
    act, logp = actor(obs)
    assert act.shape == (400, 2) and logp.shape == (400,)
    assert (act[:, 0].abs() < 2).all() and (act[:, 1] > 0).all() and (act[:, 1] < 1).all()
    mu, log_std = actor.net(obs).chunk(2, -1)
    mean_act, _ = actor(obs, deterministic=True)
    torch.testing.assert_close(mean_act, actor.center + actor.scale * torch.tanh(mu))
    # logp of the rescaled action = logp of tanh(u) - sum log(scale)
    u = torch.atanh(((act - actor.center) / actor.scale).clamp(-1 + 1e-6, 1 - 1e-6))
    ref = squashed_log_prob(u, mu, log_std.clamp(-5, 2)) - torch.log(actor.scale).sum()
    torch.testing.assert_close(logp, ref, atol=2e-3, rtol=1e-3)
    a_np, lp_np = actor.act(np.zeros(3, np.float32), deterministic=True)
    assert a_np.shape == (2,) and np.isfinite(lp_np)
    a_b, lp_b = actor.act(np.zeros((4, 3), np.float32))
    assert a_b.shape == (4, 2) and lp_b.shape == (4,)


def test_short_run_records_history():
    h = train_sac(SACConfig(seed=0, total_steps=1_200, learning_starts=400, batch_size=64, hidden=(32, 32), progress=False))
    assert isinstance(h, SACHistory) and h.policy is h.actor
    assert len(h.ep_ret) == 6 and h.ep_len == [200] * 6  # Pendulum-v1 episodes are cut at 200 steps
    assert h.ep_end == list(range(200, 1_201, 200))
    assert h.n_updates == 800 and len(h.q_loss) == len(h.alpha) == 8
    for name in ("q_loss", "actor_loss", "alpha", "entropy"):
        assert np.all(np.isfinite(getattr(h, name))), name
    assert h.alpha[-1] != h.alpha[0]  # the temperature is tuned
    assert not h.solved and h.evals == []  # stop_return None: no stop rule
    ev = h.evaluate(n_episodes=3)
    assert ev.shape == (3,) and np.all(ev <= 0)


def test_fixed_temperature_stays_fixed():
    h = train_sac(seed=0, total_steps=500, learning_starts=300, autotune=False, alpha=0.05, progress=False)
    assert h.alpha and all(a == pytest.approx(0.05) for a in h.alpha)


def test_sac_config_and_env_validation():
    for kw in ({"total_steps": 0}, {"learning_starts": 10, "total_steps": 10}, {"gamma": 1.5}, {"tau": 0.0},
               {"lr": 0.0}, {"critic_lr": -1.0}, {"alpha": -1.0}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            SACConfig(**kw)
    with pytest.raises(ValueError, match="actor_lr"):  # renamed to lr
        train_sac(actor_lr=1e-3)
    with pytest.raises(ValueError, match="Box action space"):
        train_sac(env_id="CartPole-v1", total_steps=10, learning_starts=0, progress=False)
    with pytest.raises(ValueError, match="SACConfig"):
        train_sac(config="fast")
