"""The compose file's checks for validate_deploy.py (which imports this module and calls
`compose_checks`): the file's structure (top-level sections, the keys each service may
have, dependency conditions, health checks), the secrets it needs from deploy/.env, its
services' dependencies and health checks, and each cairn service's environment through
`cairn config check`.
"""

import re
import subprocess

import yaml

import __main__ as v  # validate_deploy.py: check, section, config_check and the constants

# What a Compose file may hold, as this project uses it: the top level, a service's keys,
# a dependency's conditions and a health check's keys. Anything else is a typo to catch
# before `docker compose` does.
TOP_LEVEL = {"name", "services", "volumes", "networks", "secrets", "configs"}
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "depends_on",
    "healthcheck", "ports", "expose", "volumes", "restart", "user", "working_dir",
    "secrets", "configs", "networks", "deploy", "profiles", "read_only", "tmpfs", "init",
    "stop_grace_period", "stop_signal", "labels", "logging", "shm_size", "ulimits",
    "cap_add", "cap_drop", "security_opt", "container_name", "hostname", "extra_hosts",
    "pull_policy", "platform",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}


def structure_checks(raw: dict) -> None:
    """The shape of the file: known sections and keys, well-formed dependencies."""
    v.check(isinstance(raw, dict) and isinstance(raw.get("services"), dict), "compose.yaml has services")
    for key in raw:
        v.check(key in TOP_LEVEL or key.startswith("x-"), f"compose.yaml: unknown top-level key `{key}`")
    for name, svc in raw.get("services", {}).items():
        v.check(isinstance(svc, dict), f"service {name} is a mapping")
        for key in svc:
            v.check(
                key in SERVICE_KEYS or key.startswith("x-"),
                f"service {name}: unknown key `{key}`",
            )
        v.check("image" in svc or "build" in svc, f"service {name} has an image or a build")
        deps = svc.get("depends_on", {})
        if isinstance(deps, dict):
            for dep, spec in deps.items():
                v.check(dep in raw["services"], f"service {name} depends on a defined service ({dep})")
                v.check(
                    isinstance(spec, dict) and spec.get("condition", "service_started") in CONDITIONS,
                    f"service {name}: depends_on.{dep}.condition is one of {sorted(CONDITIONS)}",
                )
        else:
            v.check(
                isinstance(deps, list) and all(d in raw["services"] for d in deps),
                f"service {name}: depends_on names defined services",
            )
        hc = svc.get("healthcheck")
        if hc is not None:
            v.check(isinstance(hc, dict), f"service {name}: healthcheck is a mapping")
            for key in hc:
                v.check(key in HEALTHCHECK_KEYS, f"service {name}: unknown healthcheck key `{key}`")
        if "restart" in svc:
            v.check(str(svc["restart"]).split(":")[0] in RESTART, f"service {name}: restart policy")



INTERP = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
INTERP_NAMES = re.compile(r"\$\{(\w+)")


def interpolate(value, env: dict[str, str], required: set[str]):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, required) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, required) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        val = env.get(name)
        if op in (":?", "?"):
            required.add(name)
            if val is None or (op == ":?" and val == ""):
                raise KeyError(f"{name}: {arg}")
        if op in (":-", "-") and (val is None or (op == ":-" and val == "")):
            return arg
        return val or ""

    return INTERP.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def compose_checks(image_env: dict[str, str]) -> None:
    v.section("compose.yaml")
    raw = yaml.safe_load((v.DEPLOY / "compose.yaml").read_text())
    structure_checks(raw)

    # The secrets are interpolated from deploy/.env: without them compose refuses to start.
    required: set[str] = set()
    try:
        interpolate(raw, {}, required)
        v.check(False, "compose.yaml refuses to start without POSTGRES_PASSWORD and CAIRN_MASTER_KEY")
    except KeyError:
        pass
    # Variables compose interpolates must not look like cairn configuration keys: exported
    # in a shell, `CAIRN_X` would make every local cairn command refuse to start.
    for name in sorted(set(INTERP_NAMES.findall((v.DEPLOY / "compose.yaml").read_text()))):
        v.check(
            not name.startswith("CAIRN_") or name == "CAIRN_MASTER_KEY",
            f"compose variable {name} does not start with CAIRN_ (cairn reads those as configuration)",
        )
    env_file = {"POSTGRES_PASSWORD": v.DUMMY_PASSWORD, "CAIRN_MASTER_KEY": v.DUMMY["master-key"]}
    required = set()
    c = interpolate(raw, env_file, required)
    v.check(
        required == {"POSTGRES_PASSWORD", "CAIRN_MASTER_KEY"},
        f"the required variables are the password and the master key (got {sorted(required)})",
    )
    example = (v.DEPLOY / "env.example").read_text()
    for name in sorted(required):
        v.check(
            re.search(rf"^{name}=", example, re.M) is not None, f"deploy/env.example lists {name}"
        )
    ignored_env = subprocess.run(
        ["git", "-C", str(v.ROOT), "check-ignore", "-q", "deploy/.env"], check=False
    )
    v.check(ignored_env.returncode == 0, "git ignores deploy/.env")

    services = c.get("services", {})
    want = {"postgres", "redis", "migrate", "models", "server-a", "server-b", "worker"}
    v.check(set(services) == want, f"compose services are {sorted(want)} (got {sorted(services)})")
    if set(services) != want:
        return
    v.check(
        services["postgres"]["image"].split("/")[-2:]
        in (["pgvector", "pgvector:pg17"], ["pgvector", "pgvector:pg18"]),
        f"postgres is a pgvector image (got {services['postgres']['image']})",
    )
    v.check(
        services["redis"]["image"].split("/")[-1].startswith("redis:7"),
        f"redis is redis:7 (got {services['redis']['image']})",
    )
    if services["postgres"]["image"].endswith("pg18"):
        vols = services["postgres"].get("volumes", [])
        v.check(
            any(str(v).endswith(":/var/lib/postgresql") for v in vols),
            "PostgreSQL 18 images keep data under /var/lib/postgresql: the volume is mounted there",
        )

    # The secrets appear only as ${...} references in the file itself.
    for name, svc in raw["services"].items():
        for key, val in (svc.get("environment") or {}).items():
            if key in ("CAIRN_MASTER_KEY", "POSTGRES_PASSWORD"):
                v.check(
                    re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(val)) is not None,
                    f"{name}: {key} is a required ${{...}} reference, not a literal",
                )
            if key == "CAIRN_STORE__URL":
                v.check(
                    re.search(r"://[^:/@]+:\$\{POSTGRES_PASSWORD:\?[^}]*\}@", str(val)) is not None,
                    f"{name}: the store URL's password is ${{POSTGRES_PASSWORD}}, not a literal",
                )

    def deps(name: str) -> dict[str, str]:
        d = services[name].get("depends_on", {})
        return (
            {k: v.get("condition") for k, v in d.items()}
            if isinstance(d, dict)
            else {k: "service_started" for k in d}
        )

    for s in ("server-a", "server-b", "worker"):
        d = deps(s)
        v.check(
            d.get("migrate") == "service_completed_successfully",
            f"{s} waits for migrate to complete successfully (got {d.get('migrate')})",
        )
        v.check(d.get("models") == "service_completed_successfully", f"{s} waits for the model fetch")
        v.check(d.get("postgres") == "service_healthy", f"{s} waits for a healthy postgres")
    for s in ("server-a", "server-b"):
        v.check(deps(s).get("redis") == "service_healthy", f"{s} waits for a healthy redis")
    v.check(
        deps("migrate").get("postgres") == "service_healthy", "migrate waits for a healthy postgres"
    )
    for s in ("postgres", "redis", "server-a", "server-b"):
        v.check(bool(services[s].get("healthcheck", {}).get("test")), f"{s} has a healthcheck")
    for s in ("server-a", "server-b"):
        test = " ".join(services[s]["healthcheck"]["test"])
        v.check("/readyz" in test, f"{s}'s healthcheck asks /readyz")
        cmd = services[s].get("command", [])
        v.check(
            cmd[:3] == ["serve", "--listen", "0.0.0.0:8080"],
            f"{s} runs `serve --listen 0.0.0.0:8080` (got {cmd})",
        )
    v.check(
        services["migrate"].get("command") == ["migrate"],
        "the migrate service runs `cairn migrate`",
    )
    v.check(services["worker"].get("command") == ["worker"], "the worker service runs `cairn worker`")
    v.check(
        services["models"].get("command") == ["fetch-models"],
        "the models service runs the entrypoint's fetch-models",
    )
    v.check(
        services["migrate"].get("restart") in ("no", None)
        and services["models"].get("restart") in ("no", None),
        "the one-shot services are not restarted",
    )

    host_ports = {}
    for s in ("server-a", "server-b"):
        ports = services[s].get("ports", [])
        v.check(
            len(ports) == 1 and str(ports[0]).endswith(":8080"),
            f"{s} publishes container port 8080",
        )
        if ports:
            host_ports[s] = str(ports[0]).rsplit(":", 1)[0]
    v.check(
        len(set(host_ports.values())) == 2,
        f"server-a and server-b use different host ports ({host_ports})",
    )
    for s in ("postgres", "redis"):
        v.check(not services[s].get("ports"), f"{s} is not published on the host")

    for s in ("models", "server-a", "server-b", "worker"):
        vols = [str(v) for v in services[s].get("volumes", [])]
        v.check(
            any(v.startswith("models:/models") for v in vols),
            f"{s} mounts the shared models volume at /models",
        )
    v.check(
        any(str(v).endswith(":/ingest:ro") for v in services["worker"].get("volumes", [])),
        "the worker reads the documents that `cairn ingest --no-wait` enqueues from /ingest (read-only)",
    )
    build = services["server-a"].get("build", {})
    v.check(
        (v.DEPLOY / build.get("context", "")).resolve() == v.ROOT
        and build.get("dockerfile") == "deploy/Containerfile",
        "compose builds deploy/Containerfile with the repository as context",
    )
    images = {
        services[s].get("image") for s in ("migrate", "models", "server-a", "server-b", "worker")
    }
    v.check(len(images) == 1, f"the cairn services run one image (got {images})")

    # (The servers' listen address is on their command line, checked above.)
    for s, roles in (
        ("server-a", ("embedder", "generator")),
        ("server-b", ("embedder", "generator")),
        ("worker", ("embedder",)),
    ):
        env = dict(image_env)
        env.update({k: str(v) for k, v in services[s]["environment"].items()})
        cfg = v.config_check(env, None, f"compose {s}")
        if cfg:
            v.check_effective(cfg, f"compose {s}", None)
            v.fetch_covers(env.get("FETCH_MODELS", ""), cfg, roles, f"compose {s}")
    env = dict(image_env)
    env.update({k: str(v) for k, v in services["migrate"]["environment"].items()})
    cfg = v.config_check(env, None, "compose migrate")
    if cfg:
        v.check(cfg["store_backend"] == "postgres", "compose migrate: the store backend is postgres")
    cfg = v.config_check(
        {**image_env, **{k: str(v) for k, v in services["models"]["environment"].items()}},
        None,
        "compose models",
    )
    if cfg:
        v.fetch_covers(
            services["models"]["environment"]["FETCH_MODELS"],
            cfg,
            ("embedder", "generator"),
            "compose models",
        )


