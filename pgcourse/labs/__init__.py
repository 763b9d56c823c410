"""Laboratories: small problems whose answers are known exactly, so a lesson can measure bias, variance
and gradients against the truth: `tabular` (a small MDP with exact returns and policy gradients),
`gae_lab` (a random walk with known values, for GAE's bias and variance), `trust_region` (surrogates,
KL and the natural gradient on a two-action problem)."""
