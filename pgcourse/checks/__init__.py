"""Graded exercise checks. Each `check_NAME(fn)` prints a verdict and returns a `CheckResult`.

Each exercise is declared once, as an `Exercise` in its lesson's module (cases, mistakes, reference,
probe, comparison); `EXERCISES` maps each check's name to it, for the notebook check and the grader alike."""

from pgcourse.checks.core import EXERCISES, Case, CheckResult, Exercise, Mistake, register, run_check, use_if_passed
from pgcourse.checks.logderiv import (
    check_bandit_pg_step,
    check_score_function_estimate,
    check_softmax_score,
)
from pgcourse.checks.reinforce import check_reinforce_loss, check_reward_to_go, check_reward_to_go_episodes
from pgcourse.checks.baselines import check_baseline_loss, check_gradient_variance, check_optimal_baseline
from pgcourse.checks.actor_critic import check_a2c_loss, check_gae
from pgcourse.checks.ppo import check_approx_kl, check_ppo_clip_loss
from pgcourse.checks.sac import check_soft_q_target, check_squashed_log_prob
from pgcourse.checks.rlhf import (
    check_bradley_terry_loss,
    check_dpo_loss,
    check_grpo_advantages,
    check_kl_penalised_rewards,
)

__all__ = [
    "Case", "CheckResult", "Mistake", "run_check", "use_if_passed", "Exercise", "EXERCISES", "register",
    "check_softmax_score", "check_score_function_estimate", "check_bandit_pg_step",
    "check_reward_to_go", "check_reward_to_go_episodes", "check_reinforce_loss",
    "check_baseline_loss", "check_gradient_variance", "check_optimal_baseline",
    "check_gae", "check_a2c_loss", "check_ppo_clip_loss", "check_approx_kl",
    "check_squashed_log_prob", "check_soft_q_target",
    "check_bradley_terry_loss", "check_kl_penalised_rewards", "check_dpo_loss", "check_grpo_advantages",
]
