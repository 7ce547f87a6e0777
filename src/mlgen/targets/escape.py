"""Every escaping rule of every target, in one place.

Each function takes text that must arrive byte-exact and returns the literal that a target's
parser turns back into exactly that text.
"""

from __future__ import annotations

import re
import shlex

# YAML 1.1 readers (GitLab's Psych, PyYAML) resolve these plain scalars to non-strings:
# booleans (on/no/y...), octal and sexagesimal ints (0755, 1:30), floats (3.10, .inf), null,
# timestamps, the merge key and the value key. Any string that looks like one must be quoted.
_YAML11_SPECIAL = re.compile(
    r"""^(?:
        [yYnN] | [Yy]es|YES | [Nn]o|NO | [Tt]rue|TRUE | [Ff]alse|FALSE | [Oo]n|ON | [Oo]ff|OFF
      | ~ | [Nn]ull|NULL | = | <<
      | [-+]?(?:0b[01_]+|0[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*|[1-9][0-9_]*(?::[0-5]?[0-9])+)
      | [-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)? | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?
    )$""",
    re.VERBOSE,
)


def yaml_needs_quotes(text: str) -> bool:
    return bool(_YAML11_SPECIAL.match(text))


def sh_quote(text: str) -> str:
    """A POSIX shell word that expands to exactly `text`."""
    return shlex.quote(text)


def gha_string(text: str) -> str:
    """A string literal inside a GitHub `${{ }}` expression (single quotes, `'` doubled)."""
    return "'" + text.replace("'", "''") + "'"


def groovy_single(text: str) -> str:
    """A Groovy '...' literal: never interpolated; backslash and quote escaped, newlines spelled out."""
    body = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{body}'"


def groovy_block(text: str) -> str:
    """A Groovy '''...''' literal for `sh` bodies: multi-line, never interpolated.

    A quote is escaped when another quote follows it or it ends the text, so no run of three
    quotes can close the literal early and a final quote cannot fuse with the delimiter.
    Doubling backslashes keeps line continuations and unicode escapes away from Groovy's lexer.
    """
    body = text.replace("\\", "\\\\").replace("\r", "\\r")
    body = re.sub(r"'(?=')|'\Z", lambda m: "\\'", body)
    return f"'''{body}'''"


def gitlab_literal(text: str) -> str:
    """A GitLab variable value that must not be expanded: `$` is written `$$`."""
    return text.replace("$", "$$")
