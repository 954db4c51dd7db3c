#!/usr/bin/env python3
"""sigv4.py — an independent AWS Signature Version 4 checker for the S3 tests.

s3rver 3.7.1 does not verify V4 signatures at all: it only looks the access
key id up (lib/middleware/authentication.js: "Signature version 4
calculation is unimplemeneted"). So the tests put faultproxy.py
--verify-sigv4 in front of it, which checks every signed request with this
module, written from the S3 documentation ("Signature Calculations for the
Authorization Header: Transferring Payload in a Single Chunk") in Python,
sharing nothing with cairn's C signer, and answers as S3 does when a
request is not right:

  403 InvalidAccessKeyId          unknown access key id
  403 SignatureDoesNotMatch       the signature is not the one the secret gives
  400 AuthorizationHeaderMalformed  bad header, or a region other than ours
  400 XAmzContentSHA256Mismatch   x-amz-content-sha256 is not the body's hash
  400 InvalidRequest              x-amz-content-sha256 missing, host not signed
  403 RequestTimeTooSkewed        x-amz-date more than 15 minutes off
  501 NotImplemented              aws-chunked (STREAMING-*) bodies: s3rver
                                  would store them undecoded

The canonical request is built from what arrived: the path and query are
percent-decoded and encoded again the S3 way (UriEncode: A-Za-z0-9-._~
kept, '/' kept in the path, every other byte %XX, uppercase), query pairs
sorted, signed headers lowercased, values trimmed with inner runs of blanks
folded. `python3 sigv4.py --self-test` checks this module against the
four published S3 examples (exact canonical requests, strings to sign and
signatures).
"""
import datetime
import hashlib
import hmac
import sys
import urllib.parse

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_SKEW = datetime.timedelta(minutes=15)


def uri_encode(raw: bytes, encode_slash: bool) -> str:
    return "".join(chr(c) if c in UNRESERVED or (c == 0x2F and not encode_slash) else "%%%02X" % c
                   for c in raw)


def canonical_uri(raw_path: str) -> str:
    return uri_encode(urllib.parse.unquote_to_bytes(raw_path), False) or "/"


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote_to_bytes(k), True),
                      uri_encode(urllib.parse.unquote_to_bytes(v), True)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    k = _hmac(k, "aws4_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    """headers: [(name, value)] as received; signed: sorted lowercase names."""
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    lines = ["%s:%s" % (n, ",".join(values.get(n, []))) for n in signed]
    return "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      "\n".join(lines), "", ";".join(signed), payload_hash])


def string_to_sign(amz_date, scope, creq):
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                      hashlib.sha256(creq.encode()).hexdigest()])


class Reject(Exception):
    def __init__(self, status, code, message, extra=None):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


def parse_authorization(value):
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise Reject(400, "AuthorizationHeaderMalformed",
                     "the test server takes only AWS4-HMAC-SHA256, not %r" % algorithm)
    fields = {}
    for part in rest.split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    for k in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(k):
            raise Reject(400, "AuthorizationHeaderMalformed", "the Authorization header has no %s" % k)
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise Reject(400, "AuthorizationHeaderMalformed", "bad Credential scope %r" % "/".join(cred[1:]))
    return cred, fields["SignedHeaders"].split(";"), fields["Signature"]


def verify(method, target, headers, body_sha256, keys, region=None, now=None, tokens=None):
    """Check one request. target: the raw request target ("/b/k?x=y");
    headers: [(name, value)] as received; body_sha256: hex SHA-256 of the
    body as received (de-chunked); keys: {access key id: secret}; tokens:
    {access key id: session token} for temporary credentials, whose
    requests must carry that token in a signed x-amz-security-token.
    Returns None for an anonymous request, the access key id when the
    signature (and token) holds; raises Reject otherwise."""
    hv = {}
    for name, value in headers:
        hv.setdefault(name.lower(), value.strip())
    auth = hv.get("authorization")
    if auth is None:
        return None
    (key_id, date, scope_region, service, _), signed, given = parse_authorization(auth)
    if key_id not in keys:
        raise Reject(403, "InvalidAccessKeyId",
                     "The AWS Access Key Id you provided does not exist in our records.")
    if signed != sorted(signed) or "host" not in signed:
        raise Reject(400, "AuthorizationHeaderMalformed",
                     "SignedHeaders must be sorted and include host: %s" % ";".join(signed))
    amz_date = hv.get("x-amz-date")
    if not amz_date or "x-amz-date" not in signed:
        raise Reject(400, "AuthorizationHeaderMalformed", "x-amz-date missing or not signed")
    if amz_date[:8] != date:
        raise Reject(400, "AuthorizationHeaderMalformed",
                     "the scope date %s is not the date of x-amz-date %s" % (date, amz_date))
    if service != "s3":
        raise Reject(400, "AuthorizationHeaderMalformed", "the service is %r, expected 's3'" % service)
    if region is not None and scope_region != region:
        raise Reject(400, "AuthorizationHeaderMalformed",
                     "The authorization header is malformed; the region '%s' is wrong; expecting '%s'"
                     % (scope_region, region), {"Region": region})
    try:
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Reject(400, "AuthorizationHeaderMalformed", "bad x-amz-date %r" % amz_date)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - t) > MAX_SKEW:
        raise Reject(403, "RequestTimeTooSkewed",
                     "The difference between the request time and the current time is too large.")
    payload = hv.get("x-amz-content-sha256")
    if payload is None:
        raise Reject(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    if payload.startswith("STREAMING-"):
        raise Reject(501, "NotImplemented", "aws-chunked uploads are not supported by the test server")
    if payload != "UNSIGNED-PAYLOAD" and payload != body_sha256:
        raise Reject(400, "XAmzContentSHA256Mismatch",
                     "The provided 'x-amz-content-sha256' header does not match what was computed.",
                     {"ClientComputedContentSHA256": payload, "S3ComputedContentSHA256": body_sha256})
    for n in signed:
        if n not in hv:
            raise Reject(400, "AuthorizationHeaderMalformed", "signed header %r is not in the request" % n)

    raw_path, _, raw_query = target.partition("?")
    creq = canonical_request(method, raw_path, raw_query, headers, signed, payload)
    scope = "/".join([date, scope_region, service, "aws4_request"])
    sts = string_to_sign(amz_date, scope, creq)
    want = signature(keys[key_id], date, scope_region, service, sts)
    if not hmac.compare_digest(want, given):
        raise Reject(403, "SignatureDoesNotMatch",
                     "The request signature we calculated does not match the signature you provided. "
                     "Check your key and signing method.",
                     {"AWSAccessKeyId": key_id, "StringToSign": sts, "CanonicalRequest": creq})
    want_token = (tokens or {}).get(key_id)
    if want_token is not None and (hv.get("x-amz-security-token") != want_token
                                   or "x-amz-security-token" not in signed):
        raise Reject(400, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    return key_id


# -- self-test against the published S3 examples ------------------------------
def self_test():
    """The four examples of the S3 API reference, sig-v4-header-based-auth."""
    key = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    when = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    host = ("Host", "examplebucket.s3.amazonaws.com")
    date = ("x-amz-date", "20130524T000000Z")
    put_hash = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert put_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    cases = [
        ("GET", "/test.txt", [host, ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY_SHA256), date],
         "host;range;x-amz-content-sha256;x-amz-date", EMPTY_SHA256,
         "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
        ("PUT", "/test$file.text", [host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                                    ("x-amz-content-sha256", put_hash), date],
         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", put_hash,
         "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
        ("GET", "/?lifecycle", [host, ("x-amz-content-sha256", EMPTY_SHA256), date],
         "host;x-amz-content-sha256;x-amz-date", EMPTY_SHA256,
         "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
         "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        ("GET", "/?max-keys=2&prefix=J", [host, ("x-amz-content-sha256", EMPTY_SHA256), date],
         "host;x-amz-content-sha256;x-amz-date", EMPTY_SHA256,
         "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ]
    creq_put = ("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
                "host:examplebucket.s3.amazonaws.com\n"
                "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
    for method, target, headers, signed, body_hash, sts_hash, sig in cases:
        raw_path, _, raw_query = target.partition("?")
        creq = canonical_request(method, raw_path, raw_query, headers, signed.split(";"), body_hash)
        if method == "PUT" and creq != creq_put:
            raise AssertionError("PUT canonical request:\n%s" % creq)
        sts = string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", creq)
        if not sts.endswith("\n" + sts_hash):
            raise AssertionError("%s %s: string to sign\n%s" % (method, target, sts))
        auth = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                "SignedHeaders=%s,Signature=%s" % (signed, sig))
        verify(method, target, headers + [("Authorization", auth)], body_hash, key, "us-east-1", when)
        bad = auth[:-1] + ("0" if auth[-1] != "0" else "1")
        try:
            verify(method, target, headers + [("Authorization", bad)], body_hash, key, "us-east-1", when)
            raise AssertionError("a wrong signature was accepted")
        except Reject as e:
            assert e.code == "SignatureDoesNotMatch", e
        # temporary credentials: the same request without a session token
        try:
            verify(method, target, headers + [("Authorization", auth)], body_hash, key, "us-east-1", when,
                   {"AKIAIOSFODNN7EXAMPLE": "token"})
            raise AssertionError("a request without its session token was accepted")
        except Reject as e:
            assert e.code == "InvalidToken", e
    assert uri_encode("a b/~ሴ".encode(), False) == "a%20b/~%E1%88%B4"
    assert canonical_query("prefix=J&max-keys=2&lifecycle") == "lifecycle=&max-keys=2&prefix=J"
    print("sigv4: the four S3 examples verify")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        sys.exit("usage: sigv4.py --self-test")
