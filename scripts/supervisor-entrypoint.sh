#!/bin/sh
# The supervisor image's entrypoint (docs/DEPLOY.md, "The supervisor image").
#
# Started as root (the default), it gives the unprivileged user `ace` the group that owns the Docker
# socket the supervisor will use, makes the database's directory writable by it (a volume written by an
# older image that ran as root), and runs the command as `ace` with setpriv (util-linux, in every Debian
# image): no capabilities, no way back to root. Started as another user (`docker run --user`), it runs the
# command as that user and changes nothing: that user must then reach the socket itself (--group-add).
set -eu

user=ace

if [ "$(id -u)" != 0 ]; then
    exec "$@"
fi

warn() {
    echo "ace-entrypoint: $*" >&2
}

# The socket the supervisor will use: ACE_SUPERVISOR_DOCKER_HOST, else DOCKER_HOST, else the default.
host=${ACE_SUPERVISOR_DOCKER_HOST:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
case "$host" in
    unix://*) socket=${host#unix://} ;;
    *) socket= ;;  # tcp:// or ssh://: no socket to share
esac

if [ -n "$socket" ]; then
    if [ -S "$socket" ]; then
        gid=$(stat -c %g "$socket")
        # gid 0: the socket belongs to root's group, as under rootless Docker (whose user is root in here).
        group=$(getent group "$gid" | cut -d: -f1)
        if [ -z "$group" ]; then
            group=docker-host
            if getent group "$group" >/dev/null; then
                groupmod --gid "$gid" "$group"  # a container restarted after the socket's group changed
            else
                groupadd --gid "$gid" "$group"
            fi
        fi
        usermod --append --groups "$group" "$user"
        if ! setpriv --reuid="$user" --regid="$user" --init-groups test -w "$socket"; then
            warn "$socket (mode $(stat -c %a "$socket"), owner $(stat -c %u:%g "$socket")) is not writable by" \
                "its group, so user $user cannot use it; make it group-writable, or run the container with" \
                "--user UID:GID and --group-add for a user that can"
        fi
    else
        warn "no Docker socket at $socket: mount the daemon's socket there (or set DOCKER_HOST)"
    fi
fi

# The database's directory (ACE_SUPERVISOR_DB_PATH, default /data/supervisor.db) belongs to the user.
data=$(dirname "${ACE_SUPERVISOR_DB_PATH:-/data/supervisor.db}")
if [ "$data" != / ]; then
    mkdir -p "$data"
    find "$data" -xdev -maxdepth 1 ! -user "$user" -exec chown "$user:$user" {} + 2>/dev/null \
        || warn "cannot give $data to user $user (read-only?); the supervisor may not write its database"
fi

HOME=/home/$user
export HOME
exec setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all --no-new-privs -- "$@"
