"""pgcourse.optim.FlatOptimizer: the same steps as torch's Adam / RMSprop, on one flat buffer."""

import copy

import pytest
import torch
from torch import nn

from pgcourse.a2c import A2CConfig, make_optimizer
from pgcourse.actor_critic import ActorCritic
from pgcourse.optim import FlatOptimizer
from pgcourse.ppo import PPOConfig


def _groups(agent, lr=3e-3, critic_lr=9e-3):
    return [{"params": list(agent.actor.parameters()), "lr": lr},
            {"params": list(agent.critic.parameters()), "lr": critic_lr}]


def _train(agent, opt, steps=40, clip=None, flat_clip=False):
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    for i in range(steps):
        if i == steps // 2:  # learning-rate annealing: change every group's lr mid-run
            for g in opt.param_groups:
                g["lr"] *= 0.5
        opt.zero_grad()
        logits, val = agent(x)
        ((logits ** 2).sum() + ((val - 3.0) ** 2).mean()).backward()
        if clip is not None:
            if flat_clip:
                opt.clip_grad_norm_(clip)
            else:
                nn.utils.clip_grad_norm_(agent.parameters(), clip)
        opt.step()


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
@pytest.mark.parametrize("flat_clip", [False, True])
def test_same_steps_as_torch(kind, flat_clip):
    torch.manual_seed(0)
    a = ActorCritic(4, 2)
    b, start = copy.deepcopy(a), copy.deepcopy(a)
    flat = FlatOptimizer(_groups(a), kind=kind, eps=1e-5)
    ref = (torch.optim.Adam(_groups(b), eps=1e-5) if kind == "adam"
           else torch.optim.RMSprop(_groups(b), alpha=0.99, eps=1e-5))
    _train(a, flat, clip=0.5, flat_clip=flat_clip)
    _train(b, ref, clip=0.5)
    moved = max((p - q).abs().max().item() for p, q in zip(a.parameters(), start.parameters()))
    assert moved > 0.01  # the comparison is not between two idle networks
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_parameters_are_views_of_the_buffer():
    agent = ActorCritic(4, 2)
    before = [p.detach().clone() for p in agent.parameters()]
    opt = FlatOptimizer(_groups(agent))
    for p, q in zip(agent.parameters(), before):
        torch.testing.assert_close(p.detach(), q)  # moving into the buffer keeps the values
    assert opt.flat.numel() == sum(p.numel() for p in agent.parameters())
    with torch.no_grad():
        opt.flat.zero_()
    assert all((p == 0).all() for p in agent.parameters())
    agent.load_state_dict(ActorCritic(4, 2).state_dict())  # loading writes into the buffer
    assert opt.flat.abs().sum() > 0


def test_module_zero_grad_does_not_detach_the_buffer():
    torch.manual_seed(0)
    a = ActorCritic(4, 2)
    b = copy.deepcopy(a)
    oa, ob = FlatOptimizer(_groups(a)), torch.optim.Adam(_groups(b))
    x = torch.randn(8, 4)
    for m, o in ((a, oa), (b, ob)):
        m.zero_grad()  # sets every .grad to None
        logits, val = m(x)
        (logits.sum() + val.sum()).backward()
        o.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_clip_grad_norm_returns_the_norm_and_clips():
    agent = ActorCritic(4, 2)
    opt = FlatOptimizer(_groups(agent))
    logits, val = agent(torch.randn(10, 4))
    (10 * logits.sum() + 5 * val.sum()).backward()
    norm = opt.clip_grad_norm_(0.5)
    assert norm.item() > 0.5
    total = torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in agent.parameters()]))
    assert total.item() == pytest.approx(0.5, rel=1e-4)


def test_make_optimizer_groups_and_kind():
    agent = ActorCritic(4, 2)
    opt = make_optimizer(agent, PPOConfig(lr=1e-3, critic_lr=5e-3))
    assert opt.kind == "adam" and [g["lr"] for g in opt.param_groups] == [1e-3, 5e-3]
    assert len(opt.param_groups[1]["params"]) == len(list(agent.critic.parameters()))
    opt = make_optimizer(ActorCritic(4, 2, shared=True), A2CConfig(lr=2e-3))
    assert opt.kind == "rmsprop" and [g["lr"] for g in opt.param_groups] == [2e-3, 2e-3]
    assert "rmsprop" in repr(opt)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(kind="sgd"), "kind"),
    (dict(betas=(0.9, 1.0)), "betas"),
    (dict(eps=0.0), "eps"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        FlatOptimizer(_groups(ActorCritic(4, 2)), **kwargs)


def test_bad_groups():
    agent = ActorCritic(4, 2)
    with pytest.raises(ValueError, match="lr"):
        FlatOptimizer([{"params": list(agent.parameters())}])
    with pytest.raises(ValueError, match="more than one group"):
        FlatOptimizer([{"params": list(agent.parameters()), "lr": 1e-3}, {"params": list(agent.critic.parameters()), "lr": 1e-3}])
    with pytest.raises(ValueError, match="at least one"):
        FlatOptimizer([{"params": [], "lr": 1e-3}])
