#!/usr/bin/env python3
"""The old monitor's entry point, so that the commands of its README keep working in the image:
`python3 /app/qbittorrent-monitor.py --health-check | --test | --dry-run --test | --verbose --test |
--config /app/config/config.yaml`. A thin hand-over, not a copy: any Python runs it, and it execs the monitor
(through the entrypoint, which drops root to PUID:PGID)."""

import os
import sys

COMMAND = "/usr/local/bin/qbittorrent-monitor"

os.execv(COMMAND, [COMMAND, *sys.argv[1:]])
