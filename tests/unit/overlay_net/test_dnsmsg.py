"""The DNS wire format: parsing queries (garbage included) and building replies."""

from __future__ import annotations

import contextlib
import struct
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay_net.dnsmsg import (
    MalformedMessage,
    Query,
    Rcode,
    build_reply,
    frame,
    frame_length,
    parse_query,
)
from tests.unit.overlay_net.dnswire import (
    AAAA,
    MX,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    OPT,
    A,
    decode,
    encode_name,
    make_query,
)

HEADER = struct.Struct("!HHHHHH")


def raw(flags: int = 0x0100, counts: tuple[int, int, int, int] = (1, 0, 0, 0)) -> bytes:
    return HEADER.pack(0xBEEF, flags, *counts)


def test_parse_a_plain_query() -> None:
    query = parse_query(make_query("Tasks.WEB", A, qid=7))
    assert query.header.id == 7
    assert query.header.rd and not query.header.qr
    assert query.question is not None
    assert query.question.labels == (b"Tasks", b"WEB")  # as asked, for the echo
    assert query.question.name == "tasks.web"
    assert (query.question.qtype, query.question.qclass) == (A, 1)
    assert query.udp_size is None and query.udp_limit == 512


def test_a_trailing_dot_and_none_are_the_same_name() -> None:
    with_dot = parse_query(make_query("web.")).question
    without = parse_query(make_query("web")).question
    assert with_dot is not None and without is not None
    assert with_dot.name == without.name == "web"


def test_a_dot_inside_a_label_does_not_make_two_labels() -> None:
    data = raw() + b"\x09tasks.web\x00" + struct.pack("!HH", A, 1)
    question = parse_query(data).question
    assert question is not None
    assert question.name == "tasks\\.web"


@pytest.mark.parametrize(("size", "limit"), [(4096, 4096), (100, 512), (0, 512), (65535, 65535)])
def test_edns0_sets_how_large_a_udp_answer_may_be(size: int, limit: int) -> None:
    query = parse_query(make_query("web", edns=size))
    assert query.udp_size == size
    assert query.udp_limit == limit


def test_records_in_every_section_are_skipped_and_pointers_followed() -> None:
    question = encode_name("web") + struct.pack("!HH", A, 1)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", A, 1, 60, 4) + bytes(4)  # -> the question
    authority = b"\x03ns1\xc0\x0c" + struct.pack("!HHIH", 2, 1, 60, 2) + b"\xc0\x0c"
    opt = b"\x00" + struct.pack("!HHIH", OPT, 1400, 0, 0)
    query = parse_query(raw(counts=(1, 1, 1, 1)) + question + answer + authority + opt)
    assert query.question is not None and query.question.name == "web"
    assert query.udp_size == 1400


def test_a_non_query_opcode_and_a_question_count_other_than_one_skip_the_question() -> None:
    status = parse_query(make_query("web", opcode=2))
    assert status.header.opcode == 2 and status.question is None
    assert parse_query(raw(counts=(0, 0, 0, 0))).question is None
    assert parse_query(raw(counts=(2, 0, 0, 0)) + b"junk").question is None


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("empty", b""),
        ("short header", b"\x12\x34\x01"),
        ("a response", raw(flags=0x8100) + encode_name("web") + struct.pack("!HH", A, 1)),
        ("no question", raw()),
        ("name runs off", raw() + b"\x05we"),
        ("no terminator", raw() + b"\x03web"),
        ("no qtype", raw() + encode_name("web") + b"\x00"),
        ("pointer to itself", raw() + b"\xc0\x0c" + struct.pack("!HH", A, 1)),
        ("pointer forwards", raw() + b"\xc0\x20" + bytes(40)),
        ("pointer cut", raw() + b"\xc0"),
        ("label type 01", raw() + b"\x41web\x00" + struct.pack("!HH", A, 1)),
        ("label type 10", raw() + b"\x81web\x00" + struct.pack("!HH", A, 1)),
        ("name over 255", raw() + (b"\x3f" + b"a" * 63) * 4 + b"\x00" + bytes(4)),
        (
            "rdata runs off",
            raw(counts=(1, 0, 0, 1))
            + encode_name("web")
            + struct.pack("!HH", A, 1)
            + b"\x00"
            + struct.pack("!HHIH", OPT, 512, 0, 40),
        ),
        (
            "record cut",
            raw(counts=(1, 1, 0, 0)) + encode_name("web") + struct.pack("!HH", A, 1) + b"\x00\x00",
        ),
    ],
)
def test_malformed_messages_are_refused(why: str, data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_query(data)


def test_a_pointer_back_to_the_start_of_its_own_name_is_refused() -> None:
    # the OPT record's name (at 21) is "b" then a pointer to 21: backwards from where the
    # pointer is, yet a cycle
    question = encode_name("web") + struct.pack("!HH", A, 1)
    assert 12 + len(question) == 0x15
    opt = b"\x01b\xc0\x15" + struct.pack("!HHIH", OPT, 512, 0, 0)
    with pytest.raises(MalformedMessage):
        parse_query(raw(counts=(1, 0, 0, 1)) + question + opt)


@given(st.binary(max_size=600))
def test_garbage_raises_only_malformed_message(data: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        parse_query(data)


@given(st.data())
def test_a_damaged_query_raises_only_malformed_message(data: st.DataObject) -> None:
    good = bytearray(make_query("tasks.web.example", AAAA, edns=1232))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(good) - 1))
        good[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    with contextlib.suppress(MalformedMessage):
        parse_query(bytes(good[:cut]))


def test_a_reply_carries_a_records_for_the_question_as_asked() -> None:
    query = parse_query(make_query("WeB", A, qid=99))
    addresses = [ip_address("10.0.1.2"), ip_address("10.0.1.3")]
    reply = decode(build_reply(query, addresses=addresses, ttl=600))
    assert reply.id == 99 and reply.qr and reply.rcode == NOERROR and not reply.tc
    assert reply.flags & 0x0100 and reply.flags & 0x0080  # RD copied, RA set
    assert reply.questions == [("WeB", A, 1)]
    assert [(r.name, r.rtype, r.rclass, r.ttl) for r in reply.answers] == [("WeB", A, 1, 600)] * 2
    assert reply.addresses() == ["10.0.1.2", "10.0.1.3"]
    assert reply.additional == []


def test_a_reply_carries_aaaa_records_for_ipv6_addresses() -> None:
    query = parse_query(make_query("web", AAAA))
    reply = decode(build_reply(query, addresses=[ip_address("fd00::5")]))
    assert [(r.rtype, str(r.address)) for r in reply.answers] == [(AAAA, "fd00::5")]


@pytest.mark.parametrize("rcode", [Rcode.NXDOMAIN, Rcode.SERVFAIL, Rcode.REFUSED])
def test_an_error_reply_echoes_the_question_and_has_no_answers(rcode: Rcode) -> None:
    reply = decode(build_reply(parse_query(make_query("nope", MX)), rcode=rcode))
    assert reply.rcode == rcode
    assert reply.questions == [("nope", MX, 1)] and reply.answers == []


def test_a_reply_to_a_non_query_opcode_is_just_the_header() -> None:
    query = parse_query(make_query("web", opcode=2, rd=False))
    reply = decode(build_reply(query, rcode=Rcode.NOTIMP))
    assert reply.rcode == NOTIMP and reply.opcode == 2 and reply.questions == []
    assert not reply.flags & 0x0100


def test_answers_over_the_limit_are_cut_and_marked_truncated() -> None:
    query = parse_query(make_query("tasks.web", A))
    addresses = [ip_address(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(100)]
    data = build_reply(query, addresses=addresses, limit=512)
    reply = decode(data)
    assert len(data) <= 512 and reply.tc
    question = len(encode_name("tasks.web")) + 4
    assert len(reply.answers) == (512 - 12 - question) // 16  # 16 bytes an A record
    assert reply.addresses() == [str(a) for a in addresses[: len(reply.answers)]]
    whole = decode(build_reply(query, addresses=addresses, limit=65535))
    assert not whole.tc and len(whole.answers) == 100


def test_an_edns0_query_gets_an_opt_record_back_and_it_counts_toward_the_limit() -> None:
    query = parse_query(make_query("tasks.web", A, edns=512))
    addresses = [ip_address(f"10.0.0.{i}") for i in range(1, 101)]
    data = build_reply(query, addresses=addresses, limit=query.udp_limit)
    reply = decode(data)
    assert len(data) <= 512 and reply.tc
    assert [(r.rtype, r.ttl) for r in reply.additional] == [(OPT, 0)]
    assert reply.additional[0].rclass >= 512  # our own UDP payload size


def test_nxdomain_to_an_edns_query_still_parses() -> None:
    reply = decode(build_reply(parse_query(make_query("x", edns=1232)), rcode=Rcode.NXDOMAIN))
    assert reply.rcode == NXDOMAIN and len(reply.additional) == 1


def test_tcp_frames_carry_the_length_first() -> None:
    message = make_query("web")
    framed = frame(message)
    assert frame_length(framed[:2]) == len(message) and framed[2:] == message
    with pytest.raises(ValueError):
        frame(bytes(70000))


def test_query_limits_default_to_512() -> None:
    assert Query(parse_query(make_query("web")).header).udp_limit == 512
