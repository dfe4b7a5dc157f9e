"""`keras-soundstorm` command line: quickstart, demo, evaluate, train, generate, export, ...

`--backend` re-runs the command with `KERAS_BACKEND` set, because Keras picks
its backend once, at import.
"""

import argparse
import io
import json
import os
import shutil
import sys
import time


def _parse_steps(text):
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--steps-per-level takes comma-separated ints, e.g. 16,1,1; got {text!r}"
        ) from None


def _require(flag, value, minimum=1):
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be >= {minimum}; got {value}.")


def _check_input_file(flag, path):
    if path is not None and not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "no such file"
        raise ValueError(f"{flag} {path!r}: {what}; expected a file.")


def _check_input_dir(flag, path):
    if not os.path.isdir(path):
        what = "a file" if os.path.exists(path) else "no such directory"
        raise ValueError(f"{flag} {path!r}: {what}; expected a directory.")


def _check_preset(flag, preset):
    """A preset directory, a shipped preset's name or a `kaggle://` / `hf://` handle."""
    from keras_soundstorm.utils.preset_registry import SHIPPED_PRESETS

    if "://" in preset or preset in SHIPPED_PRESETS or os.path.isdir(preset):
        return
    what = "a file, not a preset directory" if os.path.exists(preset) else "no such directory"
    raise ValueError(
        f"{flag} {preset!r}: {what}; give a preset directory or a shipped preset "
        f"({', '.join(sorted(SHIPPED_PRESETS))})."
    )


def _check_output(flag, path, kind):
    """Fails unless `path` can be written as a `kind` ("file" or "directory").

    Checked before any work: the nearest existing ancestor must be a writable
    directory, and an existing `path` must be of the same kind (an existing
    file is never replaced by a directory, nor a directory by a file).
    """
    import tempfile

    path = os.path.abspath(path)
    if os.path.exists(path):
        if kind == "file" and os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a directory; expected a file path.")
        if kind == "directory" and not os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is an existing file; expected a directory.")
    parent = path if kind == "directory" and os.path.isdir(path) else os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{flag} {path!r} cannot be written: {parent!r} is a file.")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise ValueError(
            f"{flag} {path!r} cannot be written: {parent!r} is not writable "
            f"({error.strerror or error})."
        ) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-soundstorm", description="SoundStorm for Keras 3 (JAX, TensorFlow, PyTorch)."
    )
    parser.add_argument(
        "--backend", choices=("jax", "tensorflow", "torch"), help="Keras backend (default: Keras')"
    )
    parser.add_argument("--dtype", help="dtype policy, e.g. float32 or mixed_bfloat16")
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser(
        "quickstart", help="train a tiny model on a toy task, generate, check and export"
    )
    quick.add_argument("--output", default="outputs/quickstart", help="output directory")
    quick.add_argument("--epochs", type=int, default=25)

    train = commands.add_parser("train", help="train a SoundStorm and save it as a preset")
    train.add_argument("--config", default="tiny", help="tiny | small | paper | a config.json path")
    train.add_argument(
        "--data", help="TFRecord pattern from write_token_records (default: toy task)"
    )
    train.add_argument("--output", required=True, help="preset directory to write")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--steps-per-epoch", type=int)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--max-frames", type=int, default=128)
    train.add_argument("--learning-rate", type=float, default=3e-4, help="peak learning rate")
    train.add_argument(
        "--warmup-steps",
        type=int,
        default=0,
        help="steps of linear warm-up from 0; then cosine decay to 0.1 x the peak at the last step",
    )
    train.add_argument(
        "--gradient-accumulation-steps",
        type=int,
        default=1,
        help="update the weights every N steps with the mean gradient (effective batch x N)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--resume-dir",
        help="checkpoints for resuming (default: OUTPUT.backup); rerun with the same arguments",
    )
    train.add_argument("--log-dir", help="TensorBoard log directory (needs tensorboard)")

    generate = commands.add_parser("generate", help="generate codes with a preset")
    generate.add_argument("--preset", required=True)
    generate.add_argument("--conditioning", help=".npy int array [B, T/r] or [T/r]")
    generate.add_argument("--prompt", help=".npy int array [B, P, Q] or [P, Q] of prompt codes")
    generate.add_argument("--num-frames", type=int)
    generate.add_argument("--steps-per-level", type=_parse_steps)
    generate.add_argument("--temperature", type=float, help="default: the preset's")
    generate.add_argument("--top-k", type=int, help="default: the preset's")
    generate.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance weight (models trained with conditioning dropout); "
        "default: the preset's",
    )
    generate.add_argument("--seed", type=int)
    generate.add_argument("--output", required=True, help=".npy file for the codes")

    export = commands.add_parser("export", help="export a preset as a TF SavedModel")
    export.add_argument("--preset", required=True)
    export.add_argument(
        "--output", required=True, help="model directory for TF Serving, e.g. models/soundstorm"
    )
    export.add_argument(
        "--version", type=int, help="version subdirectory (default: one past the highest present)"
    )
    export.add_argument("--steps-per-level", type=_parse_steps)

    tokenize = commands.add_parser(
        "tokenize", help="encode audio (a folder, or the eSpeak corpus) into TFRecords"
    )
    tokenize.add_argument("--codec", required=True, help="SoundStream preset directory")
    source = tokenize.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio-dir", help="folder of audio files (unconditional records)")
    source.add_argument(
        "--espeak",
        choices=("train", "heldout_sentences", "heldout_voices", "heldout_both"),
        help="an eSpeak corpus split (phoneme conditioning)",
    )
    tokenize.add_argument("--output", required=True, help="record path prefix")
    tokenize.add_argument("--rate-ratio", type=int, default=2, help="frames per conditioning token")
    tokenize.add_argument("--num-shards", type=int, default=4)
    tokenize.add_argument("--voices-per-sentence", type=int, default=4)

    info = commands.add_parser("info", help="versions, devices and (optionally) a preset")
    info.add_argument("preset", nargs="?")

    from keras_soundstorm import demo as demo_module

    demo = commands.add_parser(
        "demo", help="speak a sentence in the voice of a 3 s eSpeak prompt (shipped presets)"
    )
    demo.add_argument("--text", default=demo_module.DEFAULT_TEXT, help="English sentence")
    demo.add_argument(
        "--voice",
        default=demo_module.DEFAULT_VOICE,
        help="eSpeak corpus voice, e.g. en-us+m3/p50/r150",
    )
    demo.add_argument("--output", default="outputs/demo", help="output directory")
    demo.add_argument("--model", default=demo_module.DEFAULT_MODEL, help="SoundStorm preset")
    demo.add_argument("--codec", default=demo_module.DEFAULT_CODEC, help="SoundStream preset")
    demo.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser(
        "evaluate", help="Table-1 style evaluation on held-out sentences (markdown + PNG)"
    )
    evaluate.add_argument("--model", default=demo_module.DEFAULT_MODEL, help="SoundStorm preset")
    evaluate.add_argument("--codec", default=demo_module.DEFAULT_CODEC, help="SoundStream preset")
    evaluate.add_argument("--output", default="outputs/evaluation", help="output directory")
    evaluate.add_argument(
        "--num-sentences",
        type=int,
        help="held-out sentences per voice group (default: all 40; 20 with --codec-only)",
    )
    evaluate.add_argument(
        "--lm-group-size",
        type=int,
        default=8,
        help="sentences per language model of the sensitive WER (groups fixed by sentence id, "
        "the spoken sentence among them)",
    )
    evaluate.add_argument(
        "--codec-only",
        action="store_true",
        help="only the codec: speaker cosine and MCD of reconstructions at every bitrate",
    )
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument(
        "--record-in-preset",
        action="store_true",
        help="also store the numbers in the evaluated preset's metadata.json "
        "(the codec's with --codec-only, else the SoundStorm preset's)",
    )
    convert = commands.add_parser(
        "convert", help="convert a public PyTorch checkpoint into a preset (needs torch)"
    )
    converters = convert.add_subparsers(dest="converter", required=True)
    speechtokenizer = converters.add_parser(
        "speechtokenizer",
        help="a SpeechTokenizer codec (config.json + state dict) -> kss.codecs.SpeechTokenizer",
    )
    speechtokenizer.add_argument("--config", required=True, help="the checkpoint's config.json")
    speechtokenizer.add_argument(
        "--checkpoint", required=True, help="the state dict, e.g. SpeechTokenizer.pt or ckpt.dev"
    )
    speechtokenizer.add_argument("--output", required=True, help="preset directory to write")
    soundstorm = converters.add_parser(
        "soundstorm-speechtokenizer",
        help="a SpeechTokenizer-SoundStorm (soundstorm_pytorch state dict) -> kss.SoundStorm "
        "(its level q is RVQ level q + 2, conditioned on RVQ level 1)",
    )
    soundstorm.add_argument(
        "--checkpoint", required=True, help="the state dict, e.g. SoundStorm_best_dev.pt"
    )
    soundstorm.add_argument(
        "--num-heads",
        type=int,
        default=8,
        help="attention heads, which the shapes do not determine (default 8, the public files')",
    )
    soundstorm.add_argument("--output", required=True, help="preset directory to write")
    resynthesize = commands.add_parser(
        "resynthesize",
        help="say a source recording's words in a prompt's voice (converted "
        "SpeechTokenizer-SoundStorm pair)",
    )
    resynthesize.add_argument("--model", required=True, help="SoundStorm preset directory")
    resynthesize.add_argument("--codec", required=True, help="SpeechTokenizer preset directory")
    resynthesize.add_argument("--source", required=True, help="audio whose words are said")
    resynthesize.add_argument("--prompt", required=True, help="audio of the voice to say them in")
    resynthesize.add_argument("--output", required=True, help="WAV file to write")
    resynthesize.add_argument(
        "--prompt-seconds", type=float, default=3.0, help="voice prompt length (default 3)"
    )
    resynthesize.add_argument(
        "--window-seconds",
        type=float,
        default=20.0,
        help="seconds per generation window, prompt included (default 20)",
    )
    resynthesize.add_argument(
        "--steps", type=_parse_steps, help="steps per level, e.g. 16,1,1 (default: the preset's)"
    )
    resynthesize.add_argument("--seed", type=int, default=0)
    return parser


def _load_config(name):
    import keras_soundstorm as kss

    if name in kss.CONFIGS:
        return dict(kss.CONFIGS[name])
    if not os.path.isfile(name):
        raise ValueError(
            f"Unknown --config {name!r}: use one of {sorted(kss.CONFIGS)} or a JSON file."
        )
    try:
        with open(name) as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--config {name!r} is not a readable JSON file ({error}).") from None
    return check_config(config, name)


def check_config(config, name):
    """A backbone config from a JSON file: an object with the backbone's arguments."""
    import inspect

    import keras_soundstorm as kss

    if not isinstance(config, dict):
        raise ValueError(
            f"--config {name!r} must hold a JSON object of SoundStormBackbone arguments "
            f"(like {sorted(kss.CONFIGS['tiny'])}); got {type(config).__name__}."
        )
    parameters = inspect.signature(kss.SoundStormBackbone.__init__).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    # dtype comes from --dtype.
    accepted = {n for n, p in parameters.items() if p.kind in kinds} - {"self", "dtype"}
    required = {
        n for n, p in parameters.items() if n in accepted and p.default is inspect.Parameter.empty
    }
    missing, unknown = sorted(required - set(config)), sorted(set(config) - accepted)
    if missing or unknown:
        problems = [f"missing {missing}"] * bool(missing) + [f"unknown {unknown}"] * bool(unknown)
        raise ValueError(
            f"--config {name!r}: {'; '.join(problems)} keys; SoundStormBackbone takes "
            f"{sorted(accepted)}."
        )
    return config


def _make_model(config, dtype, seed, optimizer):
    import keras_soundstorm as kss

    backbone = kss.SoundStormBackbone(**config, dtype=dtype)
    model = kss.SoundStorm(backbone, seed=seed)
    model.compile(optimizer=optimizer)
    return model


def train(args):
    import keras

    from keras_soundstorm import training
    from keras_soundstorm.data import toy

    # `quickstart` passes its own Namespace, without the long-run options.
    warmup_steps = getattr(args, "warmup_steps", 0)
    accumulation = getattr(args, "gradient_accumulation_steps", 1)
    log_dir = getattr(args, "log_dir", None)
    for flag, value in [
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--max-frames", args.max_frames),
        ("--steps-per-epoch", args.steps_per_epoch),
    ]:
        _require(flag, value)
    config = _load_config(args.config)
    _check_output("--output", args.output, "directory")
    resume_dir = args.resume_dir or args.output.rstrip("/") + ".backup"
    _check_output("--resume-dir", resume_dir, "directory")
    if log_dir:
        _check_output("--log-dir", log_dir, "directory")
    if args.data:
        import glob

        if not glob.glob(args.data):
            raise ValueError(f"--data {args.data!r} matches no file.")
    keras.utils.set_random_seed(args.seed)
    if args.data:
        from keras_soundstorm.data.token_pipeline import token_dataset

        data = token_dataset(
            args.data, args.batch_size, args.max_frames, seed=args.seed, repeat=True
        )
        steps = args.steps_per_epoch or 100
    else:
        print(
            f"No --data: training on the toy task (codes = f(conditioning)), config {args.config}."
        )
        data = toy.toy_batch(args.batch_size * 16, args.max_frames, config, seed=args.seed)
        steps = args.steps_per_epoch
    # Steps are batches; the cosine decay ends at the last one. A resumed run
    # continues the schedule from the step count stored in the checkpoint.
    optimizer = training.make_optimizer(
        args.learning_rate,
        total_steps=args.epochs * (steps or 16),  # toy data: 16 batches an epoch
        warmup_steps=warmup_steps,
        gradient_accumulation_steps=accumulation,
        alpha=0.1,
    )
    model = _make_model(config, args.dtype, args.seed, optimizer)
    start = time.time()
    # The backup goes only once the preset is saved: a run killed in between
    # resumes with all its epochs done and saves the preset.
    model.fit(
        data,
        epochs=args.epochs,
        steps_per_epoch=steps,
        batch_size=None if args.data else args.batch_size,
        callbacks=training.make_callbacks(
            backup_dir=resume_dir, log_dir=log_dir, delete_backup=False
        ),
    )
    model.save_to_preset(args.output)
    shutil.rmtree(resume_dir, ignore_errors=True)
    print(f"Saved preset {args.output} after {time.time() - start:.0f} s of training.")
    return model


def generate(args):
    import numpy as np

    import keras_soundstorm as kss

    _check_preset("--preset", args.preset)
    _check_input_file("--conditioning", args.conditioning)
    _check_input_file("--prompt", args.prompt)
    _check_output("--output", args.output, "file")
    _require("--num-frames", args.num_frames)
    _require("--top-k", args.top_k)
    if args.temperature is not None and not 0 < args.temperature < float("inf"):
        raise ValueError(f"--temperature must be a positive number; got {args.temperature}.")
    if args.guidance_scale is not None and not 0 <= args.guidance_scale < float("inf"):
        raise ValueError(f"--guidance-scale must be a number >= 0; got {args.guidance_scale}.")
    model = kss.SoundStorm.from_preset(args.preset)
    conditioning = np.load(args.conditioning) if args.conditioning else None
    prompt = np.load(args.prompt) if args.prompt else None
    start = time.time()
    codes = model.generate(
        conditioning=conditioning,
        prompt_codes=prompt,
        num_frames=args.num_frames,
        steps_per_level=args.steps_per_level,
        temperature=args.temperature,
        top_k=args.top_k,
        guidance_scale=args.guidance_scale,
        seed=args.seed,
    )
    from keras_soundstorm.utils.files import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, codes)  # to the exact path given (np.save would append ".npy")
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"Wrote {args.output}: codes {codes.shape} in {time.time() - start:.2f} s.")


def export(args):
    import keras_soundstorm as kss

    _check_preset("--preset", args.preset)
    _require("--version", args.version)
    _check_output("--output", args.output, "directory")
    version = args.version or next_version(args.output)
    path = os.path.join(args.output, str(version))
    if os.path.exists(path):
        raise ValueError(
            f"--output {args.output!r} already has version {version} ({path}); pass another "
            "--version, or none for the next free one."
        )
    model = kss.SoundStorm.from_preset(args.preset)
    model.export_saved_model(path, steps_per_level=args.steps_per_level)
    print(f"Wrote SavedModel {path} (signature serving_default).")


def next_version(model_dir):
    """TF Serving's layout is MODEL_DIR/<int version>/: one past the highest present."""
    present = (
        [int(n) for n in os.listdir(model_dir) if n.isdigit()] if os.path.isdir(model_dir) else []
    )
    return max(present, default=0) + 1


def tokenize(args):
    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.data import EspeakCorpus
    from keras_soundstorm.data import tokenize as tok

    _check_preset("--codec", args.codec)
    for flag, value in [
        ("--rate-ratio", args.rate_ratio),
        ("--num-shards", args.num_shards),
        ("--voices-per-sentence", args.voices_per_sentence),
    ]:
        _require(flag, value)
    if args.audio_dir:
        _check_input_dir("--audio-dir", args.audio_dir)
        paths = tok.find_audio_files(args.audio_dir)
    _check_output("--output", args.output, "file")
    codec = SoundStream.from_preset(args.codec)
    if args.audio_dir:
        examples = tok.audio_file_examples(codec, paths, 1)
        vocabulary, ratio = 0, 1
    else:
        corpus = EspeakCorpus(sample_rate=codec.sample_rate, frame_rate=codec.frame_rate)
        pairs = corpus.split(args.espeak, voices_per_sentence=args.voices_per_sentence)
        examples = tok.espeak_examples(codec, corpus, pairs, args.rate_ratio)
        vocabulary, ratio = corpus.phoneme_vocabulary_size, args.rate_ratio
    tok.tokenize_to_records(
        codec, examples, args.output, vocabulary, ratio, num_shards=args.num_shards
    )
    print(f"Wrote {args.output}-*.tfrecord and {args.output}.json")


def info(args):
    import keras
    import keras_hub

    import keras_soundstorm as kss

    print(
        f"keras-soundstorm {kss.__version__}, keras {keras.__version__}, keras-hub "
        f"{keras_hub.__version__}, backend {keras.backend.backend()}"
    )
    if args.preset:
        _check_preset("preset", args.preset)
        model = kss.SoundStorm.from_preset(args.preset)
        print(json.dumps(model.backbone.get_config(), indent=2))
        print(f"parameters: {model.count_params():,}")
        return
    from keras_soundstorm.codecs import SoundStream

    print("shipped presets (load by name with from_preset):")
    for cls in (kss.SoundStorm, SoundStream):
        for name, entry in cls.presets.items():
            print(f"  {name} ({cls.__name__}, {entry['parameter_count']:,} parameters)")
            print(f"    {entry['description']}")


def quickstart(args):
    import numpy as np

    from keras_soundstorm.data import toy

    _require("--epochs", args.epochs)
    _check_output("--output", args.output, "directory")
    os.makedirs(args.output, exist_ok=True)
    preset = os.path.join(args.output, "preset")
    train_args = argparse.Namespace(
        config="tiny",
        data=None,
        output=preset,
        epochs=args.epochs,
        steps_per_epoch=None,
        batch_size=32,
        max_frames=16,
        learning_rate=3e-3,
        seed=0,
        resume_dir=os.path.join(args.output, "backup"),
        dtype=args.dtype,
    )
    model = train(train_args)
    test = toy.toy_batch(8, 48, model.backbone.get_config(), seed=123)
    start = time.time()
    codes = model.generate(conditioning=test["conditioning"], seed=0)
    seconds = time.time() - start
    accuracy = float((codes == test["codes"]).mean())
    print(
        f"generate: {codes.shape} codes in {seconds:.2f} s (incl. compile); "
        f"{accuracy:.1%} of tokens match the toy task's true codes."
    )
    np.save(os.path.join(args.output, "generated_codes.npy"), codes)
    import keras

    if keras.backend.backend() in ("tensorflow", "jax"):
        path = model.export_saved_model(os.path.join(args.output, "saved_model", "1"))
        print(f"exported SavedModel to {path}")
    else:
        print("SavedModel export needs the tensorflow or jax backend: skipped on torch.")
    if accuracy < 0.99:
        raise SystemExit(f"quickstart: the tiny model reproduced only {accuracy:.1%} of tokens.")
    print(f"quickstart OK: outputs in {args.output}")


def demo(args):
    from keras_soundstorm import demo as demo_module

    _check_preset("--model", args.model)
    _check_preset("--codec", args.codec)
    _check_output("--output", args.output, "directory")
    demo_module.run_demo(
        args.output,
        text=args.text,
        voice=args.voice,
        model_preset=args.model,
        codec_preset=args.codec,
        seed=args.seed,
    )


def evaluate(args):
    from keras_soundstorm.evaluation.codec_runner import run_codec_evaluation
    from keras_soundstorm.evaluation.table1 import run_table1

    _require("--num-sentences", args.num_sentences)
    if args.lm_group_size < 1:
        raise ValueError(f"--lm-group-size must be >= 1; got {args.lm_group_size}.")
    if not args.codec_only:
        _check_preset("--model", args.model)
    _check_preset("--codec", args.codec)
    _check_output("--output", args.output, "directory")
    if args.codec_only:
        run_codec_evaluation(
            args.codec, args.output, args.num_sentences or 20, record=args.record_in_preset
        )
    else:
        run_table1(
            args.model,
            args.codec,
            args.output,
            args.num_sentences,
            args.seed,
            group_size=args.lm_group_size,
            record=args.record_in_preset,
        )


def convert_speechtokenizer(args):
    from keras_soundstorm import convert

    codec = convert.speechtokenizer(args.config, args.checkpoint)
    source = {
        "format": "speechtokenizer",
        "config": os.path.basename(args.config),
        "checkpoint": os.path.basename(args.checkpoint),
    }
    codec.save_to_preset(args.output, metadata={"converted_from": source})
    print(
        f"Wrote preset {args.output}: SpeechTokenizer, {codec.sample_rate} Hz, "
        f"{codec.frame_rate:g} Hz frames, {codec.num_levels} levels x {codec.codebook_size} "
        f"codes, {codec.count_params():,} parameters."
    )


def convert_soundstorm_speechtokenizer(args):
    from keras_soundstorm import convert

    model = convert.soundstorm_speechtokenizer(args.checkpoint, num_heads=args.num_heads)
    source = {
        "format": "soundstorm-speechtokenizer",
        "checkpoint": os.path.basename(args.checkpoint),
        "levels": "level q is SpeechTokenizer RVQ level q + 2; conditioning is RVQ level 1",
    }
    model.save_to_preset(args.output, metadata={"converted_from": source})
    backbone = model.backbone
    print(
        f"Wrote preset {args.output}: SoundStorm, {backbone.num_layers} layers x "
        f"{backbone.hidden_dim}, {backbone.num_heads} heads, {backbone.num_levels} levels x "
        f"{backbone.codebook_size} codes, conditioning vocabulary "
        f"{backbone.conditioning_vocabulary_size}, {model.count_params():,} parameters."
    )


def resynthesize(args):
    from keras_soundstorm import pipelines

    result = pipelines.resynthesize_files(
        args.model,
        args.codec,
        args.source,
        args.prompt,
        args.output,
        prompt_seconds=args.prompt_seconds,
        window_seconds=args.window_seconds,
        seed=args.seed,
        steps_per_level=args.steps,
    )
    seconds = result.num_samples / result.sample_rate
    print(
        f"Wrote {args.output}: {seconds:.2f} s at {result.sample_rate} Hz in "
        f"{len(result.windows)} window(s)."
    )


CONVERTERS = {
    "speechtokenizer": convert_speechtokenizer,
    "soundstorm-speechtokenizer": convert_soundstorm_speechtokenizer,
}


def convert(args):
    CONVERTERS[args.converter](args)


COMMANDS = {
    "quickstart": quickstart,
    "train": train,
    "generate": generate,
    "export": export,
    "tokenize": tokenize,
    "info": info,
    "demo": demo,
    "evaluate": evaluate,
    "convert": convert,
    "resynthesize": resynthesize,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.backend and os.environ.get("KERAS_BACKEND") != args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
        os.execv(sys.executable, [sys.executable, "-m", "keras_soundstorm.cli", *argv])
    try:
        if args.dtype:
            _set_dtype_policy(args.dtype)
        COMMANDS[args.command](args)
    except (ValueError, OSError) as error:  # bad input: the message says what is accepted
        raise SystemExit(f"keras-soundstorm {args.command}: error: {_one_line(error)}") from None
    except Exception as error:
        if type(error).__module__.startswith("tensorflow") and hasattr(error, "message"):
            # tf.errors.OpError, e.g. InvalidArgumentError from a data check
            raise SystemExit(
                f"keras-soundstorm {args.command}: error: {_one_line(error)}"
            ) from None
        raise


def _set_dtype_policy(name):
    import keras

    try:
        keras.config.set_dtype_policy(name)
    except (ValueError, TypeError):
        raise ValueError(
            f"--dtype {name!r} is not a dtype policy; use e.g. float32, bfloat16, float16, "
            "mixed_bfloat16 or mixed_float16."
        ) from None


def _one_line(error):
    """The message of `error` on one line.

    Errors raised while TensorFlow traces a function arrive wrapped in an
    "in user code:" stack; their last line is the message.
    """
    text = str(getattr(error, "message", None) or error).strip()
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    if "in user code:" in text:
        text = text.splitlines()[-1].strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


if __name__ == "__main__":
    main()
