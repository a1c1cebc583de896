#!/usr/bin/env python3
"""Fills a running tutorial app (../shared/tutorial-app, run.sh) with accounts the way
its users would, through its own HTTP API, and prints what a move to gatehouse must
preserve, as JSON.

    python3 tutorial_app.py http://127.0.0.1:PORT DB_DIR/auth.db > accounts.json

Only the standard library. Through the API: registration (the tutorial lower-cases
usernames and keeps the email's local part as typed), a sign-in, two generated API
keys for alice (the second replaces the first), a deactivation (bob deletes his own
account, which the tutorial makes inactive), role changes by an admin (dave to admin,
erin to moderator), a wrong password, and "mallory\\n", a username with a trailing
newline that the tutorial's validator lets through (gatehouse's does not). Through
the database, as the tutorial's README says its super_admin is made: carol becomes
SUPER_ADMIN; and frank gets the lock the tutorial's own code never manages to store
(its session rolls the counter back with the 401).
"""
import json
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, DB = sys.argv[1], sys.argv[2]


def call(method, path, body=None, form=None, token=None, expect=(200, 201)):
    headers, data = {}, None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    if status not in expect:
        sys.exit(f"{method} {path}: {status} {payload[:300]!r}")
    return json.loads(payload or b"null")


def sign_in(name, password):
    return call("POST", "/api/v1/auth/token", form={"username": name, "password": password})["access_token"]


PEOPLE = [  # username as typed, email as typed, password, full name
    ("alice", "alice@example.com", "Al1ce-Passw0rd!", "Alice Ünïcode"),
    ("Bob", "Bob@Example.COM", "B0b-Passw0rd!!", "Bob"),
    ("carol", "carol@example.com", "C4rol-Passw0rd!", None),
    ("dave", "dave@example.com", "D4ve-Passw0rd!", "Dave"),
    ("erin", "erin@example.com", "Er1n-Passw0rd!", "Erin"),
    ("frank", "frank@example.com", "Fr4nk-Passw0rd!", "Frank"),
    ("mallory\n", "mallory@example.com", "M4llory-Passw0rd!", "Mallory"),
]

ids = {}
for name, email, password, full in PEOPLE:
    body = {"username": name, "email": email, "password": password}
    if full:
        body["full_name"] = full
    ids[name.lower()] = call("POST", "/api/v1/users/register", body)["id"]

alice = sign_in("alice", "Al1ce-Passw0rd!")
first_key = call("POST", "/api/v1/api-keys/generate", token=alice)["api_key"]
api_key = call("POST", "/api/v1/api-keys/generate", token=alice)["api_key"]
call("POST", "/api/v1/auth/token", form={"username": "alice", "password": "wrong"}, expect=(401,))

bob = sign_in("bob", "B0b-Passw0rd!!")
call("DELETE", "/api/v1/users/me", token=bob)

with sqlite3.connect(DB) as db:  # the tutorial's only way to a super_admin
    db.execute("update users set role='SUPER_ADMIN' where username='carol'")
    db.execute("update users set failed_login_attempts=5, locked_until='2099-01-01 00:00:00.000000' "
                "where username='frank'")
carol = sign_in("carol", "C4rol-Passw0rd!")
for who, role in (("dave", "admin"), ("erin", "moderator")):
    call("PUT", f"/api/v1/admin/users/{ids[who]}/role?new_role={role}", token=carol)

users = call("GET", "/api/v1/admin/users?limit=100", token=carol)
out = {
    "accounts": {
        u["username"]: {
            "id": u["id"], "email": u["email"], "role": u["role"], "is_active": u["is_active"],
            "full_name": u["full_name"], "created_at": u["created_at"],
            "password": next(p for n, _, p, _ in PEOPLE if n.lower() == u["username"]),
        }
        for u in users
    },
    "api_key": api_key,
    "replaced_api_key": first_key,
    "locked": "frank",
    "invalid": "mallory\n",
}
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
print()
