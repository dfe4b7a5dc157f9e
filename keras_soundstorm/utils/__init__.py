"""Plumbing shared by models, codecs, data and evaluation: files, presets, checks.

Nothing here imports a model or a codec, so every other package may import it.
"""
