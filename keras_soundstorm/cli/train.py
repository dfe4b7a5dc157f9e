"""`keras-soundstorm train` and `quickstart`: over `train_preset` and `run_quickstart`."""

import inspect
import json
import os
import time


def load_config(name):
    """`--config`: a name of `kss.CONFIGS` or a JSON file of backbone arguments."""
    from keras_soundstorm.models.soundstorm import CONFIGS

    if name in CONFIGS:
        return dict(CONFIGS[name])
    if not os.path.isfile(name):
        raise ValueError(f"Unknown --config {name!r}: use one of {sorted(CONFIGS)} or a JSON file.")
    try:
        with open(name) as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--config {name!r} is not a readable JSON file ({error}).") from None
    return check_config(config, name)


def check_config(config, name):
    """A backbone config from a JSON file: an object with the backbone's arguments."""
    from keras_soundstorm.models.soundstorm import CONFIGS, SoundStormBackbone

    if not isinstance(config, dict):
        raise ValueError(
            f"--config {name!r} must hold a JSON object of SoundStormBackbone arguments "
            f"(like {sorted(CONFIGS['tiny'])}); got {type(config).__name__}."
        )
    parameters = inspect.signature(SoundStormBackbone.__init__).parameters
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


# The `train` flags that are `train_preset` arguments of the same name.
TRAIN_OPTIONS = (
    "data epochs steps_per_epoch batch_size max_frames learning_rate warmup_steps "
    "gradient_accumulation_steps seed resume_dir log_dir dtype"
).split()


def train(args):
    from keras_soundstorm.train_preset import train_preset

    config = load_config(args.config)
    if not args.data:
        print(
            f"No --data: training on the toy task (codes = f(conditioning)), config {args.config}."
        )
    start = time.time()
    options = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    train_preset(config, args.output, **options)
    print(f"Saved preset {args.output} after {time.time() - start:.0f} s of training.")


def quickstart(args):
    from keras_soundstorm.quickstart import run_quickstart

    result = run_quickstart(args.output, epochs=args.epochs)
    print(f"Saved preset {result.preset}.")
    print(
        f"generate: {result.codes_shape} codes in {result.generate_seconds:.2f} s (incl. "
        f"compile); {result.accuracy:.1%} of tokens match the toy task's true codes."
    )
    if result.saved_model:
        print(f"exported SavedModel to {result.saved_model}")
    else:
        print("SavedModel export needs the tensorflow or jax backend: skipped on torch.")
    if result.accuracy < 0.99:
        raise SystemExit(
            f"quickstart: the tiny model reproduced only {result.accuracy:.1%} of tokens."
        )
    print(f"quickstart OK: outputs in {args.output}")
