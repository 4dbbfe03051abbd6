"""Whisper's decoding over onnxruntime, in numpy: prompt, KV cache, logit rules, timestamps, long form.

Used by the packager's gate and by the runtime, so both decode alike. The rules are transformers'
(``WhisperForConditionalGeneration.generate``): the prompt ``<|startoftranscript|>``, language (given,
or detected from the first step's logits over the language tokens), task, and ``<|notimestamps|>``
unless timestamps are asked; then each step's token rules (:mod:`bundle.processing.whisper_rules`).
Tokens are greedy, or drawn at a temperature when one is asked.

Long recordings are decoded in sequential 30 s windows with timestamps, as OpenAI's ``transcribe``
does: each window starts where the last complete segment of the previous one ended (the whole window
when it ended mid-segment), and the previous window's text is the prompt (``<|startofprev|>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bundle.processing.audio import log_mel
from bundle.processing.transcript import Segment, Transcript, compression_ratio
from bundle.processing.whisper_rules import apply_rules, choose_token, logsumexp
from bundle.processing.whisper_screen import SCREEN_OUTPUTS, ScreenedStep, screened_token
from bundle.speech import FeatureSpec, WhisperSpec

__all__ = ["WhisperDecoder"]


Encoder = Callable[[np.ndarray], list[np.ndarray]]
"""[1, n_mels, frames] features -> [encoder_hidden_states, cross_key_0, cross_value_0, ...]."""


@dataclass(frozen=True)
class _DecoderGraph:
    switch: bool
    """The graph takes ``full_logits`` (fp32 bundles: a screened output layer)."""
    screened: bool
    """Greedy steps use the screened ending (the switch, on the CPU execution provider)."""
    present: list[str]
    """The cache's output names, in the order of the ``past`` inputs."""


class WhisperDecoder:
    """Greedy Whisper over an encoder callable and an onnxruntime decoder session (see the module docstring)."""

    def __init__(  # noqa: PLR0917  (the decoder's six parts)
        self,
        spec: WhisperSpec,
        features: FeatureSpec,
        filters: np.ndarray,
        encoder: Encoder,
        decoder: Any,
        tokenizer: Any,
    ) -> None:
        self.spec = spec
        self.features = features
        self.filters = filters
        self.encoder = encoder
        self.decoder = decoder
        self.tokenizer = tokenizer
        self.languages = {token: code for code, token in spec.language_tokens.items()}
        self._head_shape = (spec.heads, spec.head_dim)
        self._graph: _DecoderGraph | None = None
        self.full_reruns = 0
        """Screened steps that could not prove their token and ran again with the full logits."""

    def _decoder_graph(self) -> _DecoderGraph:
        """What the decoder session takes and gives (read once)."""
        if self._graph is None:
            switch = "full_logits" in {i.name for i in self.decoder.get_inputs()}
            self._graph = _DecoderGraph(
                switch=switch,
                screened=switch and self.decoder.get_providers()[0] == "CPUExecutionProvider",
                present=[o.name for o in self.decoder.get_outputs() if o.name.startswith("present_")],
            )
        return self._graph

    def features_of(self, samples: np.ndarray) -> np.ndarray:
        """[1, n_mels, frames] log-mel features of one window (padded or cut to 30 s)."""
        spec = self.features
        mel = log_mel(
            samples,
            self.filters,
            n_fft=spec.n_fft or 400,
            hop_length=spec.hop_length or 160,
            n_samples=spec.window_samples,
        )
        return mel[None, :, :]

    def _step(
        self, ids: Sequence[int], past: list[np.ndarray] | None, cross: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        logits, present = self._run(ids, past, cross)
        return logits[-1], present

    def _feed(
        self, ids: Sequence[int], past: list[np.ndarray] | None, cross: list[np.ndarray], full: bool
    ) -> dict[str, np.ndarray]:
        if past is None:
            past = [np.zeros((1, *self._head_shape[:1], 0, self._head_shape[1]), np.float32)] * (2 * self.spec.layers)
        feed: dict[str, np.ndarray] = {"input_ids": np.asarray([list(ids)], dtype=np.int64)}
        for i in range(self.spec.layers):
            feed[f"past_key_{i}"], feed[f"past_value_{i}"] = past[2 * i], past[2 * i + 1]
            feed[f"cross_key_{i}"], feed[f"cross_value_{i}"] = cross[2 * i], cross[2 * i + 1]
        if self._decoder_graph().switch:
            feed["full_logits"] = np.asarray(full)
        return feed

    def _run(
        self, ids: Sequence[int], past: list[np.ndarray] | None, cross: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """[tokens, vocab] logits of ``ids`` after ``past``, and the cache with them."""
        present = self._decoder_graph().present
        outputs = self.decoder.run(["logits", *present], self._feed(ids, past, cross, full=True))
        return np.asarray(outputs[0][0], dtype=np.float32), list(outputs[1:])

    def _prompt_logits(self, prompt: list[int], cross: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits from ``<|startoftranscript|>`` on, and the cache of the whole prompt.

        Earlier text (``<|startofprev|>`` ...) needs no logits: where the graph is screened it runs first
        without the full output layer (up to 224 tokens of a long recording's previous window).
        """
        start = prompt.index(self.spec.start_token_id)
        if start == 0 or not self._decoder_graph().screened:
            everything, past = self._run(prompt, None, cross)
            return everything[start:], past
        present = self._decoder_graph().present
        earlier = self.decoder.run(present, self._feed(prompt[:start], None, cross, full=False))
        return self._run(prompt[start:], list(earlier), cross)

    def _screened(
        self, token: int, past: list[np.ndarray], cross: list[np.ndarray]
    ) -> tuple[ScreenedStep, list[np.ndarray]]:
        """One token's screened step (see :mod:`bundle.processing.whisper_screen`) and the cache with it."""
        present = self._decoder_graph().present
        outputs = self.decoder.run([*SCREEN_OUTPUTS, *present], self._feed([token], past, cross, full=False))
        ids, logits, rest, stamps = outputs[:4]
        return ScreenedStep(ids[0], logits[0], float(rest[0, 0]), stamps[0]), list(outputs[4:])

    def detect_language(self, cross: list[np.ndarray]) -> int:
        """The language token transformers would pick: the first step's best language."""
        logits, _ = self._step([self.spec.start_token_id], None, cross)
        ids = np.asarray(sorted(self.languages), dtype=np.int64)
        return int(ids[int(np.argmax(logits[ids]))])

    def prompt(
        self, cross: list[np.ndarray], language: str | None, task: str, timestamps: bool, previous: Sequence[int] = ()
    ) -> tuple[list[int], str | None]:
        """The decoder prompt and the language it names."""
        spec = self.spec
        tokens = [spec.start_token_id]
        code: str | None = "en" if not spec.multilingual else None
        if spec.multilingual:
            token = spec.language_tokens[language] if language else self.detect_language(cross)
            tokens.append(token)
            code = self.languages[token]
            task_token = spec.translate_token_id if task == "translate" else spec.transcribe_token_id
            if task_token is not None:
                tokens.append(task_token)
        if not timestamps:
            tokens.append(spec.no_timestamps_token_id)
        if previous and spec.prev_token_id is not None:
            room = spec.max_target_positions // 2 - 1
            tokens = [spec.prev_token_id, *list(previous)[-room:], *tokens]
        return tokens, code

    def greedy(self, cross: list[np.ndarray], prompt: list[int], timestamps: bool, max_new_tokens: int) -> list[int]:
        """Greedy tokens after ``prompt`` (the end-of-text token included when reached)."""
        return self.scored(cross, prompt, timestamps, max_new_tokens)[0]

    def scored(  # noqa: PLR0917  (a window's decoding settings)
        self,
        cross: list[np.ndarray],
        prompt: list[int],
        timestamps: bool,
        max_new_tokens: int,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
        logprobs: bool = False,
    ) -> tuple[list[int], float | None, float]:
        """Tokens (greedy, or sampled at ``temperature`` > 0 with ``rng``), their mean log-probability
        (with ``logprobs``) and the no-speech probability (see :class:`Segment`).

        Greedy steps without ``logprobs`` are screened where the graph and the device allow it: the same
        tokens without the full output layer (:mod:`bundle.processing.whisper_screen`).
        """
        budget = min(max_new_tokens, self.spec.max_target_positions - len(prompt))
        everything, past = self._prompt_logits(prompt, cross)
        logits = everything[-1]
        start = everything[0].astype(np.float64)
        no_speech = float(np.exp(start[self.spec.no_timestamps_token_id - 1] - logsumexp(start)))
        screen = self._decoder_graph().screened and temperature <= 0.0 and not logprobs
        generated: list[int] = []
        total = 0.0
        step: ScreenedStep | None = None
        before = past
        while len(generated) < budget:
            token = screened_token(self.spec, step, generated, timestamps) if step is not None else None
            if token is None:
                if step is not None:  # not proven: the same step again, with the full logits
                    self.full_reruns += 1
                    logits, _ = self._step([generated[-1]], before, cross)
                scores = apply_rules(self.spec, logits, generated, timestamps)
                token = choose_token(scores, temperature, rng)
                total += float(scores[token]) - logsumexp(scores.astype(np.float64)) if logprobs else 0.0
            generated.append(token)
            if token == self.spec.eos_token_id or len(generated) >= budget:
                break
            before = past
            if screen:
                step, past = self._screened(token, past, cross)
            else:
                logits, past = self._step([token], past, cross)
        words = len([t for t in generated if t != self.spec.eos_token_id])
        return generated, total / (words + 1) if logprobs else None, no_speech

    def text(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` (timestamps and special tokens left out)."""
        ids = [token for token in tokens if token < self.spec.eos_token_id]
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def encode(self, samples: np.ndarray) -> list[np.ndarray]:
        """The cross-attention keys and values of one window."""
        return self.encoder(self.features_of(samples))[1:]

    def transcribe(
        self,
        samples: np.ndarray,
        *,
        language: str | None = None,
        task: str = "transcribe",
        timestamps: bool = False,
        prompt: Sequence[int] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> Transcript:
        """One window without timestamps when it fits and none are asked, else sequential windows with timestamps.

        ``temperature`` > 0 draws each token from the softmax of its logits over that temperature
        (``seed`` makes the draw repeatable); 0 decodes greedily. ``logprobs``: segments carry ``avg_logprob``.
        """
        rate = self.features.sampling_rate
        window = self.features.window_samples
        duration = len(samples) / rate
        sampling = (temperature, np.random.default_rng(seed) if temperature > 0.0 else None, logprobs)
        if len(samples) <= window and not timestamps:
            cross = self.encode(samples)
            tokens, code = self.prompt(cross, language, task, False, prompt)
            generated, logprob, no_speech = self.scored(cross, tokens, False, self.spec.max_new_tokens, *sampling)
            text = self.text(generated).strip()
            segment = Segment(0.0, duration, text, generated, logprob, no_speech, compression_ratio(text), temperature)
            return Transcript(text, code, duration, [segment])
        return self._long_form(samples, language, task, prompt, sampling)

    def _long_form(
        self,
        samples: np.ndarray,
        language: str | None,
        task: str,
        prompt: Sequence[int],
        sampling: tuple[float, np.random.Generator | None, bool],
    ) -> Transcript:
        rate = self.features.sampling_rate
        window = self.features.window_samples
        seek = 0
        segments: list[Segment] = []
        previous = list(prompt)
        code = language
        while seek < len(samples):
            piece = samples[seek : seek + window]
            offset = seek / rate
            cross = self.encode(piece)
            tokens, code = self.prompt(cross, code, task, True, previous)
            generated, logprob, no_speech = self.scored(cross, tokens, True, self.spec.max_new_tokens, *sampling)
            found, advance = self._segments(generated, offset, len(piece) / rate)
            ratio = compression_ratio(self.text(generated))
            segments += [replace(s, avg_logprob=logprob, no_speech_prob=no_speech, compression_ratio=ratio,
                                 temperature=sampling[0]) for s in found if s.text.strip()]  # fmt: skip
            previous = [t for t in generated if t < self.spec.eos_token_id]
            step = round(advance * rate)
            seek += step if 0 < step < len(piece) else len(piece)
        text = "".join(segment.text for segment in segments).strip()
        return Transcript(text, code, len(samples) / rate, segments)

    def _segments(self, generated: list[int], offset: float, span: float) -> tuple[list[Segment], float]:
        """Segments of one window's tokens, and how far (s) the next window starts (OpenAI's ``transcribe``)."""
        begin, precision = self.spec.timestamp_begin, self.spec.time_precision
        tokens = [t for t in generated if t != self.spec.eos_token_id]
        stamp = [t >= begin for t in tokens]
        single_ending = len(tokens) >= 2 and stamp[-1] and not stamp[-2]
        pairs = [i for i in range(1, len(tokens)) if stamp[i] and stamp[i - 1]]
        if not pairs:
            stamps = [t for t in tokens if t >= begin]
            end = (stamps[-1] - begin) * precision if stamps and stamps[-1] != begin else span
            return [Segment(offset, offset + min(end, span), self.text(tokens), tokens)], span
        cuts = [*pairs, len(tokens)] if single_ending else pairs
        segments, last = [], 0
        for cut in cuts:
            piece = tokens[last:cut]
            start = (piece[0] - begin) * precision if piece[0] >= begin else 0.0
            end = (piece[-1] - begin) * precision if piece[-1] >= begin else span
            segments.append(Segment(offset + start, offset + min(max(start, end), span), self.text(piece), piece))
            last = cut
        if single_ending:
            return segments, span
        return segments, (tokens[last - 1] - begin) * precision
