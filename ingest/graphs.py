"""Cheap facts about serialized graphs, computed at ingest without building the whole message."""

from __future__ import annotations


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def count_nodes(graph_def: bytes) -> int | None:
    """Number of `node` entries (field 1) of a serialized GraphDef, by walking the top-level wire
    format only: a 1M-node graph is counted without materialising a million NodeDef objects.
    Returns None when the bytes are not a well-formed GraphDef."""
    pos = 0
    n = 0
    end = len(graph_def)
    try:
        while pos < end:
            key, pos = _varint(graph_def, pos)
            field, wire = key >> 3, key & 7
            if wire == 0:
                _, pos = _varint(graph_def, pos)
            elif wire == 1:
                pos += 8
            elif wire == 2:
                length, pos = _varint(graph_def, pos)
                pos += length
                if field == 1:
                    n += 1
            elif wire == 5:
                pos += 4
            else:
                return None
            if pos > end:
                return None
    except ValueError:
        return None
    return n
