"""HumanEval pass@1 of a causal LM on a subset of problems: greedy completions (our decoder), cut at
the Codex stop sequences, run in the sandbox by autoglm_core.tasks.code_generation.humaneval.

    OMP_NUM_THREADS=2 python benchmarks/humaneval_lm.py --model smollm2-135m --problems 20 --new-tokens 128

SmolLM2-135M is a small English chat model, not a code model: expect a pass@1 near zero.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="a prepared model name or a causal-LM directory")
    ap.add_argument("--problems", type=int, default=20, help="the first N of the 164 problems")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    from autoglm_core.tasks.code_generation.assistant import truncate_completion
    from autoglm_core.tasks.code_generation.humaneval import default_path, evaluate, load_problems
    from autoglm_core.tasks.text_generation.decoding import generate_text
    from autoglm_core.tasks.text_generation.plugin import load_causal_lm

    if default_path() is None:
        sys.exit("../shared/data/humaneval is absent")
    path = args.model
    if not Path(path).is_dir():
        from autoglm_core.models.embedded import prepared_path

        path = str(prepared_path(args.model))
    model, tok = load_causal_lm(path)
    model.eval()
    problems = dict(list(load_problems().items())[: args.problems])
    completions: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    items = list(problems.items())
    for i in range(0, len(items), args.batch_size):
        chunk = items[i : i + args.batch_size]
        outs = generate_text(model, tok, [p["prompt"] for _, p in chunk], "greedy", max_new_tokens=args.new_tokens)
        for (tid, _), text in zip(chunk, outs, strict=True):
            completions[tid] = [truncate_completion(text)]
    gen_s = time.perf_counter() - t0
    result = evaluate(problems, completions, ks=(1,))
    passed = sum(result.passed.values())
    print(f"{args.model}: HumanEval first {len(problems)} problems, greedy, {args.new_tokens} new tokens max, "
          f"pass@1 = {result.pass_at[1]:.3f} ({passed}/{len(problems)} passed); generation {gen_s:.0f} s")
    print("passed:", [tid for tid, n in result.passed.items() if n])


if __name__ == "__main__":
    main()
