"""Tests of the @<...> reference language (pop/refs.py, DESIGN.md §4, POP-REFERENCE.md §3.9)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop.refs import (
    NO_DEFAULT,
    Reference,
    find_references,
    operation_dependencies,
    references_in,
    substitute,
)

OBJECT = {"x": {"y": "z"}, "arr": [1, "two", {"k": "v"}], "t": True}
SAMPLE = {"subItem": {"item": "55", "item2": {"leaf": "node"}, "item3": "45"}}

CONTEXT: dict[str, Any] = {
    "s": "85",
    "s2": "95",
    "n": 42,
    "f": 4.5,
    "b": True,
    "nul": None,
    "big": 1e20,
    "o": OBJECT,
    "a.out": {"x": "ax", "n": 7},
    "b.out": {"y": "by"},
    "pop.payload": {"title": "xyz"},
    "escaped": {"a/b": "slash", "m~n": "tilde"},
    "list": [{"test": "a"}, {"test": "b"}],
    "sampleValue": SAMPLE,
    "sampleValue2": "95",
}


def as_json(value: Any) -> str:
    """JSON text of a value: tells 1, 1.0 and true apart where == does not."""
    return json.dumps(value, sort_keys=True)


# (input string value, output value, missing, invalid)
STRING_CASES = [
    # whole-value references keep the JSON type of the value
    ("@<s>", "85", [], []),
    ("@<n>", 42, [], []),
    ("@<f>", 4.5, [], []),
    ("@<big>", 1e20, [], []),
    ("@<nul>", None, [], []),
    ("@<o>", OBJECT, [], []),
    ("@<o::/arr>", [1, "two", {"k": "v"}], [], []),
    ("@<list>", [{"test": "a"}, {"test": "b"}], [], []),
    # fix (1): booleans are substituted
    ("@<b>", True, [], []),
    ("@<o::/t>", True, [], []),
    # interpolation renders scalars as JSON does
    ("x@<b>y", "xtruey", [], []),
    ("x@<n>y@<n>", "x42y42", [], []),
    ("f=@<f>", "f=4.5", [], []),
    ("v@<nul>", "vnull", [], []),
    ("pre @<o::/arr/1> post", "pre two post", [], []),
    ("--@<sampleValue::/wrongitem?95>", "--95", [], []),
    # fix (3): numbers render as JSON, not as Java's 1.0E20
    ("v@<big>", "v1e+20", [], []),
    # objects and arrays cannot be interpolated
    ("x@<o>", "x@<o>", [], ["@<o> cannot be used in composite string"]),
    ("x@<o::/arr>y", "x@<o::/arr>y", [], ["@<o::/arr> cannot be used in composite string"]),
    ("@<o::/x>@<s>", "@<o::/x>85", [], ["@<o::/x> cannot be used in composite string"]),
    # unknown names are missing; the token stays verbatim
    ("@<missing>", "@<missing>", ["@<missing>"], []),
    ("x@<missing>y@<s>", "x@<missing>y85", ["@<missing>"], []),
    ("@<sampleValue3>--@<sampleValue2>--", "@<sampleValue3>--95--", ["@<sampleValue3>"], []),
    ("--@<sampleValueX>--", "--@<sampleValueX>--", ["@<sampleValueX>"], []),
    ("@<m>@<m>@<s>", "@<m>@<m>85", ["@<m>"], []),
    # names are case-sensitive and may contain dots
    ("@<S>", "@<S>", ["@<S>"], []),
    ("@<pop.payload::title>", "xyz", [], []),
    ("@<Pop.payload::title>", "@<Pop.payload::title>", ["@<Pop.payload::title>"], []),
    # pointers, with and without the leading slash
    ("@<o::/x/y>", "z", [], []),
    ("@<o::x/y>", "z", [], []),
    ("@<o::/arr/1>", "two", [], []),
    ("@<o::arr/2/k>", "v", [], []),
    ("@<sampleValue::subItem/item>-", "55-", [], []),
    ("-@<sampleValue::subItem/item2/leaf>-", "-node-", [], []),
    ("@<list::/1/test>", "b", [], []),
    # RFC 6901 escapes: ~1 is "/", ~0 is "~"
    ("@<escaped::/a~1b>", "slash", [], []),
    ("@<escaped::m~0n>", "tilde", [], []),
    # a pointer that finds nothing and has no default is invalid, reported normalised
    ("@<o::/nope>", "@<o::/nope>", [], ["@<o::/nope>"]),
    ("@<o::nope>", "@<o::nope>", [], ["@<o::/nope>"]),
    ("x@<o::/nope>y", "x@<o::/nope>y", [], ["@<o::/nope>"]),
    ("@<list::/2/test>", "@<list::/2/test>", [], ["@<list::/2/test>"]),
    ("@<list::/01>", "@<list::/01>", [], ["@<list::/01>"]),
    ("@<list::/->", "@<list::/->", [], ["@<list::/->"]),
    ("@<s::/0>", "@<s::/0>", [], ["@<s::/0>"]),
    ("@<o::/a~2b>", "@<o::/a~2b>", [], ["@<o::/a~2b>"]),
    ("@<o::/nope>@<o::/nope>", "@<o::/nope>@<o::/nope>", [], ["@<o::/nope>"]),
    # defaults: "?" is null, "?text" is the string text, split at the first "?"
    ("@<o::/nope?>", None, [], []),
    ("@<sampleValue::/wrongitem?>", None, [], []),
    ("@<o::/nope?0>", "0", [], []),
    ("@<o::/nope?5>", "5", [], []),
    ("@<o::/nope?a?b>", "a?b", [], []),
    ("-@<o::/nope?0>-", "-0-", [], []),
    ("-@<o::/nope?>-", "-null-", [], []),
    ("@<nul::/x?d>", "d", [], []),
    ("@<sampleValue::subItem/item3/nothere?95>", "95", [], []),
    # a default is unused when the pointer finds a value
    ("@<o::/x/y?dflt>", "z", [], []),
    ("@<sampleValue::subItem/item3?95>", "45", [], []),
    # a default applies only to known names
    ("@<c.out::/x?>", "@<c.out::/x?>", ["@<c.out::/x?>"], []),
    ("@<c.out::/x?d>", "@<c.out::/x?d>", ["@<c.out::/x?d>"], []),
    ("x@<c.out::/x?d>", "x@<c.out::/x?d>", ["@<c.out::/x?d>"], []),
    # "::/" and fix (4): an empty pointer, with or without default, is the whole value
    ("@<o::/>", OBJECT, [], []),
    ("@<o::>", OBJECT, [], []),
    ("@<o::?d>", OBJECT, [], []),
    ("@<n::/?>", 42, [], []),
    # fix (2): several tokens in one string are interpolated, no bogus reports
    ("@<a.out::/x>-@<b.out::/y>", "ax-by", [], []),
    ("@<s><tag>1</tag>", "85<tag>1</tag>", [], []),
    ("@<sampleValue2><xmltag>45</xmltag>", "95<xmltag>45</xmltag>", [], []),
    ("@<s>@<s>", "8585", [], []),
    ("--@<s>--@<s2>", "--85--95", [], []),
    ("@<s>>", "85>", [], []),
    # not tokens at all
    ("85", "85", [], []),
    ("", "", [], []),
    ("@<>", "@<>", [], []),
    ("@<>@<s>", "@<>85", [], []),
    ("@<s", "@<s", [], []),
    ("@ <s>", "@ <s>", [], []),
    (
        "@<sampleValueX><xmltag>45</xmltag>",
        "@<sampleValueX><xmltag>45</xmltag>",
        ["@<sampleValueX>"],
        [],
    ),
]


@pytest.mark.parametrize(("text", "expected", "missing", "invalid"), STRING_CASES)
def test_a_string_value_is_substituted_as_the_table_says(
    text: str, expected: Any, missing: list[str], invalid: list[str]
) -> None:
    resolution = substitute({"value": text}, CONTEXT)

    assert as_json(resolution.value) == as_json({"value": expected})
    assert resolution.missing == missing
    assert resolution.invalid == invalid


@pytest.mark.parametrize(("text", "expected", "missing", "invalid"), STRING_CASES)
def test_a_root_string_is_substituted_like_a_string_value(
    text: str, expected: Any, missing: list[str], invalid: list[str]
) -> None:
    resolution = substitute(text, CONTEXT)

    assert as_json(resolution.value) == as_json(expected)
    assert (resolution.missing, resolution.invalid) == (missing, invalid)


def test_arrays_of_arrays_and_objects_in_arrays_are_walked() -> None:
    document = ["@<s>", "@<o::/x>", {"g": "@<n>"}, ["@<n>", ["@<b>"]]]

    resolution = substitute(document, CONTEXT)

    assert resolution.value == ["85", {"y": "z"}, {"g": 42}, [42, [True]]]
    assert (resolution.missing, resolution.invalid) == ([], [])


def test_object_keys_are_never_substituted() -> None:
    resolution = substitute({"@<s>": "@<s>", "x": {"@<n>": 1}}, CONTEXT)

    assert resolution.value == {"@<s>": "85", "x": {"@<n>": 1}}


def test_numbers_booleans_and_null_in_the_document_are_left_alone() -> None:
    document = {"n": 1, "f": 1.5, "t": True, "z": None, "a": [False, 0]}

    assert as_json(substitute(document, CONTEXT).value) == as_json(document)


def test_reports_are_deduplicated_across_the_whole_document_in_order_found() -> None:
    document = {"a": "@<zz>", "b": ["@<o::/nope>", "x@<zz>"], "c": "@<yy>", "d": "@<o::nope>"}

    resolution = substitute(document, CONTEXT)

    assert resolution.missing == ["@<zz>", "@<yy>"]
    assert resolution.invalid == ["@<o::/nope>"]


def test_substituted_values_are_not_scanned_again_for_tokens() -> None:
    context = {"t": "@<s>", "s": "85"}

    assert substitute(["@<t>", "x@<t>"], context).value == ["@<s>", "x@<s>"]


def test_the_template_example_replaces_a_file_reference_with_the_object() -> None:
    context = {"sourceFile": {"file": "coolestdog.mp4"}, "accelerateEncodeProcessorVersion": "1.5"}
    document = {"file": "@<sourceFile>", "processorVersion": "@<accelerateEncodeProcessorVersion>"}

    resolution = substitute(document, context)

    assert resolution.value == {"file": {"file": "coolestdog.mp4"}, "processorVersion": "1.5"}


def test_the_result_shares_no_mutable_value_with_the_context() -> None:
    context = {"o": {"x": [1]}}

    result = substitute(["@<o>", "@<o>"], context).value
    result[0]["x"].append(2)

    assert context == {"o": {"x": [1]}}
    assert result[1] == {"x": [1]}


@pytest.mark.parametrize(
    ("text", "name", "pointer", "default"),
    [
        ("@<a.out::/x?d>", "a.out", "/x", "d"),
        ("@<a>", "a", "", NO_DEFAULT),
        ("@<a::x/y>", "a", "/x/y", NO_DEFAULT),
        ("@<a::/>", "a", "", NO_DEFAULT),
        ("@<a::>", "a", "", NO_DEFAULT),
        ("@<a::?>", "a", "", None),
        ("@<a::/x?>", "a", "/x", None),
        ("@<a::/x?0>", "a", "/x", "0"),
        ("@<a::/x?a?b>", "a", "/x", "a?b"),
        ("@<a::b::c>", "a", "/b::c", NO_DEFAULT),
        ("@<a::/x~1y>", "a", "/x~1y", NO_DEFAULT),
        ("@<mediainfo.1::/>", "mediainfo.1", "", NO_DEFAULT),
    ],
)
def test_find_references_parses_name_pointer_and_default(
    text: str, name: str, pointer: str, default: object
) -> None:
    assert find_references(text) == [Reference(text, name, pointer, default)]


def test_find_references_lists_every_token_left_to_right() -> None:
    refs = find_references("@<>x@<b.out::/y>-@<a>@<a>")

    assert [ref.text for ref in refs] == ["@<b.out::/y>", "@<a>", "@<a>"]


def test_references_in_reads_every_string_value_but_no_key() -> None:
    document = {"@<key>": ["@<a>", {"k": "x@<b::/p>"}, 3, None], "s": "@<c>"}

    assert [ref.text for ref in references_in(document)] == ["@<a>", "@<b::/p>", "@<c>"]


def test_references_in_reads_a_root_string() -> None:
    assert [ref.name for ref in references_in("@<a>-@<b>")] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "dependencies"),
    [
        ("@<item.out>", {"item"}),
        ("@<item.out.out>", {"item.out"}),
        ("@<item.out::/>", {"item"}),
        ("@<item.out::/.out>", {"item"}),
        ("@<item>", set()),
        ("@<pop.agendaId>", set()),
        ("@<.out>", set()),
        ("@<Item.OUT>", set()),
        ("@<a.out::/x>-@<b.out::/y?>", {"a", "b"}),
    ],
)
def test_operation_dependencies_are_the_names_of_referenced_outputs(
    text: str, dependencies: set[str]
) -> None:
    assert operation_dependencies({"v": [text]}) == dependencies


def test_output_of_strips_dot_out_once_at_the_end() -> None:
    assert Reference("@<x.out.out>", "x.out.out", "", NO_DEFAULT).output_of == "x.out"
    assert Reference("@<x.outs>", "x.outs", "", NO_DEFAULT).output_of is None


def test_no_default_survives_a_deep_copy() -> None:
    assert copy.deepcopy(NO_DEFAULT) is NO_DEFAULT


# -- properties -------------------------------------------------------------------------------

SMALL = settings(max_examples=100, deadline=None)


def json_values(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | strings
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=20,
    )


TOKEN_FREE = json_values(st.text().filter(lambda text: "@<" not in text))
ANY_JSON = json_values(st.text())
TOKENS = st.sampled_from(["@<v>", "@<v::/0>", "@<v::/k?d>", "@<w>", "@<v::/nope>", "@<>"])
WITH_TOKENS = json_values(st.lists(TOKENS | st.text(max_size=3), max_size=4).map("".join))


@SMALL
@given(document=TOKEN_FREE, value=ANY_JSON)
def test_a_document_without_tokens_comes_back_equal_with_nothing_reported(
    document: Any, value: Any
) -> None:
    resolution = substitute(document, {"v": value})

    assert as_json(resolution.value) == as_json(document)
    assert (resolution.missing, resolution.invalid) == ([], [])


@SMALL
@given(value=ANY_JSON)
def test_a_whole_value_token_returns_exactly_the_value_with_its_json_type(value: Any) -> None:
    resolution = substitute("@<v>", {"v": value})

    assert resolution.value == value
    assert type(resolution.value) is type(value)
    assert as_json(resolution.value) == as_json(value)


@SMALL
@given(document=WITH_TOKENS, value=ANY_JSON)
def test_substitution_never_mutates_the_document_or_the_context(document: Any, value: Any) -> None:
    context = {"v": value}
    document_before, context_before = copy.deepcopy(document), copy.deepcopy(context)

    substitute(document, context)

    assert as_json(document) == as_json(document_before)
    assert as_json(context) == as_json(context_before)
