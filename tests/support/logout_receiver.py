"""A relying party's back-channel logout endpoint on loopback, checking each logout token as
OpenID Connect Back-Channel Logout 1.0 section 2.6 tells an application to: signature against
the provider's JWKS (joserfc, not the PyJWT that signs), typ, iss, aud, iat/exp, jti, sub, the
event, and no nonce. A valid token is answered 200 and kept; anything else 400."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from joserfc import jws, jwt
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutReceiver:
    def __init__(self, *, issuer, client_id, jwks):
        self.issuer, self.client_id = issuer, client_id
        self.keys = KeySet.import_key_set(jwks)
        self.accepted = []  # claims of each valid logout token
        self.rejected = []  # why each other request was refused
        self.posts = 0
        self.answer_status = None  # set to e.g. 503 to play an application that is down
        self.redirect_to = None  # set to answer 302 with this Location
        self.paths = []  # the path of every request, in order
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.paths.append(self.path)
                if receiver.redirect_to:
                    receiver.posts += 1
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = receiver.receive(self.headers, body)
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.uri = f"http://127.0.0.1:{self.port}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def receive(self, headers, body) -> int:
        with self.condition:
            self.posts += 1
            if self.answer_status is not None:
                return self.answer_status
            try:
                if headers.get("Content-Type") != "application/x-www-form-urlencoded":
                    raise ValueError("not a form post")
                tokens = parse_qs(body).get("logout_token", [])
                if len(tokens) != 1:
                    raise ValueError("one logout_token expected")
                claims = self.validate(tokens[0])
            except Exception as exc:  # noqa: BLE001 - any invalid token is a 400
                self.rejected.append(f"{exc.__class__.__name__}: {exc}")
                self.condition.notify_all()
                return 400
            self.accepted.append(claims)
            self.condition.notify_all()
            return 200

    def validate(self, token):
        header = jws.extract_compact(token.encode()).protected
        if header.get("typ") != "logout+jwt" or header.get("alg") != "RS256":
            raise ValueError(f"header {header}")
        claims = jwt.decode(token, self.keys, algorithms=["RS256"]).claims
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise ValueError(f"iss {claims.get('iss')}")
        aud = claims.get("aud")
        if self.client_id not in (aud if isinstance(aud, list) else [aud]):
            raise ValueError(f"aud {aud}")
        if not (now - 300 <= claims["iat"] <= now + 5) or claims["exp"] < now:
            raise ValueError("iat/exp")
        if claims.get("events") != {EVENT: {}}:
            raise ValueError(f"events {claims.get('events')}")
        if "nonce" in claims or not claims.get("jti") or not (claims.get("sub") or claims.get("sid")):
            raise ValueError("nonce present, or jti/sub missing")
        return claims

    def wait_for(self, count, timeout=20.0):
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.accepted) + len(self.rejected) >= count,
                                           timeout):
                raise AssertionError(f"{count} logout token(s) expected, got "
                                     f"{self.accepted} / {self.rejected}")
