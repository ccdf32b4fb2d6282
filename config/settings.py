"""Runtime configuration, read from the environment (and `.env`) under the contract's names.

Built explicitly by `load_settings()` / `Settings(...)`; nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULTS_DIR = Path(__file__).parent / "defaults"


class ConfigError(ValueError):
    """A configuration mistake, with a message a person can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    database_url: str = Field("sqlite:///./var/hitl.db", validation_alias="HITL_DATABASE_URL")
    chroma_path: Path = Field(Path("./var/chroma"), validation_alias="HITL_CHROMA_PATH")
    chroma_url: str | None = Field(None, validation_alias="HITL_CHROMA_URL")
    api_token: str | None = Field(None, validation_alias="HITL_API_TOKEN")

    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    model: str = Field("gpt-4o-mini", validation_alias="HITL_MODEL")
    model_timeout_s: float = Field(30.0, gt=0, validation_alias="HITL_MODEL_TIMEOUT")
    model_max_retries: int = Field(2, ge=0, le=6, validation_alias="HITL_MODEL_MAX_RETRIES")
    embeddings: Literal["openai", "local"] | None = Field(None, validation_alias="HITL_EMBEDDINGS")

    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_approvals_channel: str | None = Field(
        None, validation_alias="HITL_SLACK_APPROVALS_CHANNEL"
    )
    slack_support_channel: str | None = Field(None, validation_alias="HITL_SLACK_SUPPORT_CHANNEL")

    team_file: Path = Field(DEFAULTS_DIR / "team.toml", validation_alias="HITL_TEAM_FILE")
    policy_file: Path = Field(DEFAULTS_DIR / "policy.toml", validation_alias="HITL_POLICY_FILE")
    # The sales content library's folder(s) of Markdown assets (several separated by the OS
    # path separator, ":" on Linux): indexed when `hitl serve` starts, re-indexed when a file in
    # them changes (tools.content_library). Unset: only what `hitl content add` indexed.
    content_path: str | None = Field(None, validation_alias="HITL_CONTENT_PATH")

    marketing_url: str | None = Field(None, validation_alias="HITL_MARKETING_URL")
    marketing_token: str | None = Field(None, validation_alias="HITL_MARKETING_TOKEN")

    smtp_url: str | None = Field(None, validation_alias="HITL_SMTP_URL")
    from_email: str = Field("no-reply@localhost", validation_alias="HITL_FROM_EMAIL")

    # Retry budgets are time, not attempts: a mail relay down for an hour's maintenance is
    # normal life, and a mail server itself retries for days. After its budget a piece of work
    # is `failed` (listed, retryable by hand, people told), never silently dropped.
    send_retry_hours: float = Field(72.0, gt=0, le=24 * 30,
                                    validation_alias="HITL_SEND_RETRY_HOURS")
    slack_retry_hours: float = Field(24.0, gt=0, le=24 * 30,
                                     validation_alias="HITL_SLACK_RETRY_HOURS")
    integration_retry_hours: float = Field(24.0, gt=0, le=24 * 30,
                                           validation_alias="HITL_INTEGRATION_RETRY_HOURS")
    job_retry_hours: float = Field(1.0, gt=0, le=24 * 30, validation_alias="HITL_JOB_RETRY_HOURS")

    # Where `hitl eval` / `hitl report` publish (shared storage when replicas serve the API).
    reports_dir: Path | None = Field(None, validation_alias="HITL_REPORTS_DIR")

    # Threads mostly wait on the model (with no DB connection checked out): 100 simultaneous
    # hand-raises at 0.5 s model latency need about this many in flight to be drafted within
    # ~2 s (see README, "Measured").
    worker_threads: int = Field(64, ge=1, le=256, validation_alias="HITL_WORKER_THREADS")
    # Each worker process on one CPU of its own: its threads share one interpreter lock, and
    # spread over the cores they wake each other across them for nothing (hitl/cpu_pinning.py).
    worker_pin_cpu: bool = Field(True, validation_alias="HITL_WORKER_PIN_CPU")
    # Database connections a process keeps (and as many again in a burst); the worker's
    # checkpointer keeps up to this many more. Sized for the work, not the threads: on
    # PostgreSQL, replicas x processes x (2 x this) + checkpointers must fit max_connections.
    db_pool_size: int = Field(8, ge=1, le=100, validation_alias="HITL_DB_POOL_SIZE")

    # The HTTP edge (api/edge.py). Requests of one route family in the app at once: a burst of
    # support turns (each waits on the model) must not starve ingestion, Slack's acks or reads.
    # Three times as many may wait up to `http_queue_wait_s`; the rest get 429, Retry-After.
    # /healthz and /readyz belong to no family and never wait. Support: at 8 turns at once the
    # other families kept their goals on a loaded 2-core host, where 16 did not always (bench).
    http_support_concurrency: int = Field(8, ge=1, le=256,
                                          validation_alias="HITL_HTTP_SUPPORT_CONCURRENCY")
    http_ingest_concurrency: int = Field(4, ge=1, le=256,
                                         validation_alias="HITL_HTTP_INGEST_CONCURRENCY")
    http_slack_concurrency: int = Field(32, ge=1, le=256,
                                        validation_alias="HITL_HTTP_SLACK_CONCURRENCY")
    http_reads_concurrency: int = Field(16, ge=1, le=256,
                                        validation_alias="HITL_HTTP_READS_CONCURRENCY")
    http_actions_concurrency: int = Field(8, ge=1, le=256,
                                          validation_alias="HITL_HTTP_ACTIONS_CONCURRENCY")
    http_ops_concurrency: int = Field(4, ge=1, le=256,
                                      validation_alias="HITL_HTTP_OPS_CONCURRENCY")
    http_queue_wait_s: float = Field(2.0, ge=0, le=60, validation_alias="HITL_HTTP_QUEUE_WAIT_S")
    # Request bodies: /v1/* and /hooks/* (1,000 events of ~500 bytes fit twice), and Slack's
    # deliveries (a block_actions payload carries the whole message, up to 50 blocks).
    max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30,
                                validation_alias="HITL_MAX_BODY_BYTES")
    slack_max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30,
                                      validation_alias="HITL_SLACK_MAX_BODY_BYTES")
    # /metrics names reps in its labels: bearer token unless made public. /docs holds no data
    # and a browser cannot send a bearer header: public unless hidden.
    metrics_public: bool = Field(False, validation_alias="HITL_METRICS_PUBLIC")
    docs_public: bool = Field(True, validation_alias="HITL_DOCS_PUBLIC")

    # Identity (CONTRACT 6): links a browser opens without a bearer header (the KPI report) are
    # signed with this secret; unset, it is derived from HITL_API_TOKEN. HITL_PUBLIC_URL is the
    # address people reach the API at (links in Slack, email and the CLI are built on it).
    link_secret: str | None = Field(None, validation_alias="HITL_LINK_SECRET")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="HITL_PUBLIC_URL")

    # CRM connectors (CONTRACT 6): each inbound hook is off until its secret is set; base URLs
    # are settings so tests (and sandboxes) point them at local fakes.
    crm_file: Path = Field(DEFAULTS_DIR / "crm.toml", validation_alias="HITL_CRM_FILE")
    hubspot_client_secret: str | None = Field(None, validation_alias="HUBSPOT_CLIENT_SECRET")
    hubspot_api_url: str = Field("https://api.hubapi.com", validation_alias="HUBSPOT_API_URL")
    hubspot_access_token: str | None = Field(None, validation_alias="HUBSPOT_ACCESS_TOKEN")
    salesforce_org_id: str | None = Field(None, validation_alias="SALESFORCE_ORG_ID")
    salesforce_hook_key: str | None = Field(None, validation_alias="SALESFORCE_HOOK_KEY")
    salesforce_instance_url: str | None = Field(None, validation_alias="SALESFORCE_INSTANCE_URL")
    salesforce_access_token: str | None = Field(None, validation_alias="SALESFORCE_ACCESS_TOKEN")
    segment_write_key: str | None = Field(None, validation_alias="SEGMENT_WRITE_KEY")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "sqlite+pysqlite:///", "postgresql")):
            raise ValueError(
                "HITL_DATABASE_URL must be a SQLAlchemy URL starting with sqlite:/// or "
                f"postgresql+psycopg://, got {value!r}"
            )
        if value.startswith("postgresql://"):
            # Plain postgresql:// would pick psycopg2, which is not installed.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None) -> str | None:
        if value:
            parsed = urlparse(value)
            if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
                raise ValueError(
                    "HITL_SMTP_URL must look like smtp://[user:pass@]host:port "
                    f"(or smtps://, ?starttls=1), got {value!r}"
                )
        return value

    @field_validator("team_file", "policy_file", "crm_file")
    @classmethod
    def _file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file not found: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        half_configured = bool(self.slack_bot_token) != bool(self.slack_signing_secret)
        if half_configured and not self.slack_app_token:
            raise ValueError(
                "set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to turn the Slack surface on "
                "(or neither to leave it off)"
            )
        if self.embeddings == "openai" and not self.model_endpoint_configured:
            raise ValueError(
                "HITL_EMBEDDINGS=openai needs OPENAI_API_KEY or OPENAI_BASE_URL; "
                "use HITL_EMBEDDINGS=local to run offline"
            )
        return self

    @property
    def model_endpoint_configured(self) -> bool:
        """True when drafts come from a model; otherwise the offline drafter writes them."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def embeddings_mode(self) -> Literal["openai", "local"]:
        if self.embeddings:
            return self.embeddings
        return "openai" if self.model_endpoint_configured else "local"

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def content_folders(self) -> list[Path]:
        """The folders named by HITL_CONTENT_PATH, in order."""
        import os

        return [Path(p) for p in (self.content_path or "").split(os.pathsep) if p.strip()]

    @property
    def outbound_connections(self) -> int:
        """Connections a process's pool to an outside HTTP service (the model, Slack's Web API)
        may open and keeps alive: every worker thread may be in a call at once and each comes
        back for the next, so with fewer kept alive a burst reopened most of them (a TCP and,
        to a real endpoint, a TLS handshake a call); a few more for the process's other work."""
        return max(10, self.worker_threads + 4)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "configuration"
            lines.append(f"  {where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
