"""The exercises of notebook 08: the references pass and every registered mistake earns its own hint."""
import torch

from course_lib.exercises import check, list_exercises
from course_lib.exercises.registry import get_exercise

NAMES = ["group_advantages", "kl_k3"]


def test_registered():
    for name in NAMES:
        assert name in list_exercises()


def test_required_mistakes_exist():
    adv = {m.name for m in get_exercise("group_advantages").mistakes}
    assert {"whole_batch", "zero_std"} <= adv and len(adv) >= 3
    kl = {m.name for m in get_exercise("kl_k3").mistakes}
    assert {"reversed", "negated", "ignores_mask"} <= kl and len(kl) >= 3


def test_a_learner_who_returns_exact_zeros_for_equal_groups_passes():
    def learner(rewards, group_size):
        g = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
        std = g.std(1, keepdim=True)
        centred = g - g.mean(1, keepdim=True)
        return torch.where(std > 0, centred / std.clamp_min(1e-12), torch.zeros_like(centred)).reshape(-1)

    assert check("group_advantages", learner).passed


def test_a_learner_kl_with_torch_where_passes():
    def learner(logp, logp_ref, mask):
        x = logp_ref - logp
        return torch.where(mask.bool(), x.exp() - x - 1, torch.zeros_like(x))

    assert check("kl_k3", learner).passed


def test_unattempted_stub_is_not_attempted():
    def stub(rewards, group_size):
        raise NotImplementedError

    assert check("group_advantages", stub).status == "not attempted"
