"""Settings: production start-up refusals (one per unsafe setting), environment parsing and
development key generation.

Every test runs in an empty temporary working directory (no `.env`, no `var/`) with every
variable that names a setting removed from the environment, so nothing leaks in from the host.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from rodistaa.settings import (
    DEV_KEY_FILE,
    DOCUMENTED_DEFAULT_SECRETS,
    MIN_SECRET_BYTES,
    Environment,
    OtpSenderKind,
    Settings,
    UnsafeSettingsError,
    load_settings,
)

JWT_KEY_A = "prod-jwt-key-a-7f3c9d2e81b64a05c9e3f1a2b7d8e6c4"
JWT_KEY_B = "prod-jwt-key-b-1e9a4c7b2d6f8035a1c4e7b9d2f6a803"
HMAC_KEY = "prod-hmac-key-5b8e2f1c9a7d4036e2b9c1f8a5d7e340"
KMS_KEY_32 = base64.b64encode(bytes(range(32))).decode()

SAFE_PRODUCTION: dict[str, Any] = {
    "env": "production",
    "database_url": "postgresql+asyncpg://rodistaa:pw@db.internal:5432/rodistaa",
    "jwt_keys": f"k2026a:{JWT_KEY_A},k2026b:{JWT_KEY_B}",
    "jwt_active_kid": "k2026b",
    "hmac_key": HMAC_KEY,
    "kms_provider": "local",
    "local_kms_key_id": "rodistaa-prod-kms-1",
    "local_kms_keys": f"1:{KMS_KEY_32}",
    "otp_sender": "http",
    "otp_http_url": "https://sms-gateway.internal/send",
    "otp_dev_echo": False,
    "cors_origins": "https://app.rodistaa.example,https://admin.rodistaa.example",
    "payment_webhook_secret": "prod-payment-webhook-secret-3c7e1a9f5b2d8046",
}

_PROBLEM_LINE = re.compile(r"^\s*- ([A-Z_]+):", re.MULTILINE)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def production(**changes: Any) -> dict[str, Any]:
    values = dict(SAFE_PRODUCTION)
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def refusal(**changes: Any) -> str:
    with pytest.raises(UnsafeSettingsError) as excinfo:
        load_settings(**production(**changes))
    return str(excinfo.value)


def blamed(message: str) -> set[str]:
    """The setting names at the start of each problem line of a refusal message."""
    return set(_PROBLEM_LINE.findall(message))


def b64(n: int) -> str:
    return base64.b64encode(b"\x01" * n).decode()


class TestProductionBaseline:
    def test_safe_baseline_loads(self, isolated: Path) -> None:
        settings = load_settings(**production())
        assert settings.is_production
        assert settings.production_problems() == []
        assert settings.jwt_key_ring == {"k2026a": JWT_KEY_A.encode(), "k2026b": JWT_KEY_B.encode()}
        assert settings.kms_key_versions == {1: bytes(range(32))}
        assert settings.otp_sender is OtpSenderKind.HTTP
        assert settings.otp_dev_echo is False
        # Production never generates development keys.
        assert not (isolated / DEV_KEY_FILE).exists()

    def test_secret_of_exactly_the_minimum_length_is_accepted(self) -> None:
        exact = "x" * MIN_SECRET_BYTES
        settings = load_settings(
            **production(jwt_keys=f"k2026a:{JWT_KEY_A},k2026b:{exact}", hmac_key="h" * MIN_SECRET_BYTES)
        )
        assert settings.jwt_key_ring["k2026b"] == exact.encode()

    def test_refusal_lists_every_problem(self) -> None:
        message = refusal(database_url="sqlite+aiosqlite:///./var/rodistaa.db", otp_dev_echo=True)
        assert blamed(message) == {"DATABASE_URL", "OTP_DEV_ECHO"}


class TestProductionRefusals:
    def test_sqlite_database_url(self) -> None:
        message = refusal(database_url="sqlite+aiosqlite:///./var/rodistaa.db")
        assert blamed(message) == {"DATABASE_URL"}

    def test_jwt_secret_shorter_than_minimum(self) -> None:
        short = "s" * (MIN_SECRET_BYTES - 1)
        message = refusal(jwt_keys=f"k2026a:{JWT_KEY_A},k2026b:{short}")
        assert blamed(message) == {"JWT_KEYS"}
        assert "'k2026b'" in message
        assert "'k2026a'" not in message
        assert short not in message, "the refusal must not print the secret"

    def test_short_multibyte_secret_is_measured_in_bytes(self) -> None:
        # 11 characters, 33 bytes: long enough. 10 characters, 30 bytes: too short.
        settings = load_settings(**production(jwt_keys=f"k2026b:{'€' * 11}"))
        assert len(settings.jwt_key_ring["k2026b"]) == 33
        message = refusal(jwt_keys=f"k2026b:{'€' * 10}")
        assert blamed(message) == {"JWT_KEYS"}

    @pytest.mark.parametrize("default", sorted(DOCUMENTED_DEFAULT_SECRETS))
    def test_jwt_secret_equal_to_documented_default(self, default: str) -> None:
        message = refusal(jwt_keys=f"k2026a:{JWT_KEY_A},k2026b:{default}")
        assert blamed(message) == {"JWT_KEYS"}
        assert "'k2026b'" in message
        if len(default.encode()) >= MIN_SECRET_BYTES:
            assert "documented default" in message
        else:
            # Short documented defaults are already refused by the length rule.
            assert "shorter" in message

    def test_some_documented_defaults_pass_the_length_rule(self) -> None:
        # Otherwise the documented-default rule would be untested dead code.
        assert any(len(s.encode()) >= MIN_SECRET_BYTES for s in DOCUMENTED_DEFAULT_SECRETS)

    def test_malformed_jwt_keys(self) -> None:
        message = refusal(jwt_keys=f"k2026b{JWT_KEY_B}")
        assert blamed(message) == {"JWT_KEYS"}

    def test_missing_jwt_keys(self) -> None:
        message = refusal(jwt_keys="")
        assert blamed(message) == {"JWT_KEYS"}

    @pytest.mark.parametrize("kid", ["k-retired", ""])
    def test_active_kid_not_in_ring(self, kid: str) -> None:
        message = refusal(jwt_active_kid=kid)
        assert blamed(message) == {"JWT_ACTIVE_KID"}

    def test_otp_dev_echo_true(self) -> None:
        message = refusal(otp_dev_echo=True)
        assert blamed(message) == {"OTP_DEV_ECHO"}

    def test_console_otp_sender(self) -> None:
        message = refusal(otp_sender="console", otp_http_url=None)
        assert blamed(message) == {"OTP_SENDER"}

    @pytest.mark.parametrize("url", [None, ""], ids=["unset", "empty"])
    def test_http_otp_sender_without_url(self, url: str | None) -> None:
        # build_otp_sender() raises for this later, in every worker; refuse it at start-up.
        message = refusal(otp_http_url=url)
        assert blamed(message) == {"OTP_HTTP_URL"}

    @pytest.mark.parametrize("origins", ["*", "https://app.rodistaa.example,*", ["*"]])
    def test_wildcard_cors_origins(self, origins: Any) -> None:
        message = refusal(cors_origins=origins)
        assert blamed(message) == {"CORS_ORIGINS"}

    def test_missing_kms_key_id(self) -> None:
        message = refusal(local_kms_key_id="")
        assert blamed(message) == {"LOCAL_KMS_KEY_ID"}

    def test_missing_kms_key_id_with_external_provider(self) -> None:
        message = refusal(kms_provider="aws", local_kms_key_id="", local_kms_keys="")
        assert blamed(message) == {"AWS_KMS_KEY_ID", "AWS_KMS_SIGNING_KEY_ID"}

    @pytest.mark.parametrize(
        "keys",
        [
            pytest.param("", id="missing"),
            pytest.param("1:not base64!!", id="not-base64"),
            pytest.param(f"1:{b64(16)}", id="16-bytes"),
            pytest.param(f"1:{KMS_KEY_32},2:{b64(31)}", id="one-short-version"),
            pytest.param(f"v1:{KMS_KEY_32}", id="non-numeric-version"),
            pytest.param(KMS_KEY_32, id="no-version"),
        ],
    )
    def test_missing_or_invalid_kms_key_material(self, keys: str) -> None:
        message = refusal(local_kms_keys=keys)
        assert blamed(message) == {"LOCAL_KMS_KEYS"}
        assert KMS_KEY_32 not in message, "the refusal must not print key material"

    @pytest.mark.parametrize("key", ["", "h" * (MIN_SECRET_BYTES - 1)])
    def test_short_hmac_key(self, key: str) -> None:
        message = refusal(hmac_key=key)
        assert blamed(message) == {"HMAC_KEY"}

    def test_documented_default_hmac_key(self) -> None:
        default = max(DOCUMENTED_DEFAULT_SECRETS, key=len)
        message = refusal(hmac_key=default)
        assert blamed(message) == {"HMAC_KEY"}
        assert "documented default" in message


class TestEnvironment:
    def test_environment_variables_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("JWT_ACTIVE_KID", "k2026a")
        values = production()
        del values["jwt_active_kid"]
        settings = load_settings(**values)
        assert settings.jwt_active_kid == "k2026a"

    def test_unsafe_environment_variable_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("JWT_ACTIVE_KID", "k-unknown")
        values = production()
        del values["jwt_active_kid"]
        with pytest.raises(UnsafeSettingsError) as excinfo:
            load_settings(**values)
        assert blamed(str(excinfo.value)) == {"JWT_ACTIVE_KID"}

    def test_whole_production_config_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in SAFE_PRODUCTION.items():
            monkeypatch.setenv(name.upper(), str(value).lower() if isinstance(value, bool) else value)
        settings = load_settings()
        assert settings.env is Environment.PRODUCTION
        assert settings.database_url == SAFE_PRODUCTION["database_url"]
        assert settings.jwt_active_kid == "k2026b"

    def test_keyword_overrides_win_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///./var/rodistaa.db")
        settings = load_settings(**production())
        assert settings.database_url == SAFE_PRODUCTION["database_url"]

    def test_dotenv_file_in_working_directory_is_read(self, isolated: Path) -> None:
        (isolated / ".env").write_text("JWT_ACTIVE_KID=k2026a\nLOG_LEVEL=debug\n")
        values = production()
        del values["jwt_active_kid"]
        settings = load_settings(**values)
        assert settings.jwt_active_kid == "k2026a"
        assert settings.log_level == "DEBUG"

    def test_cors_origins_parse_into_a_list(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
        values = production()
        del values["cors_origins"]
        settings = load_settings(**values)
        assert settings.cors_origins == ["https://a.example", "https://b.example"]

    def test_cors_origins_tolerate_spaces_and_empty_entries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", " https://a.example , ,https://b.example,")
        settings = load_settings(env="test", jwt_keys=f"k1:{JWT_KEY_A}", jwt_active_kid="k1")
        assert settings.cors_origins == ["https://a.example", "https://b.example"]

    def test_wildcard_cors_from_environment_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "*")
        values = production()
        del values["cors_origins"]
        with pytest.raises(UnsafeSettingsError) as excinfo:
            load_settings(**values)
        assert blamed(str(excinfo.value)) == {"CORS_ORIGINS"}

    def test_trusted_proxies_parse_into_canonical_networks(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.7/8, 192.168.1.10,::1")
        settings = load_settings(env="test", jwt_keys=f"k1:{JWT_KEY_A}", jwt_active_kid="k1")
        assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.10", "::1"]

    def test_trusted_proxy_that_is_not_an_address_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            Settings(trusted_proxies="proxy.internal")

    @pytest.mark.parametrize("field", ["rate_limit_default_per_user", "rate_limit_gps_per_shipment"])
    def test_rate_limit_that_does_not_parse_is_rejected(self, field: str) -> None:
        with pytest.raises(ValueError, match="is not a rate limit"):
            Settings(**{field: "lots"})

    def test_invalid_log_level_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="LOG_LEVEL"):
            Settings(log_level="verbose")


class TestDevelopment:
    def test_missing_secrets_are_generated_into_a_private_key_file(self, isolated: Path) -> None:
        old_umask = os.umask(0)  # the file must be private even under a permissive umask
        try:
            settings = load_settings(env="development")
        finally:
            os.umask(old_umask)
        key_file = isolated / DEV_KEY_FILE
        assert key_file.is_file()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        stored = json.loads(key_file.read_text())
        assert settings.jwt_keys == stored["jwt_keys"]
        assert settings.hmac_key == stored["hmac_key"]
        assert settings.local_kms_keys == stored["local_kms_keys"]
        assert settings.local_kms_key_id == stored["local_kms_key_id"]
        ring = settings.jwt_key_ring
        assert settings.jwt_active_kid in ring
        assert all(len(secret) >= MIN_SECRET_BYTES for secret in ring.values())
        assert len(settings.hmac_key.encode()) >= MIN_SECRET_BYTES
        assert all(len(material) == 32 for material in settings.kms_key_versions.values())

    def test_generated_keys_are_reused_on_next_load(self, isolated: Path) -> None:
        first = load_settings(env="development")
        content = (isolated / DEV_KEY_FILE).read_text()
        second = load_settings(env="development")
        assert second.jwt_keys == first.jwt_keys
        assert second.jwt_key_ring[second.jwt_active_kid] == first.jwt_key_ring[first.jwt_active_kid]
        assert second.hmac_key == first.hmac_key
        assert second.local_kms_keys == first.local_kms_keys
        assert (isolated / DEV_KEY_FILE).read_text() == content

    def test_key_files_differ_between_checkouts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "one").mkdir()
        (tmp_path / "two").mkdir()
        monkeypatch.chdir(tmp_path / "one")
        first = load_settings(env="development")
        monkeypatch.chdir(tmp_path / "two")
        second = load_settings(env="development")
        assert first.jwt_keys != second.jwt_keys
        assert first.hmac_key != second.hmac_key

    def test_configured_secrets_are_not_replaced(self, isolated: Path) -> None:
        settings = load_settings(
            env="development",
            jwt_keys=f"mine:{JWT_KEY_A}",
            jwt_active_kid="mine",
            hmac_key=HMAC_KEY,
            local_kms_keys=f"1:{KMS_KEY_32}",
        )
        assert settings.jwt_keys == f"mine:{JWT_KEY_A}"
        assert settings.jwt_active_kid == "mine"
        assert settings.hmac_key == HMAC_KEY
        assert not (isolated / DEV_KEY_FILE).exists()

    def test_otp_dev_echo_defaults_to_true(self) -> None:
        assert load_settings(env="development").otp_dev_echo is True

    def test_otp_dev_echo_explicit_false_is_kept(self) -> None:
        assert load_settings(env="development", otp_dev_echo=False).otp_dev_echo is False

    def test_otp_dev_echo_false_from_environment_is_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTP_DEV_ECHO", "false")
        assert load_settings(env="development").otp_dev_echo is False

    def test_otp_dev_echo_is_off_outside_development(self) -> None:
        settings = load_settings(env="test", jwt_keys=f"k1:{JWT_KEY_A}", jwt_active_kid="k1")
        assert settings.otp_dev_echo is False

    def test_development_is_the_default_environment(self, isolated: Path) -> None:
        settings = load_settings()
        assert settings.env is Environment.DEVELOPMENT
        assert (isolated / DEV_KEY_FILE).is_file()

    def test_malformed_jwt_keys_refused_even_in_development(self) -> None:
        with pytest.raises(UnsafeSettingsError) as excinfo:
            load_settings(env="development", jwt_keys="no-separator")
        assert blamed(str(excinfo.value)) == {"JWT_KEYS"}
