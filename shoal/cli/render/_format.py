"""How rows reach the terminal: Go's text/tabwriter tables and the `--format` templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from ._common import JSON, Row

# ---- tables (Go text/tabwriter, as docker's formatter uses it) ----

_MIN_WIDTH = 10
_PADDING = 3


def tabwrite(lines: Sequence[str]) -> str:
    """Align tab-separated `lines` like tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)."""
    cells = [line.split("\t") for line in lines]
    out: list[str] = []
    _format_block(cells, [], 0, len(cells), out)
    return "".join(line + "\n" for line in out)


def _format_block(
    cells: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(cells[this]) - 1:
            this += 1
            continue
        _write_lines(cells, widths, line0, this, out)
        line0 = this
        width = _MIN_WIDTH
        while this < line1 and column < len(cells[this]) - 1:
            width = max(width, len(cells[this][column]) + _PADDING)
            this += 1
        _format_block(cells, [*widths, width], line0, this, out)
        line0 = this
    _write_lines(cells, widths, line0, line1, out)


def _write_lines(
    cells: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    for line in cells[line0:line1]:
        out.append(
            "".join(c.ljust(widths[j]) if j < len(widths) else c for j, c in enumerate(line))
        )


# ---- --format templates (the `{{.Field}}` / `{{json .Field}}` subset of Go templates) ----

_ACTION = re.compile(r"{{-?\s*(json\s+)?\.([\w.]*)\s*-?}}")


def _lookup(obj: JSON, path: str) -> JSON | None:
    for part in filter(None, path.split(".")):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _text(value: JSON | None) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def expand(template: str, obj: JSON) -> str:
    """Fill `{{.A.B}}` and `{{json .A}}` in `template` from `obj` (other actions are left as is)."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def action(m: re.Match[str]) -> str:
        value = _lookup(obj, m.group(2))
        if m.group(1):
            return json.dumps(value, separators=(",", ":"))
        return _text(value)

    return _ACTION.sub(action, template)


def format_rows(fmt: str, rows: Sequence[Row], headers: Mapping[str, str]) -> str:
    """Rows through a user's --format: "json" (one JSON array), "table TEMPLATE" or TEMPLATE."""
    if fmt == "json":
        return json.dumps(list(rows)) + "\n"
    if fmt.startswith("table"):
        template = fmt.removeprefix("table").strip(" ")
        header_row: JSON = {k: v for k, v in headers.items()}
        lines = [expand(template, header_row)] + [expand(template, r) for r in rows]
        return tabwrite(lines)
    return "".join(expand(fmt, r) + "\n" for r in rows)


def format_inspect(fmt: str, objects: Sequence[Row]) -> str:
    """Inspect output: the indented array by default, `json` one line per object, or a template."""
    if not fmt:
        return json.dumps(list(objects), indent=4, ensure_ascii=False) + "\n"
    if fmt == "json":
        return "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects)
    return "".join(expand(fmt, o) + "\n" for o in objects)
