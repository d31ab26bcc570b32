#!/usr/bin/env python3
"""Static check of docker-compose.yml, for machines without a Docker engine.

    python3 scripts/check-compose.py [COMPOSE_FILE]

Checks, without network and without Docker:
  - the file parses, and every service's build context and Dockerfile exist;
  - every bind-mounted host path, env_file and init-script folder exists (an init folder must
    hold at least one *.sh / *.sql file), and every named volume is declared;
  - paths that healthcheck / command / entrypoint name inside a bind mount exist on the host;
  - depends_on names existing services, with a healthcheck where it waits for service_healthy;
  - each proxy config mounted into a Splitrail service (a file mounted under /etc/splitrail/)
    uses only keys documented in docs/configuration.md, listens on a non-loopback address, and
    the environment variables its `*_env` keys name are set on that service;
  - every image has a pinned tag (not `latest`, not none);
  - a Prometheus service (image prom/prometheus) has its config mounted, and that config scrapes
    each Splitrail service's admin port (`service:port` of admin.listen) at /metrics over http,
    with the admin token when the proxy asks for one (a mounted credentials file, or one the
    service's entrypoint writes from the same environment variable the proxy reads);
  - a Grafana service (image grafana/grafana*) has data source and dashboard provisioning
    mounted; the Prometheus data sources point at a Prometheus service; every dashboard the
    providers load parses as JSON, its panels and variables use a provisioned data source (or a
    data source variable), and every PromQL expression names only metrics GET /metrics exports
    (the names crates/server/src/admin/metrics.rs renders, with the labels and types of
    docs/operations.md's metrics table); anonymous access, when on, is Viewer only.

Prints `compose check: N files referenced, all present` (and a line per Grafana dashboard) and
exits 0, or prints every problem and exits 1. Uses PyYAML when installed, else a small parser
for the YAML subset these files use (block mappings and lists, flow lists and mappings, quotes,
anchors and aliases).
"""

import difflib
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG_DOC = REPO / "docs" / "configuration.md"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
METRICS_RS = REPO / "crates" / "server" / "src" / "admin" / "metrics.rs"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
INIT_DIR = "/docker-entrypoint-initdb.d"
INIT_SUFFIXES = (".sh", ".sql", ".sql.gz", ".sql.bz2", ".sql.xz", ".sql.zst")


# ---------------------------------------------------------------------------------------------
# YAML: PyYAML when available, else a small parser for the subset used here.

class MiniYamlError(Exception):
    pass


def _strip_comment(line):
    """Drops a `#` comment that is outside quotes (a `#` must follow a space to start one)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _split_flow(text):
    """Splits the inside of a flow collection on top-level commas."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    last = text[start:].strip()
    if last:
        parts.append(last)
    return parts


def _split_key(text):
    """`key: value` -> (key, value) when text is a mapping entry, else None."""
    m = re.match(r"""^("[^"]*"|'[^']*'|[^\s'"\[\]{},#][^:#]*?)\s*:(?:\s+(.*)|$)""", text)
    if not m:
        return None
    return _scalar(m.group(1)), (m.group(2) or "").strip()


def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return json.loads(text)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class MiniYaml:
    def __init__(self, text):
        self.lines = []
        for number, raw in enumerate(text.splitlines(), 1):
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise MiniYamlError(f"line {number}: tab in indentation")
            line = _strip_comment(raw)
            if line.strip() and line.strip() != "---":
                self.lines.append((number, len(line) - len(line.lstrip()), line.strip()))
        self.pos = 0
        self.anchors = {}

    def parse(self):
        if not self.lines:
            return None
        value = self._block(self.lines[0][1])
        if self.pos < len(self.lines):
            raise MiniYamlError(f"line {self.lines[self.pos][0]}: unexpected indentation")
        return value

    def _block(self, indent):
        _, _, text = self.lines[self.pos]
        if text == "-" or text.startswith("- "):
            return self._list(indent)
        return self._mapping(indent)

    def _list(self, indent):
        items = []
        while self.pos < len(self.lines):
            number, ind, text = self.lines[self.pos]
            if ind < indent:
                break
            if ind > indent or not (text == "-" or text.startswith("- ")):
                raise MiniYamlError(f"line {number}: expected a list item")
            rest = text[1:].strip()
            if not rest:
                self.pos += 1
                items.append(self._nested(indent))
            elif _split_key(rest) and not rest.startswith(("[", "{")):
                # `- key: value` starts a mapping whose keys sit at the column after "- ".
                self.lines[self.pos] = (number, ind + 2, rest)
                items.append(self._mapping(ind + 2))
            else:
                self.pos += 1
                items.append(self._value(rest, number))
        return items

    def _mapping(self, indent):
        result = {}
        while self.pos < len(self.lines):
            number, ind, text = self.lines[self.pos]
            if ind < indent:
                break
            if ind > indent:
                raise MiniYamlError(f"line {number}: unexpected indentation")
            entry = _split_key(text)
            if entry is None:
                raise MiniYamlError(f"line {number}: expected `key: value`")
            key, rest = entry
            if key in result:
                raise MiniYamlError(f"line {number}: key {key!r} repeated")
            self.pos += 1
            anchor = None
            m = re.match(r"^&(\S+)\s*(.*)$", rest)
            if m:
                anchor, rest = m.group(1), m.group(2)
            if rest:
                value = self._value(rest, number)
            else:
                # A list may sit at the same indentation as its key.
                nxt = self.lines[self.pos] if self.pos < len(self.lines) else None
                if nxt and nxt[1] == indent and (nxt[2] == "-" or nxt[2].startswith("- ")):
                    value = self._list(indent)
                else:
                    value = self._nested(indent)
            if anchor:
                self.anchors[anchor] = value
            result[key] = value
        return result

    def _nested(self, parent_indent):
        if self.pos < len(self.lines) and self.lines[self.pos][1] > parent_indent:
            return self._block(self.lines[self.pos][1])
        return None

    def _value(self, text, number):
        if text.startswith("*"):
            name = text[1:].strip()
            if name not in self.anchors:
                raise MiniYamlError(f"line {number}: unknown alias *{name}")
            return self.anchors[name]
        if text[0] in "|>":
            raise MiniYamlError(f"line {number}: block scalars are not supported")
        if text.startswith("["):
            if not text.endswith("]"):
                raise MiniYamlError(f"line {number}: flow list must end on its line")
            return [self._value(p, number) for p in _split_flow(text[1:-1])]
        if text.startswith("{"):
            if not text.endswith("}"):
                raise MiniYamlError(f"line {number}: flow mapping must end on its line")
            result = {}
            for part in _split_flow(text[1:-1]):
                entry = _split_key(part)
                if entry is None:
                    raise MiniYamlError(f"line {number}: expected `key: value` in {{...}}")
                result[entry[0]] = self._value(entry[1], number) if entry[1] else None
            return result
        return _scalar(text)


def load_yaml(path):
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return MiniYaml(text).parse()
    return yaml.safe_load(text)


# ---------------------------------------------------------------------------------------------
# The checks.

class Checker:
    def __init__(self, compose_path):
        self.compose_path = compose_path
        self.base = compose_path.parent
        self.problems = []
        self.referenced = set()
        self.services = {}  # name -> (service, bind mounts, environment), for the cross-service checks
        self.proxies = {}  # Splitrail service name -> its parsed proxy config
        self.dashboards = []  # (dashboard file, panels, expressions) checked, for the summary

    def problem(self, where, message):
        self.problems.append(f"{self.rel(self.compose_path)}: {where}: {message}")

    def rel(self, path):
        try:
            return str(path.resolve().relative_to(REPO))
        except ValueError:
            return str(path)

    def host_path(self, text):
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.base / path)

    def need(self, where, path, kind="file"):
        """Records a referenced host path; a problem unless it exists as `kind`."""
        self.referenced.add(path.resolve())
        ok = path.is_dir() if kind == "folder" else path.is_file() if kind == "file" else path.exists()
        if not ok:
            self.problem(where, f"{self.rel(path)}: no such {kind if kind != 'path' else 'file or folder'}")
        return ok

    def run(self):
        try:
            compose = load_yaml(self.compose_path)
        except Exception as err:  # noqa: BLE001 (any parse error is reported the same way)
            self.problems.append(f"{self.rel(self.compose_path)}: does not parse: {err}")
            return
        if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
            self.problem("services", "missing, or not a mapping")
            return
        declared_volumes = set((compose.get("volumes") or {}).keys())
        services = compose["services"]
        for name, service in services.items():
            if not isinstance(service, dict):
                self.problem(f"services.{name}", "not a mapping")
                continue
            self.check_service(name, service, services, declared_volumes)
        prometheus = [n for n, (s, _, _) in self.services.items() if image_is(s, PROMETHEUS_IMAGES)]
        for name in prometheus:
            self.check_prometheus(name)
        for name, (service, _, _) in self.services.items():
            if image_is(service, GRAFANA_IMAGES):
                self.check_grafana(name, prometheus)

    def check_service(self, name, service, services, declared_volumes):
        where = f"services.{name}"
        if "image" not in service and "build" not in service:
            self.problem(where, "has neither image nor build")
        if "image" in service and "build" not in service:
            _, tag = split_image(str(service["image"]))
            if tag in (None, "latest"):
                self.problem(f"{where}.image", f"{service['image']}: pin a tag (not `latest`), so every start runs the same version")
        dockerfile = None
        if "build" in service:
            dockerfile = self.check_build(f"{where}.build", service["build"])

        mounts = {}  # container path -> host path, for bind mounts
        for i, volume in enumerate(service.get("volumes") or []):
            self.check_volume(f"{where}.volumes[{i}]", volume, declared_volumes, mounts)

        env_files = service.get("env_file") or []
        for i, entry in enumerate([env_files] if isinstance(env_files, (str, dict)) else env_files):
            path = entry.get("path") if isinstance(entry, dict) else entry
            required = entry.get("required", True) if isinstance(entry, dict) else True
            if required:
                self.need(f"{where}.env_file[{i}]", self.host_path(path))

        for key in ("command", "entrypoint"):
            self.check_mounted_words(f"{where}.{key}", service.get(key), mounts)
        self.check_mounted_words(f"{where}.healthcheck.test", (service.get("healthcheck") or {}).get("test"), mounts)

        depends = service.get("depends_on") or []
        for other in depends if isinstance(depends, list) else depends.keys():
            if other not in services:
                self.problem(f"{where}.depends_on", f"no service named {other!r}")
            elif isinstance(depends, dict) and (depends[other] or {}).get("condition") == "service_healthy" \
                    and not (services[other] or {}).get("healthcheck"):
                self.problem(f"{where}.depends_on.{other}", "waits for service_healthy, but that service has no healthcheck")

        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
        self.services[name] = (service, mounts, environment)
        for container_path, host in mounts.items():
            if container_path.startswith("/etc/splitrail/") and host.is_file():
                config = self.check_proxy_config(where, host, environment)
                if config is not None:
                    self.proxies[name] = config
        if dockerfile is not None and "command" not in service:
            self.check_config_mounted(where, dockerfile, mounts)

    def check_build(self, where, build):
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        elif isinstance(build, dict):
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        else:
            self.problem(where, "must be a path or a mapping")
            return None
        if re.match(r"^[a-z][a-z0-9+.-]*://", str(context)):
            return None  # a remote context (git URL): nothing local to check
        context_path = self.host_path(context)
        if not self.need(f"{where}.context", context_path, "folder"):
            return None
        dockerfile_path = context_path / dockerfile
        return dockerfile_path if self.need(f"{where}.dockerfile", dockerfile_path) else None

    def check_volume(self, where, volume, declared_volumes, mounts):
        if isinstance(volume, dict):
            kind, source, target = volume.get("type"), volume.get("source"), volume.get("target")
        elif isinstance(volume, str):
            parts = volume.split(":")
            source, target = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
            kind = "bind" if source and source[0] in "./~" else "volume"
        else:
            self.problem(where, "must be a string or a mapping")
            return
        if kind == "bind":
            host = self.host_path(source)
            if not self.need(where, host, "path"):
                return
            mounts[str(target).rstrip("/")] = host
            if str(target).rstrip("/") == INIT_DIR:
                self.check_init_dir(where, host)
        elif kind == "volume" and source and source not in declared_volumes:
            self.problem(where, f"named volume {source!r} is not declared under top-level volumes")

    def check_init_dir(self, where, host):
        if not host.is_dir():
            self.problem(where, f"{self.rel(host)} is mounted on {INIT_DIR} but is not a folder")
            return
        scripts = sorted(p for p in host.iterdir() if p.is_file() and p.name.endswith(INIT_SUFFIXES))
        if not scripts:
            self.problem(where, f"{self.rel(host)} holds no init script ({', '.join(INIT_SUFFIXES)})")
        for script in scripts:
            self.need(where, script)

    def check_mounted_words(self, where, value, mounts):
        """A word of a command that names a path inside a bind mount must exist on the host."""
        if value is None:
            return
        words = value.split() if isinstance(value, str) else [str(w) for w in value]
        # `--config.file=/etc/x.yml`: the part after `=` is the path.
        words = [w.split("=", 1)[1] if w.startswith("-") and "=" in w else w for w in words]
        for word in words:
            for target, host in mounts.items():
                if word == target or word.startswith(target + "/"):
                    self.need(where, host / word[len(target):].lstrip("/") if word != target else host, "path")

    def check_proxy_config(self, where, config_path, environment):
        label = self.rel(config_path)
        try:
            config = load_yaml(config_path)
        except Exception as err:  # noqa: BLE001
            self.problems.append(f"{label}: does not parse: {err}")
            return None
        self.need(where, CONFIG_DOC)
        documented = documented_keys()
        if not documented:
            self.problems.append(f"{self.rel(CONFIG_DOC)}: no documented keys found (table rows starting with a `key`)")
            return config
        for path, value in flatten(config):
            if path not in documented:
                self.problems.append(f"{label}: {path}: not a key documented in {self.rel(CONFIG_DOC)}")
            elif path.endswith("_env") and isinstance(value, str) and value not in environment:
                self.problems.append(
                    f"{label}: {path}: names environment variable {value}, which {where}.environment does not set")
        listen = str((config or {}).get("listen", "127.0.0.1:6033"))
        if is_loopback(listen):
            self.problems.append(f"{label}: listen: {listen} is loopback, unreachable from outside the container")
        return config if isinstance(config, dict) else {}

    def check_config_mounted(self, where, dockerfile, mounts):
        """The config path in the Dockerfile's CMD should be mounted (when the service keeps CMD)."""
        m = re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile.read_text(encoding="utf-8"), re.MULTILINE)
        if not m:
            return
        try:
            cmd = json.loads(m.group(1))
        except ValueError:
            return
        if "--config" in cmd and cmd.index("--config") + 1 < len(cmd):
            path = cmd[cmd.index("--config") + 1]
            if path not in mounts:
                self.problem(f"{where}.volumes", f"nothing is mounted at {path}, the config path of {self.rel(dockerfile)}'s CMD")

    # -----------------------------------------------------------------------------------------
    # Prometheus: the scrape of each Splitrail service's admin API.

    def check_prometheus(self, name):
        service, mounts, _ = self.services[name]
        where = f"services.{name}"
        config_path = flag_value(service.get("command"), "--config.file") or PROMETHEUS_CONFIG
        host = mounted_host(mounts, config_path)
        if host is None or not host.is_file():
            self.problem(where, f"nothing is mounted at {config_path}: Prometheus would run the image's sample config")
            return
        label = self.rel(host)
        try:
            config = load_yaml(host) or {}
        except Exception as err:  # noqa: BLE001
            self.problems.append(f"{label}: does not parse: {err}")
            return
        jobs = [j for j in config.get("scrape_configs") or [] if isinstance(j, dict)]
        for proxy, proxy_config in self.proxies.items():
            self.check_scrape(label, name, jobs, proxy, proxy_config)

    def check_scrape(self, label, name, jobs, proxy, proxy_config):
        """One scrape job of `label` must scrape `proxy`'s admin port at /metrics."""
        admin = proxy_config.get("admin") or {}
        listen = str(admin.get("listen", "127.0.0.1:6034"))
        port = listen.rsplit(":", 1)[-1]
        proxy_service = self.services[proxy][0]
        hosts = {proxy} | {str(proxy_service[k]) for k in ("container_name", "hostname") if proxy_service.get(k)}
        expected = f"{proxy}:{port}"
        if is_loopback(listen):
            self.problems.append(f"{label}: the admin API of services.{proxy} listens on {listen}, loopback: "
                                 f"services.{name} cannot scrape it (set admin.listen to 0.0.0.0:{port})")
            return
        scraping = []
        for job in jobs:
            job_name = job.get("job_name", "?")
            for static in job.get("static_configs") or []:
                for target in (static or {}).get("targets") or []:
                    host, _, target_port = str(target).rpartition(":")
                    if host not in hosts:
                        continue
                    if target_port != port:
                        self.problems.append(f"{label}: job {job_name}: target {target} is not the admin port of "
                                             f"services.{proxy} ({expected}, admin.listen {listen})")
                    else:
                        scraping.append(job)
        if not scraping:
            self.problems.append(f"{label}: no scrape job targets services.{proxy}'s admin API ({expected})")
        for job in scraping:
            where = f"{label}: job {job.get('job_name', '?')}"
            if job.get("metrics_path", "/metrics") != "/metrics":
                self.problems.append(f"{where}: metrics_path {job['metrics_path']}: the proxy serves its metrics at /metrics")
            if job.get("scheme", "http") != "http":
                self.problems.append(f"{where}: scheme {job['scheme']}: the admin API answers plain HTTP")
            if admin.get("token") or admin.get("token_env"):
                self.check_scrape_token(where, name, job, proxy, admin)

    def check_scrape_token(self, where, name, job, proxy, admin):
        """The proxy asks every request for its token: the scrape must send the same one."""
        auth = job.get("authorization") or {}
        path = auth.get("credentials_file") or job.get("bearer_token_file")
        if auth.get("credentials") or job.get("bearer_token"):
            return
        if not path:
            self.problems.append(f"{where}: services.{proxy}'s admin API wants a bearer token (admin.token"
                                 f"{'_env' if admin.get('token_env') else ''}); the job sends none (authorization.credentials_file)")
            return
        service, mounts, environment = self.services[name]
        host = mounted_host(mounts, path)
        if host is not None:
            self.need(f"services.{name}.volumes", host)
            return
        # Not mounted: the service must write it when it starts, from the proxy's variable.
        started = " ".join(str(w) for key in ("entrypoint", "command") for w in as_words(service.get(key)))
        if path not in started:
            self.problems.append(f"{where}: credentials_file {path} is neither mounted into services.{name} "
                                 "nor written by its entrypoint or command")
            return
        variable = admin.get("token_env")
        if variable:
            proxy_env = self.services[proxy][2]
            if variable not in environment:
                self.problem(f"services.{name}.environment", f"does not set {variable}, the token the entrypoint writes to {path}")
            elif str(environment[variable]) != str(proxy_env.get(variable)):
                self.problem(f"services.{name}.environment.{variable}",
                             f"{environment[variable]!r} differs from services.{proxy}'s {proxy_env.get(variable)!r}: the scrape would get 401")

    # -----------------------------------------------------------------------------------------
    # Grafana: provisioning, and the dashboards it loads.

    def check_grafana(self, name, prometheus):
        _, mounts, environment = self.services[name]
        where = f"services.{name}"
        root = str(environment.get("GF_PATHS_PROVISIONING") or GRAFANA_PROVISIONING).rstrip("/")
        sources = {}  # uid -> type
        for path, document in self.provisioning_files(where, mounts, f"{root}/datasources", "data source"):
            for i, source in enumerate((document or {}).get("datasources") or []):
                self.check_datasource(f"{self.rel(path)}: datasources[{i}]", source, prometheus, sources)
        for path, document in self.provisioning_files(where, mounts, f"{root}/dashboards", "dashboard provider"):
            for i, provider in enumerate((document or {}).get("providers") or []):
                self.check_provider(f"{self.rel(path)}: providers[{i}]", provider, mounts, sources)
        home = environment.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
        if home:
            host = mounted_host(mounts, str(home))
            if host is None:
                self.problem(f"{where}.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", f"nothing is mounted at {home}")
            else:
                self.need(f"{where}.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", host)
        if str(environment.get("GF_AUTH_ANONYMOUS_ENABLED", "false")).lower() == "true":
            role = str(environment.get("GF_AUTH_ANONYMOUS_ORG_ROLE") or "Viewer")
            if role != "Viewer":
                self.problem(f"{where}.environment.GF_AUTH_ANONYMOUS_ORG_ROLE", f"{role}: anonymous visitors could edit; use Viewer")

    def provisioning_files(self, where, mounts, folder, kind):
        """(host path, parsed YAML) of each provisioning file Grafana reads from `folder`."""
        host = mounted_host(mounts, folder)
        files = []
        if host is not None and host.is_dir():
            files = sorted(p for p in host.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))
        # Files mounted one by one into the folder.
        for target, mounted in mounts.items():
            if target.startswith(folder + "/") and target.endswith((".yml", ".yaml")) and mounted not in files:
                files.append(mounted)
        if not files:
            self.problem(f"{where}.volumes", f"no {kind} provisioning file (*.yml) is mounted under {folder}")
        for path in files:
            if not self.need(f"{where}.volumes", path):
                continue
            try:
                yield path, load_yaml(path)
            except Exception as err:  # noqa: BLE001
                self.problems.append(f"{self.rel(path)}: does not parse: {err}")

    def check_datasource(self, where, source, prometheus, sources):
        if not isinstance(source, dict):
            self.problems.append(f"{where}: not a mapping")
            return
        if source.get("uid"):
            sources[str(source["uid"])] = source.get("type")
        if source.get("type") != "prometheus":
            return
        m = re.match(r"^https?://([^/:]+)(?::(\d+))?", str(source.get("url") or ""))
        if not m:
            self.problems.append(f"{where}: url {source.get('url')!r} is not an http(s) URL")
        elif m.group(1) not in prometheus:
            self.problems.append(f"{where}: url {source['url']}: {m.group(1)} is not a Prometheus service "
                                 f"of the compose file ({', '.join(prometheus) or 'none'})")
        else:
            command = self.services[m.group(1)][0].get("command")
            port = (flag_value(command, "--web.listen-address") or ":9090").rsplit(":", 1)[-1]
            if (m.group(2) or "80") != port:
                self.problems.append(f"{where}: url {source['url']}: Prometheus listens on port {port}")

    def check_provider(self, where, provider, mounts, sources):
        if not isinstance(provider, dict) or provider.get("type", "file") != "file":
            return
        path = str(((provider.get("options") or {}).get("path")) or "")
        if not path:
            self.problems.append(f"{where}: options.path is missing")
            return
        boards = []
        host = mounted_host(mounts, path)
        if host is not None and self.need(where, host, "path"):
            boards = [host] if host.is_file() else sorted(host.rglob("*.json"))
        # Dashboards mounted one by one into the folder (a bind mount per file).
        for target, mounted in mounts.items():
            if target.startswith(path.rstrip("/") + "/") and target.endswith(".json") and mounted not in boards:
                boards.append(mounted)
        if not boards:
            self.problems.append(f"{where}: options.path {path}: no dashboard (*.json) is mounted there")
        for board in boards:
            if self.need(where, board):
                self.check_dashboard(board, sources)

    def check_dashboard(self, path, sources):
        label = self.rel(path)
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            self.problems.append(f"{label}: not valid JSON: {err}")
            return
        if not isinstance(board, dict) or not isinstance(board.get("panels"), list):
            self.problems.append(f"{label}: not a dashboard (no `panels` list)")
            return
        if not isinstance(board.get("schemaVersion"), int):
            self.problems.append(f"{label}: schemaVersion is missing")
        series = self.exported_series()
        if not series:
            return
        variables = [v for v in (board.get("templating") or {}).get("list") or [] if isinstance(v, dict)]
        ds_variables = {str(v.get("name")) for v in variables if v.get("type") == "datasource"}
        for v in variables:
            where = f"{label}: variable {v.get('name')}"
            if v.get("type") == "datasource" and v.get("query") not in sources.values():
                self.problems.append(f"{where}: wants a {v.get('query')} data source; none is provisioned")
            if v.get("type") == "query":
                self.check_datasource_ref(where, v.get("datasource"), ds_variables, sources)
                query = v.get("query")
                query = query.get("query") if isinstance(query, dict) else query
                m = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*(\w+)\s*\)\s*", str(query or ""))
                if m:
                    self.check_promql(where, m.group(1) or "", series, f"{{{{{m.group(2)}}}}}", "label_values")
        panels = list(walk_panels(board["panels"]))
        ids = [p.get("id") for p in panels]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1 and i is not None}):
            self.problems.append(f"{label}: panel id {duplicate} is used more than once")
        expressions = 0
        for panel in panels:
            if panel.get("type") in ("row", "text", "dashlist", "news"):
                continue
            where = f"{label}: panel {panel.get('id')} ({panel.get('title', '')!r})"
            self.check_datasource_ref(where, panel.get("datasource"), ds_variables, sources)
            targets = panel.get("targets") or []
            if not targets:
                self.problems.append(f"{where}: has no query")
            for target in targets:
                self.check_datasource_ref(f"{where} query {target.get('refId')}", target.get("datasource"), ds_variables, sources)
                if not str(target.get("expr") or "").strip():
                    self.problems.append(f"{where}: query {target.get('refId')} has no PromQL expression")
                    continue
                expressions += 1
                self.check_promql(f"{where} query {target.get('refId')}", target["expr"], series, target.get("legendFormat"))
        self.dashboards.append((label, sum(1 for p in panels if p.get("type") != "row"), expressions))

    def check_datasource_ref(self, where, ref, ds_variables, sources):
        """A panel's or query's data source: a data source variable, or a provisioned uid."""
        if ref is None:
            return  # the default data source
        uid = ref.get("uid") if isinstance(ref, dict) else ref
        m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", str(uid))
        if m:
            if (m.group(1) or m.group(2)) not in ds_variables:
                self.problems.append(f"{where}: data source {uid}: no data source variable of that name")
        elif str(uid) not in sources:
            self.problems.append(f"{where}: data source uid {uid!r} is not provisioned ({', '.join(sources) or 'none'})")
        elif isinstance(ref, dict) and ref.get("type") and ref["type"] != sources[str(uid)]:
            self.problems.append(f"{where}: data source {uid!r} is a {sources[str(uid)]}, not a {ref['type']}")

    def check_promql(self, where, expr, series, legend=None, what="legend"):
        """Names only exported metrics, each with its own labels; the legend's labels survive."""
        selectors, groupings, aggregations, problems = promql_refs(expr)
        for message in problems:
            self.problems.append(f"{where}: {message} in `{expr}`")
        known = {"job", "instance"}  # Prometheus adds them to every scraped series
        for metric, labels in selectors:
            if metric not in series:
                close = difflib.get_close_matches(metric, list(series), n=1, cutoff=0.8)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problems.append(f"{where}: `{metric}` is not a metric the proxy exports{hint} "
                                     f"({self.rel(METRICS_RS)}, {self.rel(OPERATIONS_DOC)})")
                continue
            known |= series[metric]
            for name in labels:
                if name not in series[metric] | {"job", "instance", "__name__"}:
                    self.problems.append(f"{where}: `{metric}` has no label {name!r} "
                                         f"(its labels: {', '.join(sorted(series[metric])) or 'none'})")
        if not all(metric in series for metric, _ in selectors):
            return
        if re.search(r"\b(label_replace|label_join|count_values)\s*\(", expr):
            return  # they make labels of their own
        for name in groupings:
            if name not in known:
                self.problems.append(f"{where}: groups by {name!r}, a label none of its metrics has")
        for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", str(legend or "")):
            dropped = [a for a in aggregations if not label_survives(name, a)]
            if name not in known or dropped:
                self.problems.append(f"{where}: {what} names label {name!r}, which the result does not have")

    def exported_series(self):
        """{series name: its labels} that GET /metrics renders; None after reporting a problem."""
        if getattr(self, "_series", None) is not None:
            return self._series
        self.need("metrics", METRICS_RS)
        self.need("metrics", OPERATIONS_DOC)
        if not METRICS_RS.is_file() or not OPERATIONS_DOC.is_file():
            return None
        rendered = rendered_metrics()
        documented = documented_metrics()
        if not rendered:
            self.problems.append(f"{self.rel(METRICS_RS)}: no metric names found (string literals \"splitrail_…\")")
            return None
        for name in sorted(set(documented) - rendered):
            self.problems.append(f"{self.rel(OPERATIONS_DOC)}: metrics table lists {name}, which {self.rel(METRICS_RS)} does not render")
        series = {}
        for name in rendered:
            labels, kind = documented.get(name, (set(), None))
            if kind == "histogram":
                series[f"{name}_bucket"] = labels | {"le"}
                series[f"{name}_sum"] = set(labels)
                series[f"{name}_count"] = set(labels)
            else:
                series[name] = set(labels)
        self._series = series
        return series


def documented_keys():
    """Key paths from the tables of docs/configuration.md: rows whose first cell is `a.b[].c`."""
    keys = set()
    for line in CONFIG_DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`([A-Za-z_][A-Za-z0-9_.\[\]]*)`\s*\|", line)
        if m:
            keys.add(m.group(1))
    return keys


def flatten(value, prefix=""):
    """(key path, value) for every key: mappings join with `.`, list items add `[]`."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, item
            yield from flatten(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from flatten(item, prefix + "[]")

PROMETHEUS_IMAGES = ("prom/prometheus", "prometheus/prometheus")
GRAFANA_IMAGES = ("grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise")


def split_image(image):
    """`registry/repo:tag@digest` -> (repo path, tag or None)."""
    image = image.split("@", 1)[0]
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return image, None


def image_is(service, repositories):
    repo, _ = split_image(str(service.get("image") or ""))
    repo = repo.removeprefix("docker.io/").removeprefix("quay.io/").removeprefix("library/")
    return repo in repositories


def is_loopback(listen):
    return str(listen).startswith(("127.", "[::1]", "localhost"))


def as_words(value):
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(w) for w in value]


def flag_value(value, flag):
    """The value of `--flag=value` or `--flag value` in a command, else None."""
    words = as_words(value)
    for i, word in enumerate(words):
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
        if word == flag and i + 1 < len(words):
            return words[i + 1]
    return None


def mounted_host(mounts, container_path):
    """The host path a container path is bind-mounted from (the deepest mount holding it)."""
    container_path = container_path.rstrip("/")
    for target in sorted(mounts, key=len, reverse=True):
        if container_path == target:
            return mounts[target]
        if container_path.startswith(target + "/"):
            return mounts[target] / container_path[len(target) + 1:]
    return None


def walk_panels(panels):
    """Every panel, those inside (collapsed) rows too."""
    for panel in panels:
        if isinstance(panel, dict):
            yield panel
            yield from walk_panels(panel.get("panels") or [])


def rendered_metrics():
    """Metric names metrics.rs renders: its string literals `"splitrail_…"` (tests left out)."""
    text = METRICS_RS.read_text(encoding="utf-8").split("#[cfg(test)]", 1)[0]
    return set(re.findall(r'"(splitrail_[a-z0-9_]+)"', text))


def documented_metrics():
    """{name: (labels, type)} from the metrics table of docs/operations.md."""
    metrics = {}
    for line in OPERATIONS_DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`(splitrail_[a-z0-9_]+)(?:\{([a-z_,\s]*)\})?`\s*\|\s*(\w+)\s*\|", line)
        if m:
            labels = {x.strip() for x in (m.group(2) or "").split(",") if x.strip()}
            metrics[m.group(1)] = (labels, m.group(3))
    return metrics


# PromQL's functions and aggregation operators (Prometheus 2.53 / 3.x).
PROMQL_FUNCTIONS = set("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
    clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month
    deg delta deriv double_exponential_smoothing end exp floor histogram_avg histogram_count
    histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
    holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10
    log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt start stddev_over_time stdvar_over_time
    sum_over_time tan tanh time timestamp vector year
""".split())
PROMQL_AGGREGATIONS = set("sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio".split())
PROMQL_KEEPS_LABELS = {"topk", "bottomk", "limitk", "limit_ratio"}
PROMQL_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
_PROMQL_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"\.?\d[\w.]*")  # numbers and durations (5m, 1e6, 0x1f)
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`)\s*(,)?')


def promql_refs(expr):
    """What a PromQL expression (Grafana variables allowed) names.

    Returns (selectors, grouping labels, aggregations, problems): selectors are
    (metric, [labels matched]); aggregations {"name", "by": set | None, "without": set | None}.
    A tokenizer, not a parser: enough to find metric and label names, not to validate syntax.
    """
    selectors, groupings, aggregations, problems = [], [], [], []
    stack = []  # per open parenthesis: the aggregation it belongs to, or None
    previous = None  # ("metric", index) / ("aggregation", index) / ("closed", index) / None
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        m = _GRAFANA_VARIABLE.match(expr, i) or _PROMQL_STRING.match(expr, i) or _NUMBER.match(expr, i)
        if m:
            i, previous = m.end(), None
            continue
        if ch == "{":
            labels, pos = [], i + 1
            while True:
                while pos < n and expr[pos].isspace():
                    pos += 1
                if pos >= n or expr[pos] == "}":
                    break
                mm = _MATCHER.match(expr, pos)
                if not mm:
                    break
                labels.append((mm.group(1), mm.group(2), mm.group(3)))
                pos = mm.end()
            if pos >= n or expr[pos] != "}":
                problems.append(f"cannot read the label matchers at `{expr[i:i + 40]}`")
                break
            body = expr[i + 1:pos].strip()
            if previous and previous[0] == "metric":
                selectors[previous[1]][1].extend(name for name, _, _ in labels)
            else:
                names = [json.loads(v) if v.startswith('"') else v[1:-1] for k, op, v in labels if k == "__name__" and op == "="]
                if not names:
                    problems.append(f"selector {{{body}}} names no metric (or by regex, which cannot be checked)")
                for name in names:
                    selectors.append((name, [k for k, _, _ in labels if k != "__name__"]))
            i, previous = pos + 1, None
            continue
        if ch == "[":
            end = expr.find("]", i)
            if end < 0:
                problems.append("a `[` is never closed")
                break
            i, previous = end + 1, None
            continue
        if ch == "(":
            stack.append(previous[1] if previous and previous[0] == "aggregation" else None)
            i, previous = i + 1, None
            continue
        if ch == ")":
            if not stack:
                problems.append("a `)` closes nothing")
                break
            owner = stack.pop()
            i, previous = i + 1, (("closed", owner) if owner is not None else None)
            continue
        m = _IDENTIFIER.match(expr, i)
        if not m:
            i, previous = i + 1, None  # an operator or a comma
            continue
        word, i = m.group(0), m.end()
        rest = expr[i:].lstrip()
        lower = word.lower()
        if lower in PROMQL_GROUPING:
            close = rest.find(")") if rest.startswith("(") else -1
            if close < 0:
                if lower in ("by", "without", "on", "ignoring"):
                    problems.append(f"`{word}` without a label list")
                continue  # group_left / group_right may go without one
            names = [x.strip() for x in rest[1:close].split(",") if x.strip()]
            groupings.extend(names)
            if previous and previous[0] in ("aggregation", "closed") and lower in ("by", "without"):
                aggregations[previous[1]][lower] = set(names)
            i = len(expr) - len(rest) + close + 1
            previous = ("aggregation", previous[1]) if previous and previous[0] == "aggregation" else None
            continue
        if lower in PROMQL_WORDS:
            previous = None
            continue
        if rest.startswith("("):
            if lower in PROMQL_AGGREGATIONS:
                aggregations.append({"name": lower, "by": None, "without": None})
                previous = ("aggregation", len(aggregations) - 1)
            elif word in PROMQL_FUNCTIONS:
                previous = None
            else:
                problems.append(f"`{word}(` is not a PromQL function")
                previous = None
            continue
        if lower in PROMQL_AGGREGATIONS and rest.startswith(("by", "without")):
            aggregations.append({"name": lower, "by": None, "without": None})
            previous = ("aggregation", len(aggregations) - 1)
            continue
        selectors.append((word, []))
        previous = ("metric", len(selectors) - 1)
    if stack:
        problems.append("a `(` is never closed")
    return selectors, groupings, aggregations, problems


def label_survives(name, aggregation):
    """Whether label `name` is still on the result of `aggregation`."""
    if aggregation["name"] in PROMQL_KEEPS_LABELS:
        return True
    if aggregation["by"] is not None:
        return name in aggregation["by"]
    if aggregation["without"] is not None:
        return name not in aggregation["without"]
    return False


def main(argv):
    compose_path = Path(argv[1]).resolve() if len(argv) > 1 else REPO / "docker-compose.yml"
    if not compose_path.is_file():
        print(f"compose check: {compose_path}: no such file", file=sys.stderr)
        return 1
    checker = Checker(compose_path)
    checker.run()
    if checker.problems:
        for line in checker.problems:
            print(f"compose check: {line}", file=sys.stderr)
        print(f"compose check: {len(checker.problems)} problem(s)", file=sys.stderr)
        return 1
    files = sum(1 for path in checker.referenced if path.is_file())
    print(f"compose check: {files} files referenced, all present")
    for label, panels, expressions in checker.dashboards:
        print(f"compose check: {label}: {panels} panels, {expressions} PromQL expressions, only exported metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
