"""Pipelines over the models: resynthesis, text to speech, dialogue.

- `resynthesize`: a source's words in a prompt's voice (SoundStorm + codec).
- `speak`: new text in a prompt's voice (text-to-semantic + SoundStorm + codec).
- `dialogue`: a script of `NAME: text` lines, each in its speaker's voice.

All of them encode and decode through `kss.codecs.windowed.WindowedCodec`, so
memory does not grow with the audio's length; the `*_files` variants stream
their WAV to disk.
"""

from keras_soundstorm.pipelines.common import check_pair
from keras_soundstorm.pipelines.dialogue import Dialogue, dialogue, dialogue_files, parse_script
from keras_soundstorm.pipelines.resynthesis import Resynthesis, resynthesize, resynthesize_files
from keras_soundstorm.pipelines.speech import Speech, speak, speak_files, split_text

__all__ = [
    "Dialogue",
    "Resynthesis",
    "Speech",
    "check_pair",
    "dialogue",
    "dialogue_files",
    "parse_script",
    "resynthesize",
    "resynthesize_files",
    "speak",
    "speak_files",
    "split_text",
]
