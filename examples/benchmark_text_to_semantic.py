"""Tokens per second of the full-size text-to-semantic model (USLM's AR architecture).

The model is the one `kss.convert.uslm` builds for `USLM.pt` (12 layers x 1024,
16 heads, feed-forward 4096, 512 text ids, 1024 + 1 semantic ids; 153.8 M
parameters) with random weights: speed does not depend on them, except that
random weights could end an utterance early, so the end-of-speech column of
the output layer is zeroed (greedy decoding then never picks it) and every
run makes exactly `--new-tokens` tokens. Batch 1, a `--prompt-tokens` prompt
(150 = 3 s at 50 Hz), `--text-ids` text ids, greedy.

The reference is vall-e-x 0.0.2a1's VALL-E AR model built as USLM builds it,
decoding with its own key/value cache (`ar_decoder.infer`), the loop of its
`inference` (the full semantic sequence re-embedded every step, the new
position decoded against the cache).

    python examples/benchmark_text_to_semantic.py                    # all, one table
    python examples/benchmark_text_to_semantic.py --only jax         # one backend
    python examples/benchmark_text_to_semantic.py --only reference

`--padded-text-ids N` times the decode as `speak` runs it: the text padded to
N ids (its real length `--text-ids` passed), the loop bounded by `16 x N + 1`
tokens, so each run stops at USLM's limit of `16 x --text-ids + 1` tokens
(`--new-tokens` is then ignored; Keras backends only):

    python examples/benchmark_text_to_semantic.py --runs jax,tensorflow \
        --text-ids 31 --padded-text-ids 256

Each backend runs in its own process (the driver starts them one after the
other). The first call (compilation included) is reported apart from the
timed repeats, whose median is the result, as wall seconds and as the
process's CPU seconds (all its threads: the fairer number on a shared machine).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

RUNS = ("reference", "jax", "tensorflow", "torch")


def _time(call, repeats):
    timings = []
    for _ in range(1 + repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return result, timings[0], timings[1:]


def _inputs(args):
    import numpy as np

    rng = np.random.default_rng(0)
    text = rng.integers(3, 512, (1, args.text_ids)).astype("int32")
    prompt = rng.integers(0, 1024, (1, args.prompt_tokens)).astype("int32")
    return text, prompt


def build_model(config="uslm", **kwargs):
    """A `TextToSemantic` of `kss.TEXT_TO_SEMANTIC_CONFIGS[config]`, random weights (seed 0).

    Its end-of-speech column of the output layer is zeroed, so greedy decoding
    never ends an utterance early. `kwargs` go to `TextToSemantic`.
    """
    import keras

    import keras_soundstorm as kss

    keras.utils.set_random_seed(0)
    backbone = kss.TextToSemanticBackbone(**kss.TEXT_TO_SEMANTIC_CONFIGS[config])
    model = kss.TextToSemantic(backbone, **kwargs)
    kernel = keras.ops.convert_to_numpy(model.semantic_head.kernel)
    kernel[:, model.backbone.end_of_speech_id] = 0.0
    model.semantic_head.kernel.assign(kernel)
    return model


def _run_keras(args):
    import numpy as np

    model = build_model()
    text, prompt = _inputs(args)
    bound = dict(max_length=args.new_tokens)
    if args.padded_text_ids:
        padding = np.zeros((1, args.padded_text_ids - args.text_ids), "int32")
        text = np.concatenate([text, padding], axis=1)
        bound = dict(max_length=16 * args.padded_text_ids + 1, text_lengths=[args.text_ids])

    def call():
        return model.generate(text, prompt, top_k=1, seed=0, **bound)[0]

    return call


def _run_reference(args):
    import torch
    import torch.nn.functional as F

    from keras_soundstorm.convert.peers import vallex_reference

    module = vallex_reference(512)
    from vallex.modules.transformer import TransformerEncoder, TransformerEncoderLayer

    torch.manual_seed(0)
    model = module.VALLF(
        1024, 16, 12, norm_first=True, add_prenet=False, decoder_cls=TransformerEncoder,
        decoder_layer_cls=TransformerEncoderLayer, prepend_bos=False, num_quantizers=1,
    ).eval()  # fmt: skip
    with torch.no_grad():
        model.ar_predict_layer.weight[1024] = 0.0
    text, prompt = (torch.from_numpy(a).long() for a in _inputs(args))

    @torch.no_grad()
    def call():
        x = model.ar_text_position(model.ar_text_embedding(text))
        x_len, y, past = x.shape[1], prompt, None
        for _ in range(args.new_tokens):
            y_pos = model.ar_audio_position(model.ar_audio_embedding(y))
            xy = torch.concat([x, y_pos], dim=1)
            y_len = y.shape[1]
            mask = torch.concat(
                [
                    F.pad(torch.zeros((x_len, x_len), dtype=torch.bool), (0, y_len), value=True),
                    F.pad(
                        torch.triu(torch.ones(y_len, y_len, dtype=torch.bool), diagonal=1),
                        (x_len, 0),
                        value=False,
                    ),
                ],
                dim=0,
            )
            if past is not None:
                xy = xy[:, [-1]]
            hidden, past = model.ar_decoder.infer(xy, mask=mask, past_kv=past, use_cache=True)
            token = model.ar_predict_layer(hidden[:, -1]).argmax(-1)
            y = torch.concat([y, token[:, None]], dim=1)
        return y[0, prompt.shape[1] :].numpy()

    return call


def run_one(args):
    if args.padded_text_ids:
        if args.only == "reference":
            raise SystemExit("--padded-text-ids: Keras backends only (speak's static bound).")
        if args.padded_text_ids < args.text_ids:
            raise SystemExit("--padded-text-ids must be at least --text-ids.")
        args.new_tokens = 16 * args.text_ids + 1
    call = _run_reference(args) if args.only == "reference" else _run_keras(args)
    tokens, first, timed = _time(call, args.repeats)
    assert len(tokens) == args.new_tokens, len(tokens)
    timed = timed or [first]  # --repeats 0: the first call (compilation included)
    wall = statistics.median(t[0] for t in timed)
    cpu = statistics.median(t[1] for t in timed)
    row = {
        "run": args.only,
        "new_tokens": args.new_tokens,
        "prompt_tokens": args.prompt_tokens,
        "text_ids": args.text_ids,
        "padded_text_ids": args.padded_text_ids,
        "first_call_s": round(first[0], 2),
        "repeats": args.repeats,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "tokens_per_s": round(args.new_tokens / wall, 1),
        "tokens_per_cpu_s": round(args.new_tokens / cpu, 1),
    }
    print(json.dumps(row), flush=True)


def run_all(args):
    rows = []
    for run in args.runs.split(","):
        if run not in RUNS:
            raise SystemExit(f"--runs: unknown run {run!r}; choose from {RUNS}.")
        env = dict(os.environ, KERAS_BACKEND="torch" if run == "reference" else run)
        command = [sys.executable, __file__, "--only", run] + [
            f"--{name.replace('_', '-')}={getattr(args, name)}"
            for name in ("new_tokens", "prompt_tokens", "text_ids", "padded_text_ids", "repeats")
        ]
        output = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [line for line in output.stdout.splitlines() if line.startswith("{")]
        if output.returncode or not lines:
            print(f"{run} failed:\n{output.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1]))
        print(lines[-1], flush=True)
    reference = next((r for r in rows if r["run"] == "reference"), None)
    print("\n| run | first call s | wall s | tokens/s | tokens/CPU-s | x reference |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["tokens_per_s"] / reference["tokens_per_s"] if reference else float("nan")
        print(
            f"| {row['run']} | {row['first_call_s']} | {row['wall_s']} | {row['tokens_per_s']} "
            f"| {row['tokens_per_cpu_s']} | {ratio:.2f} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=RUNS, help="run one backend in this process")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated runs (driver)")
    parser.add_argument("--new-tokens", type=int, default=500)
    parser.add_argument("--prompt-tokens", type=int, default=150)
    parser.add_argument("--text-ids", type=int, default=150)
    parser.add_argument(
        "--padded-text-ids", type=int, default=0, help="time speak's padded, bounded decode"
    )
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.only:
        run_one(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
