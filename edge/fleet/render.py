"""Tables for people: with ``rich`` on a terminal (the ``fleet`` extra), plain aligned text when the
output is piped or rich is not installed. The only module that imports rich."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _rich_console(out: IO[str]) -> Any:
    if not out.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:  # the `fleet` extra is not installed: plain text
        return None
    return Console(file=out)


class Table:
    """Rows printed one by one (``events --follow``) or all at once (``gates``)."""

    def __init__(self, columns: Sequence[str], out: IO[str] | None = None, title: str | None = None) -> None:
        self.columns = list(columns)
        self.out = out or sys.stdout
        self.title = title
        self._console = _rich_console(self.out)
        self._header_shown = False

    def print_all(self, rows: Sequence[Sequence[Any]]) -> None:
        cells = [[_cell(v) for v in row] for row in rows]
        if self._console is not None:
            from rich.table import Table as RichTable

            table = RichTable(*self.columns, title=self.title)
            for row in cells:
                table.add_row(*row)
            self._console.print(table)
            return
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(self.columns)]
        if self.title:
            print(self.title, file=self.out)
        print("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)).rstrip(), file=self.out)
        for row in cells:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=self.out)
        self.out.flush()

    def print_row(self, row: Sequence[Any], widths: Sequence[int]) -> None:
        """One row of a live table, in fixed ``widths`` (the header first, once)."""
        if not self._header_shown:
            self._header_shown = True
            self._line(self.columns, widths, header=True)
        self._line([_cell(v) for v in row], widths)

    def _line(self, cells: Sequence[str], widths: Sequence[int], header: bool = False) -> None:
        text = "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        if self._console is not None:
            self._console.print(text, style="bold" if header else None, highlight=False, markup=False)
        else:
            print(text, file=self.out, flush=True)
