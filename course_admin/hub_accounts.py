"""The local accounts of a hub, and acting as one of them.

`course hub` makes one account per student and one for the instructor (`ensure_account`;
never a system account) and sets their passwords with chpasswd (`passwords_for`). It runs
system commands as root (`run`), a program as an account (`run_as`), and a Python function as
an account in a forked child (`as_account`, which needs no interpreter the account can read).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from course_admin.hub_folder import HubError, Settings, State, private_folder, write_private

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a system command; raise HubError with its own message when it fails."""
    tool = shutil.which(argv[0], path=SYSTEM_PATH) or argv[0]  # root's PATH may lack /usr/sbin
    result = subprocess.run([tool, *argv[1:]], input=stdin, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise HubError(f"{' '.join(argv[:3])} failed: {(result.stderr or result.stdout).strip()[:500]}")
    return result


def run_as(user: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `argv` as `user` (in their home, with their groups dropped to their own and a
    private umask): what the instructor's own server would do, without root's rights."""
    entry = pwd.getpwnam(user)
    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
           "PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}", **(extra_env or {})}
    return subprocess.run(argv, user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], env=env,
                          cwd=entry.pw_dir, umask=0o077, capture_output=True, text=True)


def as_account(user: str, action, *, groups: bool = True):
    """Run `action()` in a forked child that has become `user` (uid, gid and, when `groups`,
    the supplementary groups JupyterHub's spawner gives a server: it calls initgroups), and
    return what it returns (JSON-serialisable). No interpreter is executed, so this works
    whatever the account may or may not read. HubError if the child cannot become `user`."""
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        raise HubError(f"{user} is root: refusing to act as it")
    supplementary = os.getgrouplist(user, entry.pw_gid) if groups else [entry.pw_gid]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 1
        try:
            os.close(read_end)
            os.setgroups(supplementary)
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            # Every id must now be the account's, or the action would run with root's rights.
            if os.getresuid() == (entry.pw_uid,) * 3 and os.getresgid() == (entry.pw_gid,) * 3:
                with os.fdopen(write_end, "w") as output:
                    output.write(json.dumps(action()))
                status = 0
        except BaseException:  # noqa: BLE001  (the parent reports it; the child must not unwind)
            pass
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        text = answer.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not text:
        raise HubError(f"could not act as {user} (setuid failed): is this run as root?")
    return json.loads(text)


def parse_names(text: str) -> list[str]:
    """Comma-separated account names, checked, in order, without repeats."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    for name in names:
        if not NAME.match(name):
            raise HubError(f"{name!r} is not a valid account name (lower-case letters, digits, - and _; "
                           "starting with a letter; at most 32 characters)")
    return names


def first_regular_uid() -> int:
    """UID_MIN of /etc/login.defs: accounts below it belong to the system."""
    try:
        found = re.search(r"^\s*UID_MIN\s+(\d+)", Path("/etc/login.defs").read_text(), re.M)
    except OSError:
        found = None
    return int(found.group(1)) if found else 1000


def read_password_file(path: Path) -> dict[str, str]:
    """`user:password` lines (chpasswd's format); blank lines and # comments skipped."""
    passwords: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not password:
            raise HubError(f"{path}:{number}: expected user:password")
        passwords[user.strip()] = password
    return passwords


def ensure_account(name: str, state: State) -> bool:
    """Create `name` (home 0700, bash) unless it exists; True when it was created.
    Refuses system accounts: a hub login as one of them would run a server with its rights."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
        if name not in state.created_users:
            state.created_users.append(name)
        return True
    if entry.pw_uid < first_regular_uid():
        raise HubError(f"{name} is a system account (uid {entry.pw_uid}); choose another name")
    if name in state.created_users:
        os.chmod(entry.pw_dir, 0o700)  # ours: keep the home private even if someone opened it
    return False


def set_passwords(passwords: dict[str, str]) -> None:
    """Set account passwords with chpasswd (on its standard input: never on a command line)."""
    if passwords:
        run(["chpasswd"], stdin="".join(f"{user}:{password}\n" for user, password in passwords.items()))


def passwords_for(settings: Settings, created: list[str], given: dict[str, str], root: Path) -> dict[str, str]:
    """Set passwords: the file's, and a generated one for each new account; return those
    known to the hub (stored root-only, so a second run prints the same ones)."""
    store_path = private_folder(root) / "passwords"
    store = read_password_file(store_path) if store_path.is_file() else {}
    users = [settings.instructor, *settings.students]
    changes = {user: given[user] for user in users if user in given}
    for user in created:
        if user not in changes:
            changes[user] = secrets.token_urlsafe(9)
    set_passwords(changes)
    store.update(changes)
    write_private(store_path, "".join(f"{user}:{password}\n" for user, password in store.items()))
    return {user: store[user] for user in users if user in store}
