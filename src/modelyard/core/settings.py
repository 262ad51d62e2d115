"""Settings, read once into a typed object and passed down. Nothing deeper reads os.environ."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelyard.core.errors import ConfigError
from modelyard.core.project import ProjectConfig

STATE_DIR = ".modelyard"
TRACE_MODES = ("off", "console", "otlp")

# (name, environment variable, help) — one table, documented from here.
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("store_url", "MODELYARD_STORE_URL", "metadata store URL; overrides the project file"),
    ("artifact_url", "MODELYARD_ARTIFACTS", "artifact location (folder or s3://bucket/prefix)"),
    ("encryption_key", "MODELYARD_ENCRYPTION_KEY", "base64 AES-256 key: encrypt artifacts at rest"),
    ("encryption_key_file", "MODELYARD_ENCRYPTION_KEY_FILE", "file: current key, then old keys"),
    ("old_encryption_keys", "MODELYARD_ENCRYPTION_OLD_KEYS", "comma-separated old keys (rotation)"),
    ("audit_key_file", "MODELYARD_AUDIT_KEY_FILE", "Ed25519 key (PEM) signing audit entries"),
    ("pii_secret", "MODELYARD_PII_SECRET", "secret keying PII digests (team mode: all replicas)"),
    ("pii_secret_file", "MODELYARD_PII_SECRET_FILE", "file holding that secret"),
    (
        "user",
        "MODELYARD_USER",
        "act under another name; refused unless the project says `identity: os` (default: "
        "the OS account)",
    ),
    ("s3_endpoint_url", "MODELYARD_S3_ENDPOINT_URL", "S3 endpoint for S3-compatible stores"),
    ("s3_key", "AWS_ACCESS_KEY_ID", "S3 access key"),
    ("s3_secret", "AWS_SECRET_ACCESS_KEY", "S3 secret key"),
    ("traces", "MODELYARD_TRACES", "OpenTelemetry traces of the server: otlp, console or off"),
    ("traces_file", "MODELYARD_TRACES_FILE", "console traces: append spans (JSON lines) here"),
    ("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP/HTTP collector for traces=otlp"),
    (
        "prediction_log_url",
        "MODELYARD_PREDICTION_LOG_URL",
        "where Parquet prediction logs go (folder or s3://; default: ARTIFACTS/predictions)",
    ),
)


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    store_url: str
    artifact_url: str
    user: str  # the acting name: the OS account's, or an accepted MODELYARD_USER override
    encryption_key: bytes | None = None
    old_encryption_keys: tuple[bytes, ...] = ()
    s3_endpoint_url: str | None = None
    s3_key: str | None = None
    s3_secret: str | None = None
    audit_key_file: Path | None = None
    traces: str = "off"  # MODELYARD_TRACES: off, console or otlp
    traces_file: Path | None = None
    otlp_endpoint: str | None = None
    prediction_log_url: str = ""  # resolved: MODELYARD_PREDICTION_LOG_URL or ARTIFACTS/predictions
    # MODELYARD_PII_SECRET[_FILE]; None: the project's own .modelyard/pii.key (security.pii)
    pii_secret: bytes | None = None
    os_account: str = ""  # principal id of the process's OS account: os:<uid>:<username>
    os_name: str = ""  # that account's user name
    user_override: str | None = None  # MODELYARD_USER as given (checked by core.identity)

    @property
    def state_dir(self) -> Path:
        return self.project_dir / STATE_DIR

    @classmethod
    def resolve(
        cls,
        project_dir: Path,
        config: ProjectConfig,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        current_key, old_keys = _read_keys(env)
        project_dir = project_dir.resolve()
        state = project_dir / STATE_DIR
        store_url = (
            env.get("MODELYARD_STORE_URL")
            or config.store.url
            or f"sqlite:///{state / 'metadata.db'}"
        )
        artifact_url = (
            env.get("MODELYARD_ARTIFACTS") or config.store.artifacts or str(state / "artifacts")
        )
        if "://" not in artifact_url and not Path(artifact_url).is_absolute():
            artifact_url = str(project_dir / artifact_url)
        log_url = env.get("MODELYARD_PREDICTION_LOG_URL") or (
            artifact_url.rstrip("/") + "/predictions"
        )
        if "://" not in log_url and not Path(log_url).is_absolute():
            log_url = str(project_dir / log_url)
        uid, os_name = os_account()
        override = env.get("MODELYARD_USER") or None
        return cls(
            project_dir=project_dir,
            store_url=store_url,
            artifact_url=artifact_url,
            user=override or os_name,
            os_account=f"os:{uid}:{os_name}",
            os_name=os_name,
            user_override=override,
            encryption_key=current_key,
            old_encryption_keys=old_keys,
            s3_endpoint_url=env.get("MODELYARD_S3_ENDPOINT_URL"),
            s3_key=env.get("AWS_ACCESS_KEY_ID"),
            s3_secret=env.get("AWS_SECRET_ACCESS_KEY"),
            audit_key_file=Path(env["MODELYARD_AUDIT_KEY_FILE"])
            if env.get("MODELYARD_AUDIT_KEY_FILE")
            else None,
            traces=_trace_mode(env.get("MODELYARD_TRACES")),
            traces_file=Path(env["MODELYARD_TRACES_FILE"])
            if env.get("MODELYARD_TRACES_FILE")
            else None,
            otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            prediction_log_url=log_url,
            pii_secret=_read_pii_secret(env),
        )


def _trace_mode(raw: str | None) -> str:
    mode = (raw or "off").strip().lower()
    if mode not in TRACE_MODES:
        raise ConfigError(
            f"MODELYARD_TRACES={raw!r} is not a trace mode; expected one of "
            + ", ".join(TRACE_MODES),
            hint="otlp also needs the 'otlp' extra: pip install 'modelyard[otlp]'",
        )
    return mode


def os_account() -> tuple[int, str]:
    """The process's own account (uid and name from the password database): unlike
    ``getpass.getuser()`` this does not consult LOGNAME/USER, which anyone can set."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows: no uids; the login name is all there is
        return 0, getpass.getuser()
    uid = getuid()
    try:
        import pwd

        return uid, pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return uid, str(uid)


def _read_pii_secret(env: Mapping[str, str]) -> bytes | None:
    """The shared PII secret of team mode (every replica must hash equal values equally)."""
    if env.get("MODELYARD_PII_SECRET"):
        return decode_secret(env["MODELYARD_PII_SECRET"], "MODELYARD_PII_SECRET")
    if env.get("MODELYARD_PII_SECRET_FILE"):
        path = Path(env["MODELYARD_PII_SECRET_FILE"])
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read PII secret file {path}: {exc.strerror}") from None
        return decode_secret(text, f"PII secret file {path}")
    return None


def decode_secret(raw: str, source: str, min_bytes: int = 32) -> bytes:
    """A secret from its base64 text, at least ``min_bytes`` long."""
    import base64
    import binascii

    try:
        secret = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{source} is not valid base64", hint="create one with `modelyard key generate`"
        ) from None
    if len(secret) < min_bytes:
        raise ConfigError(
            f"{source} decodes to {len(secret)} bytes; expected at least {min_bytes}",
            hint="create one with `modelyard key generate`",
        )
    return secret


def _decode_key(raw: str, source: str) -> bytes:
    import base64
    import binascii

    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{source} is not valid base64",
            hint="create one with `modelyard key generate`",
        ) from None
    if len(key) != 32:
        raise ConfigError(
            f"{source} decodes to {len(key)} bytes; expected 32 bytes (AES-256)",
            hint="create one with `modelyard key generate`",
        )
    return key


def _read_keys(env: Mapping[str, str]) -> tuple[bytes | None, tuple[bytes, ...]]:
    """The current key and older keys (still readable after a rotation).

    A key file may hold several keys, one per line: the first is current, the rest are old.
    """
    lines: list[str] = []
    source = "MODELYARD_ENCRYPTION_KEY"
    if env.get("MODELYARD_ENCRYPTION_KEY"):
        lines = [env["MODELYARD_ENCRYPTION_KEY"]]
    elif env.get("MODELYARD_ENCRYPTION_KEY_FILE"):
        path = Path(env["MODELYARD_ENCRYPTION_KEY_FILE"])
        source = f"key file {path}"
        try:
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
        if not lines:
            raise ConfigError(
                f"{source} is empty", hint="create a key with `modelyard key generate`"
            )
    old_env = env.get("MODELYARD_ENCRYPTION_OLD_KEYS", "")
    old = [k for k in old_env.split(",") if k.strip()]
    if not lines:
        if old:
            raise ConfigError("MODELYARD_ENCRYPTION_OLD_KEYS is set but no current key is")
        return None, ()
    keys = [
        _decode_key(raw, f"{source} (line {i + 1})" if i else source) for i, raw in enumerate(lines)
    ]
    keys += [_decode_key(raw, "MODELYARD_ENCRYPTION_OLD_KEYS") for raw in old]
    return keys[0], tuple(keys[1:])
