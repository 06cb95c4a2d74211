"""The payload env codec: chunking vectors of POP-REFERENCE §5.3 and exact round trips."""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

import pytest

from pop.errors import PermanentError
from pop.handlers.codec import (
    COMPRESSED_ENV_VAR,
    decode_payload_env,
    encode_payload_env,
    split_segments,
)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(96_000, 1), (99_999, 1), (100_000, 1), (100_001, 2), (500_000, 5), (500_001, 6)],
)
def test_split_segments_makes_pops_number_of_parts(length: int, parts: int) -> None:
    segments = split_segments("x" * length, 100_000)
    assert len(segments) == parts
    assert len(segments[-1]) == (length % 100_000 or 100_000)
    assert "".join(segments) == "x" * length


def test_split_segments_of_an_empty_text_is_empty() -> None:
    assert split_segments("") == []


def _random_json(length: int, seed: int) -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " éü€"
    body = "".join(rng.choice(alphabet) for _ in range(length - len('{"data":""}')))
    text = json.dumps({"data": body}, ensure_ascii=False, separators=(",", ":"))
    assert len(text) == length
    return text


@pytest.mark.parametrize("length", [500_000, 512_875])
def test_a_large_payload_round_trips_exactly_through_compressed_env(length: int) -> None:
    payload = _random_json(length, seed=length)
    env = encode_payload_env(payload)
    assert env["POP_PAYLOAD_TYPE"] == COMPRESSED_ENV_VAR
    assert "PAYLOAD" not in env
    assert all(len(value) <= 100_000 for value in env.values())
    assert decode_payload_env(env) == payload


def test_compressed_parts_are_zlib_then_base64_of_utf8() -> None:
    env = encode_payload_env('{"a":"ü"}', compressed=True, segment_size=4)
    text = "".join(env[f"POP_COMPRESSED_PAYLOAD_{i}"] for i in range(len(env) - 1))
    assert zlib.decompress(base64.b64decode(text)).decode("utf-8") == '{"a":"ü"}'
    assert decode_payload_env(env) == '{"a":"ü"}'


def test_a_small_payload_travels_as_plain_env_var() -> None:
    assert encode_payload_env('{"a":1}') == {"PAYLOAD": '{"a":1}', "POP_PAYLOAD_TYPE": "envVar"}
    assert decode_payload_env({"PAYLOAD": '{"a":1}'}) == '{"a":1}'


def test_compression_starts_past_the_threshold() -> None:
    assert "PAYLOAD" in encode_payload_env("x" * 100, threshold=100)
    assert "PAYLOAD" not in encode_payload_env("x" * 101, threshold=100)


def test_decoding_stops_at_the_first_absent_part() -> None:
    env = encode_payload_env('{"a":1}', compressed=True)
    env["POP_COMPRESSED_PAYLOAD_2"] = "garbage that is never read"
    assert decode_payload_env(env) == '{"a":1}'


def test_empty_env_values_count_as_unset() -> None:
    assert decode_payload_env({"PAYLOAD": ""}) is None
    assert decode_payload_env({"POP_PAYLOAD_TYPE": "compressedEnvVar"}) is None
    assert decode_payload_env({}) is None


def test_payload_type_is_case_insensitive() -> None:
    env = encode_payload_env('{"a":1}', compressed=True)
    env["POP_PAYLOAD_TYPE"] = "COMPRESSEDENVVAR"
    assert decode_payload_env(env) == '{"a":1}'


def test_corrupt_compressed_parts_are_a_permanent_error() -> None:
    env = {"POP_PAYLOAD_TYPE": "compressedEnvVar", "POP_COMPRESSED_PAYLOAD_0": "bm90IHpsaWI="}
    with pytest.raises(PermanentError, match="Failed to decode the compressed payload"):
        decode_payload_env(env)
