"""Start-up (issue 24 item 4): what `import keras_soundstorm` and the CLI import, and that
the serializable classes still register before keras-hub deserializes a preset.

Each check runs in a fresh interpreter (`sys.modules` of this one already holds everything).
"""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

import keras_soundstorm as kss
from keras_soundstorm import serializables
from keras_soundstorm.utils.preset_registry import shipped_preset_path

PACKAGE = pathlib.Path(kss.__file__).parent
HEAVY = ("keras", "keras_hub", "tensorflow", "jax", "torch")


def _run(code, backend="jax"):
    """Runs `code` in a fresh Python with KERAS_BACKEND=backend; returns its last stdout line."""
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(PACKAGE.parent))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _loaded_after(code, backend="jax"):
    report = f"import json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    return json.loads(_run(code + "\n" + report, backend))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_keras_soundstorm_imports_no_framework(backend):
    assert _loaded_after("import keras_soundstorm", backend) == []


def test_codecs_and_layers_do_not_import_tensorflow_or_keras_hub_on_jax():
    loaded = _loaded_after("import keras_soundstorm.codecs, keras_soundstorm.layers")
    assert "keras" in loaded and "tensorflow" not in loaded and "keras_hub" not in loaded


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["info"]])
def test_cli_help_and_info_import_no_framework(argv):
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['keras-soundstorm', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('keras_soundstorm.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    assert _loaded_after(code) == []


def test_info_prints_versions_and_shipped_presets(capsys):
    from keras_soundstorm.cli.main import main

    main(["info"])
    out = capsys.readouterr().out
    import keras
    import keras_hub

    assert out.startswith(
        f"keras-soundstorm {kss.__version__}, keras {keras.__version__}, keras-hub "
        f"{keras_hub.__version__}, backend {keras.backend.backend()}\n"
    )
    assert "  soundstorm_espeak_small (SoundStorm, 4,258,176 parameters)" in out
    assert "  soundstream_espeak_16khz (SoundStream, 3,204,099 parameters)" in out


SMALL = shipped_preset_path("soundstorm_espeak_small")
LOAD_BACKBONE = (
    "import keras_hub\n"
    f"backbone = keras_hub.models.Backbone.from_preset({SMALL!r})\n"
    "print(type(backbone).__module__ + '.' + type(backbone).__name__)\n"
)
BACKBONE_CLASS = "keras_soundstorm.models.soundstorm.soundstorm_backbone.SoundStormBackbone"


def test_keras_hub_from_preset_after_import_keras_soundstorm():
    """The registration hook fires when keras_hub is imported after us."""
    assert _run("import keras_soundstorm\n" + LOAD_BACKBONE) == BACKBONE_CLASS


@pytest.mark.slow
def test_keras_hub_from_preset_when_keras_hub_was_imported_first():
    assert _run("import keras_hub, keras_soundstorm\n" + LOAD_BACKBONE) == BACKBONE_CLASS


@pytest.mark.slow
@pytest.mark.parametrize(
    "first",
    [
        # keras_hub first imported by a model module of ours (models/__init__ imports it first)
        "import keras_soundstorm.models.soundstorm.soundstorm_task",
        "import keras_soundstorm as kss; kss.SoundStormBackbone",
        # ... or lazily, inside a layer (the rotary embedding)
        "from keras_soundstorm.layers import SelfAttention; SelfAttention(8, 2, use_rotary=True)",
    ],
)
def test_every_class_registers_whoever_imports_keras_hub_first(first):
    code = (
        f"{first}\n"
        "import keras, sys\n"
        "from keras_soundstorm import serializables\n"
        "missing = [m for m in serializables.SERIALIZABLE_MODULES if m not in sys.modules]\n"
        "assert keras.saving.get_registered_object('keras_soundstorm>SoundStorm') is not None\n"
        "print(missing)\n"
    )
    assert _run(code) == "[]"


def _modules(predicate):
    """Dotted names of the package's modules whose source AST satisfies `predicate`."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if predicate(tree):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_serializable_modules_lists_every_registering_module():
    def registers(tree):
        return any(
            (isinstance(node, ast.Attribute) and node.attr == "register_keras_serializable")
            or (isinstance(node, ast.Name) and node.id == "register_keras_serializable")
            for node in ast.walk(tree)
        )

    assert sorted(_modules(registers)) == sorted(serializables.SERIALIZABLE_MODULES)


def test_only_models_import_keras_hub_at_module_level():
    """The rule of serializables.py: keras_hub loads first in models/__init__, never mid-way
    through another module of ours (import it inside functions elsewhere)."""

    def imports_keras_hub(tree):
        for node in tree.body:
            names = [a.name for a in getattr(node, "names", [])]
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if isinstance(node, ast.Import | ast.ImportFrom) and any(
                n == "keras_hub" or n.startswith("keras_hub.") for n in names
            ):
                return True
        return False

    outside = [
        m for m in _modules(imports_keras_hub) if not m.startswith("keras_soundstorm.models")
    ]
    assert outside == []
    models_init = (PACKAGE / "models" / "__init__.py").read_text()
    assert "import keras_hub" in models_init


def test_lazy_exports_resolve_and_all_is_complete():
    lazy = set(kss._EXPORTS) | set(kss._SUBMODULES)
    assert set(kss.__all__) == lazy | {"__version__", "register_serializables"}
    for name in sorted(lazy):
        assert getattr(kss, name) is not None
    assert kss.SoundStorm is kss.models.soundstorm.SoundStorm
    assert kss.decoding is kss.models.soundstorm.decoding
    with pytest.raises(AttributeError, match="no_such_name"):
        kss.no_such_name  # noqa: B018
