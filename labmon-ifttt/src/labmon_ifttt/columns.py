"""The sheet's column order, learned from the readings and kept in a file so that it survives restarts."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class Columns:
    """Series keys in the order they first appeared; a new series gets a new column at the end, never in between."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: list[str] = self._load()

    def extend(self, keys: list[str]) -> None:
        """Append the keys not seen before, and save the order at once."""
        new = [key for key in dict.fromkeys(keys) if key not in self.keys]
        if not new:
            return
        if self.keys:
            log.info("sheet %s: new columns %s at the end; run `labmon ifttt-header` to name them", self.path, new)
        self.keys += new
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.keys), encoding="utf-8")
        os.replace(partial, self.path)  # whole or not at all: a torn file would shift every column

    def _load(self) -> list[str]:
        try:
            keys = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the column order from {self.path}: {exc}") from None
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ValueError(f"{self.path} does not hold a list of column names")
        return keys
