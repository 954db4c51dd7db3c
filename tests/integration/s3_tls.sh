#!/bin/bash
# s3_tls: S3 over https (s3rver with a self-signed certificate for
# IP:127.0.0.1). Without --cacert the certificate is refused — exit 1, one
# line, nothing written; a CA that did not sign it is refused too; with
# --cacert the full cycle works (init, backup, restore, check --read-data);
# --insecure-tls connects without verifying.
source "$(dirname "$0")/lib.sh"

s3_start --https
[[ $CAIRN_REPOSITORY == s3:https://127.0.0.1:* ]] || fail "CAIRN_REPOSITORY=$CAIRN_REPOSITORY is not https"
SRC=$TMP/src
gentree "$SRC" --small 200 --big-mib 10

# Unknown certificate: refused before anything is written.
expect_exit 1 timeout 120 "$CAIRN" --s3-retries 1 init --kdf min
expect_err_line '[Cc]ertificate|SSL|TLS|issuer'
[[ -z $(s3_objects "$S3_BUCKET") ]] || fail "init against an untrusted certificate wrote objects"

# A CA file that did not sign the server's certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other" \
        -keyout "$TMP/other-key.pem" -out "$TMP/other-cert.pem" >/dev/null 2>&1 || fail "openssl req failed"
expect_exit 1 timeout 120 "$CAIRN" --s3-retries 1 --cacert "$TMP/other-cert.pem" init --kdf min
expect_err_line '[Cc]ertificate|SSL|TLS|issuer'
# A CA file that does not exist: named.
expect_exit 1 timeout 120 "$CAIRN" --cacert "$TMP/no-such-ca.pem" init --kdf min
expect_err_line 'no-such-ca\.pem'
[[ -z $(s3_objects "$S3_BUCKET") ]] || fail "a refused init wrote objects"

# Trusted with --cacert: the full cycle.
expect_exit 0 "$CAIRN" --cacert "$S3_CACERT" init --kdf min
expect_exit 0 "$CAIRN" backup --cacert "$S3_CACERT" "$SRC"
expect_exit 0 "$CAIRN" restore "latest:$SRC" --target "$TMP/dst" --cacert "$S3_CACERT"
treecmp "$SRC" "$TMP/dst" --no-atime
expect_check --read-data --cacert "$S3_CACERT"

# A daemon changes to "/": a relative --cacert must still work for the
# connections it opens later (this once failed every read with EIO).
cp "$S3_CACERT" "$TMP/ca-rel.pem"
pushd "$TMP" >/dev/null
mount_repo "$TMP/mnt" --cacert ca-rel.pem
popd >/dev/null
f=$(cd "$SRC" && find . -type f -size +100k | head -n 1)
cmp "$SRC/$f" "$TMP/mnt/snapshots/latest$SRC/$f" || fail "reading $f through a daemon mount with a relative --cacert"
unmount_repo "$TMP/mnt"

# Still refused without it; accepted unverified with --insecure-tls.
expect_exit 1 timeout 120 "$CAIRN" --s3-retries 1 snapshots
expect_err_line '[Cc]ertificate|SSL|TLS|issuer'
expect_exit 0 "$CAIRN" --insecure-tls snapshots --json
expect_eq "$(pyjson 'len(d)')" 1 "snapshots with --insecure-tls"
expect_eq "$(grep -c 'warning: TLS certificate verification is off (--insecure-tls)' "$TMP/err")" 1 \
        "warnings on stderr with --insecure-tls"
# and only then: a verified connection says nothing of it
expect_exit 0 "$CAIRN" --cacert "$S3_CACERT" snapshots --json
expect_eq "$(grep -c 'insecure' "$TMP/err")" 0 "warnings on stderr with --cacert"

echo "ok: s3_tls"
