"""Real-time factor of `kss.pipelines.resynthesize` with the public architectures.

The SoundStorm of `examples/benchmark_converted.py` (the public
SpeechTokenizer-SoundStorm's 351 M architecture, the reference's 24 passes)
and the codec `kss.codecs.SpeechTokenizer()` (the public
speechtokenizer_hubert_avg architecture), both with random weights: speed does
not depend on them. One call says a source in a prompt's voice: encode the
source and the prompt, generate levels 2-8 in windows, decode. The source is
noise (the words do not matter for speed), the prompt 3 s of other noise.

    taskset -c 0 python examples/benchmark_resynthesis.py --backend tensorflow --seconds 10

Prints one JSON line (append it to a CSV with `--csv`): the first call
(compilation included) and the median of `--repeats` more, in wall and process
CPU seconds, and the real-time factor (audio seconds per wall second; > 1 is
faster than real time).
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_converted import (  # noqa: E402
    STEPS_PER_LEVEL,
    _checkpoint_shapes,
    _time,
    append_csv_row,
    randomise_weights,
)


def measure(seconds, repeats):
    import numpy as np

    import keras_soundstorm as kss
    from keras_soundstorm.codecs import SpeechTokenizer

    codec = randomise_weights(SpeechTokenizer())
    rng = np.random.default_rng(0)
    config = kss.convert.soundstorm_speechtokenizer_config(_checkpoint_shapes(), num_heads=8)
    model = kss.SoundStorm(kss.SoundStormBackbone(**config), head_projection=True)
    rate = codec.sample_rate
    source = (0.1 * rng.standard_normal(int(seconds * rate))).astype("float32")
    prompt = (0.1 * rng.standard_normal(3 * rate)).astype("float32")

    def call():
        result = kss.pipelines.resynthesize(
            model, codec, source, prompt, steps_per_level=STEPS_PER_LEVEL, progress=False
        )
        assert len(result.waveform) == len(source)

    first, runs = _time(call, repeats)
    return model.count_params() + codec.count_params(), first, runs or [first]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="source audio")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls after the first")
    parser.add_argument("--csv", help="append the result as a row of this CSV file")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    parameters, first, runs = measure(args.seconds, args.repeats)
    median = statistics.median(wall for wall, _ in runs)
    row = {
        "backend": args.backend,
        "audio_seconds": args.seconds,
        "steps_per_level": "-".join(map(str, STEPS_PER_LEVEL)),
        "parameters": parameters,
        "cores": len(os.sched_getaffinity(0)),
        "first_call_s": round(first[0], 2),
        "first_call_cpu_s": round(first[1], 2),
        "median_s": round(median, 2),
        "median_cpu_s": round(statistics.median(cpu for _, cpu in runs), 2),
        "real_time_factor": round(args.seconds / median, 3),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
    }
    print(json.dumps(row), flush=True)
    if args.csv:
        append_csv_row(args.csv, row)


if __name__ == "__main__":
    main()
