"""Reading the files an instance is made of, safely: bounded, inside its folder, YAML 1.2 numbers.

Every file capalloc reads for an instance goes through here. A file must be a regular file
(a FIFO is never opened: it would block), no larger than a bound, and a file an instance names
(a CSV series) must resolve, symbolic links followed, inside the instance file's folder. YAML is
read by a safe loader with YAML 1.2 number rules and JSON by the standard parser; both refuse
nesting deeper than ``MAX_DEPTH`` before Python's recursion limit is near, and both report
duplicate keys (which the parsers would otherwise silently resolve to the last one).
"""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

MAX_INSTANCE_BYTES = 2**20
"""Largest instance (or sweep spec) file read; real ones are a few kB (cleanspark: 15 kB). PyYAML
parses about 0.1 MiB a second, so the bound is on time as much as memory: long series belong
in CSV files."""
MAX_CSV_BYTES = 16 * 2**20
"""Largest CSV series file read; 600 months of a series take about 20 kB."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted; instances nest about 6 levels."""

Loc = tuple[str | int, ...]


class ReadError(Exception):
    """A file that cannot be read as asked; ``message`` never quotes the file's content."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


# ----------------------------------------------------------------------------- display


def printable(text: object) -> str:
    """``text`` safe to echo on a terminal: control and format characters (escape sequences,
    bidi overrides, undecodable file-name bytes) written as visible ``\\x1b``-style escapes."""

    def visible(char: str) -> str:
        if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return char
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a file-name byte that is not UTF-8 (surrogateescape)
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    return "".join(visible(char) for char in str(text))


def printable_cut(text: str, limit: int = 60) -> str:
    """A name from a file (e.g. a CSV path) for a ``name:line`` message: cut to ``limit``."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = 40) -> str:
    """A value read from a file, quoted and cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- files


def _describe(mode: int) -> str:
    return "is a directory" if stat.S_ISDIR(mode) else "is not a regular file"


def check_regular_file(path: Path, limit: int, follow_symlinks: bool = True) -> None:
    """ReadError unless ``path`` is a regular file of at most ``limit`` bytes (nothing is opened)."""
    try:
        found = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        raise ReadError("file not found", "check the path") from None
    except OSError as error:
        raise ReadError(f"cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(found.st_mode):
        raise ReadError(_describe(found.st_mode), "give the path of the file itself")
    _check_size(found.st_size, limit)


def read_regular_file(path: Path, limit: int, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ReadError otherwise.

    The file is opened non-blocking and checked again once open, so that a FIFO swapped in
    after the first check still cannot block the read."""
    check_regular_file(path, limit, follow_symlinks)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise ReadError(f"cannot be read: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise ReadError(_describe(opened.st_mode))
        data = handle.read(limit + 1)
    _check_size(len(data), limit)
    return data


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise ReadError(f"is {size:,} bytes, more than the limit of {limit:,} bytes ({limit // 2**20} MiB)",
                        "split the data or keep only the months the plan needs")


def resolve_inside(folder: Path, name: str) -> Path:
    """``folder / name`` with symbolic links resolved; ReadError unless it lies inside the
    (resolved) ``folder``. Nothing is read; the message never names where a link points."""
    root = folder.resolve()
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symbolic link loop (Python 3.11-3.12)
        raise ReadError(f"cannot be resolved: {getattr(error, 'strerror', None) or error}") from None
    if not target.is_relative_to(root):
        raise ReadError("lies outside the instance file's folder (through a symbolic link)",
                        "copy the file into the instance file's folder")
    return target


def decode_text(data: bytes) -> str:
    """UTF-8 text; a leading byte-order mark (Excel's 'CSV UTF-8' export) is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReadError(f"is not UTF-8 text (byte {error.start} is 0x{data[error.start]:02x})",
                        "save the file as UTF-8") from None


# ----------------------------------------------------------------------------- YAML and JSON


@dataclass
class Parsed:
    """A parsed data file and the keys that appear twice in one mapping (location, key)."""

    data: Any
    duplicate_keys: list[tuple[Loc, str]] = field(default_factory=list)


def read_data_file(path: Path, limit: int = MAX_INSTANCE_BYTES) -> Parsed:
    """Read and parse a YAML or JSON file (JSON by its suffix); ReadError if it cannot be."""
    text = decode_text(read_regular_file(path, limit))
    return parse_json(text) if path.suffix.lower() == ".json" else parse_yaml(text)


def _depth_error(where: str = "") -> ReadError:
    return ReadError(f"nests mappings and lists more than {MAX_DEPTH} levels deep{where}",
                     "an instance needs about 6 levels; check for runaway brackets or indentation")


_TAG = "tag:yaml.org,2002:"
_MAX_DIGITS = 4300  # Python's int() refuses longer decimal strings (sys.get_int_max_str_digits)
# YAML 1.2 core schema numbers. Underscores between digit groups (1_000_000) stay numbers as
# PyYAML's YAML 1.1 read them; they cannot be mistaken for anything else.
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_INT = re.compile(rf"^(?:[-+]?{_DIGITS}|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    rf"^(?:[-+]?(?:\.[0-9]+|{_DIGITS}(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def _yaml_int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(f"{shown(text)} is not a YAML 1.2 integer")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    digits = text.replace("_", "")
    if len(digits) > _MAX_DIGITS:
        raise ValueError(f"an integer with {len(digits):,} digits is too long")
    return int(digits)  # leading zeros are decimal in YAML 1.2: 014 is 14


def _yaml_float(text: str) -> float:
    if not _FLOAT.match(text):
        raise ValueError(f"{shown(text)} is not a YAML 1.2 number")
    lowered = text.lower()
    if lowered.endswith((".inf", ".nan")):
        return float(lowered.replace(".", ""))
    return float(text.replace("_", ""))


def _construct_number(parse):
    def construct(loader: yaml.SafeLoader, node: ScalarNode):
        try:
            return parse(loader.construct_scalar(node))
        except ValueError as error:  # also Python's 4,300-digit limit on int()
            raise yaml.constructor.ConstructorError(None, None, str(error), node.start_mark) from None

    return construct


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (no code-execution tags) with YAML 1.2 numbers: no sexagesimal
    ``2:00``, no leading-zero octal ``014``, and ``1e7`` is a float; nesting bounded and
    duplicate keys recorded while composing, before anything recursive can overflow."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_TAG + "int", _TAG + "float")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, text: str):
        super().__init__(text)
        self._loc: list[str | int] = []
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._height: dict[int, int] = {}
        self.duplicate_keys: list[tuple[Loc, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor} refers to a "
                                                  "mapping or list that contains it", event.start_mark)
            return super().compose_node(parent, index)
        collection = isinstance(event, yaml.CollectionStartEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _depth_error(f" (line {event.start_mark.line + 1})")
            if event.anchor:
                self._open_anchors.add(event.anchor)
        is_value = parent is not None and not (isinstance(parent, MappingNode) and index is None)
        if is_value:
            self._loc.append(index.value if isinstance(index, ScalarNode) else
                             index if isinstance(index, int) else "?")
        try:
            node = super().compose_node(parent, index)
            if isinstance(node, MappingNode | SequenceNode):
                self._measure(node, event.start_mark)
            if isinstance(node, MappingNode):
                self._record_duplicates(node)
        finally:
            if is_value:
                self._loc.pop()
            if collection:
                self._depth -= 1
                self._open_anchors.discard(event.anchor)
        return node

    def _measure(self, node: MappingNode | SequenceNode, mark: Any) -> None:
        # Aliases repeat a node elsewhere, so the data may nest deeper than the text: measure
        # each node's height once (aliased children were measured when first composed).
        children = [part for pair in node.value for part in pair] if isinstance(node, MappingNode) \
            else node.value
        height = 1 + max((self._height.get(id(child), 0) for child in children), default=0)
        if height > MAX_DEPTH:
            raise _depth_error(f" (line {mark.line + 1}, through aliases)")
        self._height[id(node)] = height

    def _record_duplicates(self, node: MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _TAG + "merge":
                continue
            key = _key_identity(key_node)
            if key in seen:
                self.duplicate_keys.append((tuple(self._loc), key_node.value))
            seen.add(key)


def _key_identity(node: ScalarNode) -> Any:
    """The key a scalar becomes in the constructed mapping (1, 0x1 and 1.0 are one key)."""
    try:
        if node.tag == _TAG + "int":
            return _yaml_int(node.value)
        if node.tag == _TAG + "float":
            return _yaml_float(node.value)
    except ValueError:
        return node.value
    if node.tag == _TAG + "bool":
        return node.value.lower() in ("yes", "true", "on")
    if node.tag == _TAG + "null":
        return None
    return (node.tag, node.value)


_Loader.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+.0123456789"))
_Loader.add_constructor(_TAG + "int", _construct_number(_yaml_int))
_Loader.add_constructor(_TAG + "float", _construct_number(_yaml_float))


def _mark(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def parse_yaml(text: str) -> Parsed:
    """Parse one YAML document (safe loader, YAML 1.2 numbers); ReadError if it cannot be."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        problem = " ".join(x for x in (error.context, error.problem) if x) or "invalid YAML"
        raise ReadError(f"cannot be parsed: {_mark(error)}{problem}") from None
    except yaml.YAMLError as error:
        raise ReadError(f"cannot be parsed: {error}") from None
    finally:
        loader.dispose()
    return Parsed(data, loader.duplicate_keys)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _json_depth_ok(text: str) -> None:
    # The json module recurses once per level; count brackets outside strings first.
    depth = 0
    for char in re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            raise _depth_error()


def parse_json(text: str) -> Parsed:
    """Parse JSON, recording keys that appear twice in one object; ReadError if it cannot be."""
    _json_depth_ok(text)
    repeated: dict[int, list[str]] = {}

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                repeated.setdefault(id(result), []).append(key)
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs_to_dict)
    except json.JSONDecodeError as error:
        raise ReadError(f"cannot be parsed: line {error.lineno}, column {error.colno}: {error.msg}") from None
    except ValueError:  # the only other failure: an integer over Python's 4,300-digit limit
        raise ReadError(f"cannot be parsed: an integer has more than {_MAX_DIGITS:,} digits") from None
    duplicates: list[tuple[Loc, str]] = []

    def walk(node: Any, loc: Loc) -> None:
        if isinstance(node, dict):
            duplicates.extend((loc, key) for key in repeated.get(id(node), []))
            for key, value in node.items():
                walk(value, (*loc, key))
        elif isinstance(node, list):
            for position, value in enumerate(node):
                walk(value, (*loc, position))

    if repeated:
        walk(data, ())
    return Parsed(data, duplicates)
