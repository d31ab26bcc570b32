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
    the environment variables its `*_env` keys name are set on that service.

Prints `compose check: N files referenced, all present` and exits 0, or prints every problem
and exits 1. Uses PyYAML when installed, else a small parser for the YAML subset these files
use (block mappings and lists, flow lists and mappings, quotes, anchors and aliases).
"""

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG_DOC = REPO / "docs" / "configuration.md"
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

    def check_service(self, name, service, services, declared_volumes):
        where = f"services.{name}"
        if "image" not in service and "build" not in service:
            self.problem(where, "has neither image nor build")
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
        for container_path, host in mounts.items():
            if container_path.startswith("/etc/splitrail/") and host.is_file():
                self.check_proxy_config(where, host, environment)
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
            return
        self.need(where, CONFIG_DOC)
        documented = documented_keys()
        if not documented:
            self.problems.append(f"{self.rel(CONFIG_DOC)}: no documented keys found (table rows starting with a `key`)")
            return
        for path, value in flatten(config):
            if path not in documented:
                self.problems.append(f"{label}: {path}: not a key documented in {self.rel(CONFIG_DOC)}")
            elif path.endswith("_env") and isinstance(value, str) and value not in environment:
                self.problems.append(
                    f"{label}: {path}: names environment variable {value}, which {where}.environment does not set")
        listen = str((config or {}).get("listen", "127.0.0.1:6033"))
        if listen.startswith(("127.", "[::1]", "localhost")):
            self.problems.append(f"{label}: listen: {listen} is loopback, unreachable from outside the container")

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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
