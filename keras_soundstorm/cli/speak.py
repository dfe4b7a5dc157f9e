"""`keras-soundstorm speak` and `dialogue`: over `pipelines.speak_files` / `dialogue_files`."""

import math
import os

from keras_soundstorm.cli.checks import check_input_file, check_output, check_preset


def speak(args):
    from keras_soundstorm import pipelines
    from keras_soundstorm.pipelines.speech import check_text
    from keras_soundstorm.text import text_to_symbols

    check_output("--output", args.output, "file")
    check_text(args.text, "text")
    check_text(args.prompt_text, "prompt_text")
    text_to_symbols(args.text)  # nothing speakable: an error before the models load
    check_input_file("--prompt", args.prompt)
    _check_chain(args)
    _make_parent(args.output)
    result = pipelines.speak_files(
        args.text_to_semantic,
        args.model,
        args.codec,
        args.text,
        args.prompt,
        args.prompt_text,
        args.output,
        **_speak_options(args),
    )
    seconds = result.num_samples / result.sample_rate
    print(
        f"Wrote {args.output}: {seconds:.2f} s at {result.sample_rate} Hz in "
        f"{len(result.pieces)} piece(s)."
    )


def dialogue(args):
    from keras_soundstorm import pipelines
    from keras_soundstorm.pipelines.dialogue import timing_path
    from keras_soundstorm.text import text_to_symbols

    check_output("--output", args.output, "file")
    check_output("--output (its .json)", timing_path(args.output), "file")
    check_input_file("--script", args.script)
    speakers = {}
    for name, path, transcript in args.speaker or []:
        if name in speakers:
            raise ValueError(f"--speaker {name!r} is given twice.")
        check_input_file(f"--speaker {name}", path)
        if not transcript.strip():
            raise ValueError(
                f'--speaker {name!r} has no transcript: give NAME WAV "what the WAV says".'
            )
        speakers[name] = (path, transcript)
    if not speakers:
        raise ValueError("give at least one --speaker NAME WAV TRANSCRIPT.")
    with open(args.script, encoding="utf-8") as f:
        lines = pipelines.parse_script(f.read(), speakers)
    for _, text in lines:  # nothing speakable: an error before the models load
        text_to_symbols(text)
    _check_chain(args)
    _make_parent(args.output)
    result = pipelines.dialogue_files(
        args.text_to_semantic,
        args.model,
        args.codec,
        args.script,
        speakers,
        args.output,
        pause_seconds=args.pause_seconds,
        **_speak_options(args),
    )
    seconds = result.num_samples / result.sample_rate
    print(
        f"Wrote {args.output} ({seconds:.2f} s at {result.sample_rate} Hz, "
        f"{len(result.turns)} turn(s)) and {timing_path(args.output)}."
    )


def _check_chain(args):
    for flag in ("prompt_seconds", "window_seconds", "temperature", "top_p", "pause_seconds"):
        value = getattr(args, flag, None)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(
                f"--{flag.replace('_', '-')} must be a finite number >= 0; got {value}."
            )
    check_preset("--text-to-semantic", args.text_to_semantic)
    check_preset("--model", args.model)
    check_preset("--codec", args.codec)


def _make_parent(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


def _speak_options(args):
    options = dict(
        prompt_seconds=args.prompt_seconds,
        window_seconds=args.window_seconds,
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
    )
    if args.steps is not None:
        options["steps_per_level"] = args.steps
    return options
