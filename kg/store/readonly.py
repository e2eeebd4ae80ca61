"""Read-only Cypher by construction: a Cypher tokenizer and an allow-list check.

``store.query``, ``store.query_arrow``, ``Engine.query`` and ``hake query`` (without
``--write``) run :func:`check_read_only` before the text reaches a database. It reads the text
the way a Cypher lexer does (:func:`tokenize`) and refuses it with one
:class:`~ontology.errors.ReadOnlyError` line (what was found, at which offset, and how to run
it as a write) unless all of these hold:

1. **One statement.** At most one ``;``, and only at the end.
2. **It starts with a read clause**: ``MATCH``, ``OPTIONAL MATCH``, ``WITH``, ``UNWIND``,
   ``RETURN`` or ``CALL`` (``EXPLAIN`` / ``PROFILE`` may come first); so does every part
   after ``UNION [ALL]`` and the body of every ``CALL { ... }``.
3. **No bare word is a writing or administrative keyword** (:data:`REFUSED_KEYWORDS`:
   ``CREATE``, ``MERGE``, ``SET``, ``DELETE``, ``DETACH``, ``REMOVE``, ``DROP``, ``ALTER``,
   ``COPY``, ``LOAD``, ``INSTALL``, ``IMPORT``, ``EXPORT``, ``ATTACH``, ``USE``,
   ``CHECKPOINT``, ``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``FOREACH``, ...), wherever it
   stands (a bare property name or map key included: write ``n.`set```), in any letter case
   and in Unicode look-alike spellings (``ſET``, fullwidth ``ＳＥＴ``, combining accents).
   Words that only become such a keyword once comments, invisible format characters or
   unusual whitespace between them are dropped (``CRE/**/ATE``) are refused too.
4. **Every CALL is harmless**: a subquery ``CALL { ... }`` / ``CALL (x) { ... }``, or a
   procedure in :data:`ALLOWED_PROCEDURES` followed by ``(``. Never a setting
   (``CALL threads=4``) nor any other procedure or table function (``read_csv``,
   ``apoc.*``, ...).
5. **The text is well formed where it matters**: strings (``'...'``, ``"..."`` with
   backslash escapes), backtick names (a doubled backtick is a backtick) and ``/* */``
   comments are terminated; outside them there are only ASCII characters, Unicode
   whitespace and Unicode letters, digits and marks (no control or other symbol characters).

Inside strings, comments and backticks nothing is a keyword: ``MATCH (v:Verb {name:
'create'}) RETURN v // DROP`` and ``MATCH (n:`CREATE`) RETURN n`` are reads. A backticked
name is never a clause (```MATCH` (n)`` does not start a query) and never a keyword; a CALL
names its procedure by the backticked text (```show_tables`()``).

Comments separate tokens, as they do for LadybugDB and Neo4j (``RE/**/TURN`` is two words
and the database refuses it). A ``//`` comment ends at any line break character, which is
at or before where the databases end it: text is never taken for comment that a database
would run.

Defence in depth: the embedded store runs a read query on a read-write store inside
``BEGIN TRANSACTION READ ONLY`` (LadybugDB then refuses writes itself; it does not refuse
``COPY ... TO``, ``LOAD FROM``, ``EXPORT DATABASE`` or ``CALL`` settings, which only this
check stops), and Neo4j runs it in a READ transaction (a Neo4j server refuses writes there;
ArcadeDB's Bolt plugin does not).

>>> check_read_only("MATCH (v:Verb {name: 'create'}) RETURN v.id AS id // DROP")
>>> is_write_query("MATCH (n) /* x */ DETACH DELETE n")
True
>>> check_read_only("MATCH (n) RETURN n; DROP TABLE Person")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
ontology.errors.ReadOnlyError: refused as a read query: a second statement at offset 20 (DROP); to write, ...
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from ontology.errors import QueryError, ReadOnlyError

__all__ = [
    "ALLOWED_PROCEDURES",
    "READ_CLAUSES",
    "REFUSED_KEYWORDS",
    "Token",
    "TokenKind",
    "check_parameters",
    "check_read_only",
    "is_write_query",
    "parameters",
    "tokenize",
]

#: Bare words refused anywhere in a read query: every clause or statement keyword of
#: LadybugDB 0.22 and Neo4j 5 that writes, reads files, changes settings, schema or
#: transactions, or selects another database.
REFUSED_KEYWORDS = frozenset(
    {
        "ALTER",
        "ANALYZE",
        "ATTACH",
        "BEGIN",
        "CHECKPOINT",
        "COMMENT",
        "COMMIT",
        "COPY",
        "CREATE",
        "DEALLOCATE",
        "DELETE",
        "DENY",
        "DETACH",
        "DROP",
        "EXPORT",
        "FORCE",
        "FOREACH",
        "GRANT",
        "IMPORT",
        "INSERT",
        "INSTALL",
        "LOAD",
        "MERGE",
        "REALLOCATE",
        "REMOVE",
        "RENAME",
        "REVOKE",
        "ROLLBACK",
        "SET",
        "TERMINATE",
        "TRANSACTIONS",
        "TRUNCATE",
        "UNINSTALL",
        "UPDATE",
        "USE",
    }
)

#: Keywords a read query, a part after ``UNION`` and a ``CALL { ... }`` body may start with.
READ_CLAUSES = frozenset({"MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN", "CALL"})

#: Procedures a read query may ``CALL`` (compared case-insensitively): LadybugDB's ``table_info`` and
#: ``show_tables`` (the schema; :mod:`kg.store.embedded` uses ``table_info``) and Neo4j's
#: ``db.labels``, ``db.relationshipTypes``, ``db.propertyKeys``. Add only procedures that
#: neither write nor read anything outside the database.
ALLOWED_PROCEDURES = frozenset(
    {"table_info", "show_tables", "db.labels", "db.relationshipTypes", "db.propertyKeys"}
)
_ALLOWED_LOWER = frozenset(p.lower() for p in ALLOWED_PROCEDURES)

_PREFIXES = frozenset({"EXPLAIN", "PROFILE"})
_QUANTIFIERS = frozenset({"ALL", "DISTINCT"})
#: Keywords a word is compared with after Unicode folding (see :func:`_keyword`).
_KEYWORDS = REFUSED_KEYWORDS | READ_CLAUSES | _PREFIXES | {"UNION", "ALL", "DISTINCT"}
#: The tokens of the common, ASCII case, tried first at each position (the order matters: a
#: comment before ``/``, a parameter before ``$``). Anything else (an unterminated string,
#: name or comment, a non-ASCII character, a control character) goes to the slow path.
_FAST = re.compile(
    r"""
    [ \t\n\r]*+                                    # plain whitespace before the token
    (?:(?P<line>//[^\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*)  # ends at any line break character
  | (?P<block>/\*.*?\*/)                           # not nested, as in LadybugDB and Neo4j
  | (?P<string>'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*")  # \ escapes the next character
  | (?P<name>`[^`]*`(?:`[^`]*`)*)                  # `a``b` is the name a`b
  | (?P<param>\$(?:`[^`]*`(?:`[^`]*`)*|[A-Za-z0-9_]++(?![^\x00-\x7f])))  # $ñ: `$`, then a word
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)  # 0x1F, 1DELETE: the letters are a word
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[!#%&()*+,\-.:;<=>?@\[\]^{|}~]|/(?!\*)|\$))
    """,
    re.VERBOSE | re.DOTALL,
)
_HOW = "to write, run it with store.execute(...) in Python or `hake query --write` on the command line"


class TokenKind(Enum):
    """What a :class:`Token` is."""

    WORD = "word"  # an unquoted identifier or keyword
    NAME = "name"  # a `backticked` identifier
    STRING = "string"
    NUMBER = "number"
    PARAMETER = "parameter"  # $name, $0, $`name`
    PUNCT = "punctuation"  # one ASCII character, ';' included


class Token(NamedTuple):
    """One token of a Cypher text.

    Attributes:
        kind: what it is.
        text: the source text of the token (quotes and backticks included).
        offset: index of its first character in the Cypher text.
        value: the keyword a WORD spells (upper case, after Unicode folding), else its text;
            a NAME's unescaped name; otherwise ``text``.
        soft: a comment, an invisible format character or unusual whitespace (anything but
            ASCII space, tab, \\n and \\r) stands between the previous token and this one;
            words separated this way are also checked joined (``CRE/**/ATE``).
    """

    kind: TokenKind
    text: str
    offset: int
    value: str
    soft: bool = False


_PLAIN_SPACE = frozenset(" \t\n\r")
_KINDS = {
    "string": TokenKind.STRING,
    "name": TokenKind.NAME,
    "param": TokenKind.PARAMETER,
    "number": TokenKind.NUMBER,
    "word": TokenKind.WORD,
    "punct": TokenKind.PUNCT,
}


def _refuse(what: str) -> ReadOnlyError:
    return ReadOnlyError(f"refused as a read query: {what}; {_HOW}")


def _is_word_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch == "_"
    return unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"


def _keyword(word: str) -> str | None:
    """The keyword ``word`` spells (case-insensitively, also in Unicode look-alikes such as
    ``ſet``, fullwidth letters or letters with combining marks), if any."""
    upper = word.upper()
    if word.isascii():
        return upper if upper in _KEYWORDS else None
    base = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    for fold in (upper, base.upper(), base.lower().upper(), base.casefold().upper()):
        if fold in _KEYWORDS:
            return fold
    return None


def _near(cypher: str, offset: int) -> str:
    return " ".join(cypher[offset : offset + 24].split())


def tokenize(cypher: str) -> list[Token]:
    """The tokens of ``cypher`` (comments and whitespace dropped).

    Raises :class:`ReadOnlyError` for an unterminated string, backtick name or block comment,
    and for a control character or a non-ASCII symbol outside strings, names and comments.

    >>> [t.value for t in tokenize("MATCH (n:`a``b`) // c\\nRETURN n.x AS 'y'")]
    ['MATCH', '(', 'n', ':', 'a`b', ')', 'RETURN', 'n', '.', 'x', 'AS', "'y'"]
    """
    tokens: list[Token] = []
    i, n = 0, len(cypher)
    soft = False
    fast = _FAST.match
    while i < n:
        match = fast(cypher, i)
        if match is not None:
            group = match.lastgroup or ""
            start, i = match.span(group)
            if group in ("line", "block"):
                soft = True
                continue
            text = cypher[start:i]
            if group == "word" and i < n and not cypher[i].isascii():
                i = _word_end(cypher, i)  # a word that goes on in Unicode letters
                text = cypher[start:i]
            kind = _KINDS[group]
            if kind is TokenKind.WORD:
                value = _keyword(text) or text
            elif kind is TokenKind.NAME:
                value = text[1:-1].replace("``", "`")
            else:
                value = text
            tokens.append(Token(kind, text, start, value, soft))
            soft = False
            continue
        while i < n and cypher[i] in _PLAIN_SPACE:  # before the character that needs a closer look
            i += 1
        if i == n:
            break
        start, ch = i, cypher[i]
        if ch.isspace() or (not ch.isascii() and unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp")):
            soft = True  # unusual whitespace or an invisible format character
            i += 1
        elif ch == "/":
            raise _refuse(f"an unterminated /* comment at offset {start}")
        elif ch in "'\"":
            raise _refuse(f"an unterminated string at offset {start} ({_near(cypher, start)})")
        elif ch == "`":
            raise _refuse(f"an unterminated `name at offset {start} ({_near(cypher, start)})")
        elif _is_word_char(ch):  # a word that starts with a non-ASCII letter
            i = _word_end(cypher, i)
            text = cypher[start:i]
            tokens.append(Token(TokenKind.WORD, text, start, _keyword(text) or text, soft))
            soft = False
        else:
            raise _refuse(
                f"the character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}) at offset {start} "
                "outside a string, `name` or comment"
            )
    return tokens


def _word_end(cypher: str, i: int) -> int:
    """End of the word (letters, digits, ``_``, Unicode letters, marks and digits) at ``i``."""
    n = len(cypher)
    while i < n and _is_word_char(cypher[i]):
        i += 1
    return i


def check_read_only(cypher: str) -> None:
    """Raise :class:`ReadOnlyError` unless ``cypher`` is a read query by the rules of
    :mod:`kg.store.readonly` (one statement of read clauses, no writing keyword, only
    allowed CALLs). Texts that passed are remembered (the last 1024), so a query the code
    sends again and again is checked once.

    >>> check_read_only("MATCH (n:`CREATE`) WHERE n.name = 'DROP' RETURN count(n) AS n;")
    >>> check_read_only("MATCH (v:Verb) /* tidy up */ DETACH DELETE v")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ontology.errors.ReadOnlyError: refused as a read query: DETACH at offset 29 (DETACH DELETE v); ...
    """
    _checked(cypher)


@lru_cache(maxsize=1024)
def _checked(cypher: str) -> None:
    """:func:`check_read_only` (an exception is never cached: refused texts are checked anew)."""
    tokens = tokenize(cypher)
    if not tokens:
        return
    last = len(tokens) - 1
    for k, (kind, text, offset, value, _) in enumerate(tokens):
        if kind is TokenKind.PUNCT:
            if text == ";" and k < last:
                raise _refuse(f"a second statement at offset {tokens[k + 1].offset} ({tokens[k + 1].text})")
            continue
        if kind is not TokenKind.WORD:
            continue
        if value in REFUSED_KEYWORDS:
            raise _refuse(f"{value} at offset {offset} ({_near(cypher, offset)})")
        if k < last and tokens[k + 1].soft:
            _check_joined(tokens, k, cypher)
        if value == "UNION":
            after = k + 1
            while (
                after <= last and tokens[after].kind is TokenKind.WORD and tokens[after].value in _QUANTIFIERS
            ):
                after += 1
            _check_clause_start(tokens, after, "the part after UNION")
        elif value == "CALL":
            _check_call(tokens, k)
    first = 1 if tokens[0].kind is TokenKind.WORD and tokens[0].value in _PREFIXES else 0
    _check_clause_start(tokens, first, "the query")


def is_write_query(cypher: str) -> bool:
    """Whether ``cypher`` is refused as a read query (:func:`check_read_only` raises): it
    writes, or may write, or is not clearly one read statement.

    >>> is_write_query("MATCH (n) RETURN n.created"), is_write_query("match (n) set n.x = 1")
    (False, True)
    """
    try:
        check_read_only(cypher)
    except ReadOnlyError:
        return True
    return False


def _check_joined(tokens: list[Token], k: int, cypher: str) -> None:
    """Refuse when the word ``tokens[k]`` and the words that follow it across comments,
    invisible characters or unusual whitespace only spell a refused keyword together."""
    joined = tokens[k].text
    for token in tokens[k + 1 :]:
        if not token.soft or token.kind is not TokenKind.WORD:
            return
        joined += token.text
        keyword = _keyword(joined)
        if keyword is not None and keyword in REFUSED_KEYWORDS:
            raise _refuse(
                f"{keyword} split by a comment or invisible character at offset {tokens[k].offset} "
                f"({_near(cypher, tokens[k].offset)})"
            )


def _check_clause_start(tokens: list[Token], k: int, where: str) -> None:
    if k >= len(tokens):
        return  # nothing follows: the database reports the syntax error
    token = tokens[k]
    if token.kind is not TokenKind.WORD or token.value not in READ_CLAUSES:
        raise _refuse(
            f"{where} starts with {token.text!r} at offset {token.offset}, not with "
            "MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN or CALL"
        )


def _check_call(tokens: list[Token], k: int) -> None:
    """``CALL { ... }``, ``CALL (x, y) { ... }`` or ``CALL allowed.procedure(...)``."""
    at = tokens[k].offset
    nxt = tokens[k + 1] if k + 1 < len(tokens) else None
    if nxt is not None and nxt.kind is TokenKind.PUNCT and nxt.text == "(":
        j = _closing(tokens, k + 1)
        if j + 1 < len(tokens) and tokens[j + 1].text == "{" and tokens[j + 1].kind is TokenKind.PUNCT:
            _check_clause_start(tokens, j + 2, f"the CALL subquery at offset {at}")
            return
        raise _refuse(f"CALL (...) at offset {at} without a {{ subquery }}")
    if nxt is not None and nxt.kind is TokenKind.PUNCT and nxt.text == "{":
        _check_clause_start(tokens, k + 2, f"the CALL subquery at offset {at}")
        return
    parts: list[str] = []
    j = k + 1
    while j < len(tokens) and tokens[j].kind in (TokenKind.WORD, TokenKind.NAME):
        parts.append(tokens[j].text if tokens[j].kind is TokenKind.WORD else tokens[j].value)
        if j + 1 < len(tokens) and tokens[j + 1].kind is TokenKind.PUNCT and tokens[j + 1].text == ".":
            j += 2
        else:
            j += 1
            break
    name = ".".join(parts)
    called = j < len(tokens) and tokens[j].kind is TokenKind.PUNCT and tokens[j].text == "("
    if not parts or name.lower() not in _ALLOWED_LOWER or not called:
        shown = f"CALL {name}" if parts else "CALL"
        raise _refuse(
            f"{shown} at offset {at} is not a CALL {{ subquery }} nor a call of an allowed read-only "
            f"procedure ({', '.join(sorted(ALLOWED_PROCEDURES))})"
        )


def _closing(tokens: list[Token], k: int) -> int:
    """Index of the bracket that closes the one at ``tokens[k]`` (len(tokens) if none)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    for j in range(k, len(tokens)):
        token = tokens[j]
        if token.kind is not TokenKind.PUNCT:
            continue
        if token.text in pairs:
            stack.append(pairs[token.text])
        elif stack and token.text == stack[-1]:
            stack.pop()
            if not stack:
                return j
    return len(tokens)


def parameters(cypher: str) -> list[str]:
    """The names of the ``$parameters`` ``cypher`` uses, in order of first use (a backticked
    ``$`name``` unescaped).

    >>> parameters("MATCH (p:Person {id: $person}) WHERE p.x > $min AND p.y < $min RETURN p")
    ['person', 'min']
    """
    names: dict[str, None] = {}
    for token in tokenize(cypher):
        if token.kind is TokenKind.PARAMETER:
            name = token.text[1:]
            names[name[1:-1].replace("``", "`") if name.startswith("`") else name] = None
    return list(names)


def check_parameters(cypher: str, given: Iterable[str]) -> None:
    """Raise :class:`~ontology.errors.QueryError` unless ``given`` names exactly the parameters
    ``cypher`` uses: a misspelt name would otherwise be ignored and a missing one read as null,
    and the query would answer wrongly without an error. (A text the tokenizer cannot read is
    left to the database to report.)"""
    try:
        used = parameters(cypher)
    except ReadOnlyError:
        return
    given = set(given)
    missing = [n for n in used if n not in given]
    unknown = sorted(given - set(used))
    if missing or unknown:
        problems = []
        if missing:
            problems.append("not given: " + ", ".join(f"${n}" for n in missing))
        if unknown:
            problems.append("not in the query: " + ", ".join(unknown))
        uses = ", ".join(f"${n}" for n in used) or "no parameters"
        raise QueryError(f"the query uses {uses}; {'; '.join(problems)}")
