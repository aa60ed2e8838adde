#!/bin/sh
# The system packages the course needs beyond Python: bubblewrap, the sandbox every
# grading kernel runs in (course_admin/sandbox.py; util-linux's prlimit and setpriv come
# with every Linux distribution). Does nothing where bwrap is already installed.
set -e
command -v bwrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq bubblewrap
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y bubblewrap
elif command -v pacman >/dev/null 2>&1; then
    $SUDO pacman -S --noconfirm bubblewrap
else
    echo "Install bubblewrap (bwrap) with your system's package manager: the grader runs student code in it." >&2
    exit 1
fi
