"""HTTP Range validation with Go's ``net/http`` rules, which Stash's file server follows.

Starlette's file response serves ranges, but answers some invalid headers with 400 where Go
(and therefore Stash) answers 416 ``Range Not Satisfiable``. Validating first keeps the
emulator's status codes identical to Stash's.
"""

from __future__ import annotations


class UnsatisfiableRange(ValueError):
    pass


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """The ``(first, last)`` byte pairs (inclusive) a ``Range`` header asks for.

    Raises :class:`UnsatisfiableRange` for a malformed header or when no range overlaps the
    file, as Go's ``parseRange`` does.
    """
    if not header.startswith("bytes="):
        raise UnsatisfiableRange("only byte ranges are supported")
    ranges: list[tuple[int, int]] = []
    no_overlap = False
    for part in header[len("bytes="):].split(","):
        part = part.strip()
        if not part:
            continue
        start_text, dash, end_text = part.partition("-")
        start_text, end_text = start_text.strip(), end_text.strip()
        if not dash:
            raise UnsatisfiableRange(f"invalid range {part!r}")
        if not start_text:
            # Suffix range: the last N bytes.
            if not end_text.isdigit():
                raise UnsatisfiableRange(f"invalid range {part!r}")
            length = min(int(end_text), size)
            if length == 0:
                no_overlap = True
                continue
            ranges.append((size - length, size - 1))
            continue
        if not start_text.isdigit():
            raise UnsatisfiableRange(f"invalid range {part!r}")
        first = int(start_text)
        if first >= size:
            no_overlap = True
            continue
        if not end_text:
            ranges.append((first, size - 1))
            continue
        if not end_text.isdigit() or int(end_text) < first:
            raise UnsatisfiableRange(f"invalid range {part!r}")
        ranges.append((first, min(int(end_text), size - 1)))
    if not ranges:
        raise UnsatisfiableRange("no range overlaps the file" if no_overlap else "empty range")
    return ranges
