"""RFC 8941 structured field values: the Dictionary parser and the serializers signing needs.

Only the subset RFC 9421 uses is here: Dictionaries of Items and Inner Lists with
parameters, and the bare item types. Parsing raises ValueError on anything malformed, and
never guesses: a verifier must refuse what it cannot read exactly. No I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "BareItem",
    "Params",
    "SFInnerList",
    "SFItem",
    "Token",
    "is_key",
    "parse_dictionary",
    "serialize_item",
    "serialize_params",
    "serialize_string",
]


class Token(str):
    """An RFC 8941 Token (serialized bare, unlike a String)."""

    __slots__ = ()


BareItem: TypeAlias = int | float | str | bytes | bool
Params: TypeAlias = dict[str, BareItem]


@dataclass
class SFItem:
    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass
class SFInnerList:
    items: list[SFItem]
    params: Params = field(default_factory=dict)


_LCALPHA = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_KEY_CHARS = frozenset(_LCALPHA + _DIGITS + "_-.*")
_TCHARS = frozenset("!#$%&'*+-.^_`|~" + _DIGITS + _LCALPHA + _LCALPHA.upper() + ":/")
_B64_CHARS = frozenset(_LCALPHA + _LCALPHA.upper() + _DIGITS + "+/=")


class _SFParser:
    """A small RFC 8941 parser for the Dictionary shapes RFC 9421 and RFC 9530 use."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ValueError("non-ASCII structured field")
        self.s = text
        self.i = 0

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _skip(self, chars: str) -> None:
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1

    def dictionary(self) -> dict[str, SFItem | SFInnerList]:
        result: dict[str, SFItem | SFInnerList] = {}
        self._skip(" ")
        while self.i < len(self.s):
            key = self._key()
            if key in result:
                raise ValueError(f"duplicate dictionary key {key!r}")
            member: SFItem | SFInnerList
            if self._peek() == "=":
                self.i += 1
                member = self._item_or_inner_list()
            else:
                member = SFItem(True, self._params())
            result[key] = member
            self._skip(" \t")
            if self.i >= len(self.s):
                return result
            if self._peek() != ",":
                raise ValueError("expected ',' between dictionary members")
            self.i += 1
            self._skip(" \t")
            if self.i >= len(self.s):
                raise ValueError("trailing comma")
        return result

    def _item_or_inner_list(self) -> SFItem | SFInnerList:
        if self._peek() == "(":
            return self._inner_list()
        return self._item()

    def _inner_list(self) -> SFInnerList:
        self.i += 1  # "("
        items: list[SFItem] = []
        while self.i < len(self.s):
            self._skip(" ")
            if self._peek() == ")":
                self.i += 1
                return SFInnerList(items, self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise ValueError("expected ' ' or ')' in inner list")
        raise ValueError("unterminated inner list")

    def _item(self) -> SFItem:
        value = self._bare_item()
        return SFItem(value, self._params())

    def _params(self) -> Params:
        params: Params = {}
        while self._peek() == ";":
            self.i += 1
            self._skip(" ")
            key = self._key()
            value: BareItem = True
            if self._peek() == "=":
                self.i += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _key(self) -> str:
        start = self.i
        first = self._peek()
        if not first or (first not in _LCALPHA and first != "*"):
            raise ValueError("invalid key")
        self.i += 1
        while self.i < len(self.s) and self.s[self.i] in _KEY_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def _bare_item(self) -> BareItem:
        c = self._peek()
        if c == "-" or (c and c in _DIGITS):
            return self._number()
        if c == '"':
            return self._string()
        if c == ":":
            return self._bytes()
        if c == "?":
            return self._boolean()
        if c and (c.isalpha() or c == "*"):
            return self._token()
        raise ValueError("invalid bare item")

    def _number(self) -> int | float:
        start = self.i
        if self._peek() == "-":
            self.i += 1
        self._skip(_DIGITS + ".")
        text = self.s[start : self.i]
        digits = text.lstrip("-")
        if not digits or not digits[0].isdigit():
            raise ValueError("invalid number")
        if "." not in digits:
            if len(digits) > 15:
                raise ValueError("integer too long")
            return int(text)
        whole, _, frac = digits.partition(".")
        if "." in frac or len(whole) > 12 or not 1 <= len(frac) <= 3:
            raise ValueError("invalid decimal")
        return float(text)

    def _string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                nxt = self._peek()
                if nxt not in ('"', "\\") or not nxt:
                    raise ValueError("invalid escape in string")
                out.append(nxt)
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise ValueError("invalid character in string")
            else:
                out.append(c)
        raise ValueError("unterminated string")

    def _token(self) -> Token:
        start = self.i
        self.i += 1
        while self.i < len(self.s) and self.s[self.i] in _TCHARS:
            self.i += 1
        return Token(self.s[start : self.i])

    def _bytes(self) -> bytes:
        end = self.s.find(":", self.i + 1)
        if end < 0:
            raise ValueError("unterminated byte sequence")
        text = self.s[self.i + 1 : end]
        if not set(text) <= _B64_CHARS:
            raise ValueError("invalid byte sequence")
        self.i = end + 1
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)

    def _boolean(self) -> bool:
        value = self.s[self.i + 1 : self.i + 2]
        if value not in ("0", "1"):
            raise ValueError("invalid boolean")
        self.i += 2
        return value == "1"


def parse_dictionary(text: str) -> dict[str, SFItem | SFInnerList]:
    """Parse an RFC 8941 Dictionary field value; ValueError when malformed."""
    return _SFParser(text.strip(" \t")).dictionary()


def serialize_string(value: str) -> str:
    if not all(" " <= c <= "~" for c in value):
        raise ValueError("string holds characters a structured field string cannot carry")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ser_bare(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{round(value, 3):.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return serialize_string(value)


def serialize_params(params: Mapping[str, BareItem]) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_ser_bare(value)}"
        for key, value in params.items()
    )


def serialize_item(item: SFItem) -> str:
    return _ser_bare(item.value) + serialize_params(item.params)


def is_key(text: str) -> bool:
    """True when `text` is a valid RFC 8941 key (a Dictionary member or parameter name)."""
    return bool(text) and text[0] in _LCALPHA + "*" and set(text) <= _KEY_CHARS
