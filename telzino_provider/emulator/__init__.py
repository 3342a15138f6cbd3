"""A faithful local Telzino API for tests, benchmarks and demos (standard library only).

Quick start::

    from telzino_provider.emulator import TelzinoEmulator, OUTCOME_NUMBERS

    with TelzinoEmulator() as emu:  # 127.0.0.1, ephemeral port, frozen emulated clock
        # point a Telzino connection at emu.base_url with emu.token (or emu.client_id/secret)
        ...                                   # POST a call to OUTCOME_NUMBERS["busy"] ...
        emu.advance(60)                       # ... and it has reached its terminal status

What it emulates (spec sections 1-8): ``POST /oauth/token``; ``GET /v1/agents`` and
``GET /v1/agents/{agentId}``; ``POST``/``GET /v1/agents/{agentId}/outbound-calls`` (create, list with
``page``/``limit``/``status``), ``GET .../outbound-calls/{callId}``; ``GET .../call-logs``, whose
``recording_url`` is a pre-signed link to ``GET /recordings/{callId}.wav`` (a small generated WAV;
403 after ``recording_ttl``, see :mod:`.recordings`). Shapes,
status codes and the three timestamp formats follow the documentation; where it is silent the
emulator is strict (400 for ``limit`` > 100, 404 for malformed ids). Errors are
``{"error": <code>, "message": <text>}``; token errors are ``{"error", "error_description"}``.

Calls follow a scripted lifecycle on an emulated clock (see :mod:`.records`); the dialled number's
last four digits pick the outcome: ``0480`` no_answer, ``0486`` busy, ``0503``/``0404`` failed,
anything else completed (:data:`OUTCOME_NUMBERS` has one number per outcome).

Fault knobs (:meth:`TelzinoEmulator.fail_next`, ``rate_limit``, ``hang_next``, ``malformed_next``,
``insert_calls_between_pages``, ``set_list_order``, ``drop_next_post_response``,
``hold_next_create``, ``expire_tokens``) and the request log (``requests``, ``count_requests``) exist
for testing clients' error handling.

The emulator never opens outbound connections, so result webhooks are never sent and
``callback_delivered`` is ``false`` on terminal calls. Run ``python -m telzino_provider.emulator``
for a standalone server.
"""

from __future__ import annotations

from telzino_provider.emulator.emulator import TelzinoEmulator
from telzino_provider.emulator.records import OUTCOME_NUMBERS, STATUSES, TERMINAL_STATUSES
from telzino_provider.emulator.requestlog import RequestRecord

__all__ = ["OUTCOME_NUMBERS", "STATUSES", "TERMINAL_STATUSES", "RequestRecord", "TelzinoEmulator"]
