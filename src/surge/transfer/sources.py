"""Reading an export file into records: CSV (any peer's) and SQL dumps (YOURLS), each record
with the line it starts on, so that a bad one can be reported where it is."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# The columns of YOURLS' `yourls_url` table in their declared order (includes/functions-
# install.php): what an INSERT without a column list, or a CSV without a header, holds.
YOURLS_COLUMNS = ("keyword", "url", "title", "timestamp", "ip", "clicks")
# What a byte that is not UTF-8 becomes with errors="surrogateescape": U+DC80..U+DCFF.
_UNDECODED = re.compile("[\udc80-\udcff]")


@dataclass(slots=True, frozen=True)
class Record:
    where: str  # "line 7", or "line 30, row 2" for the second VALUES tuple of an INSERT
    fields: dict[str, str | None]  # keys as `column_key` makes them; None is SQL NULL


@dataclass(slots=True, frozen=True)
class BadRecord:
    where: str
    why: str


def column_key(name: str) -> str:
    """A column name as the formats look it up: "Long URL", "long_url" and "longUrl" are all
    "longurl" (peers and spreadsheets spell headers each their own way)."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def decode(data: bytes, encoding: str) -> str:
    """The file as text. Bytes that are not `encoding` are kept as lone surrogates, so the rows
    holding them are rejected (with the byte) rather than the whole file, or silently altered."""
    if data.startswith(codecs.BOM_UTF8) and encoding.replace("-", "").lower() == "utf8":
        data = data[len(codecs.BOM_UTF8) :]
    return data.decode(encoding, errors="surrogateescape")


def undecodable(fields: dict[str, str | None]) -> str | None:
    """Why a record cannot be read as text, or None when it can."""
    for value in fields.values():
        found = _UNDECODED.search(value or "")
        if found:
            byte = ord(found.group()) - 0xDC00
            return (
                f"byte 0x{byte:02X} is not valid in the file's encoding (re-save the file as "
                "UTF-8, or pass --encoding, e.g. --encoding latin-1)"
            )
    return None


def csv_records(
    text: str, *, positional: Sequence[str] | None = None
) -> Iterator[Record | BadRecord]:
    """The rows of a CSV file keyed by its header (normalized by `column_key`). With
    `positional`, a first row that does not name the first of those columns is data, and rows
    are read in that column order (phpMyAdmin's CSV export has a header only when asked)."""
    # The delimiter is the one the first line has most of: spreadsheets in many locales, and
    # phpMyAdmin's "CSV for MS Excel", write ";" (csv.Sniffer guesses wrong on URL-heavy rows).
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    start = 1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRecord(f"line {start}", f"not readable as CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue  # blank lines, e.g. at the end of the file
        if header is None:
            keys = [column_key(cell) for cell in row]
            if positional is None or keys[:1] == [column_key(positional[0])]:
                header = keys
                continue
            header = [column_key(name) for name in positional]
        if len(row) != len(header):
            yield BadRecord(
                f"line {start}", f"{len(row)} fields where the header names {len(header)}"
            )
            continue
        yield Record(f"line {start}", dict(zip(header, row, strict=True)))


# --- SQL dumps ---------------------------------------------------------------------------------
# Only the INSERT statements of the `<prefix>url` table are read (mysqldump and phpMyAdmin write
# `INSERT INTO `yourls_url` [(columns)] VALUES (...),(...);`); everything else in a dump (DDL,
# the log and options tables, SET and LOCK statements) is skipped. The values are read by a
# tokenizer of MySQL literals (quoted strings with MySQL's backslash escapes, numbers, NULL),
# not by evaluating any SQL.
_INSERT = re.compile(
    r"INSERT\s+(?:IGNORE\s+)?INTO\s+[`\"]?(?P<table>\w*url)[`\"]?\s*"
    r"(?:\((?P<columns>[^)]*)\)\s*)?VALUES\s*",
    re.IGNORECASE,
)
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.|'')*')|(?P<null>NULL\b)"
    r"|(?P<number>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<punct>[(),;]))",
    re.IGNORECASE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _unquote(literal: str) -> str:
    body = literal[1:-1].replace("''", "'")
    # \% and \_ keep their backslash in MySQL; any other escaped character stands for itself.
    return re.sub(
        r"\\(.)",
        lambda m: _ESCAPES.get(m[1], "\\" + m[1] if m[1] in "%_" else m[1]),
        body,
        flags=re.DOTALL,
    )


def sql_records(text: str) -> Iterator[Record | BadRecord]:
    """The rows the dump's INSERT statements put into the YOURLS url table."""
    for statement in _INSERT.finditer(text):
        names = statement["columns"]
        columns = (
            [column_key(n.strip(' `"')) for n in names.split(",")]
            if names
            else list(YOURLS_COLUMNS)
        )
        yield from _tuples(text, statement.end(), columns)


def _tuples(text: str, pos: int, columns: list[str]) -> Iterator[Record | BadRecord]:
    row_number = 0
    while True:
        row_number += 1
        line = text.count("\n", 0, pos) + 1
        where = f"line {line}, row {row_number}"
        values, pos, problem = _one_tuple(text, pos)
        if problem:
            yield BadRecord(where, f"not a readable VALUES tuple: {problem}")
            return  # the rest of the statement cannot be trusted to line up
        if len(values) != len(columns):
            yield BadRecord(where, f"{len(values)} values for {len(columns)} columns")
        else:
            yield Record(where, dict(zip(columns, values, strict=True)))
        token = _TOKEN.match(text, pos)
        if token is None or token["punct"] != ",":
            return  # ";" or the end: the statement is over
        pos = token.end()


def _one_tuple(text: str, pos: int) -> tuple[list[str | None], int, str | None]:
    token = _TOKEN.match(text, pos)
    if token is None or token["punct"] != "(":
        return [], pos, "expected '('"
    pos = token.end()
    values: list[str | None] = []
    while True:
        token = _TOKEN.match(text, pos)
        if token is None or token["punct"] in ("(", ")", ",", ";"):
            return values, pos, "expected a value"
        if token["string"] is not None:
            values.append(_unquote(token["string"]))
        elif token["null"] is not None:
            values.append(None)
        else:
            values.append(token["number"])
        pos = token.end()
        token = _TOKEN.match(text, pos)
        if token is None or token["punct"] not in (",", ")"):
            return values, pos, "expected ',' or ')'"
        pos = token.end()
        if token["punct"] == ")":
            return values, pos, None


def looks_like_sql(text: str) -> bool:
    return _INSERT.search(text) is not None
