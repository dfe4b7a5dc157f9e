"""One folder per model (`soundstorm/`); `task_presets.py` is shared by their tasks.

keras_hub is imported first, before any model module: the models subclass its
Backbone and Task, and importing it here (not first inside a model module)
lets the registration hook of `keras_soundstorm/serializables.py` import every
model module while this package is still being imported.
"""

import keras_hub  # noqa: F401  (see the docstring)
