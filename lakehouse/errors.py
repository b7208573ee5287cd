"""Named exceptions. Every message says what happened and what to do next."""

from __future__ import annotations


class LakehouseError(Exception):
    """Base class: the CLI prints these without a traceback and exits non-zero."""


class UnknownProfileError(LakehouseError):
    def __init__(self, profile: str, available: list[str], directory: str) -> None:
        names = ", ".join(available) or "none"
        super().__init__(
            f"unknown profile {profile!r}: no {profile}.yaml in {directory} "
            f"(available: {names}). Set LAKEHOUSE_PROFILE to one of them."
        )


class SettingsError(LakehouseError):
    """A profile file or an environment override does not validate."""


class MissingSecretError(LakehouseError):
    def __init__(self, what: str, looked_in: list[str]) -> None:
        places = "\n  - ".join(looked_in)
        super().__init__(f"{what} is not set. Looked for it in:\n  - {places}")


class StackError(LakehouseError):
    """The local stack could not be brought up, stopped or inspected."""


class ServiceStartError(StackError):
    def __init__(self, service: str, reason: str, log_tail: str = "", log_path: str = "") -> None:
        self.service = service
        msg = f"{service} did not start: {reason}"
        if log_path:
            msg += f"\nlog: {log_path}"
        if log_tail:
            msg += f"\n--- last lines of the {service} log ---\n{log_tail.rstrip()}\n---"
        super().__init__(msg)


class PortInUseError(StackError):
    def __init__(self, service: str, port: int, setting: str) -> None:
        self.service = service
        self.port = port
        super().__init__(
            f"{service} cannot start: port {port} on 127.0.0.1 is already in use by another "
            f"process. Stop that process, or choose another port with {setting}=<port>."
        )


class JavaNotFoundError(StackError):
    def __init__(self, needed: str, looked_in: list[str]) -> None:
        places = "\n  - ".join(looked_in)
        super().__init__(
            f"no usable Java {needed} found. Looked in:\n  - {places}\n"
            "Run ./init.sh (it installs what is missing), or set JAVA_HOME."
        )


class MissingArtifactError(StackError):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(
            f"{name} is missing: expected it at {path}. Run ./init.sh (or "
            "`lakehouse artifacts fetch`) to download and verify it."
        )


class ChecksumMismatchError(LakehouseError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{name}: sha256 {actual} does not match the pinned {expected}. The download "
            "was corrupted or the artifact changed upstream; delete it and run ./init.sh again."
        )
