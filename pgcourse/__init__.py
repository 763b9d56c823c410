"""pgcourse: the helper package of the policy-gradient course.

Each lesson's tested reference code lives here under the name the lesson uses, so later lessons
import what earlier ones built. The package is layered; each layer imports only the layers above it
in this list (tests/test_architecture.py enforces it, and that no private name crosses a module):

1. utilities      `util` (seeding, versions, `cmp`, validators), `plots`, `fastmlp` (acting's NumPy forward pass)
2. building blocks the exercise references, imported by students under short names:
                  `logderiv` (L1), `returns` `losses` `policies` `rollouts` (L2), `baselines` (L3),
                  `advantages` `actor_critic` (L4), `soft` (L6: maximum-entropy pieces), `rlhf` (L7)
3. algorithms     `algos/`: `common` (what every trainer shares: config resolution, threads, history,
                  optimizer, on-policy batch), then `reinforce` -> `a2c` -> `ppo`, and `sac`
   laboratories   `labs/`: exact small problems a lesson measures on: `tabular` (L2-3, L5), `gae_lab` (L4),
                  `trust_region` (L5)
   language models `lm/`: lesson 7's toy language, tiny GPT, reward model, KL-penalised PPO, GRPO, DPO
4. on top         `widgets`, `rlhf_widgets` (interactive figures), `checks/` (graded exercises, each declared once as an
                  `Exercise`), `tools/` (`start`, `grade` with its `sandbox`, `exercisegen`, `bench`;
                  run as `python -m pgcourse COMMAND ...`)
"""

from pgcourse.util import cmp, seed_everything, show_versions

__version__ = "0.1.0"
__all__ = ["seed_everything", "show_versions", "cmp", "__version__"]
