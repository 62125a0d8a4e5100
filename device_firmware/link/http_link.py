"""`HttpServerLink`: the core's `ServerLink` port over HTTP(S), as docs/protocol.md says.

Every state-changing request is signed by the token key (`signing`); before each one the link
reads ``GET /api/v1/time`` and keeps ``offset = server_time - own_time`` (taken at the middle
of the round trip), so its timestamps are always within a second of the bank's clock even if
the token's clock was just stepped by NTP; at first contact it also pins the provisioning key
its configuration trusts (`pinning.ProvisioningTrust`). Bundles are checked and opened by
`bundle.open_bundle`; the credential goes to the core with ``server_time = own_time +
offset``, from which the core keeps the clock offset.

What the bank's answers become (each message carries the bank's plain-words ``detail``):

==============================  ==========================================================
answer                          error
==============================  ==========================================================
no answer, timeout, 5xx, 408    `Unreachable`
401 to a registration           `WrongCredentials` (unknown user and wrong password alike)
400 to a confirm / redeem       `WrongCode` (e-mailed code; device ID or activation code)
404 to a confirm                `CodeExpired` (the bank no longer knows the registration)
410                             `CodeExpired` (expired, used, or void after wrong tries)
429                             `TooManyAttempts`
403 to an enrolment             `EnrolmentRefused` (a token is active, or this one was revoked)
404 to a delete                 `UnknownCredential`
a bundle failing its checks     `BundleRejected`
a provisioning key not trusted  `UntrustedProvisioningKey` (a `BundleRejected`)
anything else                   `LinkError`
==============================  ==========================================================

Plain ``http://`` is refused except to a loopback address: the online-banking password
travels in the registration request, and only TLS keeps it from the network.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
from types import TracebackType
from typing import Any, Final

import httpx

from device_firmware import __version__
from device_firmware.core import device_id as device_ids
from device_firmware.core.device_id import DeviceId
from device_firmware.core.errors import (
    CodeExpired,
    EnrolmentRefused,
    LinkError,
    TooManyAttempts,
    UnknownCredential,
    Unreachable,
    UntrustedProvisioningKey,
    VaultError,
    WrongCode,
    WrongCredentials,
)
from device_firmware.core.ports import Clock
from device_firmware.core.records import ProvisionedCredential, RegistrationHandle
from device_firmware.link import bundle
from device_firmware.link.pinning import PinStore, ProvisioningKey, ProvisioningTrust
from device_firmware.link.signing import signed_headers
from device_firmware.link.token_key import KeySource, TokenKey, point_of

log = logging.getLogger(__name__)

API = "/api/v1"
DEFAULT_TIMEOUT = 15.0
MAX_DETAIL = 200
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # registration and credential ids in URL paths

_REGISTER: Final = "register"
_CONFIRM: Final = "confirm"
_REDEEM: Final = "redeem"
_DELETE: Final = "delete"
_REFUSALS: dict[str, dict[int, type[LinkError]]] = {
    _REGISTER: {
        401: WrongCredentials,
        403: EnrolmentRefused,
        410: CodeExpired,
        429: TooManyAttempts,
    },
    _CONFIRM: {
        400: WrongCode,
        403: EnrolmentRefused,
        404: CodeExpired,
        410: CodeExpired,
        429: TooManyAttempts,
    },
    _REDEEM: {400: WrongCode, 403: EnrolmentRefused, 410: CodeExpired, 429: TooManyAttempts},
    _DELETE: {404: UnknownCredential, 429: TooManyAttempts},
}


class InsecureServerUrl(ValueError):
    """The URL is not https:// (nor http:// to a loopback address)."""


def check_server_url(server_url: str) -> httpx.URL:
    """The bank's base URL, if it is safe to send a password to.

    Raises:
        InsecureServerUrl: not https, or plain http to a host other than loopback.
    """
    try:
        url = httpx.URL(server_url)
    except httpx.InvalidURL as exc:
        raise InsecureServerUrl(f"{server_url!r} is not a URL") from exc
    if url.scheme == "https" and url.host:
        return url
    if url.scheme == "http" and _is_loopback(url.host):
        return url
    raise InsecureServerUrl(
        f"{server_url!r}: the bank is reached over https:// only (plain http:// only to "
        "127.0.0.1 or localhost, for tests), because the password travels in the request"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpServerLink:
    """The bank's enrollment API over HTTP(S).

    Args:
        server_url: the bank's base URL (``https://otp.bank.example``).
        token_key: returns the token's current key (e.g. `FileVault.identity`).
        pins: where the provisioning key pinned at first contact is kept.
        clock: the token's clock (timestamps are this plus the learned offset).
        trust: how the bank's provisioning key is known: the key itself (it wins over
            `pins`, which are then neither read nor written), its fingerprint, or (for
            development) first use. Required: no default trusts the first answer.
        transport: the httpx transport (tests pass `httpx.MockTransport`).
        timeout: seconds to wait for the bank before `Unreachable`.

    Raises:
        InsecureServerUrl: `server_url` is not https (nor http to loopback).
    """

    def __init__(
        self,
        server_url: str,
        *,
        token_key: KeySource,
        pins: PinStore,
        clock: Clock,
        trust: ProvisioningTrust,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        base = check_server_url(server_url)
        self._token_key = token_key
        self._pins = pins
        self._clock = clock
        self._trust = trust
        self._offset: float | None = None
        self._http = httpx.Client(
            base_url=base,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"otp-token/{__version__}", "Accept": "application/json"},
        )

    def __enter__(self) -> HttpServerLink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections to the bank."""
        self._http.close()

    @property
    def clock_offset(self) -> float | None:
        """Seconds to add to the token's clock to get the bank's (None before contact)."""
        return self._offset

    # The ServerLink port ----------------------------------------------------------------

    def start_registration(
        self, username: str, password: str, public_key: bytes, device_id: DeviceId
    ) -> RegistrationHandle:
        """``POST /registrations``: the bank checks the login and e-mails a code."""
        key = self._key(public_key)
        body = {"username": username, "password": password, "device_id": device_id}
        answer = self._json(self._signed(_REGISTER, key, "POST", f"{API}/registrations", body))
        registration_id = _text(answer, "registration_id")
        if not _ID.match(registration_id):
            raise LinkError("the bank's registration id is malformed")
        expires_at = _number(answer, "expires_at")
        return RegistrationHandle(
            handle=registration_id,
            masked_email=_text(answer, "masked_email"),
            expires_at=expires_at - (self._offset or 0.0),  # on the token's clock
        )

    def confirm_registration(
        self, handle: RegistrationHandle, email_code: str
    ) -> ProvisionedCredential:
        """``POST /registrations/{id}/confirm`` with the e-mailed code: the bundle, opened."""
        key = self._key()
        if not _ID.match(handle.handle):
            raise CodeExpired("the registration id is malformed: start again")
        path = f"{API}/registrations/{handle.handle}/confirm"
        response = self._signed(_CONFIRM, key, "POST", path, {"code": email_code})
        return self._provisioned(key, response)

    def redeem_activation(
        self, device_id: DeviceId, activation_code: str, public_key: bytes
    ) -> ProvisionedCredential:
        """``POST /activations/redeem`` with the portal's code: the bundle, opened."""
        key = self._key(public_key)
        body = {"device_id": device_id, "activation_code": activation_code}
        response = self._signed(_REDEEM, key, "POST", f"{API}/activations/redeem", body)
        return self._provisioned(key, response)

    def delete_credential(self, credential_id: str) -> None:
        """``DELETE /credentials/{id}``: the bank retires the credential."""
        if not _ID.match(credential_id):
            raise UnknownCredential("the bank cannot know a credential id of this form")
        self._signed(_DELETE, self._key(), "DELETE", f"{API}/credentials/{credential_id}", None)

    def server_time(self) -> float:
        """``GET /time``: the bank's Unix time (the offset is refreshed too)."""
        return self._read_time()

    # ------------------------------------------------------------------------------------

    def _key(self, expected_public_key: bytes | None = None) -> TokenKey:
        try:
            key = self._token_key()
        except VaultError as exc:
            raise LinkError(f"the token's key cannot be read: {exc}") from exc
        if expected_public_key is not None and key.public_key_der != expected_public_key:
            raise LinkError("the token's key changed while the request was being prepared")
        return key

    def _pinned(self) -> ProvisioningKey:
        """The provisioning key bundles must be signed by (pinned now if need be)."""
        if self._trust.key is not None:
            return self._trust.key
        try:
            pinned = self._pins.load()
        except VaultError as exc:
            raise LinkError(f"the pinned provisioning key cannot be read: {exc}") from exc
        if pinned is not None and self._trust.accepts(pinned):
            return pinned
        if pinned is not None:
            log.warning(
                "the pinned provisioning key %s is not %s: reading the bank's again",
                pinned.fingerprint,
                self._trust.describe,
            )
        return self._pin_at_first_contact()

    def _pin_at_first_contact(self) -> ProvisioningKey:
        answer = self._json(self._get(f"{API}/provisioning-key"))
        try:
            key = ProvisioningKey.from_b64url(_text(answer, "public_key"), _text(answer, "key_id"))
        except ValueError as exc:
            raise LinkError("the bank's provisioning key is not a P-256 point") from exc
        if _text(answer, "fingerprint").lower() != key.fingerprint:
            raise LinkError("the bank's provisioning key does not match its fingerprint")
        if not self._trust.accepts(key):
            log.error(
                "the bank showed provisioning key %s, not %s: refused, nothing pinned",
                key.fingerprint,
                self._trust.describe,
            )
            raise UntrustedProvisioningKey(
                f"the bank's provisioning key (fingerprint {key.fingerprint}) is not the one "
                "this token is configured to trust: refused, nothing pinned"
            )
        try:
            self._pins.save(key)
        except VaultError as exc:
            raise LinkError(f"the provisioning key could not be pinned: {exc}") from exc
        log.log(
            logging.WARNING if self._trust.first_use else logging.INFO,
            "provisioning key %s pinned at first contact, fingerprint %s, trusting %s",
            key.key_id,
            key.fingerprint,
            self._trust.describe,
        )
        return key

    def _read_time(self) -> float:
        before = self._clock.now()
        answer = self._json(self._get(f"{API}/time"))
        after = self._clock.now()
        server_time = _number(answer, "server_time")
        self._offset = server_time - (before + after) / 2
        return server_time

    def _signed(
        self, operation: str, key: TokenKey, method: str, path: str, body: dict[str, str] | None
    ) -> httpx.Response:
        """Send a signed request (time read, key pinned first); the 2xx answer, or raise."""
        self._read_time()
        self._pinned()  # first contact pins the key before any bundle can arrive
        content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = self._http.build_request(method, path, content=content or None, headers=headers)
        try:
            point = point_of(key.public_key_der)
        except ValueError as exc:
            raise LinkError("the token's key is not an EC P-256 key") from exc
        unix_time = int(self._clock.now() + (self._offset or 0.0))
        request.headers.update(
            signed_headers(key, point, method, request.url.path, content, unix_time)
        )
        return self._answer(operation, self._send(request))

    def _get(self, path: str) -> httpx.Response:
        return self._answer("", self._send(self._http.build_request("GET", path)))

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:  # connect, read, write, timeouts, protocol
            raise Unreachable(f"no answer from the bank: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise LinkError(f"the bank's answer could not be read: {type(exc).__name__}") from exc

    def _answer(self, operation: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        log.debug("%s %s -> %d", response.request.method, response.request.url.path, status)
        if 200 <= status < 300:
            return response
        message = f"{_detail(response)} (HTTP {status})"
        log.info("the bank answered %s %s: %s", response.request.method, response.url.path, message)
        if status >= 500 or status == 408:
            raise Unreachable(message)
        raise _REFUSALS.get(operation, {}).get(status, LinkError)(message)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise LinkError("the bank's answer is not the JSON object the protocol says")
        return document

    def _provisioned(self, key: TokenKey, response: httpx.Response) -> ProvisionedCredential:
        document = bundle.parse(response.content)
        credential = bundle.open_bundle(document, key, self._pinned().point)
        log.info(
            "credential %s provisioned for device %s",
            credential.credential_id,
            device_ids.format(device_ids.make(key.public_key_der)),
        )
        server_now = self._clock.now() + (self._offset or 0.0)
        return ProvisionedCredential(credential, server_time=server_now)


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise LinkError(f"the bank's answer has no valid {name}")
    return value


def _number(document: dict[str, Any], name: str) -> float:
    value = document.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise LinkError(f"the bank's answer has no valid {name}")
    return float(value)


def _detail(response: httpx.Response) -> str:
    """The bank's plain-words reason (the JSON ``detail``), printable and bounded."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if not isinstance(detail, str) or not detail.strip():
        detail = response.reason_phrase or "the bank refused the request"
    text = "".join(char if char.isprintable() else " " for char in detail).strip()
    return text[:MAX_DETAIL]
