"""Golden regression of the shipped pair: what the README's Table 1 rests on.

Two held-out sentences, spoken by SoundStorm in the demo voice after its 3 s
prompt, with seed 0 on the TensorFlow backend (CPU, float32). Any change to
decoding, masking, the model's layers, the codec or the corpus changes these
codes. When such a change is intended, rerun the evaluation
(`keras-soundstorm evaluate`), then rewrite the golden file with

    KSS_UPDATE_GOLDEN=1 KERAS_BACKEND=tensorflow python -m pytest tests/test_golden.py

and commit it with the new numbers. The codes were recorded on a 2-core x86-64
CPU; another CPU family could round a logit differently: the failure message
shows how many tokens still agree, to tell such drift (a few) from a real
change (most of them).
"""

import json
import os

import keras
import numpy as np
import pytest

pytest.importorskip("espeakng_loader")
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="pinned to the TensorFlow backend"
)

GOLDEN_PATH = os.path.join(os.path.dirname(__file__), "golden", "shipped_pair.json")
VOICE = "en-us+f2/p50/r150"


def run_shipped_pair():
    """`{sentence_id: {"codes": [[...]], "level1_accuracy": float}}` of the shipped pair."""
    import keras_soundstorm as kss
    from keras_soundstorm.data import EspeakCorpus
    from keras_soundstorm.models.soundstorm import prompting

    model = kss.SoundStorm.from_preset("soundstorm_espeak_small")
    codec = kss.codecs.SoundStream.from_preset("soundstream_espeak_16khz")
    ratio = model.backbone.conditioning_rate_ratio
    corpus = EspeakCorpus(codec.sample_rate, int(codec.frame_rate), frame_multiple=ratio)
    results = {}
    for sentence_id in corpus.split_sentence_ids("heldout_sentences")[:2]:
        target = corpus.utterance(sentence_id, VOICE)
        prompt = prompting.voice_prompt(corpus, VOICE, exclude_sentence_ids=[sentence_id])
        spoken = prompting.speak(model, codec, target.phoneme_ids, prompt=prompt, seed=0)
        reference = codec.encode(target.waveform[None])[0]
        results[str(sentence_id)] = {
            "text": target.text,
            "level1_accuracy": float(np.mean(spoken.codes[:, 0] == reference[:, 0])),
            "codes": spoken.codes.tolist(),
        }
    return results


def test_shipped_pair_generates_the_golden_codes():
    results = run_shipped_pair()
    if os.environ.get("KSS_UPDATE_GOLDEN"):
        os.makedirs(os.path.dirname(GOLDEN_PATH), exist_ok=True)
        with open(GOLDEN_PATH, "w") as f:
            json.dump(results, f)
        pytest.skip(f"rewrote {GOLDEN_PATH}")
    with open(GOLDEN_PATH) as f:
        golden = json.load(f)
    assert sorted(results) == sorted(golden)
    for sentence_id, expected in golden.items():
        got = results[sentence_id]
        codes, expected_codes = np.array(got["codes"]), np.array(expected["codes"])
        assert codes.shape == expected_codes.shape, sentence_id
        agreement = float(np.mean(codes == expected_codes))
        assert agreement == 1.0, (
            f"sentence {sentence_id}: {agreement:.1%} of tokens agree with the golden codes; "
            f"level-1 accuracy {got['level1_accuracy']:.3f} (golden "
            f"{expected['level1_accuracy']:.3f}). See this module's docstring to update."
        )
        assert got["level1_accuracy"] == pytest.approx(expected["level1_accuracy"])
