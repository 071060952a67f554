"""Test harness that runs a real qbittorrent-nox, a loopback BitTorrent tracker and real torrents."""
