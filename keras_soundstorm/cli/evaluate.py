"""`keras-soundstorm evaluate`: Table 1 on a test set, the eSpeak Table 1, or the codec alone.

- `--test-set DIR`: `evaluation.evaluate_test_set_presets` for any model /
  codec pair on a folder of recordings (LibriSpeech or `name.wav` +
  `name.txt` layout): Whisper WER, DNSMOS, voice preservation, acoustic
  consistency with 95% intervals; resumable in `--output`.
- otherwise: the eSpeak Table 1 of an eSpeak pair (`evaluation.run_table1`,
  Whisper or, with `--asr pocketsphinx`, the earlier PocketSphinx WER), or
  with `--codec-only` the codec evaluation (`run_codec_evaluation`).
"""

from keras_soundstorm.cli.checks import check_input_dir, check_output, check_preset, require


def evaluate(args):
    require("--num-sentences", args.num_sentences)
    require("--lm-group-size", args.lm_group_size)
    require("--max-utterances", args.max_utterances)
    require("--seed", args.seed, minimum=0)
    if args.test_set is not None:
        if args.codec_only or args.num_sentences is not None:
            raise ValueError(
                "--test-set evaluates a model pair on recordings; --codec-only and "
                "--num-sentences apply only to the eSpeak evaluation (without --test-set)."
            )
        if args.record_in_preset:
            raise ValueError("--record-in-preset applies only to the eSpeak Table 1.")
        check_preset("--model", args.model)
        check_preset("--codec", args.codec)
        check_input_dir("--test-set", args.test_set)
        check_output("--output", args.output, "directory")
        from keras_soundstorm.evaluation.test_set_evaluation import evaluate_test_set_presets

        rows = evaluate_test_set_presets(
            args.model,
            args.codec,
            args.test_set,
            args.output,
            max_utterances=args.max_utterances,
            seed=args.seed,
            prompt_seconds=args.prompt_seconds,
        )
        _print_summary(rows, args.output)
        return
    if args.max_utterances is not None:
        raise ValueError("--max-utterances applies only with --test-set.")
    from keras_soundstorm.evaluation.codec_runner import run_codec_evaluation
    from keras_soundstorm.evaluation.table1 import run_table1

    if not args.codec_only:
        check_preset("--model", args.model)
    check_preset("--codec", args.codec)
    check_output("--output", args.output, "directory")
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
            asr=args.asr,
        )


def _print_summary(rows, output):
    for row in rows:
        wer = f"{row['wer']:.1%}"
        mos = "-" if row.get("dnsmos_ovrl") is None else f"{row['dnsmos_ovrl']:.2f}"
        print(f"{row['system']}: WER {wer}, DNSMOS OVRL {mos} ({row['num_utterances']} utterances)")
    print(f"report: {output}/test_set.md, .json, .png")
