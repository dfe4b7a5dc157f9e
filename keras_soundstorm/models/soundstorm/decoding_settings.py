"""SoundStorm's decoding settings: the defaults, and the one check of all of them.

`checked_decoding` is the single place where `steps_per_level`,
`temperature`, `top_k`, `choice_temperature` and `guidance_scale` are
checked; everything downstream (`SoundStorm.fill_masked_tokens`, the compiled
decode, the SavedModel export) takes its result as it is.
"""

from keras_soundstorm.models.soundstorm import decoding
from keras_soundstorm.utils.validation import require_real

DECODING_DEFAULTS = {
    "steps_per_level": None,  # the paper's (16, 1, ..., 1)
    "temperature": 1.0,
    "top_k": None,
    "choice_temperature": 1.0,
    "guidance_scale": 0.0,
}


def checked_decoding(settings, backbone, defaults=None):
    """`settings` over `defaults` over `DECODING_DEFAULTS`, checked: a full dict.

    `steps_per_level` stays None when unset (see `steps_per_level`), else a
    list of ints. Raises ValueError naming an unknown key or a bad value,
    including a nonzero `guidance_scale` for a backbone trained without
    conditioning dropout.
    """
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise ValueError(f"`decoding` must be a dict or None; got {settings!r}.")
    unknown = sorted(set(settings) - set(DECODING_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown decoding settings {unknown}; accepted: {sorted(DECODING_DEFAULTS)}."
        )
    merged = {**DECODING_DEFAULTS, **(defaults or {}), **settings}
    if merged["steps_per_level"] is not None:
        merged["steps_per_level"] = list(
            decoding.validate_steps_per_level(merged["steps_per_level"], backbone.num_levels)
        )
    merged["temperature"], merged["top_k"], merged["choice_temperature"] = (
        decoding.check_sampling_args(
            merged["temperature"],
            merged["top_k"],
            merged["choice_temperature"],
            backbone.codebook_size,
        )
    )
    guidance_scale = require_real("guidance_scale", merged["guidance_scale"], minimum=0)
    if guidance_scale and not backbone.supports_guidance:
        raise ValueError(
            f"`guidance_scale` ({guidance_scale}) != 0 needs a model trained with conditioning "
            "dropout (SoundStormBackbone(conditioning_dropout > 0)); this one has "
            f"conditioning_dropout={backbone.conditioning_dropout}."
        )
    merged["guidance_scale"] = guidance_scale
    return merged


def steps_per_level(settings, num_levels):
    """The schedule of checked `settings` as a tuple (the paper's when unset)."""
    steps = settings["steps_per_level"]
    return decoding.default_steps_per_level(num_levels) if steps is None else tuple(steps)
