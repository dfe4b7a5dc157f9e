"""Chooses a SoundStorm preset's decoding settings on the tuning sentences (resumable).

    python examples/tune_decoding.py --model saved_models/soundstorm_espeak_small \
        --codec saved_models/soundstream_espeak_16khz --output examples/results/decoding_sweep \
        --guidance-scales 0,1,2,3 --write-preset

Every point of the grid (guidance scales x temperatures x top-k values) speaks
the tuning sentences (never trained on, never in Table 1) with a 3 s prompt,
for training and held-out voices, and is scored like Table 1 (WER with
Whisper base - or with `--asr pocketsphinx` the earlier 8-sentence-LM
PocketSphinx WER, with which the shipped decoding was chosen - voice
preservation, timbre identification). `choose_decoding` picks the
lowest WER among the grid's settings that keep the voice (run a smaller grid
around a first grid's choice to refine it; the table and plot show every
point measured in `OUTPUT`); `--write-preset` stores it as
the preset's `decoding` (what `generate`, `demo` and `evaluate` use) together
with the sweep in its `metadata.json` (its Table 1, of the old decoding, is
dropped: rerun `keras-soundstorm evaluate --record-in-preset`). Settings not
swept take the package defaults (`DECODING_DEFAULTS`). Finished points are kept
in `OUTPUT/sweep_rows.json`: a rerun resumes, and a larger grid reuses them.
Writes `decoding_sweep.md` and `decoding_sweep.png` to `OUTPUT`.
"""

import argparse
import itertools
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_soundstorm.cli.checks import check_output, check_preset  # noqa: E402
from keras_soundstorm.cli.parser import Parser, finite_float, integer  # noqa: E402
from keras_soundstorm.evaluation.aggregate import setting_name  # noqa: E402
from keras_soundstorm.evaluation.decoding_sweep import (  # noqa: E402
    choose_decoding,
    plot_guidance_sweep,
    sweep_decoding,
    sweep_markdown,
)
from keras_soundstorm.evaluation.loading import load_for_evaluation  # noqa: E402
from keras_soundstorm.utils.files import atomic_write_text  # noqa: E402


def _values(text, convert):
    """`"0,1.5,none"` -> `[0, 1.5, None]` with `convert` applied to the rest.

    `convert` is the CLI's `finite_float` / `integer`: NaN, inf and words are
    an `ArgumentTypeError` (one line naming the flag, via `_flag_values`).
    """
    return [None if item.strip().lower() == "none" else convert(item) for item in text.split(",")]


def _flag_values(parser, flag, text, convert):
    try:
        return _values(text, convert)
    except argparse.ArgumentTypeError as error:
        parser.error(f"argument {flag}: {error}")


def _schedules(text):
    """`"none/16,4,2,1"` -> `[None, [16, 4, 2, 1]]` (steps per level; None: the paper's)."""
    return [
        None if item.strip().lower() == "none" else [int(n) for n in item.split(",")]
        for item in text.split("/")
    ]


def grid(args, parser):
    points = itertools.product(
        _flag_values(parser, "--guidance-scales", args.guidance_scales, finite_float),
        _flag_values(parser, "--temperatures", args.temperatures, finite_float),
        _flag_values(parser, "--top-ks", args.top_ks, integer),
        _schedules(args.steps_per_level),
    )
    settings = []
    for w, t, k, steps in points:
        setting = {"guidance_scale": w, "temperature": t, "top_k": k}
        if steps is not None:  # named only when swept, so earlier points keep their names
            setting["steps_per_level"] = steps
        settings.append(setting)
    return settings


def main():
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="SoundStorm preset")
    parser.add_argument("--codec", required=True, help="SoundStream preset")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--guidance-scales", default="0", help="comma-separated, e.g. 0,1,2")
    parser.add_argument("--temperatures", default="1.0", help="comma-separated")
    parser.add_argument("--top-ks", default="none", help="comma-separated ints or none")
    parser.add_argument(
        "--steps-per-level",
        default="none",
        help="'/'-separated schedules, e.g. none/16,4,2,1 (none: the paper's 16,1,...)",
    )
    parser.add_argument("--num-sentences", type=integer, default=None, help="per voice group")
    parser.add_argument("--seed", type=integer, default=0)
    parser.add_argument(
        "--asr", choices=("whisper", "pocketsphinx"), default="whisper", help="WER recognizer"
    )
    parser.add_argument(
        "--write-preset", action="store_true", help="store the chosen settings in --model"
    )
    args = parser.parse_args()
    metadata_path = os.path.join(args.model, "metadata.json")
    if args.write_preset and not os.path.isfile(metadata_path):
        parser.error(
            f"--write-preset needs --model to be a preset folder; {metadata_path} is missing"
        )

    settings = grid(args, parser)
    # Before the models load and the sweep runs (minutes): paths that cannot work.
    try:
        check_preset("--model", args.model)
        check_preset("--codec", args.codec)
        check_output("--output", args.output, "directory")
    except ValueError as error:
        parser.error(str(error))
    model, codec, corpus = load_for_evaluation(args.model, args.codec)
    start = time.time()
    cache_path = os.path.join(args.output, "sweep_rows.json")
    grid_rows = sweep_decoding(
        model,
        codec,
        corpus,
        settings,
        num_sentences=args.num_sentences,
        seed=args.seed,
        cache_path=cache_path,
        asr=args.asr,
    )
    # The choice is among this grid's points (a second, smaller grid around a
    # first one's choice refines it); the table and plot show every point
    # measured in this folder.
    chosen, decoding = choose_decoding(grid_rows)
    with open(cache_path) as file:
        rows = json.load(file)["rows"]
    markdown = sweep_markdown(rows, chosen) + f"\nChosen: {chosen}\n"
    atomic_write_text(os.path.join(args.output, "decoding_sweep.md"), markdown)
    plot_guidance_sweep(rows, os.path.join(args.output, "decoding_sweep.png"), chosen)
    print(markdown)
    print(f"Swept {len(settings)} settings in {time.time() - start:.0f} s; wrote {args.output}")
    if args.write_preset:
        with open(metadata_path) as file:
            metadata = json.load(file)
        model.set_decoding(**decoding)
        record = {
            "command": "python examples/tune_decoding.py "
            f"--guidance-scales {args.guidance_scales} --temperatures {args.temperatures} "
            f"--top-ks {args.top_ks} --steps-per-level {args.steps_per_level} --seed {args.seed} "
            f"--asr {args.asr}"
            + (f" --num-sentences {args.num_sentences}" if args.num_sentences else ""),
            "date": time.strftime("%Y-%m-%d"),
            "chosen": chosen,
            "grid": [setting_name(setting) for setting in settings],
            "rows": [{k: v for k, v in row.items() if k != "word_errors"} for row in rows],
        }
        # The preset's evaluation was of the old decoding: it is dropped, not kept stale.
        kept = {key: metadata[key] for key in ("training",) if key in metadata}
        model.save_to_preset(args.model, metadata={**kept, "decoding_sweep": record})
        print(f"Stored decoding {model.decoding} in {args.model}")
        print(
            "Its Table 1 was of the old decoding and is dropped: rerun `keras-soundstorm "
            f"evaluate --model {args.model} --record-in-preset`."
        )


if __name__ == "__main__":
    main()
