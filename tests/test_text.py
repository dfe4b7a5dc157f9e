"""The text frontend (`kss.text`): phonemizer parity, symbol splitting, symbol tables."""

import json
import os

import numpy as np
import pytest
from text_sentences import TRICKY_SENTENCES

from keras_soundstorm import text
from keras_soundstorm.data.sentences import SENTENCES, TUNING_SENTENCES

PARITY_SENTENCES = list(SENTENCES) + list(TUNING_SENTENCES) + list(TRICKY_SENTENCES)


@pytest.fixture(scope="module")
def reference():
    """phonemizer's eSpeak backend with USLM's settings, on espeakng-loader's eSpeak NG.

    phonemizer is GPL: a test reference only (installed by .ci/install), never
    imported by the package.
    """
    pytest.importorskip("phonemizer", reason="phonemizer (the GPL test reference) is not installed")
    import espeakng_loader
    import phonemizer
    from phonemizer.backend import EspeakBackend
    from phonemizer.separator import Separator

    # USLM's checkpoint was phonemized with phonemizer 3.2 (3.3 changed the
    # default marks, 3.4 the handling of decimal points).
    assert phonemizer.__version__.startswith("3.2."), (
        f"the reference is phonemizer 3.2.x; found {phonemizer.__version__} "
        "(pip install phonemizer==3.2.1)"
    )
    # phonemizer 3.2 finds the data only through eSpeak's own variable.
    previous = os.environ.get("ESPEAK_DATA_PATH")
    os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()
    EspeakBackend.set_library(espeakng_loader.get_library_path())
    backend = EspeakBackend("en-us", preserve_punctuation=True, with_stress=False)
    separator = Separator(word="_", syllable="-", phone="|")
    yield lambda texts: backend.phonemize(texts, separator=separator, strip=True)
    EspeakBackend.set_library(None)
    if previous is None:
        os.environ.pop("ESPEAK_DATA_PATH")
    else:
        os.environ["ESPEAK_DATA_PATH"] = previous


def _agreement(expected, actual, texts):
    mismatches = [(t, e, a) for t, e, a in zip(texts, expected, actual, strict=True) if e != a]
    report = "\n".join(f"{t!r}\n  phonemizer {e!r}\n  kss.text   {a!r}" for t, e, a in mismatches)
    return len(texts) - len(mismatches), report


def test_phonemize_equals_phonemizer(reference):
    assert len(PARITY_SENTENCES) >= 600
    expected = reference(PARITY_SENTENCES)  # one call for all
    assert len(expected) == len(PARITY_SENTENCES)
    actual = text.phonemize(PARITY_SENTENCES)
    identical, report = _agreement(expected, actual, PARITY_SENTENCES)
    assert identical == len(PARITY_SENTENCES), (
        f"{identical}/{len(PARITY_SENTENCES)} identical:\n{report}"
    )


def test_phonemize_one_text_equals_phonemizer(reference):
    # The checkpoint's tokenizer phonemizes one text per call.
    for sentence in TRICKY_SENTENCES[:40]:
        assert text.phonemize(sentence) == reference([sentence])[0], sentence


def test_phonemize_keeps_punctuation_and_drops_stress():
    assert text.phonemize("Hello, world!") == "h|ə|l|oʊ,_w|ɜː|l|d!"
    # The decimal point is a mark, as in the reference.
    assert text.phonemize("1.5") == "w|ʌ|n.f|aɪ|v"
    assert text.phonemize("...") == "..."
    assert text.phonemize("") == ""
    assert text.phonemize(["a b", "b"]) == [text.phonemize("a b"), text.phonemize("b")]


def test_split_symbols_follows_the_checkpoint_tokenizer():
    assert text.split_symbols("h|ə|l|oʊ,_w|ɜː|l|d!") == (
        ["h", "ə", "l", "oʊ", ",", "_", "w", "ɜː", "l", "d", "!"]
    )
    # Marks with spaces become word separators; runs of marks are one symbol each.
    assert text.split_symbols('oʊ|k?!_"j|ɛ|s"') == (
        ["oʊ", "k", "?", "!", "_", '"', "j", "ɛ", "s", '"']
    )
    assert text.split_symbols("") == []


def test_text_to_symbols_covers_every_character():
    # The reference tokenizer's own check: the symbols spell the phonemes
    # without the phone separators.
    stripped = [sentence.strip() for sentence in TRICKY_SENTENCES]
    for sentence, phonemes in zip(stripped, text.phonemize(stripped), strict=True):
        symbols = text.split_symbols(phonemes)
        assert "".join(symbols) == "".join(phonemes.replace("|", "").split()), sentence
        assert "|" not in symbols and "" not in symbols
    for sentence in TRICKY_SENTENCES[:20]:
        assert text.text_to_symbols(sentence) == text.split_symbols(
            text.phonemize(sentence.strip())
        )


@pytest.mark.parametrize("bad", ["", "   ", "...", "?!", "(", None, 3])
def test_text_without_speakable_symbols_is_an_error(bad):
    with pytest.raises(ValueError, match="`text`"):
        text.text_to_symbols(bad)


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="`language`.*en-us"):
        text.phonemize("hello", language="xx-unknown")


K2SYMBOLS = "<eps> 0\n! 1\n, 2\n. 3\n_ 4\nd 5\nh 6\nl 7\noʊ 8\nw 9\nɜː 10\nə 11\n"


@pytest.fixture
def table():
    return text.SymbolTable.from_string(K2SYMBOLS)


def test_symbol_table_ids_are_specials_then_sorted_symbols(table):
    assert table.symbols[:3] == ("<pad>", "<bos>", "<eos>")
    assert (table.pad_id, table.bos_id, table.eos_id) == (0, 1, 2)
    assert list(table.symbols[3:]) == sorted(table.to_dict())
    assert table.vocabulary_size == 3 + 12
    assert table.symbols[3:6] == ("!", ",", ".")
    # Sorted: ! , . <eps> _ d h ...
    np.testing.assert_array_equal(table.encode(["h", "<eps>"]), [3 + 6, 3 + 3])
    assert table.decode(table.encode(["h", "ə"])) == ["h", "ə"]


def test_symbol_table_round_trips(table, tmp_path):
    path = tmp_path / "unique_text_tokens.k2symbols"
    path.write_text(K2SYMBOLS, encoding="utf-8")
    assert text.SymbolTable.from_file(path) == table
    config = json.loads(json.dumps(table.to_dict()))
    restored = text.SymbolTable.from_dict(config)
    assert restored == table and restored.symbols == table.symbols


@pytest.mark.parametrize(
    "content, message",
    [
        ("a 0\nb\n", r"line 2 \('b'\): expected `symbol id`"),
        ("a 0\nb 1 2\n", r"line 2 .*3 fields"),
        ("a 0\n\nb x\n", r"line 3 .*non-negative integer"),
        ("a 0\nb -1\n", r"line 2 .*non-negative integer"),
        ("a 0\na 1\n", r"line 2 .*'a' is already defined"),
        ("a 0\nb 0\n", r"line 2 .*id 0 is already used"),
        ("a 0\n<bos> 1\n", r"line 2 .*'<bos>'"),
        ("\n\n", "holds no symbols"),
    ],
)
def test_malformed_symbol_table_is_an_error(content, message):
    with pytest.raises(ValueError, match=message):
        text.SymbolTable.from_string(content)


def test_bad_symbol_dicts_are_errors():
    for bad in ({}, {"a b": 0}, {"a": -1}, {"a": 0, "b": 0}, {"a": 1.5}, ["a"]):
        with pytest.raises(ValueError, match="`symbols`"):
            text.SymbolTable(bad)
    table = text.SymbolTable({"a": 0})
    with pytest.raises(ValueError, match=r"lacks the symbols \['b'\]"):
        table.encode(["a", "b"])
    with pytest.raises(ValueError, match="`ids`"):
        table.decode([4])


def test_frontend_adds_bos_and_eos(table):
    frontend = text.TextFrontend(table)
    ids = frontend("Hello, world!")
    assert ids.dtype == np.int32
    assert table.decode(ids) == (
        ["<bos>", "h", "ə", "l", "oʊ", ",", "_", "w", "ɜː", "l", "d", "!", "<eos>"]
    )
    # A dict (as a preset's config stores it) works too.
    np.testing.assert_array_equal(text.TextFrontend(table.to_dict())("Hello, world!"), ids)


def test_frontend_is_deterministic():
    sentences = list(TRICKY_SENTENCES[:30])
    symbols = {s for sentence in sentences for s in text.text_to_symbols(sentence)}
    frontend = text.TextFrontend({s: i for i, s in enumerate(sorted(symbols))})
    first = [frontend(sentence) for sentence in sentences]
    second = [frontend(sentence) for sentence in reversed(sentences)][::-1]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert text.phonemize(sentences) == [text.phonemize(s) for s in sentences]


def test_frontend_names_the_word_with_an_unknown_symbol(table):
    frontend = text.TextFrontend(table)
    with pytest.raises(ValueError, match=r"word 'bridge' gives the phoneme symbol 'b'"):
        frontend("Hello, bridge!")
    with pytest.raises(ValueError, match="`text`"):
        frontend("...")
    with pytest.raises(ValueError, match="`symbol_table`"):
        text.TextFrontend(["h"])


def test_package_never_imports_phonemizer():
    # phonemizer is GPL: a test reference only.
    package = os.path.dirname(os.path.dirname(text.__file__))
    for folder, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as file:
                    source = file.read()
                assert "import phonemizer" not in source and "from phonemizer" not in source, name
