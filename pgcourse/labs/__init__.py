"""Laboratories: small problems whose answers are known exactly, so a lesson can measure bias, variance
and gradients against the truth: `tabular` (a small MDP with exact returns and policy gradients),
`gae_lab` (a random walk with known values, for GAE's and n-step returns' bias and variance), `probe_envs`
(tiny environments with known answers, for debugging an actor-critic), `trust_region` (surrogates, KL and the
natural gradient on a two-action problem)."""
