#!/bin/sh
# The image's entrypoint.
# Started as root (the default): applies UMASK and TZ, gives /config (and nothing else) to PUID:PGID (default
# 1000:1000), then runs the command as that user with setpriv. The monitor itself never runs as root.
# Started as another user (compose `user: "1000:1000"`): applies UMASK and TZ, changes no ownership, runs the command.
# A first argument that is a flag (`--test`, `--health-check`, ...) is given to the monitor.
set -eu

umask "${UMASK:-022}"

if [ -n "${TZ:-}" ] && [ ! -e "/usr/share/zoneinfo/$TZ" ]; then
  echo "entrypoint: TZ=$TZ is not a known time zone (no /usr/share/zoneinfo/$TZ): times are in UTC" >&2
fi

case "${1:-}" in
  "" | -*) set -- /app/bin/qbittorrent-monitor "$@" ;;
esac

if [ "$(id -u)" != "0" ]; then
  exec "$@"
fi

PUID="${PUID:-1000}"
PGID="${PGID:-1000}"
case "$PUID:$PGID" in
  *[!0-9:]* | :* | *:)
    echo "entrypoint: PUID and PGID must be numeric ids (got PUID=$PUID PGID=$PGID)" >&2
    exit 64
    ;;
esac
if [ "$PUID" -eq 0 ] || [ "$PGID" -eq 0 ]; then
  echo "entrypoint: refusing to run the monitor as root (PUID=$PUID PGID=$PGID): set PUID and PGID to your user's ids" >&2
  exit 64
fi

if [ -n "${TZ:-}" ] && [ -e "/usr/share/zoneinfo/$TZ" ] && [ -w /etc ]; then
  ln -snf "/usr/share/zoneinfo/$TZ" /etc/localtime 2>/dev/null || true
fi

# /config only, and only when something in it is not already owned by PUID:PGID (cheap when nothing changed).
# chown -R -P walks the tree itself without following any symbolic link: a path swapped for a link between a
# `find` and its `chown` cannot send the change outside /config.
mkdir -p /config
if [ -n "$(find /config -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) -print -quit 2>/dev/null || echo unreadable)" ]; then
  chown -R -P "$PUID:$PGID" /config ||
    echo "entrypoint: could not give everything under /config to $PUID:$PGID" >&2
fi

# Discovery reads the Docker socket: keep the socket's group, so that a 0660 root:docker socket stays readable.
socket="${DOCKER_HOST:-/var/run/docker.sock}"
socket="${socket#unix://}"
groups="--clear-groups"
if [ -S "$socket" ]; then
  socket_gid="$(stat -c %g "$socket")"
  if [ "$socket_gid" != "0" ]; then
    groups="--groups=$socket_gid"
  fi
fi

exec setpriv --reuid="$PUID" --regid="$PGID" "$groups" --no-new-privs -- "$@"
