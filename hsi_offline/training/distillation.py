"""DAgger distillation with VideoMimic's loss: ``|a_teacher - mu_student|^2 + |sigma_s - sigma_t|^2``.

rsl-rl's ``Distillation`` already does the DAgger part (the student acts, the teacher labels every visited
state) and the first term. The second term involves only the student's state-independent action std, which
shares no parameter with the mean, so it is minimised by its own step after each rsl-rl update: together the
two steps optimise exactly the sum.
"""

from __future__ import annotations

import torch
from rsl_rl.algorithms import Distillation


class StdMatchingDistillation(Distillation):
    def __init__(self, *args, std_loss_coef: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.std_loss_coef = std_loss_coef

    def update(self) -> dict[str, float]:
        out = super().update()
        s_dist, t_dist = self.student.distribution, self.teacher.distribution
        if self.std_loss_coef <= 0 or s_dist is None or t_dist is None:
            return out
        s_dist.update(torch.zeros(1, s_dist.output_dim, device=self.device))
        t_dist.update(torch.zeros(1, t_dist.output_dim, device=self.device))
        loss = self.std_loss_coef * ((s_dist.std - t_dist.std.detach()) ** 2).sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        out["std"] = float(loss.item())
        return out
