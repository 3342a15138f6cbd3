"""Call records in trigger events: phone numbers masked on the way out, read back on the worker.

Airflow's triggerer logs every event it fires with its payload (3.x "Trigger fired event",
2.x "Trigger ... fired: ...") and stores it for the resumed task, so a trigger's event must not
carry a full phone number. The trigger masks every string of the records it sends (``to_number``
and the free texts that may quote a number: ``call_context``, ``summary_text``, ``error``,
``request_metadata``, its keys too); the resumed task reads the records again and gives back the
values the masks stand for, so the XCom is the same as in poke mode:

* a call's event: one GET of the call by id;
* a completed-calls event: one read of the same window whatever the calls' status now (a call
  seen in a live status may have moved on), keeping exactly the event's calls in the event's
  order; a call the read no longer lists fails the task, saying so.

An event whose records needed no mask (no number in them, or ``fields`` left the numbers out) is
marked as such and costs no request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telzino_provider.redaction import mask_phones_in_text
from telzino_provider.version_compat import AirflowException
from telzino_provider.windows import CallWindow, list_window

if TYPE_CHECKING:
    from telzino_provider.hooks.telzino import TelzinoHook

Record = dict[str, Any]

CALL = "call"
CALLS = "calls"
#: Event keys: its records carry masks to read back; the ids of its calls, in order; its window.
MASKED, IDS, WINDOW = "masked", "ids", "window"


def masked(value: Any) -> Any:
    """``value`` with every phone number in its strings masked (dicts, their keys too, and lists walked).

    Keys count: ``request_metadata`` is the user's, and may key its entries by number. Two keys that
    mask alike keep one entry; the worker's read-back gives the whole value again."""
    if isinstance(value, str):
        return mask_phones_in_text(value)
    if isinstance(value, dict):
        return {masked(key): masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def mask_event(event: dict[str, Any], window: CallWindow | None = None) -> dict[str, Any]:
    """The event a trigger fires: its records masked, and marked when a mask changed anything.

    :param window: the completed-calls trigger's window, which the worker reads again.
    """
    out = masked(event)
    if out == event:
        return event
    out[MASKED] = True
    if window is not None:
        out[WINDOW] = window.to_json()
    return out


def restore_event(hook: TelzinoHook, agent_id: str, event: object) -> object:
    """``event`` with its records' masked values read back from the API; other events unchanged."""
    if not isinstance(event, dict) or not event.get(MASKED) or event.get("status") != "success":
        return event
    if isinstance(event.get(CALL), dict):
        call = event[CALL]
        fresh = hook.get_outbound_call(agent_id, call["id"])
        return {**event, CALL: restored(call, fresh)}
    ids, records = event.get(IDS) or [], event.get(CALLS) or []
    # Every status: a call listed for a live status (in_progress) may have moved on since.
    window = replace(CallWindow.from_json(event[WINDOW]), statuses=())
    listed = {call.get("id"): call for call in list_window(hook, agent_id, window)}
    missing = [call_id for call_id in ids if call_id not in listed]
    if missing or len(ids) != len(records):
        raise AirflowException(
            f"{len(missing)} of the {len(ids)} Telzino calls the trigger found are no longer listed in "
            f"the window (first: {missing[:1]}), so their phone numbers, masked in the trigger's event, "
            "cannot be read back; clear the task to look at the window again"
        )
    return {**event, CALLS: [restored(record, listed[i]) for record, i in zip(records, ids, strict=True)]}


def restored(record: Record, fresh: Record) -> Record:
    """``record`` (masked) with each value the fresh read masks to; a value that changed since the
    trigger looked keeps the trigger's, so the record is the one the trigger judged."""
    return {
        key: fresh[key] if key in fresh and masked(fresh[key]) == value else value
        for key, value in record.items()
    }
