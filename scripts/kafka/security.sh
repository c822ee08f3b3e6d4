#!/usr/bin/env bash
# Test security material for the local broker's secure listeners (scripts/kafka.sh
# with KAFKA_SECURITY=1). Generated once into a folder and reused afterwards.
#
#   scripts/kafka/security.sh DIR
#
# Writes, all PEM, into DIR (a local test CA: never use any of it in production):
#   ca.pem ca-key.pem                        the test CA the broker and clients trust
#   broker-keystore.pem                      broker key + certificate (127.0.0.1, localhost)
#   expired-broker-keystore.pem              the same, but a certificate that expired in 2020
#   client-cert.pem client-key.pem           a client certificate from the test CA (mutual TLS)
#   client-key-encrypted.pem                 the same key, encrypted with KEY_PASSWORD
#   expired-client-cert.pem expired-client-key.pem   a client certificate that expired in 2020
#   other-ca.pem                             an unrelated CA (the "wrong CA" of tests)
#   other-client-cert.pem other-client-key.pem       a client certificate from the unrelated CA
#   secrets.env                              SASL_USERNAME, SASL_PASSWORD, KEY_PASSWORD (mode 600)
set -euo pipefail

dir="${1:?usage: security.sh DIR}"
if [ -f "$dir/complete" ]; then exit 0; fi
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
# Generated fresh per folder, so that no password lives in the repository.
umask 077

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

quiet() { "$@" >>"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; return 1; }; }

new_key() { quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# new_ca NAME SUBJECT: a self-signed CA certificate valid for ten years.
new_ca() {
  new_key "$1-key.pem"
  quiet openssl req -x509 -new -key "$1-key.pem" -sha256 -days 3650 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem"
}

# sign CA NAME SUBJECT EXTENSIONS START END: a certificate for NAME-key.pem,
# valid from START to END (openssl ca's YYYYMMDDHHMMSSZ), signed by CA.
sign() {
  local ca="$1" name="$2" subject="$3" extensions="$4" start="$5" end="$6"
  quiet openssl req -new -key "$name-key.pem" -subj "$subject" -out "$work/$name.csr"
  mkdir -p "$work/$ca-db"
  [ -f "$work/$ca-db/index.txt" ] || : >"$work/$ca-db/index.txt"
  cat >"$work/$name.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $work/$ca-db/index.txt
new_certs_dir = $work/$ca-db
certificate = $dir/$ca.pem
private_key = $dir/$ca-key.pem
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
rand_serial = yes
[any]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
$extensions
CNF
  quiet openssl ca -batch -config "$work/$name.cnf" -extensions ext -notext \
    -startdate "$start" -enddate "$end" -in "$work/$name.csr" -out "$name-cert.pem"
}

valid_from="$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)"
valid_to="$(date -u -d '10 years' +%Y%m%d%H%M%SZ)"
server_ext="subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth"
client_ext="extendedKeyUsage = clientAuth"

new_ca ca "/CN=rivulet test CA"
new_ca other-ca "/CN=rivulet unrelated CA"

new_key broker-key.pem
sign ca broker "/CN=127.0.0.1" "$server_ext" "$valid_from" "$valid_to"
# Kafka's PEM keystore: the private key (PKCS#8) followed by the certificate chain.
cat broker-key.pem broker-cert.pem ca.pem >broker-keystore.pem

new_key expired-broker-key.pem
sign ca expired-broker "/CN=127.0.0.1" "$server_ext" 20200101000000Z 20200102000000Z
cat expired-broker-key.pem expired-broker-cert.pem ca.pem >expired-broker-keystore.pem

new_key client-key.pem
sign ca client "/CN=rivulet-client" "$client_ext" "$valid_from" "$valid_to"

new_key expired-client-key.pem
sign ca expired-client "/CN=rivulet-expired-client" "$client_ext" 20200101000000Z 20200102000000Z

new_key other-client-key.pem
sign other-ca other-client "/CN=rivulet-stranger" "$client_ext" "$valid_from" "$valid_to"

sasl_password="$(openssl rand -hex 12)"
key_password="$(openssl rand -hex 12)"
quiet openssl pkcs8 -topk8 -in client-key.pem -v2 aes-256-cbc -passout "pass:$key_password" \
  -out client-key-encrypted.pem
cat >secrets.env <<SECRETS
SASL_USERNAME=alice
SASL_PASSWORD=$sasl_password
KEY_PASSWORD=$key_password
SECRETS

chmod 600 ./*.pem secrets.env
touch complete
