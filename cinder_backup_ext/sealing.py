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

"""Sealing: turn plaintext into a stored object and back, verified.

Owns the per-object transform chain (compress, then digest of what is
stored) and its materials: codec, plaintext size, stored size and digest.
Opening checks size and digest before any decompression, so nothing
unverified reaches a decoder or a volume.  Runs on native threads: no
logging here.
"""

import collections

import blake3

from cinder_backup_ext import codec

DIGEST_ALGORITHM = 'blake3'

# What is needed to open one stored object.
Materials = collections.namedtuple('Materials',
                                   'codec size stored digest')


class SealError(ValueError):
    pass


def digest(data):
    return blake3.blake3(data, max_threads=1).hexdigest()


def seal_object(codec_name, data):
    """Return (stored bytes, Materials) for plaintext data."""
    used, stored = codec.compress(codec_name, data)
    return stored, Materials(used, len(data), len(stored), digest(stored))


def open_object(stored, materials):
    """Return the plaintext of a stored object after verifying it."""
    if len(stored) != materials.stored:
        raise SealError('stored size is %d bytes, expected %d'
                        % (len(stored), materials.stored))
    if digest(stored) != materials.digest:
        raise SealError('%s digest mismatch' % DIGEST_ALGORITHM)
    try:
        return codec.decompress(materials.codec, stored, materials.size)
    except codec.CodecError as error:
        raise SealError(str(error))
