"""STUN codec benchmark: icekit against aioice's ``aioice.stun`` in the same run.

Run with ``python3 bench/bench_stun.py`` (aioice must be installed: ``pip install
-e '.[bench]'``). For each case it prints operations per second (median of
several timed repeats) and the ratio to aioice.

Cases, all for an ICE connectivity check (RFC 8445 §7.2):

* parse+verify request: decode a Binding request carrying USERNAME, PRIORITY,
  ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY and FINGERPRINT, and
  verify its FINGERPRINT and MESSAGE-INTEGRITY;
* parse+verify response: the same for its success response (XOR-MAPPED-ADDRESS);
* "+read" variants also read the attribute values an agent uses. aioice
  converts every value while parsing and icekit only when asked, so these rows
  compare the complete work an agent does per message;
* build+sign request / response: build, sign and fingerprint each message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable

from aioice import stun as aioice_stun

from icekit.stun import Attr, IntegrityKey, Message, MessageClass, Method

USERNAME = "h3Kf:x9Yq"
KEY = b"9nq7yWqL1XTLcEVRbZ7zvyIH"  # a 24-character ICE password
# icekit signs and verifies with a key object holding its HMAC states, as an
# agent does (``--bytes-key``: plain bytes, states recomputed every call).
ICEKIT_KEY: bytes | IntegrityKey = IntegrityKey(KEY)
PRIORITY = 0x6E0001FF
TIE_BREAKER = 0x932FF9B151263B36
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
MAPPED = ("192.0.2.1", 32853)


def icekit_build_request() -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    msg.add(Attr.USERNAME, USERNAME)
    msg.add(Attr.PRIORITY, PRIORITY)
    msg.add(Attr.ICE_CONTROLLING, TIE_BREAKER)
    msg.add(Attr.USE_CANDIDATE, None)
    return msg.encode(integrity_key=ICEKIT_KEY)


def icekit_build_response() -> bytes:
    msg = Message(Method.BINDING, MessageClass.SUCCESS, TXID)
    msg.add(Attr.XOR_MAPPED_ADDRESS, MAPPED)
    return msg.encode(integrity_key=ICEKIT_KEY)


def aioice_build_request() -> bytes:
    msg = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST, transaction_id=TXID
    )
    msg.attributes["USERNAME"] = USERNAME
    msg.attributes["PRIORITY"] = PRIORITY
    msg.attributes["ICE-CONTROLLING"] = TIE_BREAKER
    msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(KEY)
    return bytes(msg)


def aioice_build_response() -> bytes:
    msg = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE, transaction_id=TXID
    )
    msg.attributes["XOR-MAPPED-ADDRESS"] = MAPPED
    msg.add_message_integrity(KEY)
    return bytes(msg)


REQUEST = icekit_build_request()
RESPONSE = icekit_build_response()
# Both libraries must produce the same bytes, or the comparison is unfair.
assert REQUEST == aioice_build_request(), "request encodings differ"
assert RESPONSE == aioice_build_response(), "response encodings differ"


def icekit_verify_request() -> object:
    msg = Message.decode(REQUEST)  # verifies FINGERPRINT
    if not msg.verify_integrity(ICEKIT_KEY):
        raise AssertionError
    return msg


def icekit_verify_response() -> object:
    msg = Message.decode(RESPONSE)
    if not msg.verify_integrity(ICEKIT_KEY):
        raise AssertionError
    return msg


def aioice_verify_request() -> object:
    msg = aioice_stun.parse_message(REQUEST)  # verifies FINGERPRINT
    if not msg.check_message_integrity(KEY):
        raise AssertionError
    return msg


def aioice_verify_response() -> object:
    msg = aioice_stun.parse_message(RESPONSE)
    if not msg.check_message_integrity(KEY):
        raise AssertionError
    return msg


def icekit_parse_request() -> object:
    msg = Message.decode(REQUEST)  # verifies FINGERPRINT
    if not msg.verify_integrity(ICEKIT_KEY):
        raise AssertionError
    return (
        msg.get(Attr.USERNAME),
        msg.get(Attr.PRIORITY),
        msg.get(Attr.ICE_CONTROLLING),
        Attr.USE_CANDIDATE in msg,
    )


def icekit_parse_response() -> object:
    msg = Message.decode(RESPONSE)
    if not msg.verify_integrity(ICEKIT_KEY):
        raise AssertionError
    return msg.get(Attr.XOR_MAPPED_ADDRESS)


def aioice_parse_request() -> object:
    msg = aioice_stun.parse_message(REQUEST)  # verifies FINGERPRINT
    if not msg.check_message_integrity(KEY):
        raise AssertionError
    attrs = msg.attributes
    return (
        attrs["USERNAME"],
        attrs["PRIORITY"],
        attrs["ICE-CONTROLLING"],
        "USE-CANDIDATE" in attrs,
    )


def aioice_parse_response() -> object:
    msg = aioice_stun.parse_message(RESPONSE)
    if not msg.check_message_integrity(KEY):
        raise AssertionError
    return msg.attributes["XOR-MAPPED-ADDRESS"]


CASES: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
    ("parse+verify request", icekit_verify_request, aioice_verify_request),
    ("parse+verify response", icekit_verify_response, aioice_verify_response),
    ("parse+verify+read request", icekit_parse_request, aioice_parse_request),
    ("parse+verify+read response", icekit_parse_response, aioice_parse_response),
    ("build+sign request", icekit_build_request, aioice_build_request),
    ("build+sign response", icekit_build_response, aioice_build_response),
]


def ops_per_second(func: Callable[[], object], repeat: int, seconds: float) -> float:
    """Median operations per second over ``repeat`` runs of about ``seconds`` each."""
    # CPU time of this process: other load on the machine skews wall-clock figures.
    timer = timeit.Timer(func, timer=time.process_time)
    number, _ = timer.autorange()
    per_run = max(1, int(number * seconds / 0.2))
    times = timer.repeat(repeat=repeat, number=per_run)
    return per_run / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run every case for both libraries and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per case")
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one run")
    parser.add_argument("--bytes-key", action="store_true", help="icekit keys as plain bytes")
    args = parser.parse_args(argv)
    if args.bytes_key:
        global ICEKIT_KEY
        ICEKIT_KEY = KEY

    if icekit_parse_request() != aioice_parse_request():
        raise AssertionError("the two libraries decoded different request values")
    if icekit_parse_response() != aioice_parse_response():
        raise AssertionError("the two libraries decoded different response values")

    print(f"{'case':<28}{'icekit ops/s':>14}{'aioice ops/s':>14}{'ratio':>8}")
    worst = float("inf")
    for name, ours, theirs in CASES:
        a = ops_per_second(ours, args.repeat, args.seconds)
        b = ops_per_second(theirs, args.repeat, args.seconds)
        worst = min(worst, a / b)
        print(f"{name:<28}{a:>14,.0f}{b:>14,.0f}{a / b:>7.2f}x")
    print(f"lowest ratio: {worst:.2f}x (target: 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
