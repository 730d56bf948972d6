"""tests/server/clients/auth_test.py — authentication and rate limits of a running
`inhouse serve --auth required` (INHOUSE_URL), driven with aiohttp: `inhouse client add` ->
POST /api/v1/auth -> bearer JWT -> /api/v1/chat; API keys; missing, garbage, tampered and
revoked credentials -> 401 with the uniform error body; a role limited to 2 requests a minute
gets 429 with Retry-After. Run by run-tests.sh auth (which writes the [roles.limited] config).
"""
import asyncio
import base64
import json
import os
import subprocess
import unittest

import aiohttp

URL = os.environ["INHOUSE_URL"]
INHOUSE = os.environ["INHOUSE"]
DATA_DIR = os.environ["INHOUSE_DATA_DIR"]
TIMEOUT = aiohttp.ClientTimeout(total=120)


def client_add(name, role):
    """Runs `inhouse client add`; returns (client_id, api_key, secret)."""
    out = subprocess.run([INHOUSE, "client", "add", name, "--role", role, "--data-dir", DATA_DIR],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    lines = out.strip().splitlines()
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    assert lines[0].startswith("client_id: "), out
    return fields["client_id"], fields["api_key"], lines[-1]


def client_rm(name):
    subprocess.run([INHOUSE, "client", "rm", name, "--data-dir", DATA_DIR],
                   check=True, capture_output=True, text=True, timeout=60)


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bearer(token):
    return {"Authorization": "Bearer " + token}


class AuthTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        # unittest runs the loop in debug mode; `inhouse client add` (Argon2id) blocks it on purpose.
        asyncio.get_running_loop().set_debug(False)
        self.http = aiohttp.ClientSession(timeout=TIMEOUT)

    async def asyncTearDown(self):
        await self.http.close()

    async def call(self, method, path, headers=None, body=None):
        """Returns (status, headers, parsed JSON body or None)."""
        async with self.http.request(method, URL + path, headers=headers, json=body) as r:
            text = await r.text()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return r.status, r.headers, parsed

    async def token_for(self, client_id, secret):
        status, headers, body = await self.call(
            "POST", "/api/v1/auth", body={"client_id": client_id, "client_secret": secret})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("Cache-Control"), "no-store")
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIsInstance(body["expires_in"], int)
        self.assertGreater(body["expires_in"], 0)
        return body["access_token"]

    def assert_uniform_error(self, status, headers, body, want, message_part=""):
        self.assertEqual(status, want, body)
        self.assertIsInstance(body, dict, "error body is JSON")
        self.assertEqual(set(body), {"error"})
        self.assertEqual(body["error"]["code"], want)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertIn(message_part, body["error"]["message"])
        if want == 401:
            self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")

    async def chat(self, headers):
        return await self.call("POST", "/api/v1/chat", headers=headers,
                               body={"prompt": "Hello", "max_tokens": 6, "temperature": 0})

    async def test_health_needs_no_credentials(self):
        status, _, body = await self.call("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")

    async def test_client_credentials_flow(self):
        client_id, _, secret = client_add("flow", "user")
        token = await self.token_for(client_id, secret)
        header, payload, signature = token.split(".")
        self.assertTrue(signature)
        self.assertEqual(json.loads(b64url_decode(header)).get("typ", "JWT"), "JWT")
        claims = json.loads(b64url_decode(payload))
        self.assertIn("exp", claims)
        status, _, body = await self.chat(bearer(token))
        self.assertEqual(status, 200, body)
        self.assertIn(body["finish_reason"], ("stop", "length"))
        self.assertGreater(body["usage"]["completion_tokens"], 0)
        self.assertIsInstance(body["reasoning"], str)  # the template opens <think>
        # The same token works on the OpenAI and Ollama routes.
        status, _, body = await self.call("GET", "/v1/models", headers=bearer(token))
        self.assertEqual(status, 200, body)
        status, _, body = await self.call("GET", "/api/tags", headers=bearer(token))
        self.assertEqual(status, 200, body)

    async def test_streamed_chat_with_token(self):
        client_id, _, secret = client_add("streamer", "user")
        token = await self.token_for(client_id, secret)
        async with self.http.post(URL + "/api/v1/chat", headers=bearer(token),
                                  json={"prompt": "Hi", "max_tokens": 6, "stream": True}) as r:
            self.assertEqual(r.status, 200)
            events = [line[len(b"data: "):] async for line in r.content if line.startswith(b"data: ")]
        last = json.loads(events[-1])
        self.assertTrue(last["done"])
        self.assertEqual(last["usage"]["completion_tokens"], 6)

    async def test_wrong_credentials(self):
        client_id, _, secret = client_add("wrong", "user")
        for creds in ({"client_id": client_id, "client_secret": secret + "x"},
                      {"client_id": "no-such-client", "client_secret": secret},
                      {"client_id": client_id, "client_secret": ""}):
            status, headers, body = await self.call("POST", "/api/v1/auth", body=creds)
            self.assert_uniform_error(status, headers, body, 401)
        status, headers, body = await self.call("POST", "/api/v1/auth", body={"client_id": client_id})
        self.assert_uniform_error(status, headers, body, 400, "client_secret")
        status, headers, body = await self.call(
            "POST", "/api/v1/auth",
            body={"client_id": client_id, "client_secret": secret, "grant_type": "password"})
        self.assert_uniform_error(status, headers, body, 400, "grant_type")

    async def test_missing_garbage_and_tampered_tokens(self):
        client_id, _, secret = client_add("tamper", "user")
        token = await self.token_for(client_id, secret)
        header, payload, signature = token.split(".")
        claims = json.loads(b64url_decode(payload))
        forged_claims = dict(claims, exp=int(claims["exp"]) + 10 ** 6)
        for role_key in ("role", "rol"):
            if role_key in claims:
                forged_claims[role_key] = "admin"
        forged = ".".join([header, b64url_encode(json.dumps(forged_claims).encode()), signature])
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        none_header = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        cases = {
            "no header": {},
            "empty bearer": {"Authorization": "Bearer "},
            "basic scheme": {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()},
            "garbage": bearer("garbage"),
            "three garbage parts": bearer("a.b.c"),
            "forged payload": bearer(forged),
            "flipped signature": bearer(".".join([header, payload, flipped])),
            "no signature": bearer(header + "." + payload + "."),
            "alg none": bearer(none_header + "." + payload + "."),
            "secret as bearer": bearer(secret),
            "garbage API key": bearer("ih.nope.nope"),
        }
        for name, headers in cases.items():
            with self.subTest(name):
                status, got_headers, body = await self.chat(headers)
                self.assert_uniform_error(status, got_headers, body, 401)
        # The real token still works.
        status, _, body = await self.chat(bearer(token))
        self.assertEqual(status, 200, body)

    async def test_api_key_as_bearer(self):
        _, api_key, _ = client_add("keyed", "user")
        self.assertTrue(api_key.startswith("ih."))
        status, _, body = await self.chat(bearer(api_key))
        self.assertEqual(status, 200, body)
        status, headers, body = await self.chat(bearer(api_key[:-1] + ("x" if api_key[-1] != "x" else "y")))
        self.assert_uniform_error(status, headers, body, 401)

    async def test_removed_client_is_refused(self):
        client_id, api_key, secret = client_add("leaver", "user")
        token = await self.token_for(client_id, secret)
        self.assertEqual((await self.chat(bearer(token)))[0], 200)
        self.assertEqual((await self.chat(bearer(api_key)))[0], 200)
        client_rm("leaver")
        for credential in (token, api_key):
            status, headers, body = await self.chat(bearer(credential))
            self.assert_uniform_error(status, headers, body, 401)
        status, headers, body = await self.call(
            "POST", "/api/v1/auth", body={"client_id": client_id, "client_secret": secret})
        self.assert_uniform_error(status, headers, body, 401)

    async def test_rate_limit_per_role(self):
        client_id, _, secret = client_add("slow", "limited")  # [roles.limited] requests_per_minute = 2
        token = await self.token_for(client_id, secret)
        for _ in range(2):
            status, _, body = await self.call("GET", "/v1/models", headers=bearer(token))
            self.assertEqual(status, 200, body)
        status, headers, body = await self.call("GET", "/v1/models", headers=bearer(token))
        self.assert_uniform_error(status, headers, body, 429, "Rate limit")
        retry_header = int(headers["Retry-After"])
        self.assertGreaterEqual(retry_header, 1)
        self.assertLessEqual(retry_header, 60)
        self.assertEqual(body["error"]["retry_after"], retry_header)
        # A generation is refused the same way; another client (another role) is not limited.
        status, headers, body = await self.chat(bearer(token))
        self.assert_uniform_error(status, headers, body, 429)
        other_id, _, other_secret = client_add("fast", "user")
        other = await self.token_for(other_id, other_secret)
        status, _, body = await self.call("GET", "/v1/models", headers=bearer(other))
        self.assertEqual(status, 200, body)

    async def test_concurrent_token_requests(self):
        client_id, _, secret = client_add("many", "user")
        tokens = await asyncio.gather(*(self.token_for(client_id, secret) for _ in range(4)))
        results = await asyncio.gather(*(self.call("GET", "/v1/models", headers=bearer(t)) for t in tokens))
        self.assertEqual([r[0] for r in results], [200] * 4)


if __name__ == "__main__":
    unittest.main()
