"""pgcourse.fastmlp: the NumPy forward pass used for acting gives the torch pass's numbers, also after the
weights change (optimizer steps, load_state_dict, new storage), and falls back to torch when it cannot."""

import numpy as np
import pytest
import torch
from torch import nn

from pgcourse.actor_critic import ActorCritic
from pgcourse.fastmlp import forward_numpy
from pgcourse.policies import CategoricalPolicy, mlp, sample_actions

OBS = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)


def _torch_forward(modules, x):
    with torch.no_grad():
        out = torch.from_numpy(x)
        for m in modules:
            out = m(out)
        return out.numpy()


def _step(module, lr=0.5, opt=None):
    opt = opt or torch.optim.SGD(module.parameters(), lr=lr)
    out = module(torch.as_tensor(OBS))
    loss = sum(o.sum() for o in out) if isinstance(out, tuple) else out[:, 0].sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return opt


@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU])
def test_forward_numpy_equals_the_torch_forward(activation):
    torch.manual_seed(0)
    net = mlp(4, 3, hidden=(16, 16), activation=activation)
    out = forward_numpy(net, net, OBS.copy())
    assert isinstance(out, np.ndarray) and out.shape == (64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, _torch_forward(net, OBS), rtol=1e-5, atol=1e-6)


def test_input_is_not_modified():
    net = mlp(4, 3, hidden=(8,))
    x = OBS.copy()
    forward_numpy(net, net, x)
    np.testing.assert_array_equal(x, OBS)


def test_views_follow_optimizer_steps():
    """Optimizers update the weights in place: the cached NumPy views see every step."""
    torch.manual_seed(0)
    net = mlp(4, 3, hidden=(16,))
    forward_numpy(net, net, OBS.copy())  # build the cache
    for opt_cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.RMSprop):
        opt = opt_cls(net.parameters(), lr=0.1)
        for _ in range(3):
            _step(net, opt=opt)
            np.testing.assert_allclose(forward_numpy(net, net, OBS.copy()), _torch_forward(net, OBS),
                                       rtol=1e-5, atol=1e-6)


def test_views_follow_load_state_dict():
    """load_state_dict copies the loaded tensors into the weights: the NumPy pass computes with them."""
    torch.manual_seed(0)
    net, other = mlp(4, 3, hidden=(16,)), mlp(4, 3, hidden=(16,))
    before = forward_numpy(net, net, OBS.copy())
    net.load_state_dict(other.state_dict())
    after = forward_numpy(net, net, OBS.copy())
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _torch_forward(other, OBS), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["load_state_dict(assign=True)", "new nn.Parameter"])
def test_views_follow_replaced_parameters(how):
    """Parameters replaced by new tensors (new storage) must not leave the NumPy pass on the old weights."""
    torch.manual_seed(0)
    net, other = mlp(4, 3, hidden=(16,)), mlp(4, 3, hidden=(16,))
    forward_numpy(net, net, OBS.copy())  # build the cache
    if how == "new nn.Parameter":
        net[0].weight = nn.Parameter(other[0].weight.detach().clone())
    else:
        net.load_state_dict({k: v.clone() for k, v in other.state_dict().items()}, assign=True)
    np.testing.assert_allclose(forward_numpy(net, net, OBS.copy()), _torch_forward(net, OBS), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: mlp(4, 3, hidden=(8,), activation=nn.ELU),  # no NumPy twin for ELU
    lambda: mlp(4, 3, hidden=(8,)).double(),  # float64 weights
    lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Tanh(), nn.Linear(8, 3)),  # two activations in a row
    lambda: nn.Sequential(nn.Linear(4, 3, bias=False)),  # no bias
])
def test_other_layers_fall_back_to_torch(make):
    torch.manual_seed(0)
    net = make()
    x = OBS.astype(np.float64) if next(net.parameters()).dtype == torch.float64 else OBS.copy()
    out = forward_numpy(net, net, x.copy())
    np.testing.assert_allclose(out, _torch_forward(net, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shared, activation", [(False, nn.Tanh), (True, nn.ReLU)])
def test_acting_draws_what_the_torch_pass_would(shared, activation):
    """ActorCritic.act and CategoricalPolicy.act (NumPy pass) give the same actions, from the same RNG draws,
    and log-probs as sampling from the torch pass's logits, at the start and after optimizer steps."""
    torch.manual_seed(0)
    ag = ActorCritic(4, 3, hidden=(16, 16), shared=shared, activation=activation)
    pol = CategoricalPolicy(4, 3, hidden=(16,), activation=activation)
    with torch.no_grad():
        ag.actor[-1].weight.mul_(100)  # policies far from uniform
        pol.net[-1].weight.mul_(100)
    for _ in range(3):
        for deterministic in (False, True):
            with torch.no_grad():
                logits_ag = ag(torch.as_tensor(OBS))[0].numpy()
                logits_pol = pol(torch.as_tensor(OBS)).numpy()
            for model, logits in ((ag, logits_ag), (pol, logits_pol)):
                torch.manual_seed(1)
                a_np, lp_np = model.act(OBS, deterministic)
                torch.manual_seed(1)
                a_t, lp_t = sample_actions(logits, deterministic)
                np.testing.assert_array_equal(a_np, a_t)
                np.testing.assert_allclose(lp_np, lp_t, atol=1e-5)
                assert a_np.dtype == np.int64 and lp_np.dtype == np.float32
        _step(ag, lr=0.05)  # small steps: logits stay O(1-10), where float32 rounding is below the tolerance
        _step(pol, lr=0.05)
