"""`keras-soundstorm convert ...`: PyTorch checkpoints -> presets (`keras_soundstorm.convert`)."""

import os

from keras_soundstorm.cli.checks import check_input_file, check_output


def convert_speechtokenizer(args):
    from keras_soundstorm import convert

    check_input_file("--config", args.config)
    check_input_file("--checkpoint", args.checkpoint)
    check_output("--output", args.output, "directory")
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

    check_input_file("--checkpoint", args.checkpoint)
    check_output("--output", args.output, "directory")
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


def convert_uslm(args):
    from keras_soundstorm import convert

    model = convert.uslm(args.checkpoint, args.symbols, num_heads=args.num_heads)
    source = {
        "format": "uslm",
        "checkpoint": os.path.basename(args.checkpoint),
        "symbols": os.path.basename(args.symbols),
    }
    model.save_to_preset(args.output, metadata={"converted_from": source})
    backbone = model.backbone
    print(
        f"Wrote preset {args.output}: TextToSemantic, {backbone.num_layers} layers x "
        f"{backbone.hidden_dim}, {backbone.num_heads} heads, {len(model.symbol_table)} text "
        f"ids, {backbone.codebook_size} semantic codes, {model.count_params():,} parameters."
    )


CONVERTERS = {
    "speechtokenizer": convert_speechtokenizer,
    "soundstorm-speechtokenizer": convert_soundstorm_speechtokenizer,
    "uslm": convert_uslm,
}


def convert(args):
    CONVERTERS[args.converter](args)
