#!/bin/bash
# s3_errors: each S3 misconfiguration fails cleanly — exit 1, one line on
# stderr naming the problem (the server's status and code where there is
# one), fast (no endless retries of a 4xx), nothing created — and no secret
# key ever appears in any output: wrong secret key (403
# SignatureDoesNotMatch), unknown access key (403 InvalidAccessKeyId), no
# credentials at all, credentials from a file (--s3-credentials-file with
# AWS_PROFILE or [default]; ~/.aws/credentials or AWS_SHARED_CREDENTIALS_FILE
# when the environment has no keys), temporary credentials (a session token the
# server requires, from the environment or the file), a missing bucket without --s3-create-bucket
# (404 NoSuchBucket, bucket named, not created), a bucket in another region
# (the region to pass named, from the error body or AWS's redirect header),
# a bucket without a repository, a server nobody listens on, malformed s3:
# locations.
source "$(dirname "$0")/lib.sh"

s3_start
SRC=$TMP/src
gentree "$SRC" --small 50 --big-mib 1
expect_exit 0 "$CAIRN" init --kdf min
expect_exit 0 "$CAIRN" backup "$SRC"
snap=$(last_snapshot_id)

WRONG_SECRET=wrongSecret+Zq7vX9pL2/kTT0ps
ALL_OUTPUT=$TMP/all-output
: >"$ALL_OUTPUT"
# keep: the last command's stdout and stderr, for the final secret check.
keep() {
        cat "$TMP/out" "$TMP/err" >>"$ALL_OUTPUT"
}

# --- wrong secret key: 403 SignatureDoesNotMatch, for reads and for writes
for cmd in snapshots "backup $SRC" "restore latest:$SRC --target $TMP/never" check; do
        # shellcheck disable=SC2086
        AWS_SECRET_ACCESS_KEY=$WRONG_SECRET expect_exit 1 timeout 60 "$CAIRN" $cmd
        keep
        expect_err_line 'SignatureDoesNotMatch|403'
done
[[ ! -e $TMP/never ]] || fail "restore with a wrong secret created its target"
expect_eq "$(snapshot_ids)" "$snap" "snapshots after backups with a wrong secret"

# --- unknown access key id: 403 InvalidAccessKeyId
AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 expect_exit 1 timeout 60 "$CAIRN" snapshots
keep
expect_err_line 'InvalidAccessKeyId|403'

# --- a region other than the bucket's: 400 AuthorizationHeaderMalformed
# naming both (the checking proxy's bucket region is us-east-1, as S3
# answers); --s3-region wins over AWS_REGION, which wins over
# AWS_DEFAULT_REGION.
AWS_REGION=eu-west-1 expect_exit 1 timeout 60 "$CAIRN" snapshots
keep
expect_err_line 'AuthorizationHeaderMalformed|400'
expect_err_line 'eu-west-1'
# the bucket's region, from the answer's <Region>, and what to pass
expect_err_line "expecting 'us-east-1' \(the bucket is in region us-east-1: pass --s3-region us-east-1\)\$"
expect_exit 1 timeout 60 "$CAIRN" --s3-region ap-south-1 snapshots
keep
expect_err_line 'ap-south-1'
AWS_DEFAULT_REGION=eu-central-1 expect_exit 1 timeout 60 "$CAIRN" snapshots
keep
expect_err_line 'eu-central-1'
AWS_REGION=eu-west-1 expect_exit 0 timeout 60 "$CAIRN" --s3-region us-east-1 snapshots
AWS_REGION=us-east-1 AWS_DEFAULT_REGION=eu-central-1 expect_exit 0 timeout 60 "$CAIRN" snapshots

# --- no credentials at all (nor a ~/.aws/credentials): says which
# variables to set
(
        unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE
        export HOME=$TMP/home-empty
        mkdir -p "$HOME"
        expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line '^cairn: snapshots: s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --s3-credentials-file \(or ~/\.aws/credentials\)$'
)

# --- credentials from a file (AWS ini format), profile from AWS_PROFILE
CREDS=$TMP/credentials
cat >"$CREDS" <<EOF
[default]
aws_access_key_id = $S3_KEY_ID
aws_secret_access_key = $WRONG_SECRET

[cairn]
aws_access_key_id=$S3_KEY_ID
aws_secret_access_key=$S3_SECRET
EOF
(
        unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        AWS_PROFILE=cairn expect_exit 0 timeout 60 "$CAIRN" --s3-credentials-file "$CREDS" snapshots --json
        expect_eq "$(pyjson '[s["id"] for s in d]')" "[\"$snap\"]" "snapshots with credentials from the file"
        # [default] when AWS_PROFILE is not set: its secret is the wrong one.
        expect_exit 1 timeout 60 "$CAIRN" snapshots --s3-credentials-file "$CREDS"
        keep
        expect_err_line 'SignatureDoesNotMatch|403'
        # A profile the file lacks.
        AWS_PROFILE=nosuchprofile expect_exit 1 timeout 60 "$CAIRN" --s3-credentials-file "$CREDS" snapshots
        keep
        expect_err_line 'nosuchprofile|credentials'
        # A file that does not exist: named.
        expect_exit 1 timeout 60 "$CAIRN" --s3-credentials-file "$TMP/no-such-credentials" snapshots
        keep
        expect_err_line 'no-such-credentials'
)

# --- the AWS CLI's shared credentials file, read when the environment has
# no keys: ~/.aws/credentials, or AWS_SHARED_CREDENTIALS_FILE (first; named
# when it cannot be read); keys in the environment win over it
(
        unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE
        export HOME=$TMP/home-aws
        mkdir -p "$HOME/.aws"
        cp "$CREDS" "$HOME/.aws/credentials"
        AWS_PROFILE=cairn expect_exit 0 timeout 60 "$CAIRN" snapshots --json
        keep
        expect_eq "$(pyjson '[s["id"] for s in d]')" "[\"$snap\"]" "snapshots with keys from ~/.aws/credentials"
        # a profile the file lacks: the file named, and where its name came from
        AWS_PROFILE=nosuchprofile expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line "^cairn: snapshots: credentials file $HOME/\\.aws/credentials \\(the AWS CLI's, read as no keys are in the environment\\): profile \\[nosuchprofile\\] has no aws_access_key_id and aws_secret_access_key \\(set AWS_PROFILE to the profile that has them\\)\$"
        # [default] there has the wrong secret: the file is read, not skipped
        expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line 'SignatureDoesNotMatch'
        AWS_ACCESS_KEY_ID=$S3_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET expect_exit 0 timeout 60 "$CAIRN" snapshots
        keep
        rm "$HOME/.aws/credentials"
        AWS_PROFILE=cairn AWS_SHARED_CREDENTIALS_FILE=$CREDS expect_exit 0 timeout 60 "$CAIRN" snapshots
        keep
        AWS_SHARED_CREDENTIALS_FILE=$TMP/no-such-shared expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line "^cairn: snapshots: credentials file $TMP/no-such-shared \\(AWS_SHARED_CREDENTIALS_FILE\\): No such file or directory\$"
)

# --- temporary credentials: a checking proxy that takes the key only with
# its session token, signed (as S3 does for STS credentials). The token
# comes from AWS_SESSION_TOKEN with the environment's keys, or from the
# credentials file with the file's keys, never one from each.
TOKEN='FwoGZXIvYXdzEBYaDcairnTestSessionToken/Zq+9x=='
faultproxy_start --key "$S3_KEY_ID:$S3_SECRET:$TOKEN"
(
        export CAIRN_REPOSITORY=$PROXY_REPOSITORY
        expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line 'InvalidToken|400'
        AWS_SESSION_TOKEN=not-the-token expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line 'InvalidToken|400'
        AWS_SESSION_TOKEN=$TOKEN expect_exit 0 timeout 60 "$CAIRN" snapshots --json
        keep
        expect_eq "$(pyjson '[s["id"] for s in d]')" "[\"$snap\"]" "snapshots with a session token"
        # writes too: a repository of its own under another prefix
        CAIRN_REPOSITORY=s3:http://127.0.0.1:$PROXY_PORT/$S3_BUCKET/token-repo AWS_SESSION_TOKEN=$TOKEN \
                expect_exit 0 timeout 60 "$CAIRN" init --kdf min
        keep
        cat >"$TMP/token-credentials" <<EOF
[temp]
aws_access_key_id = $S3_KEY_ID
aws_secret_access_key = $S3_SECRET
aws_session_token = $TOKEN

[long]
aws_access_key_id = $S3_KEY_ID
aws_secret_access_key = $S3_SECRET
EOF
        unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        AWS_PROFILE=temp expect_exit 0 timeout 60 "$CAIRN" --s3-credentials-file "$TMP/token-credentials" snapshots
        keep
        # the file's keys without a token do not take the environment's
        AWS_PROFILE=long AWS_SESSION_TOKEN=$TOKEN expect_exit 1 timeout 60 "$CAIRN" \
                --s3-credentials-file "$TMP/token-credentials" snapshots
        keep
        expect_err_line 'InvalidToken|400'
)
faultproxy_stop
expect_eq "$(pyjson 'd["rejected"].get("InvalidToken", 0)' "$PROXY_STATS")" 3 "requests turned away for their token"

# --- a bucket in another region behind AWS's global endpoint: 301
# PermanentRedirect, whose body names the endpoint and whose
# x-amz-bucket-region header (not the body) the region; not retried
faultproxy_start --redirect-region eu-north-1 --region any
CAIRN_REPOSITORY=$PROXY_REPOSITORY expect_exit 1 timeout 60 "$CAIRN" snapshots
keep
expect_eq "$(cat "$TMP/err")" "cairn: snapshots: s3 GET config: 301 PermanentRedirect: The bucket you are \
attempting to access must be addressed using the specified endpoint. Please send all future requests to this \
endpoint. (the bucket is in region eu-north-1: pass --s3-region eu-north-1; S3 names the endpoint \
$S3_BUCKET.s3.eu-north-1.amazonaws.com)" "the error of a redirect to another region"
# in that region: the endpoint alone
CAIRN_REPOSITORY=$PROXY_REPOSITORY expect_exit 1 timeout 60 "$CAIRN" --s3-region eu-north-1 snapshots
keep
expect_err_line "this endpoint\. \(S3 names the endpoint $S3_BUCKET\.s3\.eu-north-1\.amazonaws\.com\)\$"
faultproxy_stop
expect_eq "$(pyjson 'd["total"]' "$PROXY_STATS")" 2 "requests answered with a redirect (none retried)"
expect_eq "$(s3_objects "$S3_BUCKET" token-repo/ | grep -c '^token-repo/config')" 1 "config written with a session token"

# --- a bucket the server does not have, without --s3-create-bucket
NOBUCKET=s3:$S3_ENDPOINT/no-such-bucket/repo
for cmd in "init --kdf min" snapshots "backup $SRC"; do
        # shellcheck disable=SC2086
        CAIRN_REPOSITORY=$NOBUCKET expect_exit 1 timeout 60 "$CAIRN" $cmd
        keep
        expect_err_line 'no-such-bucket'
        expect_err_line 'NoSuchBucket|404'
done
! s3_bucket_exists no-such-bucket || fail "a command without --s3-create-bucket created the bucket"

# --- the bucket exists, the prefix holds no repository: nothing created
CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/empty-prefix expect_exit 1 timeout 60 "$CAIRN" snapshots
keep
expect_err_line 'empty-prefix'
CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/empty-prefix expect_exit 1 timeout 60 "$CAIRN" backup "$SRC"
keep
expect_err_line 'empty-prefix'
[[ -z $(s3_objects "$S3_BUCKET" empty-prefix/) ]] || fail "a failed command wrote under empty-prefix/"

# --- a pack the repository needs is gone (404 NoSuchKey): the restore
# names each file it touched with the object, the S3 code and message,
# exits 3, and restores every other file exactly
(
        export CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/lost-pack
        expect_exit 0 "$CAIRN" init --kdf min --pack-size 1
        expect_exit 0 "$CAIRN" backup "$SRC"
        # the largest: a data pack (tree packs are a few KiB here)
        gone=$(s3_objects "$S3_BUCKET" lost-pack/data/ | sort -t $'\t' -k2,2n | tail -n 1 | cut -f1)
        [[ -n $gone ]] || fail "no pack under lost-pack/data/"
        # cut in half first: the ranges past the cut come back short (or 416)
        s3aws s3 cp --only-show-errors "s3://$S3_BUCKET/$gone" "$TMP/whole-pack" || fail "aws s3 cp $gone failed"
        head -c $(($(stat -c %s "$TMP/whole-pack") / 2)) "$TMP/whole-pack" >"$TMP/half-pack"
        s3aws s3 cp --only-show-errors "$TMP/half-pack" "s3://$S3_BUCKET/$gone" || fail "aws s3 cp of half $gone failed"
        expect_exit 3 timeout 120 "$CAIRN" restore "latest:$SRC" --target "$TMP/half-restore"
        keep
        expect_incomplete_restore "$SRC" "$TMP/half-restore" \
                "^s3 GET ${gone#lost-pack/}: (got [0-9]+ bytes, expected [0-9]+|416 InvalidRange: .*)\$"
        s3aws s3 rm --only-show-errors "s3://$S3_BUCKET/$gone" || fail "aws s3 rm $gone failed"
        expect_exit 3 timeout 120 "$CAIRN" restore "latest:$SRC" --target "$TMP/lost-restore"
        keep
        expect_incomplete_restore "$SRC" "$TMP/lost-restore" \
                "^s3 GET ${gone#lost-pack/}: 404 NoSuchKey: The specified key does not exist\\.\$"
)

# --- a pack read ahead (while the restore walks the trees) that comes back
# short: read again by pass 2, which names the files it cannot restore
# whole and restores the rest exactly, as for any other pack
(
        export CAIRN_REPOSITORY=s3:$S3_ENDPOINT/$S3_BUCKET/ahead XDG_CACHE_HOME=$TMP/ahead-cache
        expect_exit 0 "$CAIRN" init --kdf min
        expect_exit 0 "$CAIRN" backup "$SRC"
        # the restore needs all of each data pack (a few here, fewer than its
        # 6 workers): each is read ahead, once, and no pack is read again
        faultproxy_start --log "$TMP/ahead.log"
        CAIRN_REPOSITORY=s3:http://127.0.0.1:$PROXY_PORT/$S3_BUCKET/ahead \
                expect_exit 0 "$CAIRN" restore --json "latest:$SRC" --target "$TMP/ahead-whole"
        faultproxy_stop
        treecmp "$SRC" "$TMP/ahead-whole" --no-atime
        # the tree packs are read whole, into the metadata cache: not these
        mapfile -t read < <(awk '$2 == "GET" && $3 ~ /\/data\// {sub(/^\/[^/]*\//, "", $3); print $3}' "$TMP/ahead.log" |
                grep -v -F -f <(find "$XDG_CACHE_HOME" -path '*/data/*' -type f -printf '%f\n') | sort)
        ((${#read[@]} > 0 && ${#read[@]} <= 6)) || fail "the restore read ${#read[@]} data packs (this test wants 1 to 6)"
        expect_eq "$(pyjson '"%d %d" % (d["packs_read_ahead"], d["packs_read_again"])')" "${#read[@]} 0" \
                "packs_read_ahead and packs_read_again (packs read: ${read[*]})"
        expect_eq "$(printf '%s\n' "${read[@]}" | uniq -d)" "" "packs read twice by the restore"
        s3aws s3 cp --only-show-errors "s3://$S3_BUCKET/${read[0]}" "$TMP/ahead-pack" || fail "aws s3 cp ${read[0]} failed"
        head -c $(($(stat -c %s "$TMP/ahead-pack") / 2)) "$TMP/ahead-pack" >"$TMP/ahead-half"
        s3aws s3 cp --only-show-errors "$TMP/ahead-half" "s3://$S3_BUCKET/${read[0]}" || fail "aws s3 cp of half ${read[0]} failed"
        expect_exit 3 timeout 120 "$CAIRN" restore --json "latest:$SRC" --target "$TMP/ahead-half-restore"
        keep
        expect_eq "$(pyjson '"%d %d" % (d["packs_read_ahead"], d["packs_read_again"])')" "${#read[@]} 1" \
                "packs_read_ahead and packs_read_again with ${read[0]} cut in half"
        expect_incomplete_restore "$SRC" "$TMP/ahead-half-restore" \
                "^s3 GET ${read[0]#ahead/}: (got [0-9]+ bytes, expected [0-9]+|416 InvalidRange: .*)\$"
)

# --- nobody listens: a bounded number of retries, then one line
dead=$(free_port)
start=$SECONDS
CAIRN_REPOSITORY=s3:http://127.0.0.1:$dead/$S3_BUCKET/repo expect_exit 1 timeout 120 \
        "$CAIRN" --s3-retries 2 --s3-timeout 2 snapshots
keep
expect_err_line "[Cc]onnect|refused"
((SECONDS - start < 60)) || fail "giving up on a dead server took $((SECONDS - start)) s"

# --- malformed locations: one line each, naming the location
for loc in "s3:ftp://127.0.0.1:$S3_PORT/$S3_BUCKET" "s3:http://127.0.0.1:$S3_PORT/" \
        "s3:http://127.0.0.1:$S3_PORT/ab" "s3:127.0.0.1:$S3_PORT/$S3_BUCKET"; do
        CAIRN_REPOSITORY=$loc expect_exit 1 timeout 60 "$CAIRN" snapshots
        keep
        expect_err_line 's3:'
done

# --- no secret in any output
# (s3rver's own key is "S3RVER" for both halves, so the distinct wrong
# secret is the one to look for; and no Authorization header either.)
expect_no_secret "$WRONG_SECRET" "$ALL_OUTPUT"
expect_no_secret "$TOKEN" "$ALL_OUTPUT"
if grep -qE 'Signature=|Credential=|AWS4-HMAC' "$ALL_OUTPUT"; then
        grep -E 'Signature=|Credential=|AWS4-HMAC' "$ALL_OUTPUT" | head -n 5 >&2
        fail "an error message shows an Authorization header"
fi
expect_eq "$(snapshot_ids)" "$snap" "snapshots at the end"
# The wrong secrets were turned away by the signature check, not by chance.
s3_verify_counts >"$TMP/verify-counts.json"
rejected=$(pyjson 'd["rejected"].get("SignatureDoesNotMatch", 0)' "$TMP/verify-counts.json")
((rejected >= 5)) || fail "only $rejected requests rejected for their signature"

echo "ok: s3_errors"
