"""Each manufacturer client against a handler that plays the vendor's API (httpx.MockTransport)."""

import base64
import hashlib
import json
import xmlrpc.client

import httpx
import pytest

from core.redirection.errors import AuthFailed, DeviceClaimed, ServiceUnavailable
from core.redirection.fanvil import FanvilFdps
from core.redirection.hawk import GigasetGrape, SnomSraps, hawk_header
from core.redirection.poly import PolyZtp
from core.redirection.yealink import YealinkRps

pytestmark = pytest.mark.anyio

MAC = "805EC0112233"
URL = "https://prov.example.net:8448/"


def client(handler):
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_yealink_token_then_add_and_delete():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v2/token":
            assert request.headers["authorization"] == "Basic " + base64.b64encode(b"kid:ksecret").decode()
            assert request.headers["timestamp"].isdigit() and request.headers["nonce"]
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 7200})
        assert request.headers["authorization"] == "Bearer tok"
        if request.url.path == "/v2/rps/addDevicesByMac":
            assert json.loads(request.content) == [{"mac": MAC.lower(), "uniqueServerUrl": URL}]
            return httpx.Response(200, json={"total": 1, "successCount": 1, "failureCount": 0, "errors": []})
        assert request.url.path == "/v2/rps/delDevices"
        assert json.loads(request.content) == {"deviceIdType": "mac", "deviceIds": [MAC.lower()]}
        return httpx.Response(200, json={})

    async with client(handler) as http:
        rps = YealinkRps(http, "kid", "ksecret", region="eu")
        await rps.register(MAC, URL)
        await rps.withdraw(MAC)
    assert [c.url.path for c in calls] == ["/v2/token", "/v2/rps/addDevicesByMac", "/v2/rps/delDevices"]
    assert calls[0].url.host == "eu-api.ymcs.yealink.com"


async def test_yealink_claimed_device_and_bad_credentials():
    def claimed(request):
        if request.url.path == "/v2/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
        return httpx.Response(200, json={"failureCount": 1, "errors": [{"mac": MAC, "errorInfo": "800003 exists"}]})

    async with client(claimed) as http:
        with pytest.raises(DeviceClaimed):
            await YealinkRps(http, "k", "s").register(MAC, URL)
    async with client(lambda r: httpx.Response(401)) as http:
        with pytest.raises(AuthFailed) as err:
            await YealinkRps(http, "k", "very-secret").register(MAC, URL)
    assert "very-secret" not in str(err.value)


def test_hawk_header_is_verifiable():
    header = hawk_header("id1", "key1", "PUT", "https://api.sraps.snom.com/api/v1/x?y=1", "application/json",
                         b'{"a":1}', ts=1353832234, nonce="j4h3g2")  # fmt: skip
    fields = dict(part.split("=", 1) for part in header[5:].split(", "))
    fields = {k: v.strip('"') for k, v in fields.items()}
    payload = b'hawk.1.payload\napplication/json\n{"a":1}\n'
    assert fields["hash"] == base64.b64encode(hashlib.sha256(payload).digest()).decode()
    normalized = (f"hawk.1.header\n1353832234\nj4h3g2\nPUT\n/api/v1/x?y=1\napi.sraps.snom.com\n443\n"
                  f"{fields['hash']}\n\n")  # fmt: skip
    import hmac

    expected = base64.b64encode(hmac.new(b"key1", normalized.encode(), hashlib.sha256).digest()).decode()
    assert fields["mac"] == expected and fields["id"] == "id1"


@pytest.mark.parametrize("cls, setting", [(SnomSraps, "setting_server"), (GigasetGrape, "ProvisioningServer")])
async def test_sraps_and_grape_discover_then_put_and_delete(cls, setting):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith('Hawk id="kid"')
        seen.append((request.method, request.url.path))
        path = request.url.path
        if path.endswith("/settings/"):
            return httpx.Response(200, json={"results": [{"param_name": "x", "uuid": "u0"},
                                                         {"param_name": setting, "uuid": "u1"}]})  # fmt: skip
        if "/tokens/" in path:
            return httpx.Response(200, json={"links": {"company": "https://api.example/api/v1/companies/7/"}})
        if path == "/api/v1/companies/7/":
            return httpx.Response(200, json={"links": {"endpoints": "https://api.example/api/v1/companies/7/ep/"}})
        if request.method == "PUT":
            body = json.loads(request.content)
            assert body["settings_manager"] == {"u1": {"value": URL, "attrs": {"perm": "RW"}}}
            return httpx.Response(200, json={})
        return httpx.Response(404)  # DELETE of an unknown MAC is fine

    async with client(handler) as http:
        svc = cls(http, "kid", "secret", base="https://api.example/api/v1/")
        await svc.register(MAC, URL)
        await svc.withdraw(MAC)
    assert ("PUT", f"/api/v1/companies/7/ep/{MAC.lower()}") in seen
    assert seen[-1] == ("DELETE", f"/api/v1/companies/7/ep/{MAC.lower()}")
    assert sum(1 for m, p in seen if p.endswith("/settings/")) == 1  # discovery is cached


async def test_poly_ztp_and_unavailable():
    def handler(request):
        assert request.headers["api-key"] == "pk"
        if request.method == "POST":
            assert json.loads(request.content) == {"id": MAC.lower(), "profile": "prof"}
            return httpx.Response(201, json={})
        return httpx.Response(503)

    async with client(handler) as http:
        ztp = PolyZtp(http, "pk", "prof")
        await ztp.register(MAC, URL)
        with pytest.raises(ServiceUnavailable):
            await ztp.withdraw(MAC)


async def test_fanvil_fdps_xmlrpc_sequence():
    methods = []
    expected_pw = hashlib.md5(hashlib.md5(b"pw").hexdigest().encode()).hexdigest()

    def handler(request):
        assert request.headers["authorization"] == "Basic " + base64.b64encode(f"u:{expected_pw}".encode()).decode()
        params, method = xmlrpc.client.loads(request.content)
        methods.append(method)
        if method == "redirect.addMaterialServer":
            assert "cfgPfSrv=prov.example.net:8448" in params[0] and "cfgPfProt=5" in params[0]
        return httpx.Response(200, content=xmlrpc.client.dumps(([True, "ok"],), methodresponse=True).encode())

    async with client(handler) as http:
        await FanvilFdps(http, "u", "pw").register(MAC, URL)
    assert methods == ["redirect.deleteServer", "redirect.addMaterialServer", "redirect.deRegisterDevice",
                       "redirect.registerDevice"]  # fmt: skip
