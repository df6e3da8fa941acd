"""Load, expand and validate `syncd.yaml` into typed models.

Every problem is reported at once, one line each, with the exact path of the key
(`connectors.jira.project: field required`), like Alertmanager's config errors.
`${VAR}` and `${VAR:-default}` are replaced from the environment inside string values only
(after YAML parsing, so a variable's content can never change the document's structure).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from syncd import redact
from syncd.errors import ConfigError, ConnectorTypeError
from syncd.models import Category, Priority, Status
from syncd.sdk.connector import connector_class
from syncd.sdk.settings import http_url
from syncd.sdk.syncback import Category as RemoteCategory

DEFAULT_PATHS = ("syncd.yaml",)
DEFAULT_STATUSES: tuple[Status, ...] = ("open", "in_progress")  # the tickets still to be worked on
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Model(BaseModel):
    """Strict base: an unknown key is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class TicketFilters(Model):
    """Server-side filters for listing tickets (the Cogny list endpoint's parameters)."""

    status: list[Status] = Field(default_factory=lambda: list(DEFAULT_STATUSES))
    priority: list[Priority] = Field(default_factory=list)
    category: list[Category] = Field(default_factory=list)
    created_after: str | None = None
    updated_after: str | None = None


class CognyConfig(Model):
    base_url: str = "https://api.cogny.com/v1"
    api_key: SecretStr
    warehouses: list[str] = Field(default_factory=list, description="empty: every warehouse the key sees")
    filters: TicketFilters = Field(default_factory=TicketFilters)
    page_size: int = Field(100, ge=1, le=100)
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)


class StoreConfig(Model):
    url: str = "sqlite:///syncd.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, v: str) -> str:
        if not (v.startswith("sqlite://") or v.startswith("postgresql")):
            raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB")
        return v


class ScheduleConfig(Model):
    interval_seconds: int | None = Field(None, ge=1)
    cron: str | None = None
    leader_check_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduleConfig":
        if self.interval_seconds and self.cron:
            raise ValueError("set interval_seconds or cron, not both")
        if self.interval_seconds is None and self.cron is None:
            self.interval_seconds = 3600
        if self.cron is not None:
            _check_cron(self.cron)
        return self


class WebhookConfig(Model):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    path: str = "/webhooks/cogny"
    secret: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list,
                                     description="extra secrets accepted during rotation")
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    tolerance_seconds: int = Field(300, ge=1)
    read_timeout_seconds: float = Field(10.0, gt=0, description="a request's headers, and a body, must "
                                                                "arrive within this; else 408 / closed")
    max_connections: int = Field(256, ge=1, description="connections in all; beyond, 503")
    max_requests_per_client: int = Field(32, ge=1, description="requests in flight per client address; "
                                                               "beyond, 429")
    admin_token: SecretStr | None = Field(None, description="bearer token for POST /-/reload and "
                                                            "/-/webhooks/NAME; unset: both refused")

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters, e.g. from `openssl rand -hex 32` "
                             "(the value is not repeated)")
        return v

    @field_validator("secret")
    @classmethod
    def _unset_is_none(cls, v: SecretStr | None) -> SecretStr | None:
        return v if v is not None and v.get_secret_value() else None  # `${VAR}` of an unset variable

    @field_validator("secrets")
    @classmethod
    def _no_empty(cls, v: list[SecretStr]) -> list[SecretStr]:
        return [s for s in v if s.get_secret_value()]

    def all_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in ([self.secret] if self.secret else []) + self.secrets]


class AdminAuth(Model):
    """Who may use the admin listener: basic auth or a bearer token, the secret read from the environment.

    The file names the variable (`token_env`, `password_env`), never the value, so a config checked
    into git or shown on the console's config page cannot leak it. Filled by `load` from the env.
    """

    type: Literal["bearer", "basic"]
    token_env: str | None = Field(None, description="bearer: the environment variable holding the token")
    username: str | None = Field(None, description="basic: the user name")
    password_env: str | None = Field(None, description="basic: the environment variable holding the password")
    secret: SecretStr | None = Field(None, exclude=True)  # the token or password, from the environment

    @model_validator(mode="after")
    def _complete(self) -> "AdminAuth":
        needed = ("token_env",) if self.type == "bearer" else ("username", "password_env")
        missing = [k for k in needed if not getattr(self, k)]
        if missing:
            raise ValueError(f"type {self.type} needs {' and '.join(missing)}")
        return self

    @property
    def variable(self) -> str:
        return (self.token_env if self.type == "bearer" else self.password_env) or ""


class AdminConfig(Model):
    """The admin listener: the console, /metrics, /-/reload and /-/webhooks/NAME (never the webhook port)."""

    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)
    actions: bool = Field(False, description="show the console's Retry buttons (its only writes)")
    auth: AdminAuth | None = None


class SyncConfig(Model):
    """How hard one cycle works: tickets reconciled at once, retries of outbound calls."""

    concurrency: int = Field(4, ge=1, le=64)
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)


class InboxConfig(Model):
    max_attempts: int = Field(8, ge=1)
    backoff_seconds: float = Field(2.0, ge=0)
    max_backoff_seconds: float = Field(600.0, ge=0)
    lease_seconds: float = Field(300.0, gt=0, description="a claimed event returns to the queue if its "
                                                          "worker dies and the lease runs out")


class RouteMatch(Model):
    priority: list[Priority] | None = None
    category: list[Category] | None = None
    status: list[Status] | None = None
    warehouse_id: list[str] | None = None


class Route(Model):
    match: RouteMatch = Field(default_factory=RouteMatch)
    connectors: list[str] = Field(min_length=1)


OnDeleted = Literal["keep_gone", "recreate"]


class ConnectorEntry(Model):
    """A connector's `type` and sync-back switches; its other keys go to that connector's Settings."""

    model_config = ConfigDict(extra="allow")
    type: str
    sync_back: bool = Field(False, description="carry progress made in this target back into Cogny")
    webhook_secret: SecretStr | None = Field(None, description="verifies this target's own webhooks "
                                                               "at /webhooks/<connector name>")
    on_deleted: OnDeleted = Field("keep_gone", description=(
        "a record a person deleted in the target: keep_gone (leave it deleted, no more calls) or "
        "recreate (make one new record on the next run)"))


DismissReason = Literal["not_applicable", "already_implemented", "insufficient_impact",
                        "resource_constraints", "other"]


def _default_status_map() -> dict[RemoteCategory, Status]:
    # `deleted` is left out: a record deleted in a target changes the ticket only when asked for
    return {"in_progress": "in_progress", "done": "completed", "canceled": "dismissed"}


class SyncBackConfig(Model):
    """How progress in the targets flows back into Cogny (for connectors with `sync_back: true`)."""

    interval_seconds: int = Field(300, ge=10, description="how often the linked records are read")
    status_map: dict[RemoteCategory, Status] = Field(default_factory=_default_status_map, description=(
        "target state category -> Cogny status; `dismissed` uses the dismiss endpoint"))
    dismiss_reason: DismissReason = "not_applicable"


class Config(Model):
    cogny: CognyConfig
    store: StoreConfig = Field(default_factory=StoreConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    sync_back: SyncBackConfig = Field(default_factory=SyncBackConfig)
    connectors: dict[str, ConnectorEntry] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)

    # Filled by load(): validated settings per connector name, and where the file came from.
    connector_settings: dict[str, Any] = Field(default_factory=dict, exclude=True)
    source: str | None = Field(None, exclude=True)
    _warnings: list[str] = PrivateAttr(default_factory=list)  # said at start-up, not errors

    @property
    def warnings(self) -> list[str]:
        """What the daemon says at start-up about this config (an unset webhook secret): not errors."""
        return self._warnings


def _check_cron(expr: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """-c/--config, else $SYNCD_CONFIG, else ./syncd.yaml."""
    if path:
        return Path(path)
    if os.environ.get("SYNCD_CONFIG"):
        return Path(os.environ["SYNCD_CONFIG"])
    return Path(DEFAULT_PATHS[0])


def load(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Read, expand and validate a config file; raise ConfigError listing every problem."""
    file = resolve_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: no such file (pass -c FILE or set SYNCD_CONFIG; "
                           f"`syncd init` writes one)"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from None
    config = parse(text, env=env, source=str(file))
    return config


def parse(text: str, *, env: dict[str, str] | None = None, source: str | None = None) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"], source) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping of keys such as cogny, connectors, routes"],
                          source)
    problems: list[str] = []
    # (path, variable) of each unset ${VAR}: one line says so, not a second one about ''
    unset: list[tuple[str, str]] = []
    expanded = _expand(raw, os.environ if env is None else env, (), unset)
    # Only the daemon receives webhooks: an unset Cogny webhook secret is not an error for `run-once`
    # from cron; the daemon says its receiver is off instead (issue 20, point 10).
    soft = [(path, name) for path, name in unset
            if path == "webhook.secret" or path.startswith("webhook.secrets.")]
    unset = [u for u in unset if u not in soft]
    problems.extend(f"{path}: environment variable {name} is not set" for path, name in unset)
    config: Config | None = None
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
    # Connectors and routes are checked even when another section is broken, so one run of
    # check-config lists every problem at once.
    candidate = config or Config.model_construct(  # type: ignore[call-arg]  # a partial Config, on purpose
        connectors=_entries(expanded.get("connectors")), routes=_routes(expanded.get("routes")))
    _validate_connectors(candidate, problems)
    _validate_routes(candidate, problems)
    if config is not None:
        _resolve_admin_auth(config, os.environ if env is None else env, problems)
    problems = [p for p in problems if not _under_unset(p, unset)]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)), source)
    assert config is not None
    config.source = source
    config._warnings = [f"{path}: environment variable {name} is not set" for path, name in soft]
    _register_secrets(config)
    return config


def _expand(node: Any, env: Any, path: tuple[str, ...], unset: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, env, path + (str(k),), unset) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, env, path + (str(i),), unset) for i, v in enumerate(node)]
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return str(env[name])
            if default is not None:
                return default
            unset.append((".".join(path), name))
            return ""
        return _VAR.sub(sub, node)
    return node


def _under_unset(problem: str, unset: list[tuple[str, str]]) -> bool:
    """A validation problem about a key whose variable is unset repeats what we already said."""
    where = problem.split(": ", 1)[0]
    return any(where == path and "environment variable" not in problem for path, _ in unset)


def _entries(raw: Any) -> dict[str, ConnectorEntry]:
    """Connector entries that parse on their own (used when the rest of the config does not)."""
    out: dict[str, ConnectorEntry] = {}
    for name, entry in (raw.items() if isinstance(raw, dict) else []):
        try:
            out[str(name)] = ConnectorEntry.model_validate(entry)
        except ValidationError:
            pass  # reported by the full validation already
    return out


def _routes(raw: Any) -> list[Route]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(Route.model_validate(item))
        except ValidationError:
            out.append(Route.model_construct(match=RouteMatch(), connectors=[]))
    return out


def _pydantic_problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in prefix + tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "field required"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        else:
            msg = msg[0].lower() + msg[1:]
        lines.append(f"{loc or '(top level)'}: {msg}")
    return lines


def _validate_connectors(config: Config, problems: list[str]) -> None:
    for name, entry in config.connectors.items():
        if not re.match(r"^[A-Za-z0-9_-]+$", name):
            problems.append(f"connectors.{name}: name may hold only letters, digits, '-' and '_'")
            continue
        try:
            cls = connector_class(entry.type)
        except ConnectorTypeError as exc:
            problems.append(f"connectors.{name}.type: {exc}")
            continue
        settings_in = dict(entry.model_extra or {})
        try:
            config.connector_settings[name] = cls.Settings.model_validate(settings_in)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, ("connectors", name)))
        if entry.sync_back and not callable(getattr(cls, "read_states", None)):
            problems.append(f"connectors.{name}.sync_back: {entry.type} connectors cannot carry "
                            "progress back (supported by: jira, linear, asana)")


def recreating_connectors(config: "Config") -> frozenset[str]:
    """Names of the connectors with `on_deleted: recreate` (a deleted record is made again)."""
    return frozenset(name for name, entry in config.connectors.items() if entry.on_deleted == "recreate")


def sync_back_connectors(config: "Config") -> list[str]:
    """Names of the connectors whose progress flows back into Cogny."""
    return [name for name, entry in config.connectors.items() if entry.sync_back]


def _validate_routes(config: Config, problems: list[str]) -> None:
    for i, route in enumerate(config.routes):
        for j, name in enumerate(route.connectors):
            if name not in config.connectors:
                known = ", ".join(sorted(config.connectors)) or "none defined"
                problems.append(f"routes.{i}.connectors.{j}: unknown connector {name!r} (known: {known})")


def _resolve_admin_auth(config: Config, env: Any, problems: list[str]) -> None:
    """Read admin.auth's token or password from the environment variable the file names."""
    if config.admin.port and config.admin.port == config.webhook.port:
        problems.append(f"admin.port: {config.admin.port} is webhook.port too; the console and /metrics "
                        "never share the public webhook listener")
    auth = config.admin.auth
    if auth is None:
        return
    key = "token_env" if auth.type == "bearer" else "password_env"
    value = env.get(auth.variable) or ""
    if not value:
        problems.append(f"admin.auth.{key}: environment variable {auth.variable} is not set")
    elif len(value) < 16:
        problems.append(f"admin.auth.{key}: {auth.variable} must hold at least 16 characters, e.g. from "
                        "`openssl rand -hex 32` (the value is not repeated)")
    else:
        auth.secret = SecretStr(value)


def _register_secrets(config: Config) -> None:
    values = [config.cogny.api_key.get_secret_value(), *config.webhook.all_secrets()]
    values += [config.webhook.admin_token.get_secret_value()] if config.webhook.admin_token else []
    auth = config.admin.auth
    values += [auth.secret.get_secret_value()] if auth is not None and auth.secret else []
    values += [e.webhook_secret.get_secret_value() for e in config.connectors.values() if e.webhook_secret]
    for settings in config.connector_settings.values():
        values.extend(_secret_values(settings))
    redact.register(*values)


def _secret_values(model: BaseModel) -> list[str]:
    out: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            out.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            out.extend(_secret_values(value))
    return out
