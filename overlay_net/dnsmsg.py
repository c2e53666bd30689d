"""The DNS wire format (RFC 1035), as much of it as the embedded DNS server needs.

    bytes ─▶ parse_query ─▶ Query(header, question, udp_size)   (MalformedMessage: drop it)
    Query + rcode + addresses ─▶ build_reply ─▶ bytes            (trimmed to fit, TC set)
    bytes ─▶ frame ─▶ 2-byte length + bytes                      (DNS over TCP)

Reading accepts what a resolver may send: compression pointers anywhere a name is (they must
point strictly backwards, so a crafted loop cannot spin), records in every section (skipped),
an EDNS0 OPT record (its UDP payload size is how large a UDP answer may be). Anything that
does not parse raises MalformedMessage and the server drops the packet. Replies echo the
question's name as asked (case kept); answer names are a pointer to it.

Own code rather than a DNS library: the server answers A/AAAA for a handful of names and
forwards everything else as raw bytes, so a few hundred lines cover it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_QUESTION_FIXED = struct.Struct("!HH")  # qtype, qclass
_FRAME = struct.Struct("!H")

UDP_LIMIT = 512  # an answer over UDP without EDNS0 (RFC 1035 4.2.1)
MAX_MESSAGE = 65535  # TCP framing and EDNS0 sizes cannot say more
EDNS_PAYLOAD = 1232  # the UDP size we advertise back (DNS flag day 2020)
QCLASS_IN = 1
OPCODE_QUERY = 0
_MAX_NAME = 255  # RFC 1035 2.3.4, counting length bytes and the root

_QR = 0x8000
_AA = 0x0400
_TC = 0x0200
_RD = 0x0100
_RA = 0x0080
_CD = 0x0010


class Rcode(enum.IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


class RRType(enum.IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    ANY = 255


class MalformedMessage(ValueError):
    """The bytes are not a DNS message we can answer; the server drops them."""


@dataclass(frozen=True, slots=True)
class Header:
    id: int
    flags: int
    qdcount: int = 0
    ancount: int = 0
    nscount: int = 0
    arcount: int = 0

    @property
    def qr(self) -> bool:
        return bool(self.flags & _QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def aa(self) -> bool:
        return bool(self.flags & _AA)

    @property
    def tc(self) -> bool:
        return bool(self.flags & _TC)

    @property
    def rd(self) -> bool:
        return bool(self.flags & _RD)

    @property
    def ra(self) -> bool:
        return bool(self.flags & _RA)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


@dataclass(frozen=True, slots=True)
class Question:
    labels: tuple[bytes, ...]  # as received, case kept; () is the root
    qtype: int
    qclass: int = QCLASS_IN

    @property
    def name(self) -> str:
        """Lower-case dotted name without the trailing dot ("" for the root).

        DNS compares names ASCII-case-insensitively, hence bytes.lower(); a dot or a
        backslash inside a label is escaped (RFC 4343 presentation) so "a.b" as one label
        never equals the two labels "a" and "b".
        """
        return ".".join(
            label.lower().replace(b"\\", b"\\\\").replace(b".", b"\\.").decode("latin-1")
            for label in self.labels
        )

    def wire(self) -> bytes:
        name = b"".join(bytes((len(label),)) + label for label in self.labels) + b"\0"
        return name + _QUESTION_FIXED.pack(self.qtype, self.qclass)


@dataclass(frozen=True, slots=True)
class Query:
    header: Header
    question: Question | None = None  # None unless opcode QUERY with exactly one question
    udp_size: int | None = None  # EDNS0 requestor's payload size; None without an OPT record

    @property
    def udp_limit(self) -> int:
        """How large a UDP answer to this query may be."""
        return min(max(self.udp_size or UDP_LIMIT, UDP_LIMIT), MAX_MESSAGE)


def parse_header(data: bytes) -> Header:
    if len(data) < HEADER.size:
        raise MalformedMessage(f"{len(data)} bytes is shorter than a DNS header")
    return Header(*HEADER.unpack_from(data))


def parse_query(data: bytes) -> Query:
    """The header, the question and the EDNS0 payload size of a query."""
    header = parse_header(data)
    if header.qr:
        raise MalformedMessage("a response, not a query")
    if header.opcode != OPCODE_QUERY or header.qdcount != 1:
        return Query(header)  # answered NOTIMP / FORMERR from the header alone
    labels, offset = _read_name(data, HEADER.size)
    if offset + _QUESTION_FIXED.size > len(data):
        raise MalformedMessage("question cut short")
    qtype, qclass = _QUESTION_FIXED.unpack_from(data, offset)
    offset += _QUESTION_FIXED.size
    for _ in range(header.ancount + header.nscount):
        _, offset, _ = _read_rr(data, offset)
    udp_size: int | None = None
    for _ in range(header.arcount):
        rr_type, offset, rr_class = _read_rr(data, offset)
        if rr_type == RRType.OPT and udp_size is None:
            udp_size = rr_class  # an OPT record's class is the requestor's UDP payload size
    return Query(header, Question(labels, qtype, qclass), udp_size)


def build_reply(
    query: Query,
    *,
    rcode: Rcode = Rcode.NOERROR,
    addresses: Sequence[IPv4Address | IPv6Address] = (),
    ttl: int = 600,
    limit: int = MAX_MESSAGE,
) -> bytes:
    """A reply to `query`: A/AAAA records for `addresses`, in the given order.

    Answers that would take the message over `limit` bytes are left out and TC is set (over
    UDP the resolver then asks again over TCP; 64 KiB of TCP holds ~4000 records, more than
    any network has tasks). An OPT record is added when the query had one (RFC 6891 7).
    """
    header = query.header
    flags = _QR | _RA | (header.opcode << 11) | (header.flags & (_RD | _CD)) | int(rcode)
    question = query.question.wire() if query.question is not None else b""
    opt = _opt_record() if query.udp_size is not None else b""
    answers = [_address_record(address, ttl) for address in addresses] if question else []
    room = limit - HEADER.size - len(question) - len(opt)
    kept: list[bytes] = []
    for record in answers:
        if len(record) > room:
            flags |= _TC
            break
        kept.append(record)
        room -= len(record)
    head = HEADER.pack(header.id, flags, 1 if question else 0, len(kept), 0, 1 if opt else 0)
    return head + question + b"".join(kept) + opt


def frame(message: bytes) -> bytes:
    """A message as sent over TCP: two bytes of length first (RFC 1035 4.2.2)."""
    if len(message) > MAX_MESSAGE:
        raise ValueError(f"a DNS message of {len(message)} bytes does not fit a TCP frame")
    return _FRAME.pack(len(message)) + message


def frame_length(prefix: bytes) -> int:
    return int(_FRAME.unpack(prefix)[0])


def _address_record(address: IPv4Address | IPv6Address, ttl: int) -> bytes:
    rr_type = RRType.A if address.version == 4 else RRType.AAAA
    rdata = address.packed
    # 0xC00C: a pointer to the question's name, right after the 12-byte header.
    return b"\xc0\x0c" + _RR_FIXED.pack(rr_type, QCLASS_IN, ttl, len(rdata)) + rdata


def _opt_record() -> bytes:
    return b"\0" + _RR_FIXED.pack(RRType.OPT, EDNS_PAYLOAD, 0, 0)


def _read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the name at `offset` and the offset just past it (not past a jump)."""
    labels: list[bytes] = []
    end: int | None = None
    floor = offset  # every pointer must go below where the current run of labels started
    length = 1
    pos = offset
    while True:
        if pos >= len(data):
            raise MalformedMessage("name runs past the end of the message")
        size = data[pos]
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise MalformedMessage("compression pointer cut short")
            target = ((size & 0x3F) << 8) | data[pos + 1]
            if target >= floor:
                raise MalformedMessage("compression pointer does not point backwards")
            if end is None:
                end = pos + 2
            floor = pos = target
            continue
        if size & 0xC0:
            raise MalformedMessage(f"unknown label type {size >> 6:#x}")
        if size == 0:
            return tuple(labels), end if end is not None else pos + 1
        label = data[pos + 1 : pos + 1 + size]
        if len(label) < size:
            raise MalformedMessage("label runs past the end of the message")
        length += size + 1
        if length > _MAX_NAME:
            raise MalformedMessage("name longer than 255 bytes")
        labels.append(label)
        pos += size + 1


def _read_rr(data: bytes, offset: int) -> tuple[int, int, int]:
    """Skip the resource record at `offset`: its type, the offset after it, its class."""
    _, offset = _read_name(data, offset)
    if offset + _RR_FIXED.size > len(data):
        raise MalformedMessage("resource record cut short")
    rr_type, rr_class, _, rdlength = _RR_FIXED.unpack_from(data, offset)
    offset += _RR_FIXED.size + rdlength
    if offset > len(data):
        raise MalformedMessage("record data runs past the end of the message")
    return int(rr_type), offset, int(rr_class)
