"""Deterministic v1 .torrent files and their payloads."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from harness import bencode

__all__ = ["TorrentFile", "make_torrent", "payload_bytes", "write_payload"]


@dataclass
class TorrentFile:
    """A .torrent file plus the payload it describes.

    `files` maps the path inside the torrent to its bytes. For a single-file torrent that is
    just `{name: data}`; for a multi-file torrent the paths are relative to the root folder
    `name` (which qBittorrent creates under the save path).
    """

    name: str
    data: bytes
    info_hash: str
    files: dict[str, bytes]

    @property
    def info(self) -> dict[str, object]:
        meta = bencode.decode(self.data)
        assert isinstance(meta, dict)
        info = meta["info"]
        assert isinstance(info, dict)
        return info

    @property
    def announce(self) -> str:
        meta = bencode.decode(self.data)
        assert isinstance(meta, dict) and isinstance(meta["announce"], bytes)
        return meta["announce"].decode()

    @property
    def multi_file(self) -> bool:
        return "files" in self.info

    @property
    def size(self) -> int:
        return sum(len(payload) for payload in self.files.values())

    @property
    def magnet(self) -> str:
        return f"magnet:?xt=urn:btih:{self.info_hash}&dn={quote(self.name, safe='')}&tr={quote(self.announce, safe='')}"


def payload_bytes(seed: str, size: int) -> bytes:
    """`size` pseudo-random bytes derived only from `seed` (same seed -> same bytes -> same info hash)."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    return rng.randbytes(size)


def make_torrent(
    name: str,
    *,
    announce: str,
    files: dict[str, bytes] | None = None,
    size: int = 20000,
    private: bool = False,
    piece_length: int = 16384,
    multi_file: bool = False,
) -> TorrentFile:
    """Build a v1 torrent.

    Without `files` the payload is `size` deterministic bytes derived from `name`: one file named
    `name`, or with `multi_file=True` a folder `name` holding `<name>.mkv` (3/4 of the bytes) and
    `<name>.nfo` (the rest). With `files`, the torrent is multi-file unless `multi_file` is False and
    `files` is exactly `{name: data}`.
    """
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"invalid torrent name {name!r}")
    if piece_length < 16384 or piece_length & (piece_length - 1):
        raise ValueError("piece_length must be a power of two >= 16 KiB")
    if files is None:
        payload = payload_bytes(name, size)
        if multi_file:
            cut = size * 3 // 4
            files = {f"{name}.mkv": payload[:cut], f"{name}.nfo": payload[cut:]}
        else:
            files = {name: payload}
    else:
        files = dict(files)
        if not files:
            raise ValueError("files must not be empty")
        multi_file = multi_file or list(files) != [name]
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid path inside the torrent: {rel!r}")

    blob = b"".join(files.values())
    if not blob:
        raise ValueError("a torrent needs at least one byte of payload")
    pieces = b"".join(hashlib.sha1(blob[i : i + piece_length]).digest() for i in range(0, len(blob), piece_length))
    info: dict[str, object] = {"name": name, "piece length": piece_length, "pieces": pieces}
    if multi_file:
        info["files"] = [{"length": len(data), "path": list(PurePosixPath(rel).parts)} for rel, data in files.items()]
    else:
        info["length"] = len(blob)
    if private:
        info["private"] = 1
    meta = {"announce": announce, "created by": "qbittorrent-monitor test harness", "info": info}
    info_hash = hashlib.sha1(bencode.encode(info)).hexdigest()
    return TorrentFile(name=name, data=bencode.encode(meta), info_hash=info_hash, files=files)


def write_payload(tf: TorrentFile, save_path: Path) -> Path:
    """Write the complete payload where qBittorrent looks for it when the torrent's save path is
    `save_path` (default "Original" content layout). Returns the content path."""
    content = save_path / tf.name
    if tf.multi_file:
        for rel, data in tf.files.items():
            target = content.joinpath(*PurePosixPath(rel).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    else:
        content.parent.mkdir(parents=True, exist_ok=True)
        content.write_bytes(tf.files[tf.name])
    return content
