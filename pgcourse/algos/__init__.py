"""The trainers, each the previous one plus a named change (after Spinning Up):

- `reinforce`: `train_reinforce(ReinforceConfig)`, lessons 2-3 (complete episodes, optional learned baseline)
- `a2c`: `train_a2c(A2CConfig)`, lesson 4 (fixed-length rollouts, a critic, GAE)
- `ppo`: `train_ppo(PPOConfig)`, lesson 5 (A2C + epochs of minibatches on the clipped surrogate)
- `sac`: `train_sac(SACConfig)`, lesson 6 (off-policy, maximum entropy, continuous actions)
- `common`: what they share (config base, history, stop rule, optimizer, the on-policy loop)
"""

from pgcourse.algos.a2c import A2CConfig, train_a2c
from pgcourse.algos.ppo import PPOConfig, train_ppo
from pgcourse.algos.reinforce import ReinforceConfig, train_reinforce
from pgcourse.algos.sac import SACConfig, train_sac

__all__ = ["ReinforceConfig", "train_reinforce", "A2CConfig", "train_a2c", "PPOConfig", "train_ppo",
           "SACConfig", "train_sac"]
