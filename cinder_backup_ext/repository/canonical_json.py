# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The canonical JSON of the repository format, and its BLAKE3.

Owns the bytes that checksums and MACs cover (format.rst, "Canonical
JSON"): keys sorted, no white space, every character outside printable
ASCII escaped.  These are the bytes every stored backup was verified with,
so each argument of json.dumps is spelled out: a changed default would
make existing repositories fail their checksums and MACs.  Knows nothing
of what the documents mean.

A segment index carries megabytes of base64 fingerprints in one string.
json.dumps would escape it into a new string, join that into another and
encode the result once more; and a checksum made that way costs the same
again.  Long top-level strings that need no escaping are therefore spliced
into the output as they are, and hashed in slices: the bytes are the
same, without the copies.  A top-level value may be given as ASCII bytes
for that purpose (the output of base64.b64encode), never anywhere else.
"""

import json

import blake3

# Shorter strings go through json.dumps with the rest.
_SPLICE_MIN = 64 * 1024
# Hashed this many characters at a time.
_SLICE = 1024 * 1024
_PRINTABLE_BYTES = bytes(range(0x20, 0x7f))
# Stands for a spliced value while the rest is dumped: json.dumps escapes
# the NUL, so no string of the document yields this text unless it holds
# the same characters, which _parts checks.
_MARK = '\x00spliced:%s'


def _dumps(document):
    return json.dumps(document, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=True, allow_nan=False).encode('ascii')


def _plain(value):
    """Whether value is a long string (or ASCII bytes) that JSON writes as
    it is, between quotes."""
    # Each test runs in C over the whole string: a regular expression
    # would take a good part of a second for an index's fingerprints.
    if isinstance(value, bytes):
        return (not value.translate(None, _PRINTABLE_BYTES) and
                b'"' not in value and b'\\' not in value)
    # For ASCII, isprintable() is true of ' '..'~' only.
    return (isinstance(value, str) and len(value) >= _SPLICE_MIN and
            value.isascii() and value.isprintable() and
            '"' not in value and '\\' not in value)


def _parts(document):
    """The canonical bytes of document as a list of pieces: bytes, and the
    spliced values themselves (str or bytes) where they stand."""
    spliced = {key: value for key, value in document.items()
               if _plain(value)}
    if not spliced:
        return [_dumps(document)]
    stand_in = dict(document)
    for key in spliced:
        stand_in[key] = _MARK % key
    text = _dumps(stand_in)
    parts = []
    for key in sorted(spliced):
        mark = _dumps(_MARK % key)[1:-1]
        before, found, text = text.partition(mark)
        if not found or mark in text:
            # Some other string of the document holds the same text: no
            # splicing then (bytes values never reach here, see _plain).
            return [_dumps(document)]
        parts += [before, spliced[key]]
    parts.append(text)
    return parts


def encode(document, end=b''):
    """The canonical JSON of document, followed by end."""
    return b''.join([part.encode('ascii') if isinstance(part, str)
                     else part for part in _parts(document)] + [end])


def digest(document, key=None):
    """Hex BLAKE3 of the canonical JSON of document, keyed with key."""
    hasher = blake3.blake3() if key is None else blake3.blake3(key=key)
    for part in _parts(document):
        if isinstance(part, str):
            for start in range(0, len(part), _SLICE):
                hasher.update(part[start:start + _SLICE].encode('ascii'))
        else:
            hasher.update(part)
    return hasher.hexdigest()
