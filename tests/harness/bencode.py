"""Minimal bencoding (BEP 3) for building .torrent files and tracker responses.

`decode` turns dictionary keys into `str` (UTF-8, falling back to latin-1) and keeps every
byte-string value as `bytes`, so binary fields such as `pieces` or `peers` stay intact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["BencodeError", "decode", "encode"]


class BencodeError(ValueError):
    """Raised for data that is not valid bencoding or an object that cannot be encoded."""


def encode(obj: object) -> bytes:
    """Bencode `obj`: int, str (UTF-8), bytes, list/tuple and dict (str or bytes keys, sorted as bytes)."""
    out: list[bytes] = []
    _encode(obj, out)
    return b"".join(out)


def _key_bytes(key: object) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise BencodeError(f"dictionary keys must be str or bytes, not {type(key).__name__}")


def _encode(obj: object, out: list[bytes]) -> None:
    if isinstance(obj, bool):
        raise BencodeError("bool cannot be bencoded; use an int")
    if isinstance(obj, int):
        out.append(b"i%de" % obj)
    elif isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(obj, str):
        _encode(obj.encode(), out)
    elif isinstance(obj, Mapping):
        items = sorted((_key_bytes(k), v) for k, v in obj.items())
        out.append(b"d")
        for key, value in items:
            _encode(key, out)
            _encode(value, out)
        out.append(b"e")
    elif isinstance(obj, Sequence):
        out.append(b"l")
        for item in obj:
            _encode(item, out)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(obj).__name__}")


def decode(data: bytes) -> object:
    """Decode one bencoded value that must span all of `data`."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


def _decode_key(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode(data: bytes, pos: int) -> tuple[object, int]:
    if pos >= len(data):
        raise BencodeError("unexpected end of data")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.index(b"e", pos)
        text = data[pos + 1 : end]
        if not text or text in (b"-", b"-0") or (len(text) > 1 and text.lstrip(b"-").startswith(b"0")):
            raise BencodeError(f"invalid integer {text!r} at offset {pos}")
        return int(text), end + 1
    if lead == b"l":
        items: list[object] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        result: dict[str, object] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode(data, pos)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key at offset {pos} is not a string")
            result[_decode_key(key)], pos = _decode(data, pos)
        return result, pos + 1
    if lead.isdigit():
        colon = data.index(b":", pos)
        length = int(data[pos:colon])
        start = colon + 1
        if start + length > len(data):
            raise BencodeError(f"string at offset {pos} runs past the end")
        return data[start : start + length], start + length
    raise BencodeError(f"invalid token {lead!r} at offset {pos}")
