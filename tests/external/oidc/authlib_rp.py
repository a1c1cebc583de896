"""Relying parties built on Python's authlib against a running gatehouse.

    python3 authlib_rp.py CONFIG.json      (authlib.sh writes CONFIG and runs this)

The OAuth 2 client is authlib's OAuth2Session (requests): authorization URL with
PKCE S256, state and nonce; the code exchanged with the verifier (state checked
by authlib); refresh. The ID token is validated by authlib's own relying-party
code, OpenIDMixin.parse_id_token (the one its Flask, Django and Starlette clients
use): signature with the JWKS (joserfc), then CodeIDToken's claims: iss, aud, azp,
exp, iat, nonce and at_hash. UserInfo and the end-session URL come from the same
mixin. The person's part goes over plain HTTP: a requests session is the browser
(cookie jar, manual redirects, the sign-in form, the consent form's Allow).

Also shown: authlib refusing a forged state, and parse_id_token refusing a wrong
nonce, a different access token (at_hash), another client (aud), another issuer
and a forged signature. authlib does not check RFC 9207's iss parameter; it is
compared here. Prints "ok - ..." / "not ok - ..."; exits 1 on any failure.
"""

import hashlib
from base64 import urlsafe_b64decode, urlsafe_b64encode
import html
import json
import re
import sys
import time
import traceback
import urllib.parse as up

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from joserfc.errors import BadSignatureError, InvalidClaimError

CFG = json.load(open(sys.argv[1]))
CA = CFG["ca"]
SCOPE = "openid profile email offline_access"
TIMEOUT = 10
HOPS = 12
DEADLINE = time.monotonic() + 120
failed = 0


def ok(what):
    print(f"ok - {what}", flush=True)


def not_ok(what, err):
    global failed
    failed += 1
    print(f"not ok - {what}")
    for line in "".join(traceback.format_exception(err)).splitlines():
        print(f"#   {line}")
    sys.stdout.flush()


def refuses(what, fn, exc, test=lambda e: True):
    """fn() must raise exc (and test(e) hold)."""
    try:
        fn()
    except exc as e:
        if test(e):
            return ok(what)
        raise AssertionError(f"{what}: refused, but not as expected: {e!r}") from e
    raise AssertionError(f"{what}: was accepted")


def trusting(session):
    """session, trusting gatehouse's local CA. trust_env off: requests would
    otherwise let REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE override session.verify."""
    session.verify = CA
    session.trust_env = False
    return session


def hidden_inputs(page):
    out = {}
    for tag in re.findall(r"<input\b[^>]*>", page):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'\s([a-z-]+)="([^"]*)"', tag)}
        if attrs.get("type") == "hidden" and "name" in attrs:
            out[attrs["name"]] = attrs.get("value", "")
    return out


class Browser:
    """A person's browser, enough for the code flow: never leaves gatehouse."""

    def __init__(self):
        self.http = trusting(requests.Session())
        self.origin = CFG["issuer"]
        self.trace = []

    def has_session(self):
        return any(c.name == "gatehouse_session" for c in self.http.cookies)

    def request(self, url, form=None):
        url = up.urljoin(self.origin + "/", url)
        if not url.startswith(self.origin + "/"):
            raise AssertionError(f"the browser was about to leave gatehouse for {url}")
        if time.monotonic() > DEADLINE:
            raise TimeoutError("the run took over 120 s")
        headers = {"Accept": "text/html"}
        if form is None:
            r = self.http.get(url, headers=headers, allow_redirects=False, timeout=TIMEOUT)
        else:
            headers.update({"Origin": self.origin, "Sec-Fetch-Site": "same-origin"})
            r = self.http.post(url, data=form, headers=headers, allow_redirects=False, timeout=TIMEOUT)
        self.trace.append(f"{'POST' if form else 'GET'} {up.urlsplit(url).path} -> {r.status_code}")
        loc = r.headers.get("Location")
        return r, (up.urljoin(url, loc) if loc else None)

    def authorize(self, auth_url, redirect_uri):
        """Signs in and allows as asked until gatehouse sends the browser to redirect_uri."""
        shown = {"sign_in": False, "consent": False, "consent_page": ""}
        url, form = auth_url, None
        for _ in range(HOPS):
            r, loc = self.request(url, form)
            if r.status_code in (302, 303) and loc:
                if loc.split("?")[0] == redirect_uri:
                    return loc, shown
                url, form = loc, None
            elif r.status_code == 200 and up.urlsplit(r.url).path == "/ui/login":
                for want in (">Username<", ">Password<", ">Sign in<"):
                    assert want in r.text, f"the sign-in page lacks {want}"
                shown["sign_in"] = True
                rd = hidden_inputs(r.text).get("rd", "")
                url, form = "/ui/login", {"username": CFG["user"]["username"], "password": CFG["user"]["password"], "rd": rd}
            elif r.status_code == 200 and 'action="/oidc/consent"' in r.text:
                assert ">Allow<" in r.text and ">Deny<" in r.text, "consent page without Allow/Deny"
                shown["consent"], shown["consent_page"] = True, r.text
                url, form = "/oidc/consent", {**hidden_inputs(r.text), "decision": "allow"}
            else:
                raise AssertionError(f"unexpected {r.status_code} at {r.url}: {r.text[:300]}\n" + "\n".join(self.trace))
        raise AssertionError("no way back to the client:\n" + "\n".join(self.trace))


class Provider(OpenIDMixin):
    """authlib's relying-party half (ID token, UserInfo, logout URL) for one client."""

    def __init__(self, client_id, metadata, session):
        self.client_id = client_id
        self.server_metadata = dict(metadata)
        self.session = session

    def load_server_metadata(self):
        return self.server_metadata

    def _get_session(self):
        return trusting(OAuth2Session())

    def get(self, url, **kwargs):
        return self.session.get(url, timeout=TIMEOUT, **kwargs)


def at_hash(token, alg):
    h = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}[alg](token.encode()).digest()
    return urlsafe_b64encode(h[: len(h) // 2]).rstrip(b"=").decode()


def jwt_header(jwt):
    h = jwt.split(".")[0]
    return json.loads(urlsafe_b64decode(h + "=" * (-len(h) % 4)))


def check_id_token(c, token, claims, nonce):
    assert jwt_header(token["id_token"])["alg"] == c["alg"], jwt_header(token["id_token"])
    assert claims["iss"] == CFG["issuer"], claims
    assert claims["aud"] in (c["client_id"], [c["client_id"]]), claims
    assert claims["azp"] == c["client_id"], claims
    if nonce is not None:
        assert claims["nonce"] == nonce, claims
    assert claims["amr"] == ["pwd"], claims
    assert claims["auth_time"] <= claims["iat"] < claims["exp"], claims
    # parse_id_token verified at_hash when present; it must be present.
    assert claims["at_hash"] == at_hash(token["access_token"], c["alg"]), claims


def check_userinfo(ui, sub):
    u = CFG["user"]
    assert ui["sub"] == sub, ui
    assert (ui["preferred_username"], ui["name"], ui["email"], ui["role"]) == (
        u["username"], u["name"], u["email"], u["role"]), ui
    assert isinstance(ui["email_verified"], bool), ui


def flow(c, meta):
    label = f"authlib, {c['label']}"
    statuses = []

    def session():
        s = OAuth2Session(
            c["client_id"],
            c["client_secret"],
            scope=SCOPE,
            redirect_uri=c["redirect_uri"],
            code_challenge_method="S256",
            token_endpoint_auth_method=c["auth"],
        )
        trusting(s)
        s.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
        return s

    def start(s):
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = s.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        return url, state, verifier, nonce

    s = session()
    rp = Provider(c["client_id"], meta, s)
    url, state, verifier, nonce = start(s)
    q = dict(up.parse_qsl(up.urlsplit(url).query))
    assert (q["code_challenge_method"], q["nonce"], q["state"]) == ("S256", nonce, state), q
    b = Browser()
    back, shown = b.authorize(url, c["redirect_uri"])
    assert shown["sign_in"]
    assert shown["consent"] != c["trusted"], shown
    if shown["consent"]:
        assert c["name"] in shown["consent_page"]
    ok(f"{label}: sign-in{'' if c['trusted'] else ', consent'} and back to the redirect URI with a code")

    params = dict(up.parse_qsl(up.urlsplit(back).query))
    assert params.get("iss") == meta["issuer"], params  # RFC 9207, not checked by authlib
    assert params.get("state") == state
    ok(f"{label}: the authorization response carries state and iss = the issuer (RFC 9207)")
    refuses(f"{label}: OAuth2Session refuses an authorization response with another state",
            lambda: s.fetch_token(meta["token_endpoint"], authorization_response=back.replace(state, "forged"),
                                  state=state, code_verifier=verifier, timeout=TIMEOUT),
            MismatchingStateException)

    token = s.fetch_token(meta["token_endpoint"], authorization_response=back, state=state, code_verifier=verifier,
                          timeout=TIMEOUT)
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE and token.get("refresh_token"), token
    claims = rp.parse_id_token(token, nonce)
    check_id_token(c, token, claims, nonce)
    ok(f"{label}: code + PKCE exchanged ({c['auth']}); parse_id_token: {c['alg']} signature from the JWKS, "
       "iss, azp (aud), exp, nonce, at_hash")

    refuses(f"{label}: parse_id_token refuses a wrong nonce",
            lambda: rp.parse_id_token(token, "another-nonce"), InvalidClaimError, lambda e: "nonce" in str(e))
    refuses(f"{label}: parse_id_token refuses an ID token beside another access token (at_hash)",
            lambda: rp.parse_id_token({**token, "access_token": token["access_token"] + "x"}, nonce),
            InvalidClaimError, lambda e: "at_hash" in str(e))
    # authlib compares aud through its azp rule: aud other than the client needs azp = the client.
    refuses(f"{label}: parse_id_token refuses an ID token meant for another client (aud/azp)",
            lambda: Provider("another-client", meta, s).parse_id_token(token, nonce),
            InvalidClaimError, lambda e: "'azp'" in str(e) or "'aud'" in str(e))
    refuses(f"{label}: parse_id_token refuses an ID token from another issuer (iss)",
            lambda: Provider(c["client_id"], {**meta, "issuer": "https://attacker.example"}, s).parse_id_token(token, nonce),
            InvalidClaimError, lambda e: "iss" in str(e))
    h, p, sig = token["id_token"].split(".")
    forged = f"{h}.{p}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    refuses(f"{label}: parse_id_token refuses a forged signature",
            lambda: rp.parse_id_token({**token, "id_token": forged}, nonce), BadSignatureError)

    ui = rp.userinfo()
    check_userinfo(ui, claims["sub"])
    ok(f"{label}: UserInfo (sub matches; preferred_username, name, email, email_verified, role)")

    old = token["refresh_token"]
    fresh = s.refresh_token(meta["token_endpoint"], refresh_token=old, timeout=TIMEOUT)
    assert fresh["refresh_token"] != old, "the refresh token rotates"
    fresh_claims = rp.parse_id_token(fresh, None)
    check_id_token(c, fresh, fresh_claims, None)
    assert fresh_claims["sub"] == claims["sub"]
    check_userinfo(rp.userinfo(), claims["sub"])  # the session now holds the new access token
    ok(f"{label}: refresh (rotated refresh token, new ID token validated, new access token works)")

    def grant_refused(e):
        return e.error == "invalid_grant" and statuses[-1] == 400

    refuses(f"{label}: the spent refresh token is refused (400 invalid_grant)",
            lambda: s.refresh_token(meta["token_endpoint"], refresh_token=old, timeout=TIMEOUT), OAuthError, grant_refused)
    refuses(f"{label}: ...and the reuse revoked the rotated one too (400 invalid_grant)",
            lambda: s.refresh_token(meta["token_endpoint"], refresh_token=fresh["refresh_token"], timeout=TIMEOUT),
            OAuthError, grant_refused)

    # Logout, from a fresh sign-in (the reuse above ended every session of alice).
    s3 = session()
    url, state, verifier, nonce = start(s3)
    b3 = Browser()
    back, shown = b3.authorize(url, c["redirect_uri"])
    assert shown["sign_in"] and not shown["consent"], shown
    t3 = s3.fetch_token(meta["token_endpoint"], authorization_response=back, state=state, code_verifier=verifier,
                        timeout=TIMEOUT)
    Provider(c["client_id"], meta, s3).parse_id_token(t3, nonce)
    end = rp.create_logout_url(post_logout_redirect_uri=c["post_logout_redirect_uri"], id_token_hint=t3["id_token"])
    r, loc = b3.request(end["url"])
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert loc == f"{c['post_logout_redirect_uri']}?state={end['state']}", loc
    assert not b3.has_session(), "the session cookie is cleared"
    r, loc = b3.request(start(session())[0])
    assert r.status_code == 302 and up.urlsplit(loc).path == "/ui/login", (r.status_code, loc)
    ok(f"{label}: create_logout_url with id_token_hint: 302 to the registered URI with state; signed out")


def main():
    r = trusting(requests.Session()).get(CFG["issuer"] + "/.well-known/openid-configuration", timeout=TIMEOUT)
    r.raise_for_status()
    meta = r.json()
    assert meta["issuer"] == CFG["issuer"], meta["issuer"]
    ok("authlib: discovery document fetched, issuer matches")
    for c in CFG["clients"]:
        try:
            flow(c, meta)
        except Exception as e:  # noqa: BLE001 - one client's failure must not hide the next's
            not_ok(f"authlib, {c['label']}: the flow stopped", e)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
