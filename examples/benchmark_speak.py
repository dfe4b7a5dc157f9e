"""Real-time factor of `kss.pipelines.speak` (text to speech) with the public architectures.

The three models of the text-to-speech chain, full size, random weights
(speed does not depend on them):

- text to semantic: the USLM AR architecture `kss.convert.uslm` builds
  (153.8 M parameters), from `examples/benchmark_text_to_semantic.py`, its
  end-of-speech logit zeroed;
- SoundStorm: the public SpeechTokenizer-SoundStorm's 351 M architecture from
  `examples/benchmark_converted.py` (`head_projection=True`), the reference's
  24 passes (`STEPS_PER_LEVEL`);
- codec: `kss.codecs.SpeechTokenizer()` (speechtokenizer_hubert_avg).

One call is `speak(text, prompt, transcript)`: a 3 s noise prompt with a short
transcript, English text of about `SYMBOLS_PER_SECOND x --seconds` phoneme
symbols (speak's own estimate for that much speech, so its text ids, buckets
and pieces are those of a real utterance of that length); the symbol table is
made from the text's own phonemes (USLM's table cannot be downloaded here).

Random weights know nothing of text length, so the text-to-semantic stage is
made to emit exactly `--seconds x 50` tokens: greedy decoding (`top_k=1`;
USLM samples, which costs the same per token) with the end-of-speech logit
zeroed never ends early, and its `generate` is called as `speak` calls it
except `max_length`, which is each piece's share of the tokens (shared by
phoneme symbols) instead of `speak`'s bound, 16 x its padded text ids + 1. So
the decode's key/value cache holds text + prompt + share slots; a real run's
`generate` starts with 512 new slots (`FIRST_SEGMENT_TOKENS`) and grows them
only while tokens keep coming, so for a piece of up to ~10 s the two caches
are about the same size and the text-to-semantic time here is close to a
real run's (slightly below it for shorter pieces).

    nice -n 19 taskset -c 1 python examples/benchmark_speak.py --backend tensorflow --seconds 10

Prints one JSON line (append it to a CSV with `--csv`): the first call
(compilation included) and the median of `--repeats` more, in wall and process
CPU seconds, the real-time factor (audio seconds per wall second; > 1 is faster
than real time), and the split per stage: the text-to-semantic model's and
SoundStorm's `generate` calls timed as `speak` makes them, the rest (the codec
encoding the prompt and decoding, the text frontend) as the remainder.
`--tiny` swaps in tiny models (a smoke test of the script, not a speed figure).
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_converted import (  # noqa: E402
    STEPS_PER_LEVEL,
    _checkpoint_shapes,
    _time,
    append_csv_row,
    randomise_weights,
)
from benchmark_text_to_semantic import build_model  # noqa: E402

PROMPT_SECONDS = 3
PROMPT_TEXT = "This is my voice."
# Words of the text (cycled as needed): any English the frontend reads.
PASSAGE = (
    "The morning train was late again, so we walked along the river instead. Small boats "
    "drifted past the old stone bridge while the fog lifted slowly over the water. By noon "
    "the market was crowded with people buying bread, cheese and fresh fruit. Nobody expected "
    "the storm, but the sky turned dark just after three o'clock and the rain came down hard. "
    "We waited under the roof of a bakery, talking about the summer and the long trip ahead."
)
TINY_STEPS_PER_LEVEL = (2, 1)


class _Timed:
    """A model whose `generate` calls are timed (wall, CPU); the rest is the model's.

    `quotas`: if given, call k runs with `max_length=quotas[k]` (see the module
    docstring); it must not exceed the bound `speak` passes, nor the model's own
    limit of 16 tokens per text id (+1), which would stop it earlier.
    """

    def __init__(self, model, quotas=None):
        self._model, self._quotas = model, quotas
        self.reset()

    def reset(self):
        self.wall, self.cpu, self.calls = 0.0, 0.0, 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, *args, **kwargs):
        from keras_soundstorm.models.text_to_semantic.configs import TOKENS_PER_TEXT_ID

        if self._quotas is not None:
            quota = self._quotas[self.calls]
            limit = TOKENS_PER_TEXT_ID * int(kwargs["text_lengths"][0]) + 1
            if quota > min(kwargs["max_length"], limit):
                raise ValueError(
                    f"Piece {self.calls} needs {quota} tokens, but speak allows "
                    f"{kwargs['max_length']} and {TOKENS_PER_TEXT_ID} per text id allow {limit}: "
                    "more text needed."
                )
            kwargs["max_length"] = quota
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self._model.generate(*args, **kwargs)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.calls += 1


def _models(tiny):
    """`(text_to_semantic, soundstorm, codec, steps_per_level)`, random weights."""

    import keras_soundstorm as kss
    from keras_soundstorm.codecs import SpeechTokenizer

    if tiny:
        text_to_semantic = build_model("tiny")
        codec = SpeechTokenizer(
            channels=4, latent_dim=16, semantic_dim=8, num_levels=3, codebook_size=32,
            lstm_layers=1,
        )  # fmt: skip
        config = dict(
            num_levels=2, codebook_size=32, conditioning_vocabulary_size=32,
            conditioning_rate_ratio=1, hidden_dim=16, num_layers=1, num_heads=2,
            intermediate_dim=32, conv_kernel_size=4, conv_expansion_factor=2,
            conv_norm_type="channel_norm", attention_bias=False, even_kernel_padding="left",
        )  # fmt: skip
        steps = TINY_STEPS_PER_LEVEL
    else:
        text_to_semantic = build_model("uslm")
        codec = SpeechTokenizer()
        config = kss.convert.soundstorm_speechtokenizer_config(_checkpoint_shapes(), num_heads=8)
        steps = STEPS_PER_LEVEL
    randomise_weights(codec)
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), head_projection=True)
    return text_to_semantic, model, codec, steps


def _text(symbols):
    """Words of `PASSAGE` (cycled) up to at least `symbols` phoneme symbols, ending in "."."""
    from keras_soundstorm.text import text_to_symbols

    words = PASSAGE.split()
    text, count = "", 0
    while count < symbols:
        text = " ".join(words[i % len(words)] for i in range(len(text.split()) + 1))
        text = text.rstrip(",.") + "."
        count = len(text_to_symbols(text))
    return text, count


def _shares(total, weights):
    """`total` split in proportion to `weights` (largest remainders), summing to `total`."""
    exact = [total * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])[: total - sum(shares)]:
        shares[i] += 1
    return shares


def measure(seconds, repeats, tiny=False):
    import numpy as np

    import keras_soundstorm as kss
    from keras_soundstorm.pipelines.speech import SYMBOLS_PER_SECOND, Speaker
    from keras_soundstorm.text import SymbolTable, text_to_symbols

    text_to_semantic, model, codec, steps = _models(tiny)
    tokens = round(seconds * codec.frame_rate)
    text, text_symbols = _text(max(1, round(SYMBOLS_PER_SECOND * seconds)))
    table = SymbolTable(
        {s: i for i, s in enumerate(sorted(set(text_to_symbols(PROMPT_TEXT + " " + text))))}
    )
    speaker = Speaker(text_to_semantic, model, codec, symbol_table=table)
    pieces = kss.pipelines.split_text(text, speaker.frontend, speaker.max_piece_symbols)
    quotas = _shares(tokens, [len(speaker.frontend.symbols(piece)) for piece in pieces])
    timed_semantic, timed_model = _Timed(text_to_semantic, quotas), _Timed(model)
    rng = np.random.default_rng(1)
    prompt = (0.1 * rng.standard_normal(PROMPT_SECONDS * codec.sample_rate)).astype("float32")
    stages = []

    def call():
        timed_semantic.reset()
        timed_model.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        speech = kss.pipelines.speak(
            timed_semantic, timed_model, codec, text, prompt, PROMPT_TEXT, seed=0, top_k=1,
            symbol_table=table, progress=False, steps_per_level=steps,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert speech.codes.shape[0] == tokens, (speech.codes.shape, tokens)
        assert speech.num_samples == tokens * codec.hop_length
        stages.append(
            {
                "text_to_semantic": (timed_semantic.wall, timed_semantic.cpu),
                "soundstorm": (timed_model.wall, timed_model.cpu),
                "codec_and_rest": (
                    wall - timed_semantic.wall - timed_model.wall,
                    cpu - timed_semantic.cpu - timed_model.cpu,
                ),
            }
        )

    first, runs = _time(call, repeats)
    info = {
        "audio_seconds": tokens / codec.frame_rate,
        "semantic_tokens": tokens,
        "text_symbols": text_symbols,
        "pieces": len(pieces),
        "steps_per_level": "-".join(map(str, steps)),
        "parameters_text_to_semantic": text_to_semantic.count_params(),
        "parameters_soundstorm": model.count_params(),
        "parameters_codec": codec.count_params(),
    }
    return info, first, runs, stages[0], stages[1:] or stages[:1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="speech to generate")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls after the first")
    parser.add_argument("--tiny", action="store_true", help="tiny models (smoke test)")
    parser.add_argument("--csv", help="append the result as a row of this CSV file")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 0:
        parser.error("--seconds must be > 0 and --repeats >= 0")
    os.environ["KERAS_BACKEND"] = args.backend
    info, first, runs, first_stages, run_stages = measure(args.seconds, args.repeats, args.tiny)
    runs = runs or [first]
    median = statistics.median(wall for wall, _ in runs)
    row = {
        "backend": args.backend,
        "models": "tiny" if args.tiny else "full",
        **info,
        "cores": len(os.sched_getaffinity(0)),
        "first_call_s": round(first[0], 2),
        "first_call_cpu_s": round(first[1], 2),
        "median_s": round(median, 2),
        "median_cpu_s": round(statistics.median(cpu for _, cpu in runs), 2),
        "real_time_factor": round(info["audio_seconds"] / median, 4),
    }
    for stage in first_stages:
        row[f"first_{stage}_s"] = round(first_stages[stage][0], 2)
        row[f"first_{stage}_cpu_s"] = round(first_stages[stage][1], 2)
    for stage in first_stages:
        row[f"{stage}_s"] = round(statistics.median(s[stage][0] for s in run_stages), 2)
        row[f"{stage}_cpu_s"] = round(statistics.median(s[stage][1] for s in run_stages), 2)
    row["load_average"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    arguments = sys.argv[1:] if argv is None else list(argv)
    row["command"] = "python " + " ".join([os.path.relpath(__file__)] + arguments)
    print(json.dumps(row), flush=True)
    if args.csv:
        append_csv_row(args.csv, row)
    return row


if __name__ == "__main__":
    main()
