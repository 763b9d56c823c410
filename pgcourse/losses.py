"""The policy-gradient losses (lessons 2-5), written so autograd's descent is ascent on J, and PPO's diagnostics.

- `reinforce_loss` (L2), `baseline_loss` (L3), `a2c_loss` (L4), `ppo_clip_loss` (L5): losses to minimise.
- `approx_kl`, `clip_fraction` (L5): how far an update moved the policy (no gradient).

Shapes: `logp` (B,) log-probabilities of the taken actions (with gradient), `ret` (B,) reward-to-go,
`val` (B,) value estimates; B is the number of steps in the batch.
"""

from __future__ import annotations

import torch


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    for k, v in tensors.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"{k} must be a torch.Tensor, got {type(v).__name__}")
    if len(set(shapes.values())) != 1 or next(iter(shapes.values())) == ():
        raise ValueError(f"expected 1-D tensors of one shape (B,), got {shapes}")
    if len(next(iter(shapes.values()))) != 1:
        raise ValueError(f"expected 1-D tensors of shape (B,), got {shapes}")


def reinforce_loss(logp: torch.Tensor, ret: torch.Tensor) -> torch.Tensor:
    """-(logp * ret).mean(): minimising it ascends the REINFORCE estimate of grad J.

    Returns are data (weights), so they are detached: no gradient flows into them.
    """
    _check_same_shape(logp=logp, ret=ret)
    return -(logp * ret.detach()).mean()


def baseline_loss(logp: torch.Tensor, ret: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
    """-(logp * (ret - val)).mean() with the advantage adv = ret - val detached.

    The baseline only reweights steps; the critic is trained by its own loss, not through this one.
    """
    _check_same_shape(logp=logp, ret=ret, val=val)
    adv = (ret - val).detach()
    return -(logp * adv).mean()


def a2c_loss(logp: torch.Tensor, entropy: torch.Tensor, val: torch.Tensor, ret: torch.Tensor, adv: torch.Tensor,
             vf_coef: float = 0.5, ent_coef: float = 0.01) -> torch.Tensor:
    """The actor-critic loss: policy term + vf_coef * value term - ent_coef * entropy bonus.

    All inputs (B,). `adv` (from GAE) and the critic's target `ret` are detached: the policy
    term must not train the critic, and the critic regresses toward a fixed target.
    """
    _check_same_shape(logp=logp, entropy=entropy, val=val, ret=ret, adv=adv)
    if vf_coef < 0 or ent_coef < 0:
        raise ValueError(f"vf_coef and ent_coef must be >= 0, got {vf_coef} and {ent_coef}")
    policy_loss = -(logp * adv.detach()).mean()
    value_loss = ((val - ret.detach()) ** 2).mean()
    return policy_loss + vf_coef * value_loss - ent_coef * entropy.mean()


def _check_pair(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor | None = None) -> None:
    if not (isinstance(logp, torch.Tensor) and isinstance(logp_old, torch.Tensor)):
        raise ValueError("logp and logp_old must be torch tensors")
    if logp.shape != logp_old.shape or logp.ndim != 1:
        raise ValueError(f"logp and logp_old must have the same shape (B,), got {tuple(logp.shape)} and {tuple(logp_old.shape)}")
    if adv is not None and (not isinstance(adv, torch.Tensor) or adv.shape != logp.shape):
        raise ValueError(f"adv must be a tensor of the shape of logp {tuple(logp.shape)}, got {getattr(adv, 'shape', adv)}")


def ppo_clip_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip_eps: float = 0.2) -> torch.Tensor:
    """PPO's clipped surrogate, as a loss to minimise. All inputs (B,).

    ratio = exp(logp - logp_old) with logp_old and adv treated as data (detached);
    loss = -mean(min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv)).
    The gradient is zero where the clip is active: adv > 0 and ratio > 1+eps, or adv < 0 and ratio < 1-eps.
    That removes the incentive to move a ratio further; it does not bound the ratio (other samples' steps still
    move it, and ratios routinely end an update outside the range).
    """
    try:
        clip_eps = float(clip_eps)
    except (TypeError, ValueError):
        raise ValueError(f"clip_eps must be a number > 0, got {clip_eps!r}") from None
    if not clip_eps > 0:
        raise ValueError(f"clip_eps must be > 0 (typically 0.1 to 0.3), got {clip_eps}")
    _check_pair(logp, logp_old, adv)
    ratio = torch.exp(logp - logp_old.detach())
    adv = adv.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def approx_kl(logp: torch.Tensor, logp_old: torch.Tensor) -> torch.Tensor:
    """Estimate of KL(pi_old || pi_new) from samples of pi_old: mean((r - 1) - log r), r = exp(logp - logp_old).

    Each term is >= 0, so the estimate never goes negative (unlike mean(logp_old - logp)). A diagnostic: no gradient.
    """
    _check_pair(logp, logp_old)
    with torch.no_grad():
        log_ratio = logp - logp_old
        return ((log_ratio.exp() - 1) - log_ratio).mean()


def clip_fraction(logp: torch.Tensor, logp_old: torch.Tensor, clip_eps: float = 0.2) -> torch.Tensor:
    """Fraction of samples whose ratio exp(logp - logp_old) lies outside [1 - clip_eps, 1 + clip_eps]:
    where PPO's clip has switched the sample's gradient off (or would, for the right sign of adv). No gradient.
    Lesson 5's loop and `train_ppo` measure it once per update, after the update, on the whole rollout."""
    _check_pair(logp, logp_old)
    with torch.no_grad():
        return ((torch.exp(logp - logp_old) - 1.0).abs() > clip_eps).float().mean()
