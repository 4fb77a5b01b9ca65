"""Autoregressive decoding P(x_t | x_<t) with a KV cache: greedy, beam search and sampling, shared by the
causal-LM task types (text and code generation), the ``autoglm generate`` command and the code assistant.

The loops mirror the algorithms of ``transformers``' ``GenerationMixin`` (4.5x) step for step, so
that with the same settings they return token-identical output (greedy, beam) and consume random
numbers the same way (sampling: ``torch.multinomial`` on the processed probabilities, one call per
step). They are leaner: model inputs are prepared once per step without signature inspection or
generic processor lists, which is where ``generate`` spends its per-step overhead.

Decoder-only models take left-padded batches (``attention_mask`` marks the padding); encoder-decoder
models (T5) run the encoder once and decode from ``decoder_start_token_id``. Both return what
``model.generate`` returns: decoder-only ``(batch, prompt + new)``, encoder-decoder ``(batch, 1 + new)``.

Modules: :mod:`.stepper` (one model step over a growing sequence, the KV cache, input checks),
:mod:`.logits` (repetition penalty, temperature, top-k, top-p), :mod:`.loops` (greedy/sampling and
beam search), :mod:`.text` (prompts in, text out: :func:`~.text.generate_text`) and :mod:`.decoders`
(the registered ``greedy``, ``beam`` and ``sample`` components).
"""
