"""Training within a wall-clock budget: stop at it, and anneal the learning rate to it.

A run that ``max_minutes`` cuts short under a schedule planned in steps stops with
its learning rate still near the peak: the student's weights are then whatever the
last noisy steps left. Measured on the distillation example (DL21 + 497 synthetic
queries, pld, 2 CPU cores): the weights at step 900 of a schedule that reached zero
at step 900 scored 0.590 nDCG@10 on DL19, where the budget-cut runs of the same data
(learning rate still at ~80 % of its peak) kept 0.567-0.577.

With :class:`TrainingBudget` the progress of a run is the larger of the share of its
planned steps done and the share of its budget spent; :func:`budget_trainer` gives a
trainer whose learning rate warms up linearly over the first ``warmup_ratio`` of that
progress and decays linearly to zero at its end, where the budget stops training.
The schedule then depends on the machine's speed (a faster one takes more steps):
runs with a budget are reproducible in their settings, not step for step.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

logger = logging.getLogger(__name__)


class TrainingBudget:
    """A wall-clock budget, counted from its creation: a ``transformers`` callback that stops training once
    ``minutes`` have passed (checked after every step; the stop evaluates and saves first, so the weights are
    chosen as at any end; what ran before training, such as loading the data, is spent from it), and the
    progress that :func:`budget_trainer`'s schedule follows over what training has left of it.

    Example:
        >>> budget = TrainingBudget(10.0)
        >>> budget.progress(step=50, total_steps=100) >= 0.5
        True
    """

    def __init__(self, minutes: float) -> None:
        if minutes <= 0:
            raise ValueError(f"a training budget must be > 0 minutes, got {minutes}")
        self.start = time.perf_counter()
        self.deadline = self.start + 60.0 * minutes
        self.hit = False

    @property
    def limit(self) -> float:
        """Seconds from ``start`` to the deadline (at least a millisecond: a run always takes a step)."""
        return max(self.deadline - self.start, 1e-3)

    def elapsed(self) -> float:
        """Seconds since the budget was made, or since training began once it has."""
        return time.perf_counter() - self.start

    def progress(self, step: int, total_steps: int) -> float:
        """The share of the run done, in [0, 1]: the larger of steps done / planned and time spent / budget."""
        by_steps = step / total_steps if total_steps > 0 else 0.0
        return min(1.0, max(by_steps, self.elapsed() / self.limit))

    def callback(self) -> Any:
        """The ``transformers.TrainerCallback`` that starts the clock and stops training at the budget."""
        from transformers import TrainerCallback

        budget = self

        class _Budget(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                # progress counts from here; what ran before (loading, a co-teacher's scoring) is spent
                budget.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if time.perf_counter() > budget.deadline:
                    budget.hit = True
                    control.should_training_stop = True
                    if args.eval_strategy != "no":
                        control.should_evaluate = True
                        control.should_save = True
                return control

        return _Budget()


def budget_lr_factor(budget: TrainingBudget, total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """The learning-rate multiplier at a scheduler step: linear warmup over the first ``warmup_ratio`` of the
    run's progress, then linear decay to 0 at its end (progress as :meth:`TrainingBudget.progress`).

    Example:
        >>> factor = budget_lr_factor(TrainingBudget(60.0), total_steps=100, warmup_ratio=0.1)
        >>> round(factor(5), 2), round(factor(10), 2), round(factor(55), 2), factor(100)
        (0.5, 1.0, 0.5, 0.0)
    """

    def factor(step: int) -> float:
        progress = budget.progress(step, total_steps)
        if warmup_ratio > 0 and progress < warmup_ratio:
            return progress / warmup_ratio
        return max(0.0, (1.0 - progress) / (1.0 - warmup_ratio))

    return factor


def budget_trainer(trainer_class: type, budget: TrainingBudget, warmup_ratio: float) -> type:
    """``trainer_class`` (a ``transformers.Trainer`` subclass) with :func:`budget_lr_factor`'s schedule in place
    of the one its arguments name."""
    import torch

    class BudgetTrainer(trainer_class):
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or self.optimizer, budget_lr_factor(budget, num_training_steps, warmup_ratio))
                self._created_lr_scheduler = True
                logger.info("learning rate: warmup over %.0f%% of the run, linear decay to 0 at %d steps or at "
                            "the end of the %.1f-minute budget, whichever comes first", 100 * warmup_ratio,
                            num_training_steps, budget.limit / 60)
            return self.lr_scheduler

    BudgetTrainer.__name__ = BudgetTrainer.__qualname__ = f"Budget{trainer_class.__name__}"
    return BudgetTrainer


__all__ = ["TrainingBudget", "budget_lr_factor", "budget_trainer"]
