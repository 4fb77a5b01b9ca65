"""The ``lm-eval`` evaluator: lm-evaluation-harness tasks on the pipeline's language model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core import BuiltModel, ConfigError, Evaluator, RunContext

from .run import LmEvalResult, run_lm_eval


class LmEvalEvaluator(Evaluator):
    name = "lm-eval"
    description = ("lm-evaluation-harness tasks (lm-eval's own or plugin benchmarks) on a causal LM, "
                   "offline; metrics lm-eval:<task>:<metric> plus :stderr")

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        tasks: list[str] = Field(min_length=1, description="lm-eval task/group/tag names or plugin benchmark names")
        batch_size: int | Literal["auto"] = 1
        limit: int | float | None = Field(None, gt=0, description="examples per task (a fraction when < 1)")
        num_fewshot: int | None = Field(None, ge=0)
        use_cache: bool = Field(False, description="lm-eval's request and response caches in cache_dir")
        cache_dir: str | None = None
        device: str | None = None
        bootstrap_iters: int = Field(100000, ge=0)

    last_result: LmEvalResult | None = None

    def evaluate(self, built: BuiltModel | str | Path, context: RunContext | None = None) -> dict[str, float]:
        result = self.run(built, context)
        return result.metrics(self.name)

    def run(self, built: BuiltModel | str | Path, context: RunContext | None = None) -> LmEvalResult:
        """Run and return the full result (raw lm-eval output, table, notes); also written to
        ``<run_dir>/lm_eval/<variant>.json`` when a run context is given."""
        o = self.options
        device = o.device or (str(context.device) if getattr(context, "device", None) is not None else None)
        kwargs = dict(batch_size=o.batch_size, limit=o.limit, num_fewshot=o.num_fewshot, use_cache=o.use_cache,
                      cache_dir=o.cache_dir, device=device, bootstrap_iters=o.bootstrap_iters,
                      manager=getattr(context, "manager", None))
        if isinstance(built, (str, Path)):
            result = run_lm_eval(built, o.tasks, **kwargs)
        else:
            if built.format != "hf":
                raise ConfigError(
                    f"lm-eval evaluates models saved in the Hugging Face layout; variant {built.variant!r} "
                    f"is in format {built.format!r} (saved by that compressor). Evaluate the uncompressed "
                    f"model, or a compressor that keeps the Hugging Face layout."
                )
            with tempfile.TemporaryDirectory(prefix="autoglm-lmeval-") as tmp:
                built.save(tmp)
                result = run_lm_eval(tmp, o.tasks, **kwargs)
        self.last_result = result
        run_dir = getattr(context, "run_dir", None)
        if run_dir is not None:
            variant = getattr(built, "variant", "model")
            out = Path(run_dir) / "lm_eval" / f"{variant}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"tasks": result.tasks, "table": result.table(), "notes": result.notes},
                                      indent=2), encoding="utf-8")
        return result
