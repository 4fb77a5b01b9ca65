"""Decoders vs transformers' model.generate on tiny GPT-2 and T5: token-identical with the same settings."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from autoglm_core.models.decoding.text import encode_prompts  # noqa: E402
from autoglm_core.plugin.manager import get_manager  # noqa: E402

TEXTS = ["the quick brown fox jumps over the lazy dog", "hello world this is a test of tokens",
         "profit rose in the third quarter", "sales fell and shares dropped"] * 3
PROMPTS = ["the quick brown", "hello world this is a test", "fox"]


@pytest.fixture(scope="module")
def gpt2():
    from autoglm_core.models.tiny import tiny_gpt2_lm

    model, tok = tiny_gpt2_lm(TEXTS, vocab_size=300, n_positions=64)
    return model.eval(), tok


@pytest.fixture(scope="module")
def t5():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=64, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(cfg).eval()
    ids = torch.randint(2, 64, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # right padding in the encoder
    ids[1, 5:] = 0
    return model, ids, mask


def decoder(name, **options):
    return get_manager().registry("decoder").get(name)(options=options)


def frequent_token(model, ids, mask, new):
    """A token greedy decoding produces early in row 0: used as EOS so that the finishing paths run."""
    out = model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False)
    return int(out[0, new + 2])


def test_builtin_decoders_registered():
    names = get_manager().registry("decoder").names()
    assert {"greedy", "beam", "sample"} <= set(names)


@pytest.mark.slow
@pytest.mark.parametrize("use_eos", [False, True])
def test_greedy_matches_generate_gpt2(gpt2, use_eos):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, PROMPTS)
    assert (mask[:, 0] == 0).any(), "prompts of different lengths must be left-padded"
    kw = {}
    if use_eos:
        kw = {"eos_token_id": frequent_token(model, ids, mask, ids.shape[1]), "pad_token_id": 5}
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False, **kw)
    out = decoder("greedy", max_new_tokens=12, **kw).decode(model, ids, mask)
    assert torch.equal(out, ref)
    if use_eos:  # row 0 hit EOS and was padded afterwards
        assert (out[0, ids.shape[1] + 3:] == 5).all()


BEAM_SETTINGS = [
    {"num_beams": 3, "length_penalty": 1.0, "early_stopping": False},
    {"num_beams": 4, "length_penalty": 0.5, "early_stopping": True},
    {"num_beams": 2, "length_penalty": 2.0, "early_stopping": "never"},
    {"num_beams": 4, "length_penalty": -1.0, "early_stopping": False, "num_return_sequences": 2},
]


@pytest.mark.parametrize("settings", BEAM_SETTINGS)
@pytest.mark.parametrize("use_eos", [False, True])
def test_beam_matches_generate_gpt2(gpt2, settings, use_eos):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, PROMPTS)
    kw = {"eos_token_id": frequent_token(model, ids, mask, ids.shape[1])} if use_eos else {}
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=False, **settings, **kw)
    out = decoder("beam", max_new_tokens=10, **settings, **kw).decode(model, ids, mask)
    assert torch.equal(out, ref)


SAMPLE_SETTINGS = [
    {"temperature": 0.7, "top_k": 10, "top_p": 0.9, "repetition_penalty": 1.3},
    {"temperature": 1.0, "top_k": 0, "top_p": 0.5, "repetition_penalty": 1.0},
    {"temperature": 1.5, "top_k": 50, "top_p": 1.0, "repetition_penalty": 0.8},
]


@pytest.mark.parametrize("settings", SAMPLE_SETTINGS)
def test_sampling_matches_generate_under_seed(gpt2, settings):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, PROMPTS)
    torch.manual_seed(11)
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=True, **settings)
    out = decoder("sample", max_new_tokens=12, seed=11, **settings).decode(model, ids, mask)
    assert torch.equal(out, ref)
    other = decoder("sample", max_new_tokens=12, seed=12, **settings).decode(model, ids, mask)
    assert not torch.equal(other, out), "a different seed should give a different sample"


def test_greedy_and_beam_match_generate_t5(t5):
    model, ids, mask = t5
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
    assert torch.equal(decoder("greedy", max_new_tokens=8).decode(model, ids, mask), ref)
    for settings in BEAM_SETTINGS:
        ref = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, **settings)
        out = decoder("beam", max_new_tokens=8, **settings).decode(model, ids, mask)
        assert torch.equal(out, ref), settings


def test_t5_with_eos_and_sampling(t5):
    model, ids, mask = t5
    eos = int(model.generate(ids, attention_mask=mask, max_new_tokens=3, do_sample=False)[0, 2])
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, eos_token_id=eos)
    assert torch.equal(decoder("greedy", max_new_tokens=8, eos_token_id=eos).decode(model, ids, mask), ref)
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=8, num_beams=3, eos_token_id=eos)
    assert torch.equal(decoder("beam", max_new_tokens=8, num_beams=3, eos_token_id=eos).decode(model, ids, mask), ref)
    torch.manual_seed(5)
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=True, top_k=20, temperature=0.9)
    out = decoder("sample", max_new_tokens=8, top_k=20, temperature=0.9, seed=5).decode(model, ids, mask)
    assert torch.equal(out, ref)


def test_stream_yields_the_decoded_tokens(gpt2):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, ["hello world"])
    for name, opts in [("greedy", {}), ("beam", {"num_beams": 3}), ("sample", {"seed": 2})]:
        dec = decoder(name, max_new_tokens=6, **opts)
        streamed = list(dec.stream(model, ids, mask))
        full = dec.decode(model, ids, mask)
        assert streamed == full[0, ids.shape[1]:].tolist()
        assert len(streamed) == 6 and all(isinstance(t, int) for t in streamed)


def test_stream_is_lazy(gpt2):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, ["hello world"])
    it = decoder("greedy", max_new_tokens=50).stream(model, ids, mask)
    first = next(it)  # one token without running all 50 steps
    assert isinstance(first, int)
    it.close()


def test_call_arguments_override_options(gpt2):
    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, ["hello"])
    out = decoder("greedy", max_new_tokens=3).decode(model, ids, mask, max_new_tokens=5)
    assert out.shape[1] == ids.shape[1] + 5


@pytest.mark.hook("autoglm_register_decoders")
def test_third_party_decoder_through_a_plugin(gpt2):
    """A plugin object registered at run time adds a decoder that the registry and generate_text find."""
    from autoglm_core import hookimpl
    from autoglm_core.models.decoding.text import generate_text
    from autoglm_core.plugin.components import Decoder

    class Repeat(Decoder):
        name = "repeat-last"
        description = "repeats the prompt's last token (test decoder)"

        def decode(self, model, input_ids, attention_mask=None, **kwargs):
            return torch.cat([input_ids, input_ids[:, -1:].repeat(1, 3)], dim=1)

    class ThirdParty:
        @hookimpl
        def autoglm_register_decoders(self, register):
            register(Repeat)

    pm = get_manager()
    pm.register(ThirdParty(), name="third-party-decoders")
    reg = pm.registry("decoder")
    assert "repeat-last" in reg and reg.entry("repeat-last").plugin == "third-party-decoders"
    model, tok = gpt2
    text = generate_text(model, tok, ["hello world"], decoder="repeat-last")
    last = tok.decode(encode_prompts(model, tok, ["hello world"])[0][0, -1:])
    assert text == [last * 3]


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("name", "options", "field"), [
    ("greedy", {"max_new_tokens": 0}, "max_new_tokens"),
    ("sample", {"max_new_tokens": -3}, "max_new_tokens"),
    ("sample", {"top_p": 0.0}, "top_p"),
    ("sample", {"top_p": 1.5}, "top_p"),
    ("sample", {"temperature": 0.0}, "temperature"),
    ("beam", {"num_beams": 0}, "num_beams"),
    ("beam", {"num_beam": 3}, "num_beam"),
])
def test_bad_options_name_the_field(name, options, field):
    from autoglm_core.types.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        decoder(name, **options)
    assert f"'{field}'" in str(err.value) and repr(name) in str(err.value)


def test_bad_call_arguments_are_validated(gpt2):
    from autoglm_core.types.errors import ConfigError

    model, tok = gpt2
    ids, mask = encode_prompts(model, tok, ["hello"])
    with pytest.raises(ConfigError, match="top_p"):
        decoder("sample").decode(model, ids, mask, top_p=2.0)
    with pytest.raises(ConfigError, match="num_return_sequences"):
        decoder("beam", num_beams=2, num_return_sequences=3).decode(model, ids, mask)


def test_prompt_longer_than_context(gpt2):
    from autoglm_core.models.decoding.stepper import GenerationError

    model, tok = gpt2  # context of 64 positions
    ids = torch.randint(0, 100, (1, 70))
    with pytest.raises(GenerationError, match="70 tokens .* context is 64"):
        decoder("greedy").decode(model, ids)
    ids = torch.randint(0, 100, (1, 60))
    with pytest.raises(GenerationError, match="max_new_tokens <= 4"):
        decoder("beam", max_new_tokens=10).decode(model, ids)


def test_empty_prompt(gpt2):
    from autoglm_core.models.decoding.stepper import GenerationError
    from autoglm_core.models.decoding.text import generate_text

    model, tok = gpt2
    with pytest.raises(GenerationError, match="non-empty"):
        generate_text(model, tok, [""])
