"""`course hub remove`: delete what `course hub` created, and nothing else, keeping the gradebook.

It checks first that it can do everything (else it deletes nothing), stops the hub, then
every process of each account it created (SIGTERM, then SIGKILL, until none remain; it names
what still runs and deletes nothing if some do), removes the cgroups the hub recorded for its
servers (a killed hub leaves them), copies the instructor's gradebook to a root-only folder,
then deletes only what the hub's `State` says it created. Each step is
recorded: after an interruption, running it again finishes the job.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from course_admin.hub_accounts import as_account, first_regular_uid, run
from course_admin.hub_folder import HUB_ENTRIES, HubError, State, hub_settings, private_folder
from course_admin.hub_limits import end_group, records_folder
from course_admin.hub_process import stop_hub

DEFAULT_BACKUPS = Path("/var/backups/course-hub")  # root-only; `remove` keeps the gradebook's copy here


def account_processes(uid: int) -> list[int]:
    """Processes whose real, effective or saved uid is `uid` (what makes userdel refuse)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # it ended meanwhile
            continue
        found_uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M)
        if found_uid and uid in {int(value) for value in found_uid.groups()}:
            found.append(int(entry.name))
    return found


def describe_process(pid: int) -> str:
    """`pid (command line)`, and for a zombie the parent that has not collected it."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return f"{pid} (ended)"
    state, parent = stat.rpartition(")")[2].split()[:2]
    if state == "Z":
        return f"{pid} (a zombie: its parent, process {parent}, has not collected it)"
    return f"{pid} ({command[:120] or stat.partition('(')[2].partition(')')[0]})"


def signal_account(user: str, sig: int) -> None:
    """Send `sig` to every process of `user` at once, by kill(-1) from a child that is `user`:
    a process forking meanwhile cannot slip between a listing and the signals."""
    def kill_all() -> None:
        try:
            os.kill(-1, sig)
        except ProcessLookupError:  # none left (they ended between the listing and now)
            pass

    as_account(user, kill_all, groups=False)


def stop_account_processes(users: list[str], seconds: float = 30, kill_seconds: float = 10) -> None:
    """Stop every process of `users` (servers, kernels, terminals, anything): SIGTERM, and
    after `seconds` SIGKILL, repeated until none remain; HubError naming what still runs after
    `kill_seconds` more."""
    uids = {user: pwd.getpwnam(user).pw_uid for user in users}
    remaining = {user: account_processes(uid) for user, uid in uids.items()}
    if not any(remaining.values()):
        return
    for user, pids in remaining.items():
        if pids:
            print(f"stopping {len(pids)} process(es) of {user}")
            signal_account(user, signal.SIGTERM)
    for phase_seconds, sig in ((seconds, signal.SIGTERM), (kill_seconds, signal.SIGKILL)):
        deadline = time.monotonic() + phase_seconds
        while True:
            remaining = {user: pids for user, uid in uids.items() if (pids := account_processes(uid))}
            if not remaining:
                return
            if time.monotonic() >= deadline:
                break
            if sig == signal.SIGKILL:
                for user in remaining:
                    signal_account(user, signal.SIGKILL)
            time.sleep(0.2)
    running = [f"  {user}: " + ", ".join(describe_process(pid) for pid in pids[:10]) for user, pids in remaining.items()]
    raise HubError("these processes still run after SIGTERM and SIGKILL, so their accounts cannot be deleted; "
                   "nothing was deleted:\n" + "\n".join(running) + "\nStop them (or their parents), then run "
                   "`course hub remove --yes` again.")


def end_server_groups(root: Path) -> None:
    """Remove the cgroups the hub recorded for its servers, killing what still runs in them:
    a hub that stopped normally left none, a killed one may have."""
    for record in sorted(records_folder(root).glob("*.json")):
        if end_group(record.stem, records_folder(root)):
            print(f"removed the cgroup of {record.stem}'s server")


@dataclass
class Removal:
    """What `remove` will delete, decided and checked before anything is touched."""

    root: Path
    accounts: list[str]  # accounts `course hub` created that still exist
    instructor: str
    gradebook: Path | None  # the instructor's gradebook, copied out before its account goes
    backups: Path  # where that copy goes (a new folder in it)
    exchange: Path | None  # nbgrader's exchange, if `course hub` created it and it is there
    entries: list[Path]  # the hub folder's own entries
    remove_root: bool  # the folder too (created by `course hub`)


def contains(folder: Path, path: Path) -> bool:
    """Whether `path` is `folder` or inside it."""
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def nearest_existing(path: Path) -> Path:
    """`path` or its closest existing ancestor."""
    while not path.exists():
        path = path.parent
    return path


def plan_removal(root: Path, backups: Path, delete_gradebook: bool) -> Removal:
    """Decide what `remove` deletes and check, before touching anything, that it can: only what
    State says `course hub` created; never a system account; the gradebook's copy outside
    everything deleted. HubError listing every problem otherwise."""
    state = State.load(root)
    if not (private_folder(root) / "state.json").is_file():
        raise HubError(f"no hub was set up in {root} (no {private_folder(root) / 'state.json'}): nothing to remove")
    settings = hub_settings(root)
    instructor = state.instructor or settings.get("instructor", "")
    problems: list[str] = []
    accounts: list[str] = []
    homes: list[Path] = []
    for user in state.created_users:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue  # deleted by an earlier, interrupted remove
        accounts.append(user)
        home = Path(entry.pw_dir)
        homes.append(home)
        if entry.pw_uid < first_regular_uid():
            problems.append(f"{user} is a system account now (uid {entry.pw_uid}): it was not made by course hub")
        elif home.exists() and (home.resolve() == Path("/") or home.stat().st_uid != entry.pw_uid):
            problems.append(f"the home of {user}, {home}, is not that account's own: userdel would not remove it")
    accounts.sort(key=lambda user: user == instructor)  # the instructor last: its gradebook is copied first
    exchange = Path(settings["exchange"]) if state.created_exchange and settings.get("exchange") else None
    exchange = exchange if exchange and exchange.exists() else None
    course_root = Path(state.course_root or settings.get("course_root", "") or "/nonexistent")
    gradebook = course_root / "gradebook.db"
    gradebook = gradebook if not delete_gradebook and instructor in accounts and gradebook.is_file() else None
    if gradebook:
        doomed = [root, *homes, *([exchange] if exchange else [])]
        inside = [str(folder) for folder in doomed if contains(folder, backups)]
        existing = nearest_existing(backups.resolve())
        if inside:
            problems.append(f"the gradebook's copy would go to {backups}, inside {inside[0]}, which is deleted: "
                            "give --backups DIR elsewhere")
        elif not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            problems.append(f"cannot write the gradebook's copy under {backups} ({existing} is not a writable folder)")
        elif shutil.disk_usage(existing).free < 2 * gradebook.stat().st_size + 2**20:
            problems.append(f"not enough free space under {backups} for a copy of {gradebook}")
    entries = [root / name for name in HUB_ENTRIES if (root / name).exists() or (root / name).is_symlink()]
    if problems:
        raise HubError("nothing was removed:\n" + "\n".join(f"  {problem}" for problem in problems))
    return Removal(root=root, accounts=accounts, instructor=instructor, gradebook=gradebook, backups=backups,
                   exchange=exchange, entries=entries, remove_root=state.created_root)


def backup_gradebook(gradebook: Path, backups: Path, course_id: str) -> Path:
    """Copy the gradebook (and an SQLite journal beside it, if any) into a new root-only folder
    under `backups`, check that the copy opens, and return its path."""
    import sqlite3

    backups.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = backups / f"{course_id or 'course'}-{stamp}"
    suffix = 0
    while folder.exists():  # a second remove within the same second
        suffix += 1
        folder = backups / f"{course_id or 'course'}-{stamp}-{suffix}"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    copy = folder / gradebook.name
    for source in [gradebook, *(gradebook.with_name(gradebook.name + end) for end in ("-journal", "-wal"))]:
        if source.is_file():
            target = folder / source.name
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(source, "rb") as reading, os.fdopen(descriptor, "wb") as writing:
                shutil.copyfileobj(reading, writing)
                writing.flush()
                os.fsync(writing.fileno())
    # Opening the copy applies a journal left by a killed writer; a copy that does not open is no copy.
    try:
        with sqlite3.connect(copy) as database:
            verdict = database.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        verdict = str(error)
    if verdict != "ok":
        raise HubError(f"the copy of {gradebook} in {folder} does not open as a database ({verdict}); "
                       "nothing was deleted")
    os.chmod(copy, 0o600)
    return copy


def remove_hub(root: Path, backups: Path = DEFAULT_BACKUPS, delete_gradebook: bool = False,
               seconds: float = 30, kill_seconds: float = 10) -> None:
    """`course hub remove`: check everything first, stop the hub and every process of the
    accounts it made, remove its servers' cgroups, copy the gradebook out (unless
    `delete_gradebook`), then delete. Each step is recorded, so running it again after an
    interruption finishes the job."""
    if not root.exists():
        print(f"no hub in {root}: nothing to remove")
        return
    plan = plan_removal(root, backups, delete_gradebook)
    if stop_hub(root):
        print("JupyterHub stopped")
    stop_account_processes(plan.accounts, seconds, kill_seconds)
    end_server_groups(root)
    state = State.load(root)
    if plan.gradebook:
        copy = backup_gradebook(plan.gradebook, plan.backups, hub_settings(root).get("course_id", ""))
        state.gradebook_backups.append(str(copy))
        state.save(root)
        print(f"copied the gradebook {plan.gradebook} to {copy} (root only)")
    for user in plan.accounts:
        run(["userdel", "--remove", user])
        state.created_users.remove(user)
        state.save(root)
        print(f"deleted account {user} and its home")
    if plan.exchange:
        shutil.rmtree(plan.exchange)
        state.created_exchange = False
        state.save(root)
        print(f"deleted {plan.exchange}")
    for entry in plan.entries:  # private/ (which holds the state) last
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    print(f"deleted {', '.join(entry.name for entry in plan.entries) or 'nothing'} in {root}")
    if plan.remove_root:
        try:
            root.rmdir()
            print(f"deleted {root}")
        except OSError:
            print(f"kept {root}: it holds files course hub did not make")
    for copy in state.gradebook_backups:
        print(f"the gradebook is kept in {copy}")
