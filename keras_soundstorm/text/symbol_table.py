"""A k2 symbol table (`unique_text_tokens.k2symbols`) and the model's text ids.

The file has one `symbol id` per line. The USLM checkpoint does not use the
file's ids: its text ids are `<pad>`=0, `<bos>`=1, `<eos>`=2, then the file's
symbols (its `<eps>` included) in sorted (code point) order, as its text
collater builds them. `SymbolTable` holds the file's mapping (so a preset can
store it in its config with `to_dict` / `from_dict`) and gives those ids.
"""

import numpy as np

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIAL_SYMBOLS = (PAD, BOS, EOS)


class SymbolTable:
    """The phoneme symbols of a text-to-semantic checkpoint.

    Args:
        symbols: dict `{symbol: id}` as in the k2symbols file (non-empty
            symbols without whitespace, distinct non-negative int ids).

    Example:
    ```python
    table = SymbolTable.from_file("unique_text_tokens.k2symbols")
    table.encode(["h", "ə", "l", "oʊ"])  # int32 [4]
    ```
    """

    def __init__(self, symbols):
        if not isinstance(symbols, dict) or not symbols:
            raise ValueError(
                f"`symbols` must be a non-empty dict {{symbol: id}}; got {type(symbols).__name__}."
            )
        seen_ids = {}
        for symbol, index in symbols.items():
            if not isinstance(symbol, str) or not symbol or any(c.isspace() for c in symbol):
                raise ValueError(
                    f"`symbols` keys must be non-empty strings without whitespace; got {symbol!r}."
                )
            if symbol in SPECIAL_SYMBOLS:
                raise ValueError(
                    f"`symbols` must not contain {symbol!r}: {', '.join(SPECIAL_SYMBOLS)} "
                    "are added in front of the table's symbols."
                )
            if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
                raise ValueError(
                    f"`symbols` ids must be non-negative ints; got {index!r} for {symbol!r}."
                )
            if int(index) in seen_ids:
                raise ValueError(
                    f"`symbols` ids must be distinct; {seen_ids[int(index)]!r} and {symbol!r} "
                    f"share {int(index)}."
                )
            seen_ids[int(index)] = symbol
        self._file_ids = {symbol: int(index) for symbol, index in symbols.items()}
        self._symbols = SPECIAL_SYMBOLS + tuple(sorted(symbols))
        self._ids = {symbol: i for i, symbol in enumerate(self._symbols)}

    @classmethod
    def from_file(cls, path):
        """Reads a k2symbols file (lines `symbol id`; blank lines skipped)."""
        with open(path, encoding="utf-8") as file:
            return cls.from_string(file.read(), source=str(path))

    @classmethod
    def from_string(cls, text, source="<string>"):
        """Parses k2symbols text; a malformed line is a ValueError naming it."""
        symbols = {}
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{source} line {number} ({line.strip()!r})"
            if len(fields) != 2:
                raise ValueError(f"{where}: expected `symbol id`, got {len(fields)} fields.")
            symbol, index = fields
            if not index.isdigit():
                raise ValueError(f"{where}: the id must be a non-negative integer.")
            if symbol in symbols:
                raise ValueError(f"{where}: the symbol {symbol!r} is already defined.")
            try:
                cls({symbol: int(index)})
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            if int(index) in symbols.values():
                raise ValueError(f"{where}: the id {index} is already used.")
            symbols[symbol] = int(index)
        if not symbols:
            raise ValueError(f"{source} holds no symbols.")
        return cls(symbols)

    def to_dict(self):
        """`{symbol: id}` as in the file (JSON-serializable; see `from_dict`)."""
        return dict(self._file_ids)

    @classmethod
    def from_dict(cls, symbols):
        return cls(dict(symbols))

    @property
    def symbols(self):
        """All symbols in id order: `<pad>`, `<bos>`, `<eos>`, then sorted."""
        return self._symbols

    @property
    def vocabulary_size(self):
        """The number of text ids (the text embedding needs at least this many)."""
        return len(self._symbols)

    @property
    def pad_id(self):
        return self._ids[PAD]

    @property
    def bos_id(self):
        return self._ids[BOS]

    @property
    def eos_id(self):
        return self._ids[EOS]

    def __contains__(self, symbol):
        return symbol in self._ids

    def __len__(self):
        return len(self._symbols)

    def __eq__(self, other):
        return isinstance(other, SymbolTable) and self._file_ids == other._file_ids

    def __repr__(self):
        return f"SymbolTable({len(self._file_ids)} symbols)"

    def encode(self, symbols):
        """Symbols -> int32 ids `[N]`; ValueError naming unknown symbols."""
        unknown = sorted({s for s in symbols if s not in self._ids})
        if unknown:
            raise ValueError(f"The symbol table lacks the symbols {unknown}.")
        return np.array([self._ids[s] for s in symbols], "int32")

    def decode(self, ids):
        """int ids `[N]` -> symbols; ValueError on an id out of range."""
        ids = np.asarray(ids).reshape([-1])
        bad = [int(i) for i in ids if not 0 <= i < len(self._symbols)]
        if bad:
            raise ValueError(f"`ids` must be in [0, {len(self._symbols)}); got {bad}.")
        return [self._symbols[i] for i in ids]
