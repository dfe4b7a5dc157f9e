"""`keras-soundstorm tokenize`: audio (a folder, or the eSpeak corpus) -> token records."""

from keras_soundstorm.cli.checks import check_input_dir, check_output, check_preset, require


def tokenize(args):
    from keras_soundstorm.codecs import load_codec
    from keras_soundstorm.data import EspeakCorpus
    from keras_soundstorm.data import tokenize as tok
    from keras_soundstorm.data.record_writer import existing_records

    check_preset("--codec", args.codec)
    for flag, value in [
        ("--rate-ratio", args.rate_ratio),
        ("--num-shards", args.num_shards),
        ("--voices-per-sentence", args.voices_per_sentence),
    ]:
        require(flag, value)
    if args.audio_dir:
        check_input_dir("--audio-dir", args.audio_dir)
        paths = tok.find_audio_files(args.audio_dir)
    check_output("--output", args.output, "file")
    existing = existing_records(args.output)
    if existing and not args.overwrite:
        raise ValueError(
            f"--output {args.output!r}: token records already exist ({existing[0]}, ...); "
            "pass --overwrite to replace them or choose another prefix."
        )
    codec = load_codec(args.codec)
    if args.audio_dir:
        count = len(paths)
        examples = tok.audio_file_examples(codec, paths, 1)
        vocabulary, ratio = 0, 1
    else:
        corpus = EspeakCorpus(sample_rate=codec.sample_rate, frame_rate=codec.frame_rate)
        pairs = corpus.split(args.espeak, voices_per_sentence=args.voices_per_sentence)
        count = len(pairs)
        examples = tok.espeak_examples(codec, corpus, pairs, args.rate_ratio)
        vocabulary, ratio = corpus.phoneme_vocabulary_size, args.rate_ratio
    # More files than examples would leave some empty: capped (see --help).
    num_shards = min(args.num_shards, count)
    if num_shards < args.num_shards:
        print(f"--num-shards {args.num_shards} capped at the {count} examples.")
    tok.tokenize_to_records(
        codec,
        examples,
        args.output,
        vocabulary,
        ratio,
        num_shards=num_shards,
        overwrite=args.overwrite,
    )
    print(f"Wrote {num_shards} file(s) {args.output}-*.tfrecord and {args.output}.json")
