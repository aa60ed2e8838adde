#!/bin/sh
# The system packages the course needs beyond Python: bubblewrap, the sandbox every
# grading kernel runs in (course_admin/sandbox.py; util-linux's prlimit and setpriv come
# with every Linux distribution), and PostgreSQL's server, which the tests start privately
# for the shared-gradebook checks (with --tests only: a course on SQLite does not need it).
# Installs only what is missing.
set -e
missing=""
command -v bwrap >/dev/null 2>&1 || missing="bubblewrap"
if [ "${1:-}" = "--tests" ]; then
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y $(echo "$missing" | sed 's/postgresql/postgresql-server/')
elif command -v pacman >/dev/null 2>&1; then
    $SUDO pacman -S --noconfirm $missing
else
    echo "Install$missing with your system's package manager: bubblewrap is the sandbox every grading kernel runs in; PostgreSQL is what the tests of a shared gradebook start." >&2
    exit 1
fi
