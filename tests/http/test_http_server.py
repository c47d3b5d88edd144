"""`server.run` end to end: gunicorn with two worker processes in a subprocess, on each backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from fpshttp import BOTH_BACKENDS, FpsClient, amount
from helpers import free_port, open_prepaid, ref, usd
from sqlalchemy import Engine, text

from fpscore.processor import Processor
from fpscore.processor.keys import SigningKeys, certificate_path

SERVER_KEY, SERVER_SECRET = "AKIDSERVER", "server-secret-0123"
RUN = (
    "import sys; from fpscore.processor.server import run; run('127.0.0.1', int(sys.argv[1]), 2, sys.argv[2])"
)


def _database_url(engine: Engine) -> str:
    url = engine.url
    if engine.dialect.name == "postgresql":  # the test's own schema, as the fixture's connections use it
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = url.set(query={"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def server(engine: Engine, tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "FPS_ACCESS_KEY_ID": SERVER_KEY,
        "FPS_SECRET_ACCESS_KEY": SERVER_SECRET,
        "FPS_CALLER_EMAIL": "ops@shop.example",
        "FPS_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, str(port), _database_url(engine)], env=env, stdout=log, stderr=log
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base_url}/ready", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "server.log"
            ).read_text()
            time.sleep(0.1)
    yield base_url, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log.close()


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
