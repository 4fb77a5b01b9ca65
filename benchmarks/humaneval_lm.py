"""HumanEval pass@1 of a causal LM on a subset of problems: greedy completions (our decoder), cut at
the Codex stop sequences, run in the sandbox by autoglm_core.tasks.code_generation.humaneval.

    OMP_NUM_THREADS=1 python benchmarks/humaneval_lm.py --model smollm2-135m --problems 164 --new-tokens 96 \
        --batch-size 8 --time-budget 1500 --samples runs/humaneval-smollm2.jsonl
    autoglm humaneval runs/humaneval-smollm2.jsonl --k 1      # the same samples through the CLI

A batch stops decoding as soon as every row has reached EOS or a stop sequence (what follows is cut
anyway, so the completions are those of a full-length run). Problems are batched in order of prompt
length (less left padding). ``--time-budget`` (wall seconds) stops starting new batches: the report
then says how many problems were run. The samples file is appended batch by batch, so a killed run
keeps what it generated.

SmolLM2-135M is a small English chat model, not a code model: expect a pass@1 near zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHECK_EVERY = 8  # decode the rows' text every few steps to test for stop sequences


def complete(model, tok, prompts: list[str], new_tokens: int, stops: tuple[str, ...]) -> tuple[list[str], int]:
    """Greedy completions, stopping once every row has EOS or a stop sequence; (texts, steps)."""
    from autoglm_core.models.decoding.loops import iterate_tokens
    from autoglm_core.models.decoding.text import encode_prompts

    ids, mask = encode_prompts(model, tok, prompts)
    seqs, steps = ids, 0
    for steps, (_, seqs) in enumerate(iterate_tokens(model, ids, mask, max_new_tokens=new_tokens), start=1):
        if steps % CHECK_EVERY == 0:
            texts = tok.batch_decode(seqs[:, ids.shape[1]:], skip_special_tokens=True)
            done = [any(s in t for s in stops) for t in texts]
            ended = (seqs[:, ids.shape[1]:] == tok.eos_token_id).any(dim=1).tolist()
            if all(d or e for d, e in zip(done, ended, strict=True)):
                break
    return tok.batch_decode(seqs[:, ids.shape[1]:], skip_special_tokens=True), steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="a prepared model name or a causal-LM directory")
    ap.add_argument("--problems", type=int, default=20, help="the first N of the 164 problems")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--time-budget", type=float, help="wall seconds after which no new batch starts")
    ap.add_argument("--samples", help="write the {task_id, completion} lines here (for autoglm humaneval)")
    args = ap.parse_args()
    import torch

    from autoglm_core.models.causal_lm import load_causal_lm
    from autoglm_core.tasks.code_generation.assistant import STOP_SEQUENCES, truncate_completion
    from autoglm_core.tasks.code_generation.humaneval import default_path, evaluate, load_problems

    if default_path() is None:
        sys.exit("../shared/data/humaneval is absent")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    path = args.model
    if not Path(path).is_dir():
        from autoglm_core.models.embedded import prepared_path

        path = str(prepared_path(args.model))
    model, tok = load_causal_lm(path)
    model.eval()
    problems = dict(list(load_problems().items())[: args.problems])
    items = sorted(problems.items(), key=lambda kv: len(tok(kv[1]["prompt"])["input_ids"]))
    samples = Path(args.samples) if args.samples else None
    if samples:
        samples.parent.mkdir(parents=True, exist_ok=True)
        samples.write_text("", encoding="utf-8")
    completions: dict[str, list[str]] = {}
    t0, c0, steps_total = time.perf_counter(), time.process_time(), 0
    for i in range(0, len(items), args.batch_size):
        if args.time_budget and time.perf_counter() - t0 > args.time_budget:
            break
        chunk = items[i : i + args.batch_size]
        outs, steps = complete(model, tok, [p["prompt"] for _, p in chunk], args.new_tokens, STOP_SEQUENCES)
        steps_total += steps * len(chunk)
        lines = []
        for (tid, _), text in zip(chunk, outs, strict=True):
            completions[tid] = [truncate_completion(text)]
            lines.append(json.dumps({"task_id": tid, "completion": completions[tid][0]}))
        if samples:
            with samples.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        print(f"{len(completions)}/{len(items)} problems, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    gen_s, gen_cpu = time.perf_counter() - t0, time.process_time() - c0
    run = {tid: problems[tid] for tid in completions}
    result = evaluate(run, completions, ks=(1,))
    passed = sum(bool(n) for n in (sum(r.passed for r in rs) for rs in result.per_problem.values()))
    print(f"{args.model}: HumanEval {len(run)} of the first {len(problems)} problems (of 164), greedy, "
          f"{args.new_tokens} new tokens max, batch {args.batch_size}: pass@1 = {result.pass_at[1]:.3f} "
          f"({passed}/{len(run)} passed); generation {gen_s:.0f} s wall, {gen_cpu:.0f} CPU-s, "
          f"{steps_total} row-steps")
    print("passed:", sorted(tid for tid, rs in result.per_problem.items() if any(r.passed for r in rs)))


if __name__ == "__main__":
    main()
