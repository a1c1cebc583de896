#!/usr/bin/env bash
# The default TLS set-up as a scanner and as ordinary clients see it.
#
#   bash tests/external/sslyze.sh [path/to/gatehouse]     (default target/debug/gatehouse)
#
# Needs python3 with sslyze (6.x; it brings Python's cryptography), curl and node.
# Starts gatehouse with no TLS options (a local CA in the data directory signing a
# 90-day certificate) on 127.0.0.1:0, then:
#
# 1. runs the README's command, `sslyze --mozilla_config=intermediate 127.0.0.1:PORT`:
#    the one finding allowed is certificate_path_validation (no public trust store
#    holds a CA made on this machine); any other finding fails;
# 2. runs it again trusting DATA_DIR/tls-ca.pem (--certinfo_ca_file): nothing may
#    fail, path validation included; prints the figures of the scan;
# 3. connects with curl, Python's ssl and Node's https, each trusting a copy of
#    tls-cert.pem (or tls-ca.pem) taken now, and with curl --pinnedpubkey;
# 4. forces a renewal: replaces the certificate with one from the same CA and key
#    that expires in 5 days and sends SIGHUP; gatehouse must renew it (a new
#    90-day certificate, same key) and every client of step 3, still holding its
#    old copy, must connect to the new one.
#
# Only 127.0.0.1 is used; every wait is bounded; gatehouse is stopped on any exit.
# Prints "ok - ..." / "not ok - ..." per check, then "N passed, M failed", and exits
# non-zero if anything failed.
set -euo pipefail

BIN=${1:-target/debug/gatehouse}
[ -x "$BIN" ] || { echo "no gatehouse binary at $BIN (build it with cargo build)" >&2; exit 2; }
for tool in python3 curl node; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
python3 -c 'import sslyze, cryptography' 2>/dev/null || { echo "python3 -m pip install sslyze" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-sslyze.XXXXXX")
D=$WORK/data
GH_PID=""
PASS=0
FAIL=0
SUMMARY_DONE=""

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() {
  FAIL=$((FAIL + 1))
  echo "not ok - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
check() { # NAME STATUS [DETAIL]: ok when STATUS is 0
  if [ "$2" -eq 0 ]; then ok "$1"; else not_ok "$1" "${3:-}"; fi
}
summary() { echo "$PASS passed, $FAIL failed"; SUMMARY_DONE=1; }
die() { not_ok "setup: $1" "${2:-}"; summary; exit 1; }

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -z "$SUMMARY_DONE" ]; then
    not_ok "the script stopped early (exit status $rc)"
    summary
    [ "$rc" -ne 0 ] || rc=1
  fi
  if [ -n "$GH_PID" ] && kill -0 "$GH_PID" 2>/dev/null; then
    kill -TERM "$GH_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$GH_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$GH_PID" 2>/dev/null
    wait "$GH_PID" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ] || [ "$FAIL" -ne 0 ]; then
    echo "# --- last lines of gatehouse.log"
    tail -n 20 "$WORK/gatehouse.log" 2>/dev/null | sed 's/^/# /'
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BIN" serve --data-dir "$D" --listen 127.0.0.1:0 --ready-file "$WORK/ready" --log-format text \
  </dev/null >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!
for _ in $(seq 300); do # up to 30 s
  [ -s "$WORK/ready" ] && break
  kill -0 "$GH_PID" 2>/dev/null || die "gatehouse exited at start-up" "$(tail -n 20 "$WORK/gatehouse.log")"
  sleep 0.1
done
[ -s "$WORK/ready" ] || die "gatehouse did not write its ready file within 30 s"
PORT=$(sed -E 's/.*:([0-9]+)$/\1/' "$WORK/ready")

# ---------------------------------------------------------------------------
# 1 and 2: sslyze.
SECONDS=0
rc=0
timeout 300 python3 -m sslyze --mozilla_config=intermediate "127.0.0.1:$PORT" >"$WORK/scan1.txt" 2>&1 || rc=$?
findings=$(sed -n '/COMPLIANCE AGAINST TLS CONFIGURATION/,$p' "$WORK/scan1.txt" |
  sed -nE 's/^ +\* ([a-z0-9_]+):.*/\1/p' | sort -u | tr '\n' ' ')
check "sslyze --mozilla_config=intermediate: the only finding is certificate_path_validation (exit $rc)" \
  "$([ "$rc" -eq 1 ] && [ "$findings" = "certificate_path_validation " ]; echo $?)" \
  "findings: ${findings:-none}; $(sed -n '/COMPLIANCE AGAINST/,$p' "$WORK/scan1.txt")"

rc=0
timeout 300 python3 -m sslyze --mozilla_config=intermediate --certinfo_ca_file "$D/tls-ca.pem" \
  --json_out "$WORK/scan2.json" "127.0.0.1:$PORT" >"$WORK/scan2.txt" 2>&1 || rc=$?
check "sslyze --mozilla_config=intermediate --certinfo_ca_file tls-ca.pem: compliant" \
  "$([ "$rc" -eq 0 ] && grep -q 'OK - Compliant' "$WORK/scan2.txt"; echo $?)" \
  "$(sed -n '/COMPLIANCE AGAINST/,$p' "$WORK/scan2.txt")"
echo "# two sslyze scans took ${SECONDS} s"
# The figures the README quotes.
python3 - "$WORK/scan2.json" <<'EOF' 2>&1 | sed 's/^/# /' || true
import datetime, json, sys
r = json.load(open(sys.argv[1]))["server_scan_results"][0]["scan_result"]
for field, name in [("ssl_2_0", "SSL 2.0"), ("ssl_3_0", "SSL 3.0"), ("tls_1_0", "TLS 1.0"),
                    ("tls_1_1", "TLS 1.1"), ("tls_1_2", "TLS 1.2"), ("tls_1_3", "TLS 1.3")]:
    res = r[f"{field}_cipher_suites"]["result"]
    suites = [f'{s["cipher_suite"]["name"]} ({s["ephemeral_key"]["curve_name"]})'
              for s in res["accepted_cipher_suites"]]
    print(f"{name}: " + (", ".join(suites) if suites else "refused"))
print("key exchange groups:", ", ".join(c["name"] for c in r["elliptic_curves"]["result"]["supported_curves"]))
dep = r["certificate_info"]["result"]["certificate_deployments"][0]
leaf = dep["received_certificate_chain"][0]
parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
days = (parse(leaf["not_valid_after"]) - parse(leaf["not_valid_before"])).days
print(f'certificate: {leaf["public_key"]["algorithm"]} {leaf["public_key"]["ec_curve_name"]}, '
      f'{leaf["signature_algorithm_oid"]["name"]}, {days} days, issuer {leaf["issuer"]["rfc4514_string"]}')
print("path validation:", ", ".join(f'{p["trust_store"]["name"]} {"OK" if p["was_validation_successful"] else "fails"}'
                                    for p in dep["path_validation_results"]))
for k in ["heartbleed", "openssl_ccs_injection", "robot", "tls_compression", "tls_fallback_scsv",
          "session_renegotiation", "tls_extended_master_secret"]:
    print(f"{k}: {json.dumps(r[k]['result'], sort_keys=True)}")
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || echo "# (no figures: the second scan wrote no usable JSON)"

# ---------------------------------------------------------------------------
# 3 and 4: clients, before and after a renewal.
PIN=$(grep -o 'sha256//[A-Za-z0-9+/=]*' "$WORK/gatehouse.log" | head -n 1 || true)
[ -n "$PIN" ] || die "no public-key pin in the start-up banner" "$(cat "$WORK/gatehouse.log")"
cp "$D/tls-cert.pem" "$WORK/before-cert.pem" && cp "$D/tls-ca.pem" "$WORK/before-ca.pem" ||
  die "no tls-cert.pem and tls-ca.pem in the data directory"
served_fingerprint() { # SHA-256 of the certificate the server presents now
  python3 -c '
import hashlib, ssl, sys
pem = ssl.get_server_certificate(("127.0.0.1", int(sys.argv[1])))
print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest())' "$PORT"
}
clients() { # WHEN: every client, trusting the copies taken at start
  local when=$1 out rc
  for trust in before-cert.pem before-ca.pem; do
    rc=0; out=$(curl -sS --max-time 10 --cacert "$WORK/$trust" "https://localhost:$PORT/health" 2>&1) || rc=$?
    check "$when: curl --cacert $trust" "$([ "$rc" -eq 0 ] && [[ $out == *healthy* ]]; echo $?)" "$out"
  done
  rc=0; out=$(curl -sS --max-time 10 --cacert "$WORK/before-ca.pem" "https://127.0.0.1:$PORT/health" 2>&1) || rc=$?
  check "$when: curl to the address 127.0.0.1" "$([ "$rc" -eq 0 ] && [[ $out == *healthy* ]]; echo $?)" "$out"
  rc=0; out=$(curl -sS --max-time 10 --insecure --pinnedpubkey "$PIN" "https://localhost:$PORT/health" 2>&1) || rc=$?
  check "$when: curl --pinnedpubkey (the pin printed at start)" "$([ "$rc" -eq 0 ] && [[ $out == *healthy* ]]; echo $?)" "$out"
  rc=0; out=$(python3 -c '
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
print(urllib.request.urlopen(f"https://localhost:{sys.argv[2]}/health", context=ctx, timeout=10).read().decode())
' "$WORK/before-cert.pem" "$PORT" 2>&1) || rc=$?
  check "$when: python3 ssl (urllib) with cafile=tls-cert.pem" "$([ "$rc" -eq 0 ] && [[ $out == *healthy* ]]; echo $?)" "$out"
  rc=0; out=$(node -e '
const https = require("https"), fs = require("fs");
const req = https.get({ host: "localhost", port: +process.argv[2], path: "/health", ca: fs.readFileSync(process.argv[1]), timeout: 10000 },
  (r) => { let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(r.statusCode, b)); });
req.on("error", (e) => { console.error(String(e)); process.exit(1); });
' "$WORK/before-cert.pem" "$PORT" 2>&1) || rc=$?
  check "$when: node https with ca=tls-cert.pem" "$([ "$rc" -eq 0 ] && [[ $out == "200 "*healthy* ]]; echo $?)" "$out"
}
clients "before renewal"
first=$(served_fingerprint)

# A certificate from the same CA and key with 5 days left, as if 85 days had passed.
python3 - "$D" <<'EOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
d = sys.argv[1]
load_key = lambda f: serialization.load_pem_private_key(open(f"{d}/{f}", "rb").read(), None)
ca = x509.load_pem_x509_certificate(open(f"{d}/tls-ca.pem", "rb").read())
leaf = x509.load_pem_x509_certificates(open(f"{d}/tls-cert.pem", "rb").read())[0]
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(ca.subject)
     .public_key(load_key("tls-key.pem").public_key()).serial_number(x509.random_serial_number())
     .not_valid_before(now - datetime.timedelta(days=85)).not_valid_after(now + datetime.timedelta(days=5)))
for ext in leaf.extensions:
    b = b.add_extension(ext.value, ext.critical)
old = b.sign(load_key("tls-ca-key.pem"), hashes.SHA256())
pem = serialization.Encoding.PEM
open(f"{d}/tls-cert.pem", "wb").write(old.public_bytes(pem) + ca.public_bytes(pem))
EOF
kill -HUP "$GH_PID"
for _ in $(seq 100); do # up to 10 s
  grep -q "now serving\|reloaded the TLS certificate" "$WORK/gatehouse.log" && break
  sleep 0.1
done
renewed=$(served_fingerprint)
# tls-cert.pem holds the leaf and then the CA: hash the first certificate only.
# (PEM_cert_to_DER_cert given both decodes past the first END line whenever the
# leaf's base64 has no padding, so this check once failed one run in three.)
on_disk=$(python3 -c '
import hashlib, ssl, sys
end = "-----END CERTIFICATE-----"
text = open(sys.argv[1]).read()
print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(text[:text.index(end) + len(end)])).hexdigest())' "$D/tls-cert.pem")
check "SIGHUP renews a certificate with 5 days left, and the new one is served" \
  "$(grep -q 'issued a new TLS certificate from the local CA.*it expires' "$WORK/gatehouse.log" &&
    [ "$renewed" = "$on_disk" ] && [ "$renewed" != "$first" ]; echo $?)" \
  "served $renewed, on disk $on_disk, first $first; $(tail -n 5 "$WORK/gatehouse.log")"
days=$(python3 -c '
import datetime, sys
from cryptography import x509
c = x509.load_pem_x509_certificates(open(sys.argv[1], "rb").read())[0]
print((c.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days)' "$D/tls-cert.pem")
check "the renewed certificate is good for about 90 days ($days left)" "$([ "$days" -ge 88 ] && [ "$days" -le 90 ]; echo $?)"
clients "after renewal"
summary
[ "$FAIL" -eq 0 ]
