"""The code-generation assistant: request -> candidates from a decoder -> ``ast`` syntax check ->
optional unit tests in the sandbox.

Candidates come from one decoder call: ``beam`` returns its ``num_candidates`` best hypotheses (best
first), ``sample`` draws ``num_candidates`` samples in one batch, ``greedy`` gives one; a third-party
decoder's rows are used as they come. A candidate that does not parse is skipped for the next one;
with tests, the first candidate that parses *and* passes them wins, otherwise the first that parses
is returned with the failing test result. Generated code is only parsed here (never executed in
this process); tests run in :func:`autoglm_core.tasks.code_generation.sandbox.run_python`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from autoglm_core.tasks.code_generation.sandbox import ExecResult, run_python

# Where a completion of a function body ends (the Codex paper's stop sequences).
STOP_SEQUENCES = ("\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint(", "\nassert ")


def truncate_completion(text: str, stops: tuple[str, ...] = STOP_SEQUENCES) -> str:
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def syntax_error(code: str) -> str | None:
    """None when ``code`` parses, else a one-line description of the first syntax error."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # null bytes
        return str(exc)
    return None


@dataclass
class Attempt:
    code: str
    syntax_error: str | None
    test: ExecResult | None = None

    @property
    def ok(self) -> bool:
        return self.syntax_error is None and (self.test is None or self.test.passed)


@dataclass
class CodeResult:
    code: str | None  # the chosen program; None when no candidate parsed
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def syntax_ok(self) -> bool:
        return self.code is not None

    @property
    def tests_passed(self) -> bool | None:
        chosen = next((a for a in self.attempts if a.code == self.code), None)
        if chosen is None or chosen.test is None:
            return None
        return chosen.test.passed


class CodeAssistant:
    """Turns a request (e.g. a function signature and docstring) into checked Python code.

    :param continue_prompt: the model continues the request (completion models, HumanEval style):
        the program is request + completion. False: the completion alone is the program.
    """

    def __init__(self, model: Any, tokenizer: Any, decoder: str | Any = "beam", *, num_candidates: int = 4,
                 max_new_tokens: int = 128, decoder_options: dict[str, Any] | None = None,
                 continue_prompt: bool = True, timeout_s: float = 10.0, memory_mb: int = 1024,
                 unsafe_no_sandbox: bool = False):
        from autoglm_core.types.errors import ConfigError

        if num_candidates < 1:
            raise ConfigError(f"num_candidates must be >= 1, got {num_candidates}.")
        self.model, self.tokenizer = model, tokenizer
        self.num_candidates = num_candidates
        self.continue_prompt = continue_prompt
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self.unsafe_no_sandbox = unsafe_no_sandbox  # only where bwrap is missing: see codegen.sandbox
        options = dict(decoder_options or {})
        options.setdefault("max_new_tokens", max_new_tokens)
        name = decoder if isinstance(decoder, str) else getattr(decoder, "name", "")
        if name == "beam":
            options.setdefault("num_beams", max(num_candidates, 1))
            options.setdefault("num_return_sequences", min(num_candidates, options["num_beams"]))
        from autoglm_core.models.decoding.text import get_decoder

        self.decoder = get_decoder(decoder, options)
        self._name = name

    def candidates(self, request: str) -> list[str]:
        from autoglm_core.models.decoding.text import encode_prompts, new_tokens

        input_ids, mask = encode_prompts(self.model, self.tokenizer, [request])
        if self._name == "sample" and self.num_candidates > 1:  # n samples in one batch
            input_ids = input_ids.repeat(self.num_candidates, 1)
            mask = mask.repeat(self.num_candidates, 1)
        out = self.decoder.decode(self.model, input_ids, mask)
        texts = self.tokenizer.batch_decode(new_tokens(self.model, out, input_ids.shape[1]), skip_special_tokens=True)
        return [truncate_completion(t) for t in texts]

    def program(self, request: str, completion: str) -> str:
        return request + completion if self.continue_prompt else completion

    def generate(self, request: str, tests: str | None = None, entry_point: str | None = None) -> CodeResult:
        """Generate code for ``request``; with ``tests`` (and ``entry_point`` for HumanEval-style
        ``check(fn)`` tests) run them in the sandbox."""
        result = CodeResult(code=None)
        seen: set[str] = set()
        for completion in self.candidates(request):
            code = self.program(request, completion)
            if code in seen:
                continue
            seen.add(code)
            attempt = Attempt(code, syntax_error(code))
            result.attempts.append(attempt)
            if attempt.syntax_error is not None:
                continue  # retry with the next beam / sample
            if tests is not None:
                program = code + "\n" + tests + (f"\ncheck({entry_point})\n" if entry_point else "\n")
                attempt.test = run_python(program, timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                                          unsafe_no_sandbox=self.unsafe_no_sandbox)
            if result.code is None:
                result.code = code  # first candidate that parses, until one passes the tests
            if attempt.ok:
                result.code = code
                break
        return result
