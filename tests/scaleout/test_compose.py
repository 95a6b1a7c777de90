"""docker-compose.yml, checked statically (no Docker engine is needed): every service has an image or a build,
every command it runs parses as a real `evolve` (or `ray`) command line, every volume and env file it names
exists or is documented, secrets come from .env only, and the scale-out shape (services, health checks, GPU
reservation, named volumes, profiles) is there."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from evolve.cli import app
from evolve.lineage.db import POPULATIONS

REPO = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text()
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$", re.I)
# Programs other than evolve/ray that a service may run, and the image that provides each.
OTHER_PROGRAMS = {"pg_isready": "postgres:", "ollama": "ollama/ollama:", "sh": ""}
SHELL_WORDS = {"if", "then", "else", "fi", "exec"}


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


ENV = _env_example()


def interpolate(value: str) -> str:
    """Compose's own `${VAR}`, `${VAR:-default}`, `${VAR:?message}` from .env.example, then `$$` -> `$`.
    A variable that .env.example does not document and that has no default fails the test."""

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in ENV and (ENV[name] or op != ":-"):
            return ENV[name]
        assert op == ":-", f"${{{name}}} is used in docker-compose.yml but not documented in .env.example"
        return arg

    return re.sub(r"(?<!\$)\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value).replace("$$", "$")


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def simple_commands(command: str | list[str], env: dict[str, str]) -> list[list[str]]:
    """The simple commands a service's command runs; `sh -c` scripts are split at &&, ||, ; and shell
    keywords, with $VAR expanded from the container's environment as the shell would."""
    argv = shlex.split(interpolate(command)) if isinstance(command, str) else [interpolate(a) for a in command]
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    script = re.sub(r"\d*>>?&?\s*[^\s;&|]+", "", argv[2])  # redirections: not part of the command line
    script = re.sub(r"\$(\w+)", lambda m: shlex.quote(env[m.group(1)]), script)
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in ("&&", "||", ";", "|"):
            commands.append(current)
            current = []
        elif current or token not in SHELL_WORDS:
            current.append(token)
    commands.append(current)
    return [c for c in commands if c]


def every_command() -> list[tuple[str, list[str]]]:
    found = []
    for name, svc in SERVICES.items():
        env = service_env(svc)
        for key in ("command", "entrypoint"):
            if key in svc:
                found += [(name, c) for c in simple_commands(svc[key], env)]
        test = (svc.get("healthcheck") or {}).get("test")
        if test:
            if test[0] == "CMD":
                found.append((name, [interpolate(a) for a in test[1:]]))
            else:
                assert test[0] == "CMD-SHELL", f"{name}: health check must be CMD or CMD-SHELL"
                found += [(name, c) for c in simple_commands(["sh", "-c", test[1]], env)]
    return found


def parse_click(group: Any, argv: list[str]) -> str:
    """Descend `group` by subcommand names and parse the rest exactly as the CLI would (nothing runs).

    Duck-typed: Ray's CLI is click, Typer carries its own copy of click; both have `commands` and
    `make_context`."""
    cmd = group
    path = []
    args = list(argv)
    while isinstance(getattr(cmd, "commands", None), dict):
        assert args, f"{' '.join(argv)}: names a command group, not a command"
        sub = args.pop(0)
        assert sub in cmd.commands, f"{' '.join(argv)}: {sub!r} is not a command (has {sorted(cmd.commands)})"
        path.append(sub)
        cmd = cmd.commands[sub]
    cmd.make_context(" ".join(path), args)  # raises a UsageError on an unknown option or a bad value
    return " ".join(path)


def _usage_error(e: BaseException) -> bool:
    return any(c.__name__ == "UsageError" for c in type(e).__mro__)


def test_the_services_of_the_scale_out():
    assert {"postgres", "ray-head", "ray-worker", "controller"} <= set(SERVICES)
    assert any("llm" in svc.get("profiles", []) and "ollama" in svc.get("image", "") for svc in SERVICES.values())
    for name, svc in SERVICES.items():
        assert "image" in svc or "build" in svc, f"{name}: needs an image or a build"
        if "build" in svc:
            assert (REPO / svc["build"]["context"] / svc["build"].get("dockerfile", "Dockerfile")).is_file()
        if not svc.get("profiles"):  # the default set starts healthy or not at all
            assert "healthcheck" in svc, f"{name}: no health check"
        for dep, how in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            if how.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy; it has no check"
    assert set(SERVICES["controller"]["depends_on"]) >= {"postgres", "ray-head", "ray-worker"}


def test_every_command_is_a_real_command_line():
    evolve_cli = typer.main.get_command(app)
    from ray.scripts.scripts import cli as ray_cli

    ran: set[str] = set()
    for service, argv in every_command():
        program = argv[0]
        if program == "evolve":
            ran.add("evolve " + parse_click(evolve_cli, argv[1:]))
        elif program == "ray":
            ran.add("ray " + parse_click(ray_cli, argv[1:]))
        else:
            assert program in OTHER_PROGRAMS, f"{service}: runs {program!r}, neither evolve nor ray"
            image = SERVICES[service].get("image", "")
            assert image.startswith(OTHER_PROGRAMS[program]), f"{service}: {program} is not in image {image}"
    assert {"evolve launch", "evolve resume", "ray start", "evolve data prepare"} <= ran


def test_parser_rejects_what_is_not_a_real_command():
    """The check above is worth something only if a wrong command line fails it."""
    evolve_cli = typer.main.get_command(app)
    with pytest.raises(AssertionError):
        parse_click(evolve_cli, ["lanch", "--smoke"])
    for wrong in (["launch", "--executor-kind", "ray"], ["launch", "--workers", "many"]):
        with pytest.raises(Exception) as e:
            parse_click(evolve_cli, wrong)
        assert _usage_error(e.value), e.value
    from ray.scripts.scripts import cli as ray_cli

    with pytest.raises(Exception) as e:
        parse_click(ray_cli, ["start", "--head", "--num-gpu=1"])
    assert _usage_error(e.value), e.value


def test_the_controller_runs_on_ray_and_postgres():
    svc = SERVICES["controller"]
    env = service_env(svc)
    launch = next(c for c in simple_commands(svc["command"], env) if c[:2] == ["evolve", "launch"])
    option = dict(zip(launch, launch[1:], strict=False))
    assert option["--executor"] == "ray"
    host, port = option["--ray-address"].split(":")
    assert host == "ray-head" and f"--port={port}" in SERVICES["ray-head"]["command"]
    db = option["--db"]
    assert db.startswith("postgresql+psycopg://") and "@postgres:5432/" in db
    assert (REPO / option["--config"]).is_file()  # the config the image carries (and the bind mount shows)
    for worker in ("ray-worker", "ray-worker-gpu"):
        assert f"--address={option['--ray-address']}" in SERVICES[worker]["command"]


def test_volumes_and_env_files_exist_or_are_documented():
    declared = set(COMPOSE.get("volumes") or {})
    used: set[str] = set()
    for name, svc in SERVICES.items():
        for spec in svc.get("volumes", []):
            source, target = spec.split(":")[:2]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind mount {source} is not in the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
        for env_file in svc.get("env_file", []):
            path = env_file if isinstance(env_file, str) else env_file["path"]
            documented = (REPO / f"{path}.example").is_file() and f"cp {path}.example {path}" in COMPOSE_TEXT
            assert (REPO / path).is_file() or documented, f"{name}: env file {path} neither exists nor is documented"
            ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0
            assert ignored, f"{path} holds secrets: it must be git-ignored"
    assert used == declared, f"declared but unused volumes: {declared - used}"
    # Named volumes for the database and the populations folder, at the paths that really hold them.
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    workdir = re.findall(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.M)[-1]
    populations = f"populations:{Path(workdir) / POPULATIONS}"
    cache = re.search(r"EVOLVE_CACHE=(\S+)", DOCKERFILE).group(1)
    for name in ("controller", "ray-worker", "ray-worker-gpu"):
        mounts = SERVICES[name]["volumes"]
        assert populations in mounts, f"{name}: the populations folder must be the shared volume"
        assert any(cache.startswith(m.split(":")[1]) for m in mounts if m.startswith("evolve-data:")), \
            f"{name}: the corpus cache {cache} must be on the shared volume"


def test_secrets_come_from_the_env_file_only():
    for name, svc in SERVICES.items():
        for key, raw in (svc.get("environment") or {}).items():
            raw = str(raw)
            if SECRET.search(key) or re.search(r"://[^/\s]*:[^/\s]*@", raw):
                assert "${" in raw, f"{name}: {key} is written into docker-compose.yml; take it from .env"
    for key in ("POSTGRES_PASSWORD", "RAY_AUTH_TOKEN"):
        assert key in ENV and f"${{{key}:?" in COMPOSE_TEXT  # required: compose refuses to start without it
    assert not re.search(r"^\s*(ENV|ARG)\b.*(PASSWORD|TOKEN|API_KEY|SECRET)", DOCKERFILE, re.M | re.I)
    copied = re.findall(r"^COPY\s+(.+?)\s+\S+$", DOCKERFILE, re.M)
    assert not any(".env" in c or c.strip() == "." for c in copied), "the image must not copy .env"


def test_workers_scale_and_show_a_gpu_reservation():
    for name in ("ray-worker", "ray-worker-gpu"):
        svc = SERVICES[name]
        assert "container_name" not in svc and "ports" not in svc, f"{name}: fixed names or ports block --scale"
    devices = SERVICES["ray-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] and d["driver"] == "nvidia" for d in devices)
    assert "gpu" in SERVICES["ray-worker-gpu"]["profiles"]  # CPU-only hosts start without it
    assert "--num-gpus=1" in SERVICES["ray-worker-gpu"]["command"]
