"""FGSM in pixel space on a tiny image classifier (scikit-learn digits)."""

import numpy as np
import pytest
import torch


def _digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8) in [0, 1]
    order = np.random.RandomState(0).permutation(len(x))
    return x[order], d.target[order]


def test_pixel_fgsm_stays_in_range_and_adversarial_training_helps():
    from autoglm_plugin_fgsm.adversarial_training import fgsm_train_images
    from autoglm_plugin_fgsm.gradients import pixel_fgsm_examples, pixel_fgsm_predictions

    x, y = _digits()
    xtr, ytr, xte, yte = x[:800], y[:800], x[1400:1700], y[1400:1700]

    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))

    plain = fgsm_train_images(net(), xtr, ytr, epsilon=0.0, epochs=15)
    robust = fgsm_train_images(net(), xtr, ytr, epsilon=0.2, epochs=15)
    adv = pixel_fgsm_examples(plain, torch.tensor(xte[:32]), torch.tensor(yte[:32]), 0.3)
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    acc = {}
    for name, m in (("plain", plain), ("robust", robust)):
        preds = pixel_fgsm_predictions(m, xte, yte, [0.0, 0.2])
        acc[name] = {e: float(np.mean(np.array(p) == yte)) for e, p in preds.items()}
    assert acc["plain"][0.0] > 0.85, acc
    assert acc["plain"][0.2] < acc["plain"][0.0] - 0.3, acc
    assert acc["robust"][0.2] > acc["plain"][0.2] + 0.15, acc


def test_fgsm_attack_on_image_examples():
    from autoglm_plugin_fgsm.adversarial_training import fgsm_train_images
    from autoglm_plugin_fgsm.fgsm_attack import FGSMAttack

    from autoglm_core.types.data import Example

    x, y = _digits()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model = fgsm_train_images(net, x[:800], y[:800], epsilon=0.0, epochs=15)
    from autoglm_core.tasks.image_classification.plugin import ImageBuiltModel

    # an image model: its inputs are pixels (the attack asks this capability, not the task type)
    built = ImageBuiltModel(model=model, tokenizer=None, labels=[str(i) for i in range(10)],
                            task_type="image_classification")
    examples = [Example(text="", label=str(t), meta={"pixels": img}) for img, t in zip(x[1500:1600], y[1500:1600], strict=True)]
    res = FGSMAttack({"epsilons": [0.1, 0.3], "epsilon": 0.3}).attack(built, examples, None)
    assert res["clean_accuracy"] > 0.8
    assert res["accuracy_eps_0.3"] < res["accuracy_eps_0.1"] <= res["clean_accuracy"]
    assert "zero_gradient_fraction" not in res
