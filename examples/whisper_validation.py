"""Validates the Whisper recognizer on eSpeak speech: WER per voice, originals and codec.

For each voice, the corpus's held-out sentences (never trained on) are
rendered by eSpeak, and encoded and decoded by the shipped codec (all levels,
as Table 1's codec row); Whisper transcribes both, and the WER (normalised
texts, pooled over sentences) is printed as a markdown table.

    python examples/whisper_validation.py --num-sentences 20 --model base
"""

import argparse
import time

from keras_soundstorm.codecs import SoundStream
from keras_soundstorm.data import EspeakCorpus
from keras_soundstorm.evaluation import WhisperRecognizer
from keras_soundstorm.evaluation.aggregate import pooled_wer
from keras_soundstorm.evaluation.whisper_asr import whisper_word_errors

VOICES = (
    "en-us+m3/p50/r150",
    "en-us+f2/p50/r180",
    "en+m1/p35/r150",
    "en-gb-scotland+f4/p65/r180",
    "en-029+m2/p50/r150",
    "en-us+m7/p50/r150",  # held-out timbre
    "en+f5/p50/r180",  # held-out timbre
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-sentences", type=int, default=20)
    parser.add_argument("--model", default="base", help="base or tiny.en")
    parser.add_argument("--codec", default="soundstream_espeak_16khz")
    args = parser.parse_args()
    codec = SoundStream.from_preset(args.codec)
    corpus = EspeakCorpus(codec.sample_rate, int(codec.frame_rate), frame_multiple=2)
    recognizer = WhisperRecognizer(args.model)
    sentence_ids = corpus.split_sentence_ids("heldout_sentences")[: args.num_sentences]
    print(
        f"Whisper {args.model}, {len(sentence_ids)} held-out sentences per voice, "
        f"codec {args.codec}\n"
    )
    print("| voice | WER, eSpeak original | WER, codec resynthesis | example (original heard) |")
    print("|---|---|---|---|")
    totals = {"original": [], "codec": []}
    start = time.perf_counter()
    for voice in VOICES:
        errors = {"original": [], "codec": []}
        example = None
        for sentence_id in sentence_ids:
            utterance = corpus.utterance(sentence_id, voice)
            rebuilt = codec.decode(codec.encode(utterance.waveform[None]))[0]
            for system, speech in (("original", utterance.waveform), ("codec", rebuilt)):
                heard = recognizer.transcribe(speech, codec.sample_rate)
                errors[system].append(whisper_word_errors(utterance.text, heard))
                if system == "original" and example is None and errors[system][-1][0]:
                    example = f"{utterance.text!r} -> {heard!r}"
        for system in totals:
            totals[system] += errors[system]
        print(
            f"| {voice} | {pooled_wer(errors['original']):.1%} | "
            f"{pooled_wer(errors['codec']):.1%} | {example or 'all correct'} |",
            flush=True,
        )
    print(f"| all | {pooled_wer(totals['original']):.1%} | {pooled_wer(totals['codec']):.1%} | |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
