"""Built-in decoders: ``greedy``, ``beam`` and ``sample`` (the loops are in :mod:`autoglm_core.models.decoding.loops`).

Options are validated by pydantic, so ``top_p=1.5`` or ``num_beams=0`` is a one-paragraph error that
names the decoder and the field. Keyword arguments given to ``decode``/``stream`` override the
options for that call and are validated the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.plugin.components import Decoder
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.schemas import validate


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(32, ge=1, description="tokens to generate after the prompt")
    eos_token_id: int | list[int] | None = Field(None, description="None: the model's generation config")
    pad_token_id: int | None = Field(None, description="None: the model's generation config")


class _BaseDecoder(Decoder):
    Options = Options

    def _settings(self, overrides: dict[str, Any]) -> Any:
        if not overrides:
            return self.options
        merged = {**self.options.model_dump(), **overrides}
        return validate(self.Options, merged, source=f"arguments of decoder {self.name!r}")

    def stream(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Iterator[int]:
        """Yield the new token ids of a batch of one, as they are produced."""
        if input_ids.shape[0] != 1:
            from autoglm_core.models.decoding.stepper import GenerationError

            raise GenerationError(f"stream() takes a batch of one prompt, got {input_ids.shape[0]}; use decode().")
        for next_tokens, _ in self._iterate(model, input_ids, attention_mask, self._settings(kwargs)):
            yield int(next_tokens[0])

    def decode(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        last = None
        for step in self._iterate(model, input_ids, attention_mask, self._settings(kwargs)):
            last = step
        return last[1] if last is not None else input_ids

    def _iterate(self, model: Any, input_ids: Any, attention_mask: Any, opts: Any) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError


class GreedyDecoder(_BaseDecoder):
    name = "greedy"
    description = "argmax at every step (token-identical to model.generate(do_sample=False, num_beams=1))"

    def _iterate(self, model: Any, input_ids: Any, attention_mask: Any, opts: Any) -> Iterator[tuple[Any, Any]]:
        from autoglm_core.models.decoding.loops import iterate_tokens

        return iterate_tokens(model, input_ids, attention_mask, max_new_tokens=opts.max_new_tokens,
                              eos_token_id=opts.eos_token_id, pad_token_id=opts.pad_token_id)


class SampleDecoder(_BaseDecoder):
    name = "sample"
    description = "multinomial sampling with temperature, top-k, top-p and repetition penalty"

    class Options(Options):
        temperature: float = Field(1.0, gt=0, description="> 0; use the greedy decoder for temperature 0")
        top_k: int = Field(50, ge=0, description="keep the k most likely tokens; 0 disables (generate's default is 50)")
        top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass in (0, 1]; 1 disables")
        repetition_penalty: float = Field(1.0, gt=0, description="> 1 discourages tokens already in the sequence")
        seed: int | None = Field(None, description="torch.manual_seed(seed) before decoding, for reproducible samples")

    def _iterate(self, model: Any, input_ids: Any, attention_mask: Any, opts: Any) -> Iterator[tuple[Any, Any]]:
        from autoglm_core.models.decoding.logits import SamplingSettings
        from autoglm_core.models.decoding.loops import iterate_tokens

        if opts.seed is not None:
            import torch

            torch.manual_seed(opts.seed)
        sampling = SamplingSettings(opts.temperature, opts.top_k, opts.top_p, opts.repetition_penalty)
        return iterate_tokens(model, input_ids, attention_mask, max_new_tokens=opts.max_new_tokens,
                              sampling=sampling, eos_token_id=opts.eos_token_id, pad_token_id=opts.pad_token_id)


class BeamDecoder(_BaseDecoder):
    name = "beam"
    description = "beam search with length penalty and early stopping (token-identical to model.generate(num_beams=n))"

    class Options(Options):
        num_beams: int = Field(4, ge=1)
        length_penalty: float = Field(1.0, description="exponent on the new length when scoring finished beams")
        early_stopping: bool | Literal["never"] = Field(False, description="True, False or 'never' (as in generate)")
        num_return_sequences: int = Field(1, ge=1, description="best hypotheses returned per prompt (<= num_beams)")

    def decode(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        from autoglm_core.models.decoding.loops import beam_search

        o = self._settings(kwargs)
        return beam_search(model, input_ids, attention_mask, max_new_tokens=o.max_new_tokens,
                           num_beams=o.num_beams, length_penalty=o.length_penalty,
                           early_stopping=o.early_stopping, num_return_sequences=o.num_return_sequences,
                           eos_token_id=o.eos_token_id, pad_token_id=o.pad_token_id)

    def stream(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Iterator[int]:
        """Beam search only knows its best hypothesis at the end: the tokens come after the search."""
        from autoglm_core.models.decoding.text import new_tokens

        kwargs["num_return_sequences"] = 1
        out = self.decode(model, input_ids, attention_mask, **kwargs)
        yield from (int(t) for t in new_tokens(model, out, input_ids.shape[1])[0])


@hookimpl
def autoglm_register_decoders(register: Any) -> None:
    for cls in (GreedyDecoder, BeamDecoder, SampleDecoder):
        register(cls)
