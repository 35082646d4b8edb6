#!/usr/bin/env python3
"""A Confluent-style SASL_SSL front for tansu (which has no SASL and whose TLS flags do nothing).

It terminates TLS with the substrate's test-CA certificate, answers the Kafka SASL exchange for
mechanism PLAIN itself, checks the credentials against the API keys and secrets seeded in SSM
(moto), and then pipes the connection byte for byte to a tansu that advertises this gateway's
address, so the metadata a client gets back sends it here again.

  sasl_gateway.py --listen 127.0.0.1:9094 --upstream 127.0.0.1:9093 --cert server.pem \
                  --key server.key --aws-endpoint http://127.0.0.1:4566

The protocol as the Kafka protocol guide (kafka.apache.org/protocol, "SASL Authentication
Sequence") and the KIPs describe it, as librdkafka 2.x speaks it:
- ApiVersions (key 18) comes first, before any SASL: the answer lists tansu's APIs plus
  SaslHandshake (17) v0-v1 and SaslAuthenticate (36) v0-v1; a version the gateway does not know
  is answered in v0 with UNSUPPORTED_VERSION (35) so the client retries lower (KIP-511). The
  ApiVersions response header is v0 (no tagged fields) even for the flexible v3 body.
- SaslHandshake names the mechanism; only PLAIN is enabled (else 33 UNSUPPORTED_SASL_MECHANISM).
  With handshake v0 the PLAIN token then comes as a bare size-prefixed packet (KIP-43); with v1 it
  comes inside SaslAuthenticate (KIP-152).
- SaslAuthenticate v0/v1 carries `authzid NUL authcid NUL password` (RFC 4616). Wrong credentials
  get 58 SASL_AUTHENTICATION_FAILED and the connection is closed. v1's answer carries
  session_lifetime_ms (KIP-368): 0, "no re-authentication", because a re-authentication would be
  sent down the raw pipe to tansu, which knows no SASL.
- Any other request before authentication closes the connection (as a broker does).
Nothing here logs a key or a secret.
"""
import argparse
import asyncio
import logging
import ssl
import struct
import sys
import time

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, UNSUPPORTED_VERSION = 33, 34, 35
SASL_AUTHENTICATION_FAILED = 58
LOG = logging.getLogger("sasl-gateway")


def uvarint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def string(s):
    if s is None:
        return struct.pack(">h", -1)
    data = s.encode()
    return struct.pack(">h", len(data)) + data


async def read_frame(reader):
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def frame(body):
    return struct.pack(">i", len(body)) + body


def request_header(data):
    """(api_key, api_version, correlation_id, offset of what follows the client id)."""
    api_key, api_version, correlation = struct.unpack_from(">hhi", data, 0)
    (n,) = struct.unpack_from(">h", data, 8)
    return api_key, api_version, correlation, 10 + max(n, 0)


class Credentials:
    """The API key -> secret pairs seeded in SSM, read again when a key is not known."""

    def __init__(self, endpoint, region):
        import boto3
        self.ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.pairs = {}
        self.read_at = 0.0

    def _read(self):
        names, token = [], None
        while True:
            kwargs = {"ParameterFilters": [{"Key": "Name", "Option": "Contains", "Values": ["/confluent/api_"]}],
                      "MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            page = self.ssm.describe_parameters(**kwargs)
            names += [p["Name"] for p in page["Parameters"]]
            token = page.get("NextToken")
            if not token:
                break
        values = {}
        for i in range(0, len(names), 10):
            got = self.ssm.get_parameters(Names=names[i:i + 10], WithDecryption=True)
            values.update({p["Name"]: p["Value"] for p in got["Parameters"]})
        pairs = {}
        for name, key in values.items():
            if name.endswith("/confluent/api_key"):
                secret = values.get(name[: -len("api_key")] + "api_secret")
                if secret is not None:
                    pairs[key] = secret
        self.pairs, self.read_at = pairs, time.monotonic()

    def valid(self, key, secret):
        if self.pairs.get(key) == secret:
            return True
        if time.monotonic() - self.read_at > 0.5:  # a tenant seeded since the last read
            self._read()
        return self.pairs.get(key) == secret


class Gateway:
    def __init__(self, upstream, credentials):
        self.upstream = upstream
        self.credentials = credentials
        self.api_versions = None

    async def upstream_api_versions(self):
        """tansu's own ApiVersions (v0: error, [key, min, max]), asked once."""
        host, port = self.upstream
        for _ in range(150):
            try:
                reader, writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"sasl gateway: upstream {host}:{port} does not answer")
        writer.write(frame(struct.pack(">hhi", API_VERSIONS, 0, 1) + string("m4host-sasl-gateway")))
        await writer.drain()
        body = await read_frame(reader)
        writer.close()
        error, count = struct.unpack_from(">hi", body, 4)
        entries = [struct.unpack_from(">hhh", body, 10 + 6 * i) for i in range(count)]
        if error:
            raise SystemExit(f"sasl gateway: upstream ApiVersions error {error}")
        versions = {key: (low, high) for key, low, high in entries}
        versions[SASL_HANDSHAKE] = (0, 1)
        versions[SASL_AUTHENTICATE] = (0, 1)
        low, high = versions.get(API_VERSIONS, (0, 3))
        versions[API_VERSIONS] = (low, min(high, 3))
        self.api_versions = sorted((k, lo, hi) for k, (lo, hi) in versions.items())

    def api_versions_answer(self, correlation, version):
        entries = self.api_versions
        if version > 3:
            body = struct.pack(">hi", UNSUPPORTED_VERSION, len(entries))
            body += b"".join(struct.pack(">hhh", *e) for e in entries)
        elif version == 3:
            body = struct.pack(">h", 0) + uvarint(len(entries) + 1)
            body += b"".join(struct.pack(">hhh", *e) + uvarint(0) for e in entries)
            body += struct.pack(">i", 0) + uvarint(0)
        else:
            body = struct.pack(">hi", 0, len(entries))
            body += b"".join(struct.pack(">hhh", *e) for e in entries)
            if version >= 1:
                body += struct.pack(">i", 0)
        return frame(struct.pack(">i", correlation) + body)

    def check_plain(self, token):
        parts = token.split(b"\0")
        if len(parts) != 3:
            return False
        try:
            key, secret = parts[1].decode(), parts[2].decode()
        except UnicodeDecodeError:
            return False
        try:
            return self.credentials.valid(key, secret)
        except Exception as exc:  # SSM unreadable: nobody gets in
            LOG.warning("cannot read credentials from SSM: %s", type(exc).__name__)
            return False

    async def serve(self, reader, writer):
        peer = writer.get_extra_info("peername")
        try:
            if await self.authenticate(reader, writer):
                await self.pipe(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except Exception as exc:
            LOG.warning("connection %s: %r", peer, exc)
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def authenticate(self, reader, writer):
        mechanism_accepted = False
        while True:
            data = await read_frame(reader)
            api_key, version, correlation, offset = request_header(data)
            if api_key == API_VERSIONS:
                writer.write(self.api_versions_answer(correlation, version))
            elif api_key == SASL_HANDSHAKE and version <= 1:
                (n,) = struct.unpack_from(">h", data, offset)
                mechanism = data[offset + 2: offset + 2 + n].decode(errors="replace")
                ok = mechanism == "PLAIN"
                body = struct.pack(">hi", 0 if ok else UNSUPPORTED_SASL_MECHANISM, 1) + string("PLAIN")
                writer.write(frame(struct.pack(">i", correlation) + body))
                await writer.drain()
                if not ok:
                    return False
                if version == 0:  # the token comes bare (KIP-43)
                    if not self.check_plain(await read_frame(reader)):
                        LOG.info("authentication failed (handshake v0)")
                        return False
                    writer.write(struct.pack(">i", 0))
                    await writer.drain()
                    LOG.info("client authenticated (handshake v0)")
                    return True
                mechanism_accepted = True
            elif api_key == SASL_AUTHENTICATE and version <= 1:
                if not mechanism_accepted:
                    body = struct.pack(">h", ILLEGAL_SASL_STATE) + string("SaslHandshake first") + struct.pack(">i", 0)
                    if version >= 1:
                        body += struct.pack(">q", 0)
                    writer.write(frame(struct.pack(">i", correlation) + body))
                    await writer.drain()
                    return False
                (n,) = struct.unpack_from(">i", data, offset)
                token = data[offset + 4: offset + 4 + n]
                ok = self.check_plain(token)
                message = None if ok else "Authentication failed: Invalid username or password"
                body = struct.pack(">h", 0 if ok else SASL_AUTHENTICATION_FAILED) + string(message) + struct.pack(">i", 0)
                if version >= 1:
                    body += struct.pack(">q", 0)  # session_lifetime_ms: no re-authentication
                writer.write(frame(struct.pack(">i", correlation) + body))
                await writer.drain()
                LOG.info("client authenticated" if ok else "authentication failed (wrong credentials)")
                return ok
            else:
                LOG.info("request key %s v%s before authentication: closing", api_key, version)
                return False
            await writer.drain()

    async def pipe(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def copy(src, dst):
            try:
                while True:
                    chunk = await src.read(65536)
                    if not chunk:
                        break
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:9094")
    parser.add_argument("--upstream", default="127.0.0.1:9093")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--region", default="eu-west-2")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost") or up_host not in ("127.0.0.1", "localhost"):
        raise SystemExit("sasl gateway: loopback addresses only")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    gateway = Gateway((up_host, int(up_port)), Credentials(args.aws_endpoint, args.region))
    await gateway.upstream_api_versions()
    server = await asyncio.start_server(gateway.serve, host, int(port), ssl=tls)
    print(f"listening {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
