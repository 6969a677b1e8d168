"""A small fake of the Stripe API on loopback, for the real `stripe` SDK to talk to.

It answers POST /v1/checkout/sessions the way Stripe does for what LiveShop sends, and records
every request (method, path, headers, form-decoded body) so tests can check what the SDK put
on the wire. Like Stripe it honours Idempotency-Key: the same key with the same parameters
replays the first answer (one session, counted once); the same key with other parameters is
refused with an idempotency_error; a request made while another with its key is still being
executed is answered 409 idempotency_error, as Stripe does (the SDK retries that once). It
also enforces Stripe's rule for `expires_at` (30 minutes to 24 hours after the session's
creation), which a mock would not.

Modes (set `server.mode`):
- "ok": answer normally;
- "error500": answer 500 with a Stripe api_error body, before anything is executed (nothing is
  saved for the idempotency key, so a later retry with that key creates the session);
- "slow": wait `slow_seconds` before executing the request normally (longer than the client's
  timeout: Stripe made the session but the client never heard; a retry must replay it);
- "late_answer": make the session at once but answer `slow_seconds` later (the answer is lost
  on the way); a replay of it is answered at once.

Also here: signing webhook payloads exactly as Stripe does, and event bodies shaped like
Stripe's."""

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SESSION_MIN_SECONDS = 30 * 60
SESSION_MAX_SECONDS = 24 * 60 * 60


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: str
    form: dict[str, str]  # bracket keys as sent: "line_items[0][price_data][unit_amount]"
    received_at: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def idempotency_key(self) -> str | None:
        return self.header("Idempotency-Key")


@dataclass
class _Saved:
    """What Stripe keeps for an idempotency key: the parameters and the answer."""

    form: dict[str, str]
    status: int
    body: dict[str, Any]


@dataclass
class FakeStripe:
    mode: str = "ok"
    slow_seconds: float = 1.5
    # Seconds added to this server's clock: a request "arriving later" than it was sent.
    clock_offset: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0
    _saved: dict[str, _Saved] = field(default_factory=dict)
    _executing: set[str] = field(default_factory=set)  # idempotency keys in progress
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(_Handler):
            server_fake = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A "slow" handler may still be sleeping when the test ends: don't wait for it.
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (a "slow" one finishes its work)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the fake Stripe server is still busy")
                self._idle.wait(left)

    # --- what tests look at --------------------------------------------------------------

    def session_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"
        ]

    @property
    def sessions_created(self) -> int:
        return len(self.sessions)

    # --- the API -------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer (status, JSON body, extra headers)."""
        if not (request.header("Authorization") or "").startswith("Bearer sk_"):
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            if self.mode == "error500":
                return _error(500, "api_error", "An unknown error occurred (fake Stripe).")
            key = request.idempotency_key
            with self._lock:
                if key and key in self._executing:
                    return _error(
                        409,
                        "idempotency_error",
                        "There is currently another in-progress request using this "
                        "idempotency key. Try again later.",
                    )
                if key:
                    self._executing.add(key)
            try:
                if self.mode == "slow":
                    time.sleep(self.slow_seconds)
                answer = self._create_session(request)
            finally:
                with self._lock:
                    self._executing.discard(key)
            if self.mode == "late_answer" and "Idempotent-Replayed" not in answer[2]:
                time.sleep(self.slow_seconds)  # done, saved; the answer is slow to come
            return answer
        if (
            request.method == "POST"
            and request.path.startswith("/v1/checkout/sessions/")
            and request.path.endswith("/expire")
        ):
            session = self.sessions.get(request.path.split("/")[-2])
            if session is None:
                return _error(404, "invalid_request_error", "No such checkout.session")
            session["status"] = "expired"
            return 200, session, {}
        if request.method == "GET" and request.path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(request.path.rsplit("/", 1)[1])
            if session is None:
                return _error(404, "invalid_request_error", "No such checkout.session")
            return 200, session, {}
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.path}).")

    def _create_session(self, request: RecordedRequest):
        key = request.idempotency_key
        with self._lock:
            if key and key in self._saved:
                saved = self._saved[key]
                if saved.form != request.form:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                return saved.status, saved.body, {"Idempotent-Replayed": "true"}
            status, body, headers = self._new_session(request.form)
            # Like Stripe, a result is saved only once the endpoint has begun executing:
            # validation errors are not kept and a corrected retry may use the key again.
            if key and status == 200:
                self._saved[key] = _Saved(dict(request.form), status, body)
            return status, body, headers

    def _new_session(self, form: dict[str, str]):
        exact_now = time.time() + self.clock_offset
        now = int(exact_now)
        for required in ("mode", "success_url", "line_items[0][quantity]"):
            if required not in form:
                return _error(400, "invalid_request_error", f"Missing required param: {required}.")
        if "expires_at" in form:
            expires_at = int(form["expires_at"])
            # Stripe measures from the session's creation, which is no earlier than now.
            if expires_at < exact_now + SESSION_MIN_SECONDS:
                return _error(
                    400,
                    "invalid_request_error",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                    param="expires_at",
                )
            if expires_at > now + SESSION_MAX_SECONDS:
                return _error(
                    400,
                    "invalid_request_error",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                    param="expires_at",
                )
        else:
            expires_at = now + SESSION_MAX_SECONDS
        lines = _line_items(form)
        currencies = {line["currency"] for line in lines}
        if len(currencies) != 1:
            return _error(400, "invalid_request_error", "All line items need one currency.")
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "livemode": False,
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "created": now,
            "expires_at": expires_at,
            "amount_total": sum(line["unit_amount"] * line["quantity"] for line in lines),
            "currency": currencies.pop(),
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": _sub_dict(form, "metadata"),
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "payment_intent": None,
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session, {}


def _error(status: int, kind: str, message: str, param: str | None = None):
    error: dict[str, Any] = {"type": kind, "message": message}
    if param:
        error["param"] = param
    return status, {"error": error}, {}


def _sub_dict(form: dict[str, str], prefix: str) -> dict[str, str]:
    start = f"{prefix}["
    return {k[len(start) : -1]: v for k, v in form.items() if k.startswith(start)}


def _line_items(form: dict[str, str]) -> list[dict[str, Any]]:
    lines = []
    index = 0
    while f"line_items[{index}][quantity]" in form:
        base = f"line_items[{index}]"
        lines.append(
            {
                "quantity": int(form[f"{base}[quantity]"]),
                "unit_amount": int(form[f"{base}[price_data][unit_amount]"]),
                "currency": form[f"{base}[price_data][currency]"],
                "name": form[f"{base}[price_data][product_data][name]"],
            }
        )
        index += 1
    return lines


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _serve(self) -> None:
        fake = self.server_fake
        with fake._idle:
            fake._in_flight += 1
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            request = RecordedRequest(
                method=self.command,
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                form=dict(parse_qsl(body or query, keep_blank_values=True)),
                received_at=time.time() + fake.clock_offset,
            )
            with fake._lock:
                fake.requests.append(request)
            status, payload, headers = fake.handle(request)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting ("slow" mode): Stripe did the work anyway
        finally:
            with fake._idle:
                fake._in_flight -= 1
                fake._idle.notify_all()

    do_GET = do_POST = do_DELETE = _serve


# --- webhooks --------------------------------------------------------------------------------


def stripe_signature(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for `payload`."""
    if isinstance(payload, bytes):
        payload = payload.decode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A Stripe event envelope around `obj`."""
    return {
        "id": event_id or f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def checkout_session_object(order, **overrides) -> dict[str, Any]:
    """A checkout.session object as Stripe sends it for `order` once paid."""
    from orders.stripe_api import to_minor_units

    session = {
        "id": order.checkout_session_id or f"cs_test_{secrets.token_hex(12)}",
        "object": "checkout.session",
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "amount_total": to_minor_units(order.total),
        "currency": order.currency.lower(),
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_test_{order.pk}",
    }
    session.update(overrides)
    return session


def charge_object(*, payment_intent: str, amount: int, **overrides) -> dict[str, Any]:
    charge = {
        "id": f"ch_test_{secrets.token_hex(12)}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount,
        "currency": "usd",
        "paid": True,
        "refunded": True,
        "payment_intent": payment_intent,
        "metadata": {},
    }
    charge.update(overrides)
    return charge
