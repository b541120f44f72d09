"""One Settings object, read from the environment and an optional `.env` file (12-factor).

`Settings.production_problems()` lists every unsafe value; `load_settings()` refuses to
return settings for `ENV=production` while any is present, naming the setting. In development,
missing secrets come from a key file generated on first run (`var/dev-keys.json`) so that
`make run` needs no configuration.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import limits
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rodistaa.retention.policy import AUDIT_MIN_RETENTION_YEARS, check_audit_retention_years

# Values that appear in docs and examples. A production deployment using one is refused.
DOCUMENTED_DEFAULT_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "secret",
        "rotate-in-production",
        "<rotate-in-production>",
        "dev-secret-change-me-dev-secret-change-me",
        "development-only-secret-do-not-use-in-production",
    }
)
MIN_SECRET_BYTES = 32
DEV_KEY_FILE = Path("var/dev-keys.json")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class OtpSenderKind(StrEnum):
    CONSOLE = "console"
    HTTP = "http"


class UnsafeSettingsError(RuntimeError):
    """Start-up refusal: the message names every unsafe setting."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./var/rodistaa.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    redis_url: str | None = None
    # Every Redis key starts with this, so environments can share one Redis without meeting.
    redis_key_prefix: str = Field(default="rodistaa", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    # JWT key ring: "kid:secret,kid2:secret2"; the active kid signs, the others only verify
    # during the rotation grace period.
    jwt_keys: str = ""
    jwt_active_kid: str = ""
    jwt_issuer: str = "rodistaa-core"
    jwt_audience: str = "rodistaa-api"
    jwt_rotation_grace_s: int = Field(default=24 * 3600, ge=0)
    access_token_ttl_s: int = Field(default=15 * 60, ge=30, le=15 * 60)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    refresh_reuse_grace_s: int = Field(default=30, ge=0, le=300)

    # Secret used for keyed hashes (OTP codes). Never stored next to the data it protects.
    hmac_key: str = ""

    kms_provider: str = "local"
    local_kms_key_id: str = ""
    # "version:base64-32-bytes,..."; the highest version wraps new data keys.
    local_kms_keys: str = ""

    # Files (encrypted before they are stored): a local directory, or an S3-compatible bucket.
    storage_backend: str = Field(default="local", pattern="^(local|s3)$")
    storage_local_dir: str = "var/storage"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "ap-south-1"
    s3_prefix: str = ""
    aws_kms_key_id: str | None = None
    # KMS_PROVIDER=aws: an ECC_NIST_P256 SIGN_VERIFY key for audit checkpoints (a symmetric key
    # cannot sign). Like AWS_KMS_KEY_ID, retired keys may follow comma-separated.
    aws_kms_signing_key_id: str | None = None
    aws_region: str = "ap-south-1"

    # `rodistaa backup create|prune` (docs/runbooks/backup-restore.md): where backups are written,
    # and how old a backup may get before `prune` deletes it (the newest one is always kept).
    backup_dir: str = "var/backups"
    backup_retention_days: int = Field(default=30, ge=1)

    api_base_url: str = "http://127.0.0.1:8000"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    # Swagger UI (/docs), ReDoc (/redoc) and the OpenAPI document (/v1/openapi.json). Unset: served
    # everywhere but production, where the public surface is kept to the API itself.
    docs_enabled: bool | None = None
    # Observability (docs/observability.md). `/metrics` for Prometheus, answered only with
    # `Authorization: Bearer <METRICS_TOKEN>` when a token is set; `rodistaa worker` serves its
    # own `/metrics` on WORKER_METRICS_HOST:WORKER_METRICS_PORT when a port is set.
    metrics_enabled: bool = True
    metrics_token: str | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Optional, off unless set: Sentry error reports (personal data scrubbed) and OpenTelemetry
    # tracing (exporter configured by the standard OTEL_EXPORTER_OTLP_* variables).
    sentry_dsn: str | None = None
    sentry_environment: str | None = None  # unset: the value of ENV
    otel_enabled: bool = False

    otp_sender: OtpSenderKind = OtpSenderKind.CONSOLE
    otp_dev_echo: bool = False
    otp_ttl_s: int = Field(default=300, ge=60, le=900)
    otp_max_attempts: int = Field(default=5, ge=1)
    otp_http_url: str | None = None
    otp_http_token: str | None = None
    otp_http_timeout_s: float = 5.0

    # ACS: the bundle activated on a fresh database, how often instances converge on the active
    # revision, and whether a changed bundle file is reloaded automatically.
    acs_bundle_path: str = "rules"
    acs_sync_interval_s: float = Field(default=2.0, gt=0)
    acs_watch_bundle: bool = True

    # A signed audit checkpoint after this many entries, or once the oldest unsigned entry is
    # this old, whichever comes first.
    audit_checkpoint_every_entries: int = Field(default=1000, ge=1)
    audit_checkpoint_every_s: float = Field(default=300.0, gt=0)

    # Bookings (PRODUCT §6): the price estimator's rate in rupees per tonne-km, and how long a
    # booking takes bids before it is finalized automatically. The rate's lower bound keeps the
    # smallest booking (0.1 t over 1 km) priced at one paisa or more.
    freight_rate_per_tonne_km: Decimal = Field(
        default=Decimal("2.5"), ge=Decimal("0.1"), le=Decimal("1000"), decimal_places=4
    )
    bid_window_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    # The bidding fee (PRODUCT §6): per-tonne and per-km rupee constants, rounded half-up to
    # the paisa; debited when a bid is placed and never refunded.
    bid_fee_per_tonne: Decimal = Field(default=Decimal("5.00"), ge=0, le=Decimal("10000"), decimal_places=4)
    bid_fee_per_km: Decimal = Field(default=Decimal("0.25"), ge=0, le=Decimal("10000"), decimal_places=4)

    # Delivery (PRODUCT §6): how long a delivery OTP is valid and the largest POD file accepted.
    delivery_otp_validity_s: int = Field(default=24 * 3600, ge=300, le=7 * 24 * 3600)
    pod_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)

    # Tracking silence (PRODUCT §6): a NO_PING alert after this long without a ping, critical
    # after the second threshold, not raised again within the repeat interval while unacknowledged.
    no_ping_alert_after_s: int = Field(default=30 * 60, ge=60)
    no_ping_critical_after_s: int = Field(default=60 * 60, ge=60)
    no_ping_repeat_s: int = Field(default=60 * 60, ge=60)

    # The worker (`rodistaa worker`, jobs/registry.py): per-job intervals in seconds as JSON
    # (`{"auto-finalize": 30}`) or `name=seconds` pairs; unset jobs keep their defaults.
    worker_intervals: str = ""
    # Start the periodic jobs inside the API process (`make run` does, for development).
    worker_in_process: bool = False
    # ACS decisions older than this are deleted by the retention job (never the audit log).
    acs_events_retention_days: int = Field(default=180, ge=1)
    # How long a response stored under an `Idempotency-Key` is replayed (docs/idempotency.md);
    # the `idempotency-purge` job deletes older records.
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=30 * 24)
    # The retention jobs (docs/retention.md): raw GPS fixes are summarised per shipment and UTC
    # day, then deleted; notifications deleted; expired login codes, sign-up tokens and dead
    # sessions deleted this long after they stopped working. Audit entries are kept at least 7
    # years: a shorter AUDIT_RETENTION_YEARS is refused, and nothing is ever deleted from the chain.
    gps_retention_days: int = Field(default=30, ge=1)
    notification_retention_days: int = Field(default=90, ge=1)
    expired_credentials_retention_hours: int = Field(default=24, ge=1)
    audit_retention_years: int = AUDIT_MIN_RETENTION_YEARS

    # Shared with the payment provider: it signs each webhook delivery with this secret
    # (HMAC-SHA256, see rodistaa.ledger.webhook). Empty refuses every delivery.
    payment_webhook_secret: str = ""

    # Partner API keys: the longest lifetime a key may be given (also the default: no eternal
    # keys), and how long a rotated key keeps working next to its successor (at most 7 days).
    api_key_max_ttl_days: int = Field(default=365, ge=1, le=3650)
    api_key_rotation_overlap_minutes: int = Field(default=1440, ge=0, le=7 * 24 * 60)

    # Rate limits, in the `limits` library notation ("10/hour").
    rate_limit_auth_per_phone: str = "10/hour"
    rate_limit_auth_per_ip: str = "30/hour"
    rate_limit_booking_create_per_user: str = "100/day"
    rate_limit_gps_per_shipment: str = "1000/hour"
    # Every authenticated request, per user (or per partner API key).
    rate_limit_default_per_user: str = "1000/hour"

    # Request bodies above these sizes are refused with 413 before they are read into memory.
    max_json_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The file routes (KYC, truck documents, inspection photos, PODs); each also checks its file.
    max_upload_body_bytes: int = Field(default=52_428_800, ge=1024)
    # Addresses (or CIDR networks) of the reverse proxies whose X-Forwarded-For / -Proto are
    # believed; from anyone else those headers are ignored. Empty: no proxy is trusted.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Redirect plain-HTTP requests to HTTPS (308; health probes excepted).
    force_https: bool = False

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _parse_csv_lists(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        """Canonical forms (`10.0.0.0/8` for `10.0.0.7/8`): Uvicorn's proxy middleware would
        silently treat a non-canonical network as a literal host name and trust nobody."""
        canonical = []
        for entry in value:
            try:
                parsed = (
                    ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry)
                )
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
            canonical.append(str(parsed))
        return canonical

    @field_validator(
        "rate_limit_auth_per_phone",
        "rate_limit_auth_per_ip",
        "rate_limit_booking_create_per_user",
        "rate_limit_gps_per_shipment",
        "rate_limit_default_per_user",
    )
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit like '10/hour'") from None
        return value

    @field_validator("audit_retention_years")
    @classmethod
    def _audit_kept_long_enough(cls, value: int) -> int:
        return check_audit_retention_years(value)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def docs_served(self) -> bool:
        """`DOCS_ENABLED` when set, else true outside production."""
        return not self.is_production if self.docs_enabled is None else self.docs_enabled

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jwt_key_ring(self) -> dict[str, bytes]:
        """Parsed `JWT_KEYS`; raises ValueError on a malformed entry."""
        ring: dict[str, bytes] = {}
        for entry in _split_csv(self.jwt_keys):
            kid, sep, secret = entry.partition(":")
            if not sep or not kid or not secret:
                raise ValueError("JWT_KEYS entries must look like kid:secret")
            ring[kid] = secret.encode()
        return ring

    @property
    def kms_key_versions(self) -> dict[int, bytes]:
        versions: dict[int, bytes] = {}
        for entry in _split_csv(self.local_kms_keys):
            version, sep, material = entry.partition(":")
            if not sep or not version.isdigit():
                raise ValueError("LOCAL_KMS_KEYS entries must look like version:base64")
            versions[int(version)] = base64.b64decode(material, validate=True)
        return versions

    @property
    def rotation_grace(self) -> timedelta:
        return timedelta(seconds=self.jwt_rotation_grace_s)

    def production_problems(self) -> list[str]:
        """Every unsafe value, each message naming its setting."""
        problems: list[str] = []
        if self.is_sqlite:
            problems.append("DATABASE_URL: SQLite is for development; use PostgreSQL")
        problems.extend(self._jwt_problems())
        if len(self.hmac_key.encode()) < MIN_SECRET_BYTES:
            problems.append(f"HMAC_KEY: must be at least {MIN_SECRET_BYTES} bytes")
        elif self.hmac_key in DOCUMENTED_DEFAULT_SECRETS:
            problems.append("HMAC_KEY: is a documented default")
        if self.otp_dev_echo:
            problems.append("OTP_DEV_ECHO: must be false in production")
        if self.otp_sender is OtpSenderKind.CONSOLE:
            problems.append("OTP_SENDER: the console sender cannot reach phones; use http")
        elif not self.otp_http_url:
            problems.append("OTP_HTTP_URL: required when OTP_SENDER=http")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS: wildcard '*' is not allowed in production")
        problems.extend(self._kms_problems())
        if self.storage_backend == "s3" and not self.s3_bucket:
            problems.append("S3_BUCKET: required when STORAGE_BACKEND=s3")
        if not self.payment_webhook_secret:
            problems.append(
                "PAYMENT_WEBHOOK_SECRET: required (the payment provider's webhook signing secret); "
                "without it no payment can be credited"
            )
        elif self.payment_webhook_secret in DOCUMENTED_DEFAULT_SECRETS:
            problems.append("PAYMENT_WEBHOOK_SECRET: is a documented default")
        token = self.metrics_token
        if token is not None and (
            len(token.encode()) < MIN_SECRET_BYTES or token in DOCUMENTED_DEFAULT_SECRETS
        ):
            problems.append(f"METRICS_TOKEN: when set, a random value of at least {MIN_SECRET_BYTES} bytes")
        return problems

    def _jwt_problems(self) -> list[str]:
        try:
            ring = self.jwt_key_ring
        except ValueError as exc:
            return [f"JWT_KEYS: {exc}"]
        if not ring:
            return ["JWT_KEYS: no signing key configured"]
        problems = []
        if self.jwt_active_kid not in ring:
            problems.append("JWT_ACTIVE_KID: does not name a key in JWT_KEYS")
        for kid, secret in ring.items():
            if len(secret) < MIN_SECRET_BYTES:
                problems.append(f"JWT_KEYS: key '{kid}' is shorter than {MIN_SECRET_BYTES} bytes")
            elif secret.decode() in DOCUMENTED_DEFAULT_SECRETS:
                problems.append(f"JWT_KEYS: key '{kid}' is a documented default")
        return problems

    def _kms_problems(self) -> list[str]:
        if self.kms_provider == "aws":
            problems: list[str] = []
            if not (self.aws_kms_key_id or "").strip(" ,"):
                problems.append("AWS_KMS_KEY_ID: required when KMS_PROVIDER=aws (it wraps data keys)")
            if not (self.aws_kms_signing_key_id or "").strip(" ,"):
                problems.append(
                    "AWS_KMS_SIGNING_KEY_ID: required when KMS_PROVIDER=aws "
                    "(an ECC_NIST_P256 signing key for audit checkpoints)"
                )
            return problems
        if self.kms_provider != "local":
            return [f"KMS_PROVIDER: must be 'local' or 'aws', not {self.kms_provider!r}"]
        problems = []
        if not self.local_kms_key_id:
            problems.append("LOCAL_KMS_KEY_ID: KMS key id missing")
        try:
            versions = self.kms_key_versions
        except ValueError as exc:
            return [*problems, f"LOCAL_KMS_KEYS: {exc}"]
        if not versions:
            problems.append("LOCAL_KMS_KEYS: KMS key material missing")
        elif any(len(material) != 32 for material in versions.values()):
            problems.append("LOCAL_KMS_KEYS: every key must be 32 bytes (base64)")
        return problems

    def general_problems(self) -> list[str]:
        """Problems that make any environment unusable (malformed rings)."""
        problems = self._jwt_problems()
        return [p for p in problems if "shorter" not in p and "documented" not in p]


def _load_or_create_dev_keys(path: Path) -> dict[str, str]:
    """Development secrets, generated once and kept in a 0600 file under ./var/."""
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {
        "jwt_keys": f"dev1:{secrets.token_urlsafe(48)}",
        "jwt_active_kid": "dev1",
        "hmac_key": secrets.token_urlsafe(48),
        "local_kms_key_id": "local-dev",
        "local_kms_keys": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return keys


def load_settings(**overrides: Any) -> Settings:
    """Settings for this process; refuses unsafe production values with every reason listed."""
    settings = Settings(**overrides)
    if settings.env is Environment.DEVELOPMENT:
        settings = _with_dev_keys(settings)
        if "otp_dev_echo" not in settings.model_fields_set:
            # A developer has no phone gateway: show the code in the response unless told not to.
            settings = settings.model_copy(update={"otp_dev_echo": True})
    problems = settings.production_problems() if settings.is_production else settings.general_problems()
    if problems:
        raise UnsafeSettingsError("refusing to start with unsafe settings:\n  - " + "\n  - ".join(problems))
    return settings


def _with_dev_keys(settings: Settings) -> Settings:
    missing = {name for name in ("jwt_keys", "hmac_key", "local_kms_keys") if not getattr(settings, name)}
    if not missing:
        return settings
    dev_keys = _load_or_create_dev_keys(DEV_KEY_FILE)
    updates: dict[str, Any] = {}
    if "jwt_keys" in missing:
        updates["jwt_keys"] = dev_keys["jwt_keys"]
        updates["jwt_active_kid"] = dev_keys["jwt_active_kid"]
    if "hmac_key" in missing:
        updates["hmac_key"] = dev_keys["hmac_key"]
    if "local_kms_keys" in missing:
        updates["local_kms_keys"] = dev_keys["local_kms_keys"]
        updates["local_kms_key_id"] = settings.local_kms_key_id or dev_keys["local_kms_key_id"]
    return settings.model_copy(update=updates)
