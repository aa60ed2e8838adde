"""The spawner of `course hub`: JupyterHub's LocalProcessSpawner, each server in its own cgroup.

``cpu_limit`` and ``mem_limit`` are JupyterHub's own traits (so the hub's API, its admin page
and the server's ``CPU_LIMIT``/``MEM_LIMIT`` show them); this class enforces them with a
cgroup per server (`course_admin.hub_limits` says how and why not SystemdSpawner). Only the
hub imports it (jupyterhub is the ``hub`` extra's).
"""

from __future__ import annotations

from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode

from course_admin import cgroup, hub_limits
from course_admin.hub_folder import HubError


class CourseSpawner(LocalProcessSpawner):
    """A local process per user, as LocalProcessSpawner, in a cgroup with the user's limits:
    made before the server starts, entered by it before it becomes the user, removed (with
    whatever still runs in it) when the server stops or is found dead."""

    records = Unicode(help="Folder recording each server's cgroup (the hub's private/cgroups)").tag(config=True)

    _group: cgroup.Group | None = None
    _memory_kills_said = 0

    async def start(self):
        if not self.mem_limit or not self.cpu_limit:
            raise HubError("CourseSpawner needs mem_limit and cpu_limit (course hub sets them)")
        self._group = hub_limits.start_group(self.user.name, hub_limits.budget(self.mem_limit, self.cpu_limit),
                                             Path(self.records))
        self._memory_kills_said = 0
        try:
            return await super().start()
        except BaseException:
            self._end_group()
            raise

    def make_preexec_fn(self, name):
        """Enter the server's group (as root), then become the user (LocalProcessSpawner's)."""
        return hub_limits.entering(self._group, super().make_preexec_fn(name))

    async def poll(self):
        status = await super().poll()
        if status is None:
            self._say_memory_kills()
        else:
            self._end_group()
        return status

    async def stop(self, now=False):
        await super().stop(now=now)
        self._end_group()

    def _say_memory_kills(self) -> None:
        """Log, once each, the processes the memory limit stopped (kernels, most often)."""
        group = self._group or hub_limits.recorded_group(self.user.name, Path(self.records))
        kills = group.out_of_memory_kills() if group else 0
        if kills > self._memory_kills_said:
            self.log.warning("%s's memory limit (%d MB) stopped %d process(es) of their server (kernels, most "
                             "likely: JupyterLab says the kernel died and restarts it)", self.user.name,
                             self.mem_limit // 2**20, kills - self._memory_kills_said)
            self._memory_kills_said = kills

    def _end_group(self) -> None:
        self._say_memory_kills()
        try:
            hub_limits.end_group(self.user.name, Path(self.records))
        except HubError as error:  # kept recorded: the next start or `course hub remove` retries
            self.log.error("%s", error)
        self._group = None
