"""`keras-soundstorm info`: versions, backend, shipped presets, or one preset's config."""

import json

from keras_soundstorm.cli.checks import check_preset


def info(args):
    import keras
    import keras_hub

    from keras_soundstorm.codecs import SoundStream
    from keras_soundstorm.models.soundstorm import SoundStorm
    from keras_soundstorm.version import __version__

    print(
        f"keras-soundstorm {__version__}, keras {keras.__version__}, keras-hub "
        f"{keras_hub.__version__}, backend {keras.backend.backend()}"
    )
    if args.preset:
        check_preset("preset", args.preset)
        model = SoundStorm.from_preset(args.preset)
        print(json.dumps(model.backbone.get_config(), indent=2))
        print(f"parameters: {model.count_params():,}")
        return
    print("shipped presets (load by name with from_preset):")
    for cls in (SoundStorm, SoundStream):
        for name, entry in cls.presets.items():
            print(f"  {name} ({cls.__name__}, {entry['parameter_count']:,} parameters)")
            print(f"    {entry['description']}")
