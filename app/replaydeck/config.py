"""The one Settings class. Nothing else in replaydeck reads the environment."""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from replaydeck.durations import parse_duration
from replaydeck.events import DEFAULT_MAX_EVENT_BYTES

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/replaydeck.db"
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPLAYDECK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Apply pending migrations when the app starts (turn off when several
    # replicas start at once and a deploy step runs `replaydeck db upgrade`).
    migrate_on_start: bool = True
    # Without keys the API is open; that is only allowed on a loopback bind.
    insecure: bool = False
    # Once a key has existed, revoking every key closes the API; this opens it
    # again while no key is active (still only on loopback or with insecure).
    open_without_keys: bool = False
    # Host names clients may use for this server, besides its own (localhost,
    # 127.0.0.1, ::1, the bind address, the address a request arrived at, the
    # public URL's host); "*.example.com" covers subdomains, "*" any name. Every
    # other Host is refused, so a DNS-rebinding page or a forged Host never
    # becomes the base of share URLs and redirects.
    trusted_hosts: list[str] = Field(default_factory=list)
    # Origins (scheme://host[:port]) whose pages may write to the API from a
    # browser, and read it through CORS. Other origins' writes are refused.
    allowed_origins: list[str] = Field(default_factory=list)
    # How long a process trusts its answers to "are there API keys?" and "whose
    # key is this?". A key revoked by the CLI stops working within this time.
    key_cache_seconds: float = Field(default=1.0, ge=0)

    # Share links: the HMAC key (unset: a secret generated once in the data
    # directory, mode 0600; set it when several replicas serve one database)
    # and the public base of the URLs handed out (unset: the request's own).
    secret: SecretStr | None = None
    public_url: str | None = None
    # Redaction at ingest: key names and regexes added to the defaults (JSON
    # lists in the environment), and a TOML/JSON rules file; app/replaydeck/ingest/redact.py.
    redact_keys: list[str] = Field(default_factory=list)
    redact_patterns: list[str] = Field(default_factory=list)
    redact_rules_file: Path | None = None

    # SQLite durability: NORMAL survives a process crash (kill -9) but may lose
    # the last transactions on power loss; FULL survives power loss too.
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"
    sqlite_busy_timeout_ms: int = 10_000

    # PostgreSQL connection pool, per replica: keep replicas x (pool_size +
    # max_overflow + 1 LISTEN connection) under the server's max_connections.
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    # Seconds a request waits for a free connection before it answers 503.
    pool_timeout: float = Field(default=5.0, gt=0)

    # Ingest limits. Every refusal is a 413 or 422 problem+json.
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_request_bytes: int = 8 * 1024 * 1024
    max_batch_events: int = 10_000
    # A session's metadata, serialized: it comes back with the session in every list.
    max_metadata_bytes: int = Field(default=64 * 1024, ge=1024)
    # The request line and headers: larger heads get 431, heads still incomplete
    # after header_timeout seconds get 408 (slowloris). Bodies are not timed.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    header_timeout: float = Field(default=10.0, gt=0)

    # Streaming. Times are in seconds.
    heartbeat_interval: float = Field(default=15.0, gt=0)
    send_timeout: float = Field(default=10.0, gt=0)
    sse_retry_ms: int = 3000
    read_page_size: int = Field(default=500, ge=1)
    # Live tails, replays and NDJSON downloads one client (an API key, a share link,
    # or with an open API a remote address) may hold open at once; 0: no limit.
    max_streams_per_client: int = Field(default=32, ge=0)
    max_list_limit: int = 1000
    # Durable Streams (/ds): how long a long-poll read waits for data, and how long
    # one SSE connection lasts before the client reconnects (section 10.2: ~60 s
    # lets CDNs collapse readers).
    ds_long_poll_timeout: float = Field(default=20.0, gt=0)
    ds_sse_max_seconds: float = Field(default=60.0, gt=0)

    # Tracing. Export itself is configured by the standard OTEL_EXPORTER_OTLP_* variables.
    # A session with no append for this long (seconds) and no final is abandoned:
    # its open spans end as abandoned, its replays end as incomplete, its tails close.
    trace_idle_timeout: float = Field(default=300.0, gt=0)
    # Jaeger UI base URL, e.g. http://localhost:16686; sessions then link to their trace.
    jaeger_url: str | None = None

    # Retention: sessions idle for longer than this (e.g. 30d, 12h) are deleted
    # by the server every retention_interval seconds; unset keeps everything.
    retention: timedelta | None = None
    retention_interval: float = Field(default=3600.0, gt=0)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the store is SQLite on disk, else None."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

    @property
    def data_dir(self) -> Path:
        path = self.sqlite_path
        return path.parent if path is not None else Path("./data")

    @functools.cached_property
    def is_loopback(self) -> bool:
        # Asked on every request in open mode; the host does not change.
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @field_validator("retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "REPLAYDECK_SECRET is shorter than 32 characters, too weak to sign share "
                "links; generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"REPLAYDECK_PUBLIC_URL {value!r} is not an http(s) URL; give the base that "
                "people open, such as https://replays.example.com."
            )
        return value.rstrip("/") if value is not None else None

    @field_validator("trusted_hosts")
    @classmethod
    def _check_trusted_hosts(cls, value: list[str]) -> list[str]:
        names = []
        for entry in value:
            name = entry.strip().lower()
            address = name[1:-1] if name.startswith("[") and name.endswith("]") else name
            try:
                names.append(str(ipaddress.ip_address(address)))
                continue
            except ValueError:
                pass
            if name == "*" or _HOST_NAME.fullmatch(name.removeprefix("*.")):
                names.append(name)
                continue
            raise ValueError(
                f"REPLAYDECK_TRUSTED_HOSTS entry {entry!r} is not a host name: give names "
                'without scheme or port, e.g. ["replays.example.com", "*.example.com"].'
            )
        return names

    @field_validator("allowed_origins")
    @classmethod
    def _check_allowed_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for entry in value:
            origin = entry.strip().rstrip("/").lower()
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or set(rest) & set("/?#@ *"):
                raise ValueError(
                    f"REPLAYDECK_ALLOWED_ORIGINS entry {entry!r} is not an origin: give "
                    'scheme://host[:port] as the browser sends it, e.g. ["http://localhost:3000"].'
                )
            origins.append(origin)
        return origins

    @model_validator(mode="after")
    def _check_dialect(self) -> Settings:
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                f"REPLAYDECK_DATABASE_URL {self.database_url!r} is not supported: use "
                "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db."
            )
        return self
