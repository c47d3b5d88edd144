"""`server.run` end to end: gunicorn with two worker processes in a subprocess, on each backend."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from fpshttp import BOTH_BACKENDS, SERVER_KEY, SERVER_SECRET, FpsClient, amount, fpscore_serve
from helpers import open_prepaid, ref, usd
from sqlalchemy import Engine

from fpscore.processor import Processor
from fpscore.processor.keys import SigningKeys, certificate_path


@pytest.fixture
def server(engine: Engine, tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with fpscore_serve(engine, tmp_path) as started:
        yield started


@BOTH_BACKENDS
def test_gunicorn_serves_the_api(server, engine, buyer_id, tmp_path):
    base_url, process = server
    processor = Processor(engine)
    caller_id = processor.caller_for_key(SERVER_KEY).caller_id  # registered before the workers started
    setup = open_prepaid(processor, caller_id, buyer_id)
    fps = FpsClient(base_url, SERVER_KEY, SERVER_SECRET)

    fund = {"SenderTokenId": setup.funding_token_id, "PrepaidInstrumentId": setup.instrument_id}
    assert (
        fps.ok("FundPrepaid", CallerReference=ref(), **fund, **amount("FundingAmount", "10.00")) is not None
    )
    for method in ("GET", "POST", "GET", "POST"):
        params = {
            "SenderTokenId": setup.sender_token_id,
            "CallerReference": ref(),
            **amount("TransactionAmount", "1.00"),
        }
        assert fps.call("Pay", method=method, **params).status_code == 200
    assert processor.get_prepaid_balance(caller_id, setup.instrument_id).available == usd("6.00")

    # Every worker verifies with the one key the master made before forking.
    key_id, key = SigningKeys(engine).current()
    signed = {"status": "SA", "signatureMethod": "RSA-SHA1", "signatureVersion": "2"}
    signed["certificateUrl"] = f"{base_url}{certificate_path(key_id)}"
    signed["signature"] = key.sign_outbound(signed, method="GET", url_endpoint="https://shop.example/back")
    query = {"Action": "VerifySignature", "Version": "2010-08-28", "UrlEndPoint": "https://shop.example/back"}
    for _ in range(6):
        response = requests.get(
            base_url + "/", params={**query, "HttpParameters": urlencode(signed)}, timeout=10
        )
        assert b"<VerificationStatus>Success</VerificationStatus>" in response.content
    assert requests.get(signed["certificateUrl"], timeout=10).content == key.certificate_pem

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    output = (tmp_path / "server.log").read_text()
    assert output.count("Booting worker") == 2
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(lines) == 11 and {line["http_status"] for line in lines} == {200}
    assert SERVER_SECRET not in output and not any(signature in output for signature in fps.sent_signatures)
