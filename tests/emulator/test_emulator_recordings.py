"""The emulator's call recordings: a pre-signed link per call log, a small WAV, 403 once expired."""

from __future__ import annotations

import wave
from datetime import timedelta
from io import BytesIO

import pytest
import requests

from telzino_provider.emulator import TelzinoEmulator


def recording_url(emu, client):
    [log] = client.get(f"/v1/agents/{emu.agent_id}/call-logs").json()["data"]
    return log["recording_url"]


def test_a_call_log_links_a_small_wav_that_needs_no_token(emu, client):
    emu.add_call(created_at=emu.now() - timedelta(minutes=10))
    url = recording_url(emu, client)

    response = requests.get(url, timeout=5)  # no Authorization header: the link is signed

    assert url.startswith(emu.base_url + "/recordings/")
    assert response.status_code == 200 and response.headers["Content-Type"] == "audio/wav"
    assert 2000 < len(response.content) < 7000
    with wave.open(BytesIO(response.content)) as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (8000, 1)
    assert requests.get(url, timeout=5).content == response.content  # the same bytes every time


def test_the_link_answers_403_after_it_expires(emu, client):
    emu.recording_ttl = 3600
    emu.add_call(created_at=emu.now() - timedelta(minutes=10))
    url = recording_url(emu, client)
    assert requests.get(url, timeout=5).status_code == 200

    emu.advance(3600)

    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.content
    assert b"expired" in expired.content


def test_the_link_is_signed_from_the_call_end_so_a_shorter_ttl_expires_older_calls(emu, client):
    emu.add_call(created_at=emu.now() - timedelta(hours=2))
    emu.recording_ttl = 3600

    assert requests.get(recording_url(emu, client), timeout=5).status_code == 403


@pytest.mark.parametrize("tamper", ["signature=0", "expires=9"])
def test_a_tampered_link_is_refused(emu, client, tamper):
    emu.add_call(created_at=emu.now() - timedelta(minutes=10))
    url = recording_url(emu, client).replace(tamper.split("=")[0] + "=", tamper)

    response = requests.get(url, timeout=5)

    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content


def test_setting_a_negative_ttl_is_refused(emu: TelzinoEmulator) -> None:
    with pytest.raises(ValueError, match="recording_ttl"):
        emu.recording_ttl = -1
