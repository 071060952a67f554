"""qbittorrent-monitor: find broken qBittorrent downloads and repair them through the *arr apps."""

__version__ = "0.1.0"
